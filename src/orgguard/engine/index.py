"""The project index: which models are tenant-owned, and how a query reaches the tenant.

Built once per run over the whole project (root = nearest pyproject.toml or .git), whichever files are
being checked, so that pre-commit's ten changed files are checked with the same knowledge as a full run.
It reads every file with :mod:`ast` (far cheaper than LibCST; only names and calls are needed here).
"""

from __future__ import annotations

import ast
import contextlib
import errno
import hashlib
import json
import os
import sys
import warnings
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orgguard.config import Config, path_matches
from orgguard.knowledge import Knowledge

MAX_TENANT_DEPTH = 4


@dataclass(frozen=True)
class ModelInfo:
    """An ORM model class found in the project."""

    name: str
    path: str
    bases: tuple[str, ...]
    relations: tuple[tuple[str, str], ...]  # (field, target class name or "table:<name>")
    columns: tuple[str, ...]  # every class-level field name
    table: str
    abstract: bool = False


@dataclass(frozen=True)
class ClassInfo:
    """Any class: its bases and the facts checkers ask about across files."""

    name: str
    path: str
    bases: tuple[str, ...]
    methods: tuple[str, ...]
    scoping_hooks: tuple[str, ...] = ()  # queryset hooks (get_queryset...) that narrow to a tenant
    inheriting_hooks: tuple[str, ...] = ()  # hooks that build on the class queryset (super()/self.queryset)
    # `org_model = Organization`, `def get_org_model(): return self.org_model`
    aliases: tuple[tuple[str, str], ...] = ()
    narrows_queryset: bool = False  # a method reassigns self.queryset through a scoping call (restrict, for_org)


@dataclass(frozen=True)
class FunctionSummary:
    """What a project function does with the tenant, for its call sites in other functions and files."""

    name: str
    path: str
    params: tuple[str, ...]
    verifies: bool  # checks membership (directly, or through a guard or another verifying helper)
    resolves_unverified: tuple[str, ...] = ()  # params used to look up the tenant with no membership check
    reads_request: bool = False


@dataclass(frozen=True)
class ProjectIndex:
    """Whole-project facts, immutable once built."""

    root: str
    models: Mapping[str, ModelInfo] = field(default_factory=dict)
    tenant_paths: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    tenant_models: frozenset[str] = frozenset()
    membership_models: frozenset[str] = frozenset()
    classes: Mapping[str, tuple[ClassInfo, ...]] = field(default_factory=dict)
    tables: Mapping[str, str] = field(default_factory=dict)  # table name -> model name
    membership_attrs: frozenset[str] = frozenset()  # user -> tenant relations (user.organizations)
    dependencies: frozenset[str] = frozenset()  # functions injected with Depends(...) somewhere
    dependency_aliases: frozenset[str] = frozenset()  # `ActiveOrg = Annotated[..., Depends(...)]`
    default_permissions: tuple[str, ...] = ()  # REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"], short names
    scoping_methods: frozenset[str] = frozenset()  # custom manager/queryset methods that filter by tenant
    view_mixins: frozenset[str] = frozenset()  # project classes mixed into views (their methods serve requests)
    job_functions: frozenset[str] = frozenset()  # functions enqueued somewhere (`queue.enqueue(f)`, `f.delay()`)
    webhook_functions: frozenset[str] = frozenset()  # webhook handlers and the functions they dispatch to

    def class_alias(self, klass: str, name: str) -> str | None:
        """What ``self.<name>`` (or ``self.<name>()`` with name ending in ``()``) names in a class."""
        for _ in range(4):
            for info in self.ancestors(klass):
                for alias, target in info.aliases:
                    if alias == name:
                        if name.endswith("()"):
                            name = target  # a method returning self.<attr>: follow the attribute
                            break
                        return target
                else:
                    continue
                break
            else:
                return None
        return None

    functions: Mapping[str, FunctionSummary] = field(default_factory=dict)  # by simple name and Class.name
    digest: str = ""

    def summary(self, name: str) -> FunctionSummary | None:
        return self.functions.get(name)

    def is_tenant_owned(self, model: str) -> bool:
        return model in self.tenant_paths

    def primary_path(self, model: str) -> str:
        paths = self.tenant_paths.get(model, ())
        return paths[0] if paths else ""

    def ancestors(self, name: str, _seen: frozenset[str] = frozenset()) -> Iterator[ClassInfo]:
        """Every project class named ``name`` and, transitively, its project base classes."""
        for info in self.classes.get(name, ()):
            yield info
            for base in info.bases:
                short = base.rsplit(".", 1)[-1]
                if short not in _seen and short != name:
                    yield from self.ancestors(short, _seen | {name})

    def base_names(self, name: str) -> set[str]:
        """Short names of all bases of ``name`` reachable through project classes (external ones too)."""
        out: set[str] = set()
        for info in self.ancestors(name):
            out.update(b.rsplit(".", 1)[-1] for b in info.bases)
        return out


