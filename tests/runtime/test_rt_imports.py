"""Each runtime adapter, imported without its framework, raises an ImportError naming the extra to install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import orgguard.runtime as runtime

RUNTIME = Path(runtime.__file__).resolve().parent
SRC = RUNTIME.parents[1]
REPO = SRC.parent
FRAMEWORKS = ("django", "flask", "werkzeug", "flask_sqlalchemy", "fastapi", "starlette", "sqlalchemy", "stripe")
# adapter -> (the framework modules it needs, the extra that installs them)
ADAPTERS = {
    "django": (("django",), "django"),
    "flask": (("flask", "werkzeug"), "flask"),
    "fastapi": (("fastapi",), "fastapi"),
    "sqlalchemy": (("sqlalchemy",), "sqlalchemy"),
    "stripe": (("stripe",), "stripe"),
    "stripe_testing": (("stripe",), "stripe"),
    "billing": (("stripe",), "stripe"),
}
CORE = {"audit", "errors", "exports", "jobs"}  # no framework: import anywhere

# import `module` with the `hidden` top-level packages missing, as when they are not installed; print
# what happened as JSON
PROBE = """
import json, sys

class NotInstalled:
    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled(sys.argv[2:]))
try:
    __import__(sys.argv[1])
except BaseException as exc:
    print(json.dumps({"type": type(exc).__name__, "import_error": isinstance(exc, ImportError), "message": str(exc)}))
else:
    print(json.dumps({"type": None, "libcst": "libcst" in sys.modules}))
"""


def probe(module: str, blocked: tuple[str, ...]) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, module, *blocked],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def test_every_runtime_module_is_an_adapter_or_core() -> None:
    public = {p.stem for p in RUNTIME.glob("*.py") if not p.stem.startswith("_")}
    assert public == set(ADAPTERS) | CORE


def test_every_extra_named_exists() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert {extra for _, extra in ADAPTERS.values()} <= set(extras)


@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
def test_an_adapter_without_its_framework_names_the_extra(adapter: str) -> None:
    needs, extra = ADAPTERS[adapter]
    for missing in needs:
        got = probe(f"orgguard.runtime.{adapter}", (missing,))
        assert got["type"] == "ModuleNotFoundError" and got["import_error"], got
        message = str(got["message"])
        assert f'pip install "orgguard[{extra}]"' in message, message
        assert message.startswith(f"orgguard.runtime.{adapter} needs "), message
        assert f"'{missing}'" in message, message  # the original "No module named ..." is kept


@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
def test_an_adapter_with_its_framework_imports(adapter: str) -> None:
    assert probe(f"orgguard.runtime.{adapter}", ())["type"] is None


@pytest.mark.parametrize("module", ["orgguard.runtime", *(f"orgguard.runtime.{m}" for m in sorted(CORE))])
def test_the_core_imports_without_any_framework_or_libcst(module: str) -> None:
    assert probe(module, (*FRAMEWORKS, "libcst")) == {"type": None, "libcst": False}
