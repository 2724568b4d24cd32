"""The package's rooms: no import cycle between orgguard's modules, no private name imported across them.

What counts as an import (the decision this test enforces): every ``import``/``from ... import`` statement
of an ``orgguard`` module *anywhere* in a module — at the top, inside a function (the lazy imports that keep
LibCST out of a cached run), under ``if TYPE_CHECKING:``. A lazy import hides a cycle from the interpreter
but not from the reader: two modules that need each other are one room, whenever the import runs. Only
the implicit import of a package's ``__init__`` by its submodules is not an edge (Python does it for every
submodule; it is not a dependency anybody wrote).

A private name (``_x``) is never imported from another module, neither by ``from m import _x`` nor as an
attribute of an imported module (``m._x``); a private module (``runtime/_context.py``) is imported only
from inside its own package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import REPO

PACKAGE = REPO / "src" / "orgguard"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    names: tuple[str, ...]  # names imported from ``target`` (``from target import a, b``); () for ``import target``


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def import_edges(name: str, path: Path, known: set[str]) -> tuple[list[Edge], dict[str, str]]:
    """The orgguard modules ``name`` imports (anywhere in it), and its local names bound to orgguard modules."""
    tree = ast.parse(path.read_bytes(), str(path))
    is_package = path.name == "__init__.py"
    edges: list[Edge] = []
    bound: dict[str, str] = {}  # local name -> module it refers to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "orgguard":
                    edges.append(Edge(name, alias.name, node.lineno, ()))
                    if alias.asname:
                        bound[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] != "orgguard":
                continue
            names: list[str] = []
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if submodule in known:  # `from orgguard.engine import walk`: the module walk
                    edges.append(Edge(name, submodule, node.lineno, ()))
                    bound[alias.asname or alias.name] = submodule
                else:
                    names.append(alias.name)
            if names:
                edges.append(Edge(name, target, node.lineno, tuple(names)))
    return edges, bound


def graph() -> dict[str, list[Edge]]:
    found = modules()
    known = set(found)
    out: dict[str, list[Edge]] = {}
    for name, path in found.items():
        edges, _ = import_edges(name, path, known)
        out[name] = [e for e in edges if e.target in known and e.target != name]
    return out


def find_cycle(edges: dict[str, list[Edge]]) -> list[Edge] | None:
    """One cycle of the graph as its edges, or None (a depth-first search, colours white/grey/black)."""
    state: dict[str, int] = {}
    stack: list[Edge] = []

    def visit(node: str) -> list[Edge] | None:
        state[node] = 1
        for edge in edges.get(node, ()):
            if state.get(edge.target) == 1:
                start = next((i for i, e in enumerate(stack) if e.source == edge.target), len(stack))
                return [*stack[start:], edge]
            if edge.target not in state:
                stack.append(edge)
                found = visit(edge.target)
                if found:
                    return found
                stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_cycle_finder_finds_cycles_and_lazy_imports_count(tmp_path: Path) -> None:
    """The check itself can fail: a cycle through a function-level import, and one through ``__init__``."""
    package = tmp_path / "orgguard"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from orgguard.b import thing\n")
    (package / "b.py").write_text("def thing():\n    from orgguard import a\n    return a\n")
    (package / "sub" / "__init__.py").write_text("def load():\n    from orgguard.sub import impl\n")
    (package / "sub" / "impl.py").write_text("from orgguard.sub import load\n")
    (package / "c.py").write_text("from . import a\nfrom .sub import impl\n")
    found = modules(package)
    edges = {n: [e for e in import_edges(n, p, set(found))[0] if e.target in found] for n, p in found.items()}
    assert {(e.source, e.target) for e in edges["orgguard.c"]} == {
        ("orgguard.c", "orgguard.a"),
        ("orgguard.c", "orgguard.sub.impl"),
    }
    cycle = find_cycle(edges)
    assert cycle is not None and {e.source for e in cycle} == {"orgguard.a", "orgguard.b"}
    edges["orgguard.b"] = []
    cycle = find_cycle(edges)
    assert cycle is not None and {e.source for e in cycle} == {"orgguard.sub", "orgguard.sub.impl"}
    edges["orgguard.sub"] = []
    assert find_cycle(edges) is None


def test_no_import_cycle_between_orgguard_modules() -> None:
    edges = graph()
    assert len(edges) > 50 and sum(map(len, edges.values())) > 100, "the graph holds the package"
    cycle = find_cycle(edges)
    assert cycle is None, (
        "import cycle: " + " -> ".join(f"{e.source} (line {e.line})" for e in cycle) + (f" -> {cycle[-1].target}")
    )


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports(package: Path = PACKAGE) -> list[str]:
    found = modules(package)
    known = set(found)
    problems: list[str] = []
    for name, path in found.items():
        edges, bound = import_edges(name, path, known)
        for edge in edges:
            where = f"{path.relative_to(package.parent)}:{edge.line}"
            problems.extend(f"{where}: {n} from {edge.target}" for n in edge.names if _private(n))
            # a private module is imported from inside its own package only
            parts = edge.target.split(".")
            for depth, part in enumerate(parts):
                inside = ".".join(parts[:depth])
                if _private(part) and name != inside and not name.startswith(inside + "."):
                    problems.append(f"{where}: private module {edge.target}")
        for node in ast.walk(ast.parse(path.read_bytes())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
                and _private(node.attr)
                and bound[node.value.id] != name
            ):
                problems.append(f"{path.relative_to(package.parent)}:{node.lineno}: {node.value.id}.{node.attr}")
    return problems


def test_the_private_name_check_finds_each_kind(tmp_path: Path) -> None:
    package = tmp_path / "orgguard"
    (package / "pkg").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "pkg" / "__init__.py").write_text("")
    (package / "pkg" / "_inner.py").write_text("def _helper():\n    pass\n")
    (package / "pkg" / "sibling.py").write_text("from orgguard.pkg._inner import _helper\n")
    (package / "outside.py").write_text(
        "from orgguard.pkg import _inner\nimport orgguard.pkg.sibling as sib\n\ndef f():\n    return sib._helper\n"
    )
    problems = private_imports(package)
    assert any("sibling.py:1: _helper" in p for p in problems)
    assert any("outside.py:1: private module orgguard.pkg._inner" in p for p in problems)
    assert any("outside.py:5: sib._helper" in p for p in problems)
    assert len(problems) == 3, problems


def test_no_private_name_is_imported_from_another_module() -> None:
    assert private_imports() == []


IMPORT_EACH = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "orgguard" or m.startswith("orgguard.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc().strip().splitlines()[-1])
print("\\n".join(failed))
"""


@pytest.mark.slow
def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    """Each module imported as the first orgguard module of the process: an import cycle that only bites
    from one entry point (``from a import x`` while ``a`` is half-initialised) fails here."""
    names = [n for n in sorted(modules()) if n != "orgguard.__main__"]  # __main__ runs the CLI
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH, *names], capture_output=True, text=True, timeout=600, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", proc.stdout