def dotted(node: ast.AST) -> str:
    """``a.b.c`` for Name/Attribute chains, ``f()`` for a call of such a chain, else ""."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    if isinstance(node, ast.Call):
        inner = dotted(node.func)
        return f"{inner}()" if inner else ""
    return ""


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def iter_python_files(root: Path, config: Config, skipped: list[tuple[Path, str]] | None = None) -> Iterator[Path]:
    """Every .py file under ``root`` not excluded, never following symlinks out of the tree.

    Files come in ``os.walk`` order (a directory's own files sorted, then its subdirectories sorted);
    symlinked directories are not entered. One ``scandir`` per directory and no ``resolve()`` per file:
    below the resolved root every path is already canonical, so its root-relative form is built as
    the walk goes (only symlinked files take the slow path). ``skipped`` collects the ``.py`` entries that
    cannot be read as files (dangling symlinks, symlink loops, FIFOs, devices), with the reason.
    """
    try:
        root = root.resolve()
    except (OSError, RuntimeError):  # a symlink loop given as the root
        return
    patterns = (*config.exclude, *config.extend_exclude)
    top = config.relpath(root)
    yield from _walk(root, root, "" if top == "." else top, patterns, config, skipped)


def _walk(  # noqa: PLR0917 - a private recursive helper
    here: Path,
    root: Path,
    rel: str,
    patterns: tuple[str, ...],
    config: Config,
    skipped: list[tuple[Path, str]] | None,
) -> Iterator[Path]:
    try:
        with os.scandir(here) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return  # unreadable directory: skipped, as os.walk does
    subdirs: list[str] = []
    for entry in entries:
        name = entry.name
        try:
            is_link = entry.is_symlink()
        except OSError:
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:  # a symlink loop
            is_dir = False
        if is_dir:
            if not is_link:
                subdirs.append(name)
            continue
        if not name.endswith(".py"):
            continue
        path = here / name
        child = f"{rel}/{name}" if rel else name
        if is_link:
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError) as exc:  # dangling, or a loop
                if skipped is not None and not any(path_matches(child, pat) for pat in patterns):
                    skipped.append((path, _why(exc)))
                continue
            try:
                target.relative_to(root)
            except ValueError:  # never followed out of the tree
                continue
            if path.is_file() and not config.is_excluded(path):
                yield path
            elif skipped is not None and not path.is_file() and not config.is_excluded(path):
                skipped.append((path, "not a regular file"))
            continue
        try:
            regular = entry.is_file(follow_symlinks=False)
        except OSError:
            continue
        if any(path_matches(child, pat) for pat in patterns):
            continue
        if regular:
            yield path
        elif skipped is not None:
            skipped.append((path, "not a regular file"))
    for name in subdirs:
        child = f"{rel}/{name}" if rel else name
        if not any(path_matches(child, pat) for pat in patterns):
            yield from _walk(here / name, root, child, patterns, config, skipped)


def _why(exc: BaseException) -> str:
    if isinstance(exc, RuntimeError):  # Python < 3.13 reports a loop this way
        return "symlink loop"
    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
        return "symlink loop"
    if isinstance(exc, FileNotFoundError):
        return "dangling symlink"
    return getattr(exc, "strerror", None) or str(exc)


@dataclass
class _RawClass:
    name: str
    path: str
    bases: tuple[str, ...]
    relations: list[tuple[str, str]]
    columns: list[str]
    methods: list[str]
    table: str
    abstract: bool
    hooks: dict[str, ast.AST]
    related: list[tuple[str, str]] = field(default_factory=list)  # (target name, related_name)
    method_nodes: list[ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=list)
    aliases: list[tuple[str, str]] = field(default_factory=list)
    table_declared: bool = False


@dataclass
class _RawFunction:
    name: str
    qualname: str
    path: str
    params: tuple[str, ...]
    node: ast.FunctionDef | ast.AsyncFunctionDef


class _Collector:
    def __init__(self, knowledge: Knowledge) -> None:
        self.k = knowledge
        self.classes: list[_RawClass] = []
        self.functions: list[_RawFunction] = []
        self.dependencies: set[str] = set()
        self.dependency_aliases: set[str] = set()
        self.default_permissions: list[str] = []

    def _relation_target(self, call: ast.Call, owner: str) -> str | None:
        """The model (or ``table:<name>``) a relation call points at, or None."""
        func = _short(dotted(call.func).rstrip("()"))
        if func in self.k["models.foreign_keys"]:
            target: ast.AST | None = call.args[0] if call.args else None
            for kw in call.keywords:
                if kw.arg in ("to", "foreign_key", "argument"):
                    target = kw.value
            if target is None:
                return None
            if isinstance(target, ast.Constant) and isinstance(target.value, str):
                text = target.value
                if text == "self":
                    return owner
                if "." in text:
                    head, tail = text.rsplit(".", 1)
                    # "app.Model" names a class; "table.column" (SQLAlchemy, SQLModel) names a table
                    return _short(tail) if tail[:1].isupper() else "table:" + head
                return text
            name = dotted(target)
            if name in self.k["models.user_model_refs"]:
                return "User"
            if name:
                return _short(name.rstrip("()"))
            return None
        # SQLAlchemy: Column(ForeignKey("orgs.id")) / mapped_column(...) / Field(foreign_key=...)
        for arg in [*call.args, *(kw.value for kw in call.keywords)]:
            if isinstance(arg, ast.Call):
                inner = self._relation_target(arg, owner)
                if inner:
                    return inner
        return None

    def _related_name(self, call: ast.Call, raw: _RawClass) -> None:
        """``ManyToManyField(User, related_name="teams")``: the reverse accessor on the target."""
        for kw in call.keywords:
            if kw.arg in ("related_name", "backref", "back_populates") and isinstance(kw.value, ast.Constant):
                first = call.args[0] if call.args else None
                target = dotted(first) if first is not None else ""
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    target = first.value
                if target in self.k["models.user_model_refs"] or _short(target) == "User":
                    target = "User"
                raw.related.append((_short(target), str(kw.value.value)))

    def visit_module(self, tree: ast.Module, rel: str) -> None:
        markers = self.k["trusted.dependency_markers"]
        for stmt in tree.body:
            if (
                isinstance(stmt, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "REST_FRAMEWORK" for t in stmt.targets)
                and isinstance(stmt.value, ast.Dict)
            ):
                for key, value in zip(stmt.value.keys, stmt.value.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "DEFAULT_PERMISSION_CLASSES":
                        for leaf in ast.walk(value):
                            if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str):
                                self.default_permissions.append(_short(leaf.value))
            if (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.value, ast.Subscript)
                and any(
                    isinstance(n, ast.Call) and _short(dotted(n.func).rstrip("()")) in markers
                    for n in ast.walk(stmt.value)
                )
            ):
                self.dependency_aliases.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args and _short(dotted(node.func).rstrip("()")) in markers:
                name = dotted(node.args[0])
                if name:
                    self.dependencies.add(_short(name))
            if isinstance(node, ast.ClassDef):
                self.classes.append(self._class(node, rel))
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        self.functions.append(self._function(item, rel, f"{node.name}.{item.name}"))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions.append(self._function(node, rel, node.name))

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, rel: str, qualname: str) -> _RawFunction:
        a = node.args
        params = tuple(p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs))
        return _RawFunction(node.name, qualname, rel, params, node)

    def _class(self, node: ast.ClassDef, rel: str) -> _RawClass:
        base_nodes: list[ast.expr] = []
        for b in node.bases:
            # six.with_metaclass(Meta, Base1, Base2) / with_metaclass(...): the real bases follow the metaclass
            if isinstance(b, ast.Call) and _short(dotted(b.func).rstrip("()")) == "with_metaclass":
                base_nodes.extend(b.args[1:])
            else:
                base_nodes.append(b)
        bases = tuple(d for d in (dotted(b) for b in base_nodes) if d)
        raw = _RawClass(node.name, rel, bases, [], [], [], "", False, {})
        for stmt in node.body:
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, (ast.Name, ast.Attribute))
            ):
                raw.aliases.append((stmt.targets[0].id, dotted(stmt.value)))
            elif (
                isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef))
                and len(stmt.body) == 1
                and isinstance(stmt.body[0], ast.Return)
                and stmt.body[0].value is not None
            ):
                returned = dotted(stmt.body[0].value)
                if returned.startswith("self.") and returned.count(".") == 1:
                    raw.aliases.append((f"{stmt.name}()", returned[5:]))
        for stmt in node.body:
            targets: list[ast.expr] = []
            value: ast.AST | None = None
            if isinstance(stmt, ast.Assign):
                targets, value = list(stmt.targets), stmt.value
            elif isinstance(stmt, ast.AnnAssign):
                targets, value = [stmt.target], stmt.value
            if targets:
                for target in targets:
                    if not isinstance(target, ast.Name):
                        continue
                    if target.id == "__tablename__" and isinstance(value, ast.Constant):
                        raw.table = str(value.value)
                        raw.table_declared = True
                        continue
                    raw.columns.append(target.id)
                    if isinstance(value, ast.Call):
                        rel_target = self._relation_target(value, node.name)
                        if rel_target:
                            raw.relations.append((target.id, rel_target))
                        self._related_name(value, raw)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                raw.methods.append(stmt.name)
                raw.method_nodes.append(stmt)
                if stmt.name in self.k["requests.queryset_hooks"]:
                    raw.hooks[stmt.name] = stmt
            elif isinstance(stmt, ast.ClassDef) and stmt.name == "Meta":
                for meta in stmt.body:
                    if isinstance(meta, ast.Assign) and isinstance(meta.value, ast.Constant):
                        for t in meta.targets:
                            if isinstance(t, ast.Name) and t.id == "db_table":
                                raw.table = str(meta.value.value)
                            if t.id == "abstract" if isinstance(t, ast.Name) else False:
                                raw.abstract = bool(meta.value.value)
        return raw


def _hops(tenant_prefixes: set[str]) -> set[str]:
    """Proper prefixes of tenant paths: the parents a row reaches its tenant through (``project``)."""
    hops: set[str] = set()
    for path in tenant_prefixes:
        parts = path.split("__")
        hops.update("__".join(parts[:i]) for i in range(1, len(parts)))
    return hops


def _hook_scopes(
    hook: ast.AST, tenant_prefixes: set[str], knowledge: Knowledge, derived: frozenset[str] = frozenset()
) -> bool:
    """Whether a get_queryset-style hook narrows to a tenant: a lookup on a tenant path, a trusted source,
    a scoping method, or a filter by a parent object it holds (``filter(project=project)``)."""
    trusted = trusted_patterns(knowledge)
    hops = _hops(tenant_prefixes)
    for node in ast.walk(hook):
        if isinstance(node, ast.Call):
            name = _short(dotted(node.func).rstrip("()"))
            if name in knowledge["queries.scoping_methods"] or name in derived:
                return True
            for kw in node.keywords:
                if kw.arg and any(
                    kw.arg == p or kw.arg == p + "_id" or kw.arg.startswith(p + "__") for p in tenant_prefixes
                ):
                    return True
                if is_trusted_expr(dotted(kw.value), trusted):
                    return True
                value = dotted(kw.value)
                # a parent object the hook fetched (through its own scoped lookup): not a raw URL id
                if (
                    kw.arg in hops
                    and isinstance(kw.value, (ast.Name, ast.Attribute))
                    and not value.startswith(("self.kwargs", "self.request", "kwargs", "request."))
                ):
                    return True
        if isinstance(node, ast.Attribute):
            text = dotted(node)
            if text and is_trusted_expr(text, trusted) and not text.endswith((".user", ".user.id")):
                # reaching rows through the verified org or the user's own relations
                return True
    return False


MANAGER_MARKERS = ("Manager", "QuerySet", "Query")


def _scoping_methods(raw_classes: list[_RawClass], prefixes: set[str], knowledge: Knowledge) -> frozenset[str]:
    """Methods of project managers/querysets that filter by the tenant (``for_user`` filtering on
    ``organization=user.active_organization``): calling one scopes the query."""
    found: set[str] = set()
    for raw in raw_classes:
        if not (raw.name.endswith(MANAGER_MARKERS) or any(_short(b).endswith(MANAGER_MARKERS) for b in raw.bases)):
            continue
        for method in raw.method_nodes:
            if method.name.startswith("__") or len(method.args.args) < 2:
                continue
            for node in ast.walk(method):
                if isinstance(node, ast.Call) and any(
                    kw.arg and any(kw.arg == p or kw.arg.startswith((f"{p}__", f"{p}_id")) for p in prefixes)
                    for kw in node.keywords
                ):
                    found.add(method.name)
                    break
    return frozenset(found)


def _narrows_queryset(method: ast.AST, prefixes: set[str], knowledge: Knowledge, derived: frozenset[str]) -> bool:
    """``self.queryset = self.queryset.restrict(user, action)`` in any method (a permission mixin)."""
    scoping = knowledge["queries.scoping_methods"] | derived
    for node in ast.walk(method):
        if not isinstance(node, ast.Assign) or not any(dotted(t) == "self.queryset" for t in node.targets):
            continue
        for sub in ast.walk(node.value):
            if isinstance(sub, ast.Call):
                if _short(dotted(sub.func).rstrip("()")) in scoping:
                    return True
                if any(
                    kw.arg and any(kw.arg == p or kw.arg.startswith(f"{p}__") for p in prefixes) for kw in sub.keywords
                ):
                    return True
    return False


def _hook_inherits(hook: ast.AST) -> bool:
    """Whether a queryset hook starts from the class queryset (``super().get_queryset()``...)."""
    params = {a.arg for a in hook.args.args} if isinstance(hook, (ast.FunctionDef, ast.AsyncFunctionDef)) else set()
    for node in ast.walk(hook):
        text = dotted(node) if isinstance(node, (ast.Attribute, ast.Call)) else ""
        if text.startswith("super()") or text in ("self.queryset", "self.model", "self.get_queryset"):
            return True
        # filter_queryset(self, queryset): building on the queryset it is handed
        if isinstance(node, ast.Name) and node.id == "queryset" and "queryset" in params:
            return True
    return False


def trusted_patterns(knowledge: Knowledge) -> frozenset[str]:
    return knowledge["trusted.org_sources"]


def is_trusted_expr(text: str, trusted: Iterable[str]) -> bool:
    """Whether a dotted expression starts at a trusted org/user source (``self.`` optional)."""
    if not text:
        return False
    for candidate in (text, text[5:] if text.startswith("self.") else ""):
        if not candidate:
            continue
        for pattern in trusted:
            if candidate == pattern or candidate.startswith(pattern + "."):
                return True
    return False


@dataclass
class SourceFile:
    """One project file as the index scan read it (shared with the runner, so nothing is read twice)."""

    path: Path
    data: bytes
    sha: str  # sha256 of ``data``, hex
    parsed: bool | None = None  # set by build_index: parsed by ast (True), did not parse (False), not parsed


def read_sources(
    root: Path, config: Config, files: Iterable[Path] | None = None, *, max_size: int | None = None
) -> list[SourceFile]:
    """The project's files and their bytes (unreadable files and files over ``max_size`` bytes left out)."""
    out: list[SourceFile] = []
    for path in files if files is not None else iter_python_files(root, config):
        try:
            with open(path, "rb") as handle:
                if max_size is not None and os.fstat(handle.fileno()).st_size > max_size:
                    continue
                data = handle.read()
        except (OSError, MemoryError):
            continue
        out.append(SourceFile(path, data, hashlib.sha256(data).hexdigest()))
    return out


def build_index(
    root: Path,
    config: Config,
    knowledge: Knowledge,
    files: Iterable[Path] | None = None,
    *,
    sources: Iterable[SourceFile] | None = None,
) -> ProjectIndex:
    """Scan the project and compute tenant ownership (direct and transitive).

    ``sources`` (from :func:`read_sources`) saves reading the files again; each one's ``parsed`` is set.
    """
    collector = _Collector(knowledge)
    digest = hashlib.sha256()
    for src in sources if sources is not None else read_sources(root, config, files):
        data = src.data
        if b"class " not in data and b"def " not in data:
            continue
        digest.update(str(src.path).encode())
        digest.update(bytes.fromhex(src.sha))
        try:
            with warnings.catch_warnings():  # the project's invalid escapes are not our output
                warnings.simplefilter("ignore")
                tree = ast.parse(data, filename=str(src.path))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            src.parsed = False
            continue
        src.parsed = True
        _visit_module(collector, tree, config.relpath(src.path))
    with _deep_recursion():
        return _finish(root, config, knowledge, collector, digest.hexdigest()[:16])


@contextlib.contextmanager
def _deep_recursion() -> Iterator[None]:
    """Room for the recursive helpers (``dotted``...) on the deepest trees ``ast.parse`` accepts.

    ``ast.parse`` itself runs at the normal limit, so it refuses what it always refused (and what
    LibCST's native parser could not take). From Python 3.11 on, Python-to-Python calls use no C
    stack, so a higher limit is safe; before, the limit is left alone.
    """
    old = sys.getrecursionlimit()
    if sys.version_info >= (3, 11):
        sys.setrecursionlimit(max(old, 20_000))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _visit_module(collector: _Collector, tree: ast.Module, rel: str) -> None:
    """``collector.visit_module``, undone if it fails on a pathological file (nesting too deep to walk)."""
    lengths = {k: len(v) for k, v in vars(collector).items() if isinstance(v, list)}
    copies = {k: v.copy() for k, v in vars(collector).items() if isinstance(v, (set, dict))}
    try:
        with _deep_recursion():
            collector.visit_module(tree, rel)
    except (RecursionError, MemoryError):
        for key, n in lengths.items():
            del getattr(collector, key)[n:]
        for key, value in copies.items():
            setattr(collector, key, value)


def _finish(root: Path, config: Config, knowledge: Knowledge, collector: _Collector, digest: str) -> ProjectIndex:
    raw_classes = collector.classes
    by_name: dict[str, list[_RawClass]] = {}
    for raw in raw_classes:
        by_name.setdefault(raw.name, []).append(raw)

    # Which classes are models: a known model base, or a project model as base (fixpoint).
    model_names: set[str] = set()
    changed = True
    while changed:
        changed = False
        for raw in raw_classes:
            if raw.name in model_names:
                continue
            shorts = {_short(b) for b in raw.bases}
            # a declarative class names its table even when its base comes from another package
            if shorts & knowledge["models.bases"] or shorts & model_names or raw.table_declared:
                model_names.add(raw.name)
                changed = True

    tenant_models = frozenset(config.tenant_models)
    models: dict[str, ModelInfo] = {}
    tables: dict[str, str] = {}
    for name in sorted(model_names):
        rels: list[tuple[str, str]] = []
        cols: list[str] = []
        table = ""
        abstract = False
        bases: tuple[str, ...] = ()
        path = ""
        # merge same-named classes and inherited fields from project model bases
        seen: set[str] = set()
        queue = deque([name])
        while queue:
            current = queue.popleft()
            if current in seen:
                continue
            seen.add(current)
            for raw in by_name.get(current, []):
                rels.extend(raw.relations)
                cols.extend(raw.columns)
                if current == name:
                    table = table or raw.table
                    abstract = abstract or raw.abstract
                    bases = bases or raw.bases
                    path = path or raw.path
                for b in raw.bases:
                    if _short(b) in model_names:
                        queue.append(_short(b))
        if not table:
            app = path.rsplit("/", 2)[-2] if path.count("/") >= 1 else ""
            table = f"{app}_{name.lower()}" if app else name.lower()
            tables.setdefault(name.lower(), name)
        tables.setdefault(table, name)
        models[name] = ModelInfo(
            name, path, bases, tuple(dict.fromkeys(rels)), tuple(dict.fromkeys(cols)), table, abstract
        )

    def target_model(target: str) -> str:
        if target.startswith("table:"):
            return tables.get(target[6:], target)
        return target

    # SQLAlchemy: a column FK to the tenant table plus a relationship(...) of the same target.
    paths_of: dict[str, list[str]] = {}
    user_models = {"User", "AbstractUser", "AbstractBaseUser"} | {
        name for name, info in models.items() if {_short(b) for b in info.bases} & {"AbstractUser", "AbstractBaseUser"}
    }
    for name, info in models.items():
        if name in tenant_models or (name in user_models and name not in config.tenant_fields):
            # users span tenants: a pointer such as `active_organization` is a selection, not ownership
            continue
        direct = [f for f, t in info.relations if target_model(t) in tenant_models]
        direct += [c for c in info.columns if c in config.tenant_fields and c not in direct]
        if direct:
            paths_of[name] = sorted(direct, key=lambda f: (f.endswith("_id"), len(f)))
    for _ in range(MAX_TENANT_DEPTH - 1):
        grew = False
        for name, info in models.items():
            if name in tenant_models:
                continue
            if name in user_models:
                continue
            known = list(paths_of.get(name, []))
            for f, t in info.relations:
                target = target_model(t)
                if target == name or target not in paths_of:
                    continue
                for p in paths_of[target][:2]:
                    candidate = f"{f}__{p}"
                    if candidate.count("__") < MAX_TENANT_DEPTH and candidate not in known:
                        known.append(candidate)
                        grew = True
            if known:
                paths_of[name] = known
        if not grew:
            break

    prefixes = {p for paths in paths_of.values() for p in paths}
    scoping_methods = _scoping_methods(raw_classes, prefixes, knowledge)
    view_bases = knowledge["requests.view_bases"]
    view_mixins: set[str] = set()
    for raw in raw_classes:
        base_shorts = [_short(b) for b in raw.bases]
        if set(base_shorts) & view_bases:
            view_mixins.update(b for b in base_shorts if b in by_name and b not in view_bases)
    classes: dict[str, list[ClassInfo]] = {}
    for raw in raw_classes:
        scoping = tuple(
            hook for hook, node in raw.hooks.items() if _hook_scopes(node, prefixes, knowledge, scoping_methods)
        )
        inheriting = tuple(hook for hook, node in raw.hooks.items() if _hook_inherits(node))
        narrows = any(_narrows_queryset(m, prefixes, knowledge, scoping_methods) for m in raw.method_nodes)
        classes.setdefault(raw.name, []).append(
            ClassInfo(
                raw.name, raw.path, raw.bases, tuple(raw.methods), scoping, inheriting, tuple(raw.aliases), narrows
            )
        )
    membership_attrs = _membership_attrs(raw_classes, config, knowledge, tenant_models)
    functions = _summarise(collector.functions, config, knowledge, tenant_models, membership_attrs)
    job_functions, webhook_functions = _entry_points(collector.functions, knowledge)
    summary = json.dumps({"digest": digest, "tenant": sorted(tenant_models), "paths": paths_of}, sort_keys=True)
    return ProjectIndex(
        root=str(root),
        models=models,
        tenant_paths={k: tuple(v) for k, v in paths_of.items()},
        tenant_models=tenant_models,
        membership_models=frozenset(config.membership_models),
        classes={k: tuple(v) for k, v in classes.items()},
        tables=tables,
        functions=functions,
        membership_attrs=membership_attrs,
        dependencies=frozenset(collector.dependencies),
        dependency_aliases=frozenset(collector.dependency_aliases),
        default_permissions=tuple(dict.fromkeys(collector.default_permissions)),
        scoping_methods=scoping_methods,
        view_mixins=frozenset(view_mixins),
        job_functions=job_functions,
        webhook_functions=webhook_functions,
        digest=hashlib.sha256(summary.encode()).hexdigest()[:16],
    )


USERISH = ("user", "current_user", "request.user", "self.request.user", "g.user", "actor")


def _is_userish(text: str) -> bool:
    text = text.removesuffix(".id").removesuffix(".pk").removesuffix("()")
    return text in USERISH or text.endswith((".user", "_user")) or text == "user_id"


def _membership_attrs(
    raw_classes: list[_RawClass], config: Config, knowledge: Knowledge, tenant_models: frozenset[str]
) -> frozenset[str]:
    """Relations from the user to tenants: configured names, the tenant's plural, and related_names
    declared on the tenant (``members = ManyToManyField(User, related_name="teams")``) and on the
    membership model (``user = ForeignKey(User, related_name="memberships")``)."""
    attrs = set(knowledge["guards.membership_attrs"])
    for tenant in tenant_models:
        low = tenant.lower()
        attrs.update((f"{low}s", f"{low}_set"))
    membership = set(config.membership_models)
    for raw in raw_classes:
        if raw.name in tenant_models or raw.name in membership:
            attrs.update(name for target, name in raw.related if target == "User" and name != "+")
    return frozenset(attrs)


def _direct_verifies(
    node: ast.AST, config: Config, knowledge: Knowledge, tenant_models: frozenset[str], attrs: frozenset[str]
) -> bool:
    """Whether a function body checks membership itself."""
    membership = set(config.membership_models)
    guard_calls = knowledge["guards.functions"] | knowledge["trusted.resolvers"]
    object_checks = knowledge["guards.object_checks"]
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id in membership:
            return True
        if isinstance(sub, ast.Attribute):
            if sub.attr in membership:
                return True
            if sub.attr in attrs and _is_userish(dotted(sub.value)):
                return True
        if isinstance(sub, ast.Call):
            name = dotted(sub.func).rstrip("()").rsplit(".", 1)[-1]
            if name in guard_calls:
                return True
            # obj.has_permission(request.user): the object is checked against the user's tenant
            if name in object_checks and any(
                _is_userish(dotted(a)) for a in [*sub.args, *(k.value for k in sub.keywords)]
            ):
                return True
            for kw in sub.keywords:
                key = kw.arg or ""
                if _is_userish(dotted(kw.value)) and ("member" in key or "user" in key or key in attrs):
                    return True
    return False


def _tenant_lookup_params(
    node: ast.AST, params: tuple[str, ...], knowledge: Knowledge, tenant_models: frozenset[str]
) -> tuple[str, ...]:
    """Parameters used as lookup values in a query on the tenant model (``Organization.objects.get(pk=p)``)."""
    found: list[str] = []
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Call):
            continue
        text = dotted(sub.func)
        hits_tenant = any(text.startswith(f"{t}.") or f"({t}" in text for t in tenant_models) or any(
            isinstance(a, ast.Name) and a.id in tenant_models for a in sub.args[:1]
        )
        if not hits_tenant:
            # the query chain may start further in: Organization.objects.filter(...).first()
            inner = sub.func
            while isinstance(inner, ast.Attribute) and isinstance(inner.value, ast.Call):
                inner = inner.value.func
            base = dotted(inner)
            hits_tenant = any(base.startswith(f"{t}.") for t in tenant_models)
        if not hits_tenant:
            continue
        model_first = bool(sub.args) and isinstance(sub.args[0], ast.Name) and sub.args[0].id in tenant_models
        values = [kw.value for kw in sub.keywords] + list(sub.args[1:] if model_first else sub.args)
        for value in values:
            for leaf in ast.walk(value):
                if isinstance(leaf, ast.Name) and leaf.id in params and leaf.id not in ("self", "cls"):
                    found.append(leaf.id)
    return tuple(dict.fromkeys(found))


def _summarise(
    raw: list[_RawFunction], config: Config, knowledge: Knowledge, tenant_models: frozenset[str], attrs: frozenset[str]
) -> dict[str, FunctionSummary]:
    direct = {id(f): _direct_verifies(f.node, config, knowledge, tenant_models, attrs) for f in raw}
    # calls that name a project function unambiguously: `helper(...)` (a module-level function) or
    # `self.helper(...)` (a method of the same class); `x.get(...)` names nothing in particular
    calls: dict[int, set[str]] = {}
    for f in raw:
        owner = f.qualname.rsplit(".", 1)[0] if "." in f.qualname else ""
        called = set()
        for sub in ast.walk(f.node):
            if isinstance(sub, ast.Call):
                if isinstance(sub.func, ast.Name):
                    called.add(sub.func.id)
                elif owner and isinstance(sub.func, ast.Attribute) and dotted(sub.func.value) == "self":
                    called.add(f"{owner}.{sub.func.attr}")
        calls[id(f)] = called
    verifying = {f.qualname for f in raw if direct[id(f)]}
    changed = True
    while changed:  # verifying through another verifying project helper
        changed = False
        for f in raw:
            if not direct[id(f)] and calls[id(f)] & verifying:
                direct[id(f)] = True
                verifying.add(f.qualname)
                changed = True
    out: dict[str, FunctionSummary] = {}
    for f in raw:
        verifies = direct[id(f)]
        resolves = () if verifies else _tenant_lookup_params(f.node, f.params, knowledge, tenant_models)
        summary = FunctionSummary(f.name, f.path, f.params, verifies, resolves)
        for key in {f.qualname, f.name}:
            previous = out.get(key)
            # ambiguous names: the verifying variant must not hide an unverified one, and vice versa
            if previous is None or (previous.verifies and not verifies):
                out[key] = summary
    return out


def _calls_of(node: ast.AST) -> Iterator[ast.Call]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            yield sub


def _matches_entry(text: str, entries: Iterable[str]) -> bool:
    short = _short(text.rstrip("()"))
    for entry in entries:
        if entry.startswith("*"):
            if short.endswith(entry[1:]):
                return True
        elif "." in entry:
            if text.endswith(entry):
                return True
        elif short == entry:
            return True
    return False


def _is_webhook_root(f: _RawFunction, knowledge: Knowledge) -> bool:
    markers = knowledge["webhooks.path_markers"]
    for dec in f.node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        if _matches_entry(dotted(target), knowledge["webhooks.decorators"]):
            return True
        if isinstance(dec, ast.Call):
            for arg in dec.args[:1]:
                if (
                    isinstance(arg, ast.Constant)
                    and isinstance(arg.value, str)
                    and any(m in arg.value for m in markers)
                ):
                    return True
    if any(m in f.name.lower() for m in knowledge["webhooks.name_markers"]):
        return True
    verify = knowledge["stripe.verify_calls"] | knowledge["stripe.unverified_calls"]
    return any(_matches_entry(dotted(c.func), verify) for c in _calls_of(f.node))


def _entry_points(raw: list[_RawFunction], knowledge: Knowledge) -> tuple[frozenset[str], frozenset[str]]:
    """Functions enqueued as jobs anywhere, and functions reachable from webhook handlers."""
    top_level = {f.name for f in raw if "." not in f.qualname}
    enqueue = knowledge["jobs.enqueue_calls"]
    jobs: set[str] = set()
    calls: dict[str, set[str]] = {}
    for f in raw:
        for call in _calls_of(f.node):
            func = call.func
            short = _short(dotted(func).rstrip("()"))
            if short in enqueue:
                if isinstance(func, ast.Attribute) and short in (
                    "delay",
                    "apply_async",
                    "send",
                    "kiq",
                    "send_with_options",
                ):
                    receiver = _short(dotted(func.value))
                    if receiver in top_level:
                        jobs.add(receiver)
                elif call.args:
                    target = _short(dotted(call.args[0]))
                    if target in top_level:
                        jobs.add(target)
            if short in top_level:
                calls.setdefault(f.qualname, set()).add(short)
    webhook: set[str] = {f.qualname for f in raw if _is_webhook_root(f, knowledge)}
    frontier = set(webhook)
    for _ in range(3):  # the functions a handler dispatches to, and theirs
        nxt = {callee for name in frontier for callee in calls.get(name, ())} - webhook
        webhook |= nxt
        frontier = nxt
    return frozenset(jobs), frozenset(webhook)
