"""The project index: which models are tenant-owned, and how a query reaches the tenant.

Built over the whole project (root = nearest pyproject.toml or .git), whichever files are being
checked, so that pre-commit's ten changed files are checked with the same knowledge as a full run.

Two steps. :func:`scan_source` reads one file with :mod:`ast` (far cheaper than LibCST; only names and
calls are needed here) into :class:`FileFacts`, small plain records that depend on that file alone
(and the settings): so files are scanned in parallel and their facts cached by content. Then
:func:`index_from_facts` joins every file's facts into the :class:`ProjectIndex`: which classes are
models, the tenant paths, the project's scoping methods, verifying helpers, jobs and webhook handlers.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import hashlib
import os
import sys
import warnings
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orgguard.config import Config, path_matches, walked_file_matcher
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
        if walked_file_matcher(patterns)(name, child):
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


# ---------------------------------------------------------------------------------------------------
# per-file facts: everything the index needs from one file, computed from that file alone (so it can be
# cached by the file's content and computed in parallel), small and plain (no syntax trees)


@dataclass(frozen=True)
class HookFacts:
    """A queryset hook (``get_queryset``...) as far as one file tells."""

    name: str
    scopes: bool  # narrows through a trusted source or a known scoping method, whatever the tenant paths
    inherits: bool  # builds on the class queryset (super()/self.queryset)
    calls: tuple[str, ...]  # short names of the methods it calls (project scoping methods are known later)
    kwargs: tuple[str, ...]  # lookup keywords (tenant paths are known later)
    parent_kwargs: tuple[str, ...]  # keywords given a name it holds (``project=project``), not a raw URL id


@dataclass(frozen=True)
class ClassFacts:
    """One class statement."""

    name: str
    path: str
    bases: tuple[str, ...]
    relations: tuple[tuple[str, str], ...]  # (field, target class name or "table:<name>")
    columns: tuple[str, ...]
    methods: tuple[str, ...]
    table: str
    table_declared: bool
    abstract: bool
    related: tuple[tuple[str, str], ...]  # (target name, related_name)
    aliases: tuple[tuple[str, str], ...]
    hooks: tuple[HookFacts, ...]
    # manager/queryset classes: (method, lookup keywords of its calls) for methods taking an argument
    manager_methods: tuple[tuple[str, tuple[str, ...]], ...]
    narrows: bool  # a method reassigns self.queryset through a known scoping method
    narrow_calls: tuple[str, ...]  # ...or through these calls (project scoping methods are known later)
    narrow_kwargs: tuple[str, ...]  # ...or these lookup keywords (tenant paths are known later)


@dataclass(frozen=True)
class FunctionFacts:
    """One module-level function or method."""

    name: str
    qualname: str
    path: str
    params: tuple[str, ...]
    verifies: bool  # checks membership itself (membership relations of the project aside)
    user_attrs: tuple[str, ...]  # attributes read on the user (``user.teams``): membership if a relation
    user_kwargs: tuple[str, ...]  # keywords given the user (``teams=user``): membership if a relation
    calls: tuple[str, ...]  # project functions it names unambiguously (``helper``, ``Class.method``)
    lookup_params: tuple[str, ...]  # params used to look the tenant up
    enqueued: tuple[str, ...]  # names it enqueues as jobs (``f.delay()``, ``queue.enqueue(f)``)
    called: tuple[str, ...]  # short names of everything it calls
    webhook_root: bool


@dataclass(frozen=True)
class FileFacts:
    """What one project file contributes to the index."""

    parsed: bool
    classes: tuple[ClassFacts, ...] = ()
    functions: tuple[FunctionFacts, ...] = ()
    dependencies: tuple[str, ...] = ()
    dependency_aliases: tuple[str, ...] = ()
    default_permissions: tuple[str, ...] = ()


def index_to_json(index: ProjectIndex) -> list[Any]:
    """A compact JSON form of the index (rows of plain values, sets sorted: equal indexes give equal text)."""
    summaries: dict[int, int] = {}
    rows: list[list[Any]] = []
    names: list[list[Any]] = []
    for name, f in index.functions.items():
        if id(f) not in summaries:
            summaries[id(f)] = len(rows)
            rows.append([f.name, f.path, f.params, f.verifies, f.resolves_unverified, f.reads_request])
        names.append([name, summaries[id(f)]])
    return [
        index.root,
        [[m.name, m.path, m.bases, m.relations, m.columns, m.table, m.abstract] for m in index.models.values()],
        list(index.tenant_paths.items()),
        sorted(index.tenant_models),
        sorted(index.membership_models),
        [
            [
                *(c.name, c.path, c.bases, c.methods, c.scoping_hooks, c.inheriting_hooks, c.aliases),
                c.narrows_queryset,
            ]
            for infos in index.classes.values()
            for c in infos
        ],
        list(index.tables.items()),
        sorted(index.membership_attrs),
        sorted(index.dependencies),
        sorted(index.dependency_aliases),
        index.default_permissions,
        sorted(index.scoping_methods),
        sorted(index.view_mixins),
        sorted(index.job_functions),
        sorted(index.webhook_functions),
        rows,
        names,
    ]


def index_from_json(data: Any) -> ProjectIndex:
    """The index :func:`index_to_json` wrote. Raises TypeError, ValueError or IndexError on anything else."""
    (
        root,
        models,
        tenant_paths,
        tenant_models,
        membership_models,
        classes,
        tables,
        attrs,
        dependencies,
        aliases,
        permissions,
        scoping,
        mixins,
        jobs,
        webhooks,
        rows,
        names,
    ) = data
    strs = _strings
    infos: dict[str, list[ClassInfo]] = {}
    for c in classes:
        info = ClassInfo(
            _str(c[0]), _str(c[1]), strs(c[2]), strs(c[3]), strs(c[4]), strs(c[5]), _pairs(c[6]), _flag(c[7])
        )
        infos.setdefault(info.name, []).append(info)
    summaries = [
        FunctionSummary(_str(f[0]), _str(f[1]), strs(f[2]), _flag(f[3]), strs(f[4]), _flag(f[5])) for f in rows
    ]
    return ProjectIndex(
        root=_str(root),
        models={
            _str(m[0]): ModelInfo(_str(m[0]), _str(m[1]), strs(m[2]), _pairs(m[3]), strs(m[4]), _str(m[5]), _flag(m[6]))
            for m in models
        },
        tenant_paths={_str(k): strs(v) for k, v in tenant_paths},
        tenant_models=frozenset(strs(tenant_models)),
        membership_models=frozenset(strs(membership_models)),
        classes={k: tuple(v) for k, v in infos.items()},
        tables={_str(k): _str(v) for k, v in tables},
        membership_attrs=frozenset(strs(attrs)),
        dependencies=frozenset(strs(dependencies)),
        dependency_aliases=frozenset(strs(aliases)),
        default_permissions=strs(permissions),
        scoping_methods=frozenset(strs(scoping)),
        view_mixins=frozenset(strs(mixins)),
        job_functions=frozenset(strs(jobs)),
        webhook_functions=frozenset(strs(webhooks)),
        functions={_str(name): summaries[i] for name, i in names},
    )


def facts_to_json(facts: FileFacts) -> list[Any]:
    """A compact JSON form of a file's facts (rows of plain values; see :func:`facts_from_json`)."""
    return [
        facts.parsed,
        [
            [
                *(c.name, c.path, c.bases, c.relations, c.columns, c.methods, c.table, c.table_declared),
                *(c.abstract, c.related, c.aliases),
                [[h.name, h.scopes, h.inherits, h.calls, h.kwargs, h.parent_kwargs] for h in c.hooks],
                *(c.manager_methods, c.narrows, c.narrow_calls, c.narrow_kwargs),
            ]
            for c in facts.classes
        ],
        [
            [
                *(f.name, f.qualname, f.path, f.params, f.verifies, f.user_attrs, f.user_kwargs, f.calls),
                *(f.lookup_params, f.enqueued, f.called, f.webhook_root),
            ]
            for f in facts.functions
        ],
        facts.dependencies,
        facts.dependency_aliases,
        facts.default_permissions,
    ]


def facts_from_json(data: Any) -> FileFacts:
    """The facts :func:`facts_to_json` wrote. Raises TypeError, ValueError or IndexError on anything else."""
    parsed, classes, functions, dependencies, aliases, permissions = data
    strs = _strings
    return FileFacts(
        _flag(parsed),
        tuple(
            ClassFacts(
                _str(c[0]),
                _str(c[1]),
                strs(c[2]),
                _pairs(c[3]),
                strs(c[4]),
                strs(c[5]),
                _str(c[6]),
                _flag(c[7]),
                _flag(c[8]),
                _pairs(c[9]),
                _pairs(c[10]),
                tuple(
                    HookFacts(_str(h[0]), _flag(h[1]), _flag(h[2]), strs(h[3]), strs(h[4]), strs(h[5])) for h in c[11]
                ),
                tuple((_str(m), strs(kw)) for m, kw in c[12]),
                _flag(c[13]),
                strs(c[14]),
                strs(c[15]),
            )
            for c in classes
        ),
        tuple(
            FunctionFacts(
                _str(f[0]),
                _str(f[1]),
                _str(f[2]),
                strs(f[3]),
                _flag(f[4]),
                strs(f[5]),
                strs(f[6]),
                strs(f[7]),
                strs(f[8]),
                strs(f[9]),
                strs(f[10]),
                _flag(f[11]),
            )
            for f in functions
        ),
        strs(dependencies),
        strs(aliases),
        strs(permissions),
    )


def _str(value: Any) -> str:
    if type(value) is not str:
        raise TypeError("not a string")
    return value


def _flag(value: Any) -> bool:
    if type(value) is not bool:
        raise TypeError("not a boolean")
    return value


def _strings(value: Any) -> tuple[str, ...]:
    out = tuple(value)
    if not all(type(v) is str for v in out):
        raise TypeError("not strings")
    return out


def _pairs(value: Any) -> tuple[tuple[str, str], ...]:
    return tuple((_str(a), _str(b)) for a, b in value)


def scan_source(data: bytes, rel: str, config: Config, knowledge: Knowledge) -> FileFacts | None:
    """The facts of one file (None: nothing to learn, no class or function in it)."""
    if b"class " not in data and b"def " not in data:
        return None
    try:
        with warnings.catch_warnings():  # the project's invalid escapes are not our output
            warnings.simplefilter("ignore")
            tree = ast.parse(data, filename=rel)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return FileFacts(parsed=False)
    try:
        with _deep_recursion():
            return _Scanner(config, knowledge, rel).module(tree)
    except (RecursionError, MemoryError):  # nesting too deep to walk: the file contributes nothing
        return FileFacts(parsed=True)


MANAGER_MARKERS = ("Manager", "QuerySet", "Query")
USERISH = ("user", "current_user", "request.user", "self.request.user", "g.user", "actor")
ENQUEUE_METHODS = ("delay", "apply_async", "send", "kiq", "send_with_options")
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _is_userish(text: str) -> bool:
    text = text.removesuffix(".id").removesuffix(".pk").removesuffix("()")
    return text in USERISH or text.endswith((".user", "_user")) or text == "user_id"


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


class _Scanner:
    """Reads one module's tree into :class:`FileFacts`."""

    def __init__(self, config: Config, knowledge: Knowledge, rel: str) -> None:
        self.k = knowledge
        self.rel = rel
        self.trusted = trusted_patterns(knowledge)
        self.scoping = knowledge["queries.scoping_methods"]
        self.tenant_models = frozenset(config.tenant_models)
        self.membership = frozenset(config.membership_models)
        self.guard_calls = knowledge["guards.functions"] | knowledge["trusted.resolvers"]
        self.object_checks = knowledge["guards.object_checks"]

    def module(self, tree: ast.Module) -> FileFacts:
        markers = self.k["trusted.dependency_markers"]
        permissions: list[str] = []
        aliases: list[str] = []
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
                                permissions.append(_short(leaf.value))
            if (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.value, ast.Subscript)
                and any(
                    isinstance(n, ast.Call) and _short(dotted(n.func).rstrip("()")) in markers
                    for n in ast.walk(stmt.value)
                )
            ):
                aliases.extend(t.id for t in stmt.targets if isinstance(t, ast.Name))
        dependencies: list[str] = []
        classes: list[ClassFacts] = []
        functions: list[FunctionFacts] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args and _short(dotted(node.func).rstrip("()")) in markers:
                name = dotted(node.args[0])
                if name:
                    dependencies.append(_short(name))
            if isinstance(node, ast.ClassDef):
                classes.append(self.klass(node))
                for item in node.body:
                    if isinstance(item, _FUNCS):
                        functions.append(self.function(item, f"{node.name}.{item.name}"))
        for node in tree.body:
            if isinstance(node, _FUNCS):
                functions.append(self.function(node, node.name))
        return FileFacts(
            True,
            tuple(classes),
            tuple(functions),
            tuple(dict.fromkeys(dependencies)),
            tuple(dict.fromkeys(aliases)),
            tuple(permissions),
        )

    # -- classes ------------------------------------------------------------------------------------

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

    def _related_names(self, call: ast.Call) -> Iterator[tuple[str, str]]:
        """``ManyToManyField(User, related_name="teams")``: the reverse accessor on the target."""
        for kw in call.keywords:
            if kw.arg in ("related_name", "backref", "back_populates") and isinstance(kw.value, ast.Constant):
                first = call.args[0] if call.args else None
                target = dotted(first) if first is not None else ""
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    target = first.value
                if target in self.k["models.user_model_refs"] or _short(target) == "User":
                    target = "User"
                yield _short(target), str(kw.value.value)

    def klass(self, node: ast.ClassDef) -> ClassFacts:
        base_nodes: list[ast.expr] = []
        for b in node.bases:
            # six.with_metaclass(Meta, Base1, Base2) / with_metaclass(...): the real bases follow the metaclass
            if isinstance(b, ast.Call) and _short(dotted(b.func).rstrip("()")) == "with_metaclass":
                base_nodes.extend(b.args[1:])
            else:
                base_nodes.append(b)
        bases = tuple(d for d in (dotted(b) for b in base_nodes) if d)
        aliases: list[tuple[str, str]] = []
        for stmt in node.body:
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, (ast.Name, ast.Attribute))
            ):
                aliases.append((stmt.targets[0].id, dotted(stmt.value)))
            elif (
                isinstance(stmt, _FUNCS)
                and len(stmt.body) == 1
                and isinstance(stmt.body[0], ast.Return)
                and stmt.body[0].value is not None
            ):
                returned = dotted(stmt.body[0].value)
                if returned.startswith("self.") and returned.count(".") == 1:
                    aliases.append((f"{stmt.name}()", returned[5:]))
        relations: list[tuple[str, str]] = []
        columns: list[str] = []
        related: list[tuple[str, str]] = []
        methods: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        table, table_declared, abstract = "", False, False
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
                        table, table_declared = str(value.value), True
                        continue
                    columns.append(target.id)
                    if isinstance(value, ast.Call):
                        rel_target = self._relation_target(value, node.name)
                        if rel_target:
                            relations.append((target.id, rel_target))
                        related.extend(self._related_names(value))
            elif isinstance(stmt, _FUNCS):
                methods.append(stmt)
            elif isinstance(stmt, ast.ClassDef) and stmt.name == "Meta":
                for meta in stmt.body:
                    if isinstance(meta, ast.Assign) and isinstance(meta.value, ast.Constant):
                        for t in meta.targets:
                            if isinstance(t, ast.Name) and t.id == "db_table":
                                table = str(meta.value.value)
                            if isinstance(t, ast.Name) and t.id == "abstract":
                                abstract = bool(meta.value.value)
        hooks: dict[str, HookFacts] = {}
        for m in methods:
            if m.name in self.k["requests.queryset_hooks"]:
                hooks[m.name] = self._hook(m)  # a redefinition replaces the first
        manager = node.name.endswith(MANAGER_MARKERS) or any(_short(b).endswith(MANAGER_MARKERS) for b in bases)
        manager_methods = tuple(
            (m.name, tuple(dict.fromkeys(kw.arg for c in _calls_of(m) for kw in c.keywords if kw.arg)))
            for m in methods
            if manager and not m.name.startswith("__") and len(m.args.args) >= 2
        )
        narrows, narrow_calls, narrow_kwargs = self._narrowing(methods)
        return ClassFacts(
            node.name,
            self.rel,
            bases,
            tuple(relations),
            tuple(columns),
            tuple(m.name for m in methods),
            table,
            table_declared,
            abstract,
            tuple(related),
            tuple(aliases),
            tuple(hooks.values()),
            manager_methods,
            narrows,
            narrow_calls,
            narrow_kwargs,
        )

    def _hook(self, hook: ast.FunctionDef | ast.AsyncFunctionDef) -> HookFacts:
        """What a get_queryset-style hook filters on: a trusted source, a scoping method, lookup keywords,
        a parent object it holds (``filter(project=project)``); and whether it builds on the class queryset."""
        scopes = inherits = False
        calls: list[str] = []
        kwargs: list[str] = []
        parents: list[str] = []
        params = {a.arg for a in hook.args.args}
        for node in ast.walk(hook):
            if isinstance(node, ast.Call):
                name = _short(dotted(node.func).rstrip("()"))
                calls.append(name)
                if name in self.scoping:
                    scopes = True
                for kw in node.keywords:
                    value = dotted(kw.value)
                    if is_trusted_expr(value, self.trusted):
                        scopes = True
                    if not kw.arg:
                        continue
                    kwargs.append(kw.arg)
                    if isinstance(kw.value, (ast.Name, ast.Attribute)) and not value.startswith(
                        ("self.kwargs", "self.request", "kwargs", "request.")
                    ):
                        parents.append(kw.arg)
            if isinstance(node, ast.Attribute):
                text = dotted(node)
                if text and is_trusted_expr(text, self.trusted) and not text.endswith((".user", ".user.id")):
                    scopes = True  # reaching rows through the verified org or the user's own relations
            text = dotted(node) if isinstance(node, (ast.Attribute, ast.Call)) else ""
            if text.startswith("super()") or text in ("self.queryset", "self.model", "self.get_queryset"):
                inherits = True
            # filter_queryset(self, queryset): building on the queryset it is handed
            if isinstance(node, ast.Name) and node.id == "queryset" and "queryset" in params:
                inherits = True
        return HookFacts(
            hook.name,
            scopes,
            inherits,
            tuple(dict.fromkeys(calls)),
            tuple(dict.fromkeys(kwargs)),
            tuple(dict.fromkeys(parents)),
        )

    def _narrowing(
        self, methods: list[ast.FunctionDef | ast.AsyncFunctionDef]
    ) -> tuple[bool, tuple[str, ...], tuple[str, ...]]:
        """``self.queryset = self.queryset.restrict(user, action)`` in any method (a permission mixin)."""
        narrows = False
        calls: list[str] = []
        kwargs: list[str] = []
        for method in methods:
            for node in ast.walk(method):
                if not isinstance(node, ast.Assign) or not any(dotted(t) == "self.queryset" for t in node.targets):
                    continue
                for sub in _calls_of(node.value):
                    name = _short(dotted(sub.func).rstrip("()"))
                    narrows = narrows or name in self.scoping
                    calls.append(name)
                    kwargs.extend(kw.arg for kw in sub.keywords if kw.arg)
        return narrows, tuple(dict.fromkeys(calls)), tuple(dict.fromkeys(kwargs))

    # -- functions ----------------------------------------------------------------------------------

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, qualname: str) -> FunctionFacts:
        a = node.args
        params = tuple(p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs))
        owner = qualname.rsplit(".", 1)[0] if "." in qualname else ""
        verifies = False
        user_attrs: list[str] = []
        user_kwargs: list[str] = []
        calls: list[str] = []
        enqueued: list[str] = []
        called: list[str] = []
        lookups: list[str] = []
        webhook_root = self._webhook_decorated(node)
        verify_calls = self.k["stripe.verify_calls"] | self.k["stripe.unverified_calls"]
        enqueue = self.k["jobs.enqueue_calls"]
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                if sub.id in self.membership:
                    verifies = True
            elif isinstance(sub, ast.Attribute):
                if sub.attr in self.membership:
                    verifies = True
                if _is_userish(dotted(sub.value)):
                    user_attrs.append(sub.attr)
            elif isinstance(sub, ast.Call):
                func = sub.func
                text = dotted(func)
                short = _short(text.rstrip("()"))
                called.append(short)
                if isinstance(func, ast.Name):
                    calls.append(func.id)
                elif owner and isinstance(func, ast.Attribute) and dotted(func.value) == "self":
                    calls.append(f"{owner}.{func.attr}")
                if short in self.guard_calls:
                    verifies = True
                # obj.has_permission(request.user): the object is checked against the user's tenant
                if short in self.object_checks and any(
                    _is_userish(dotted(x)) for x in [*sub.args, *(k.value for k in sub.keywords)]
                ):
                    verifies = True
                for kw in sub.keywords:
                    key = kw.arg or ""
                    if _is_userish(dotted(kw.value)):
                        if "member" in key or "user" in key:
                            verifies = True
                        user_kwargs.append(key)
                if short in enqueue:
                    if isinstance(func, ast.Attribute) and short in ENQUEUE_METHODS:
                        enqueued.append(_short(dotted(func.value)))
                    elif sub.args:
                        enqueued.append(_short(dotted(sub.args[0])))
                if not webhook_root and _matches_entry(text, verify_calls):
                    webhook_root = True
                lookups.extend(self._tenant_lookup_params(sub, params))
        return FunctionFacts(
            node.name,
            qualname,
            self.rel,
            params,
            verifies,
            tuple(dict.fromkeys(user_attrs)),
            tuple(dict.fromkeys(user_kwargs)),
            tuple(dict.fromkeys(calls)),
            tuple(dict.fromkeys(lookups)),
            tuple(dict.fromkeys(e for e in enqueued if e)),
            tuple(dict.fromkeys(called)),
            webhook_root,
        )

    def _tenant_lookup_params(self, sub: ast.Call, params: tuple[str, ...]) -> list[str]:
        """Parameters used as lookup values in a query on the tenant model (``Organization.objects.get(pk=p)``)."""
        tenants = self.tenant_models
        if not tenants:
            return []
        text = dotted(sub.func)
        hits_tenant = any(text.startswith(f"{t}.") or f"({t}" in text for t in tenants) or any(
            isinstance(x, ast.Name) and x.id in tenants for x in sub.args[:1]
        )
        if not hits_tenant:
            # the query chain may start further in: Organization.objects.filter(...).first()
            inner = sub.func
            while isinstance(inner, ast.Attribute) and isinstance(inner.value, ast.Call):
                inner = inner.value.func
            base = dotted(inner)
            hits_tenant = any(base.startswith(f"{t}.") for t in tenants)
        if not hits_tenant:
            return []
        model_first = bool(sub.args) and isinstance(sub.args[0], ast.Name) and sub.args[0].id in tenants
        found: list[str] = []
        values = [kw.value for kw in sub.keywords] + list(sub.args[1:] if model_first else sub.args)
        for value in values:
            for leaf in ast.walk(value):
                if isinstance(leaf, ast.Name) and leaf.id in params and leaf.id not in ("self", "cls"):
                    found.append(leaf.id)
        return found

    def _webhook_decorated(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        markers = self.k["webhooks.path_markers"]
        for dec in node.decorator_list:
            target = dec.func if isinstance(dec, ast.Call) else dec
            if _matches_entry(dotted(target), self.k["webhooks.decorators"]):
                return True
            if isinstance(dec, ast.Call):
                for arg in dec.args[:1]:
                    if (
                        isinstance(arg, ast.Constant)
                        and isinstance(arg.value, str)
                        and any(m in arg.value for m in markers)
                    ):
                        return True
        return any(m in node.name.lower() for m in self.k["webhooks.name_markers"])


def _calls_of(node: ast.AST) -> Iterator[ast.Call]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            yield sub


def build_index(
    root: Path,
    config: Config,
    knowledge: Knowledge,
    files: Iterable[Path] | None = None,
    *,
    sources: Iterable[SourceFile] | None = None,
) -> ProjectIndex:
    """Scan the project and compute tenant ownership (direct and transitive), in this process.

    ``sources`` (from :func:`read_sources`) saves reading the files again; each one's ``parsed`` is set.
    The runner scans in parallel and from its cache, then calls :func:`index_from_facts` itself.
    """
    scanned = []
    for src in sources if sources is not None else read_sources(root, config, files):
        facts = scan_source(src.data, config.relpath(src.path), config, knowledge)
        src.parsed = None if facts is None else facts.parsed
        scanned.append(facts)
    return index_from_facts(root, config, knowledge, scanned)


def index_from_facts(
    root: Path, config: Config, knowledge: Knowledge, scanned: Iterable[FileFacts | None]
) -> ProjectIndex:
    """The index from every project file's facts (in the project's file order)."""
    classes: list[ClassFacts] = []
    functions: list[FunctionFacts] = []
    dependencies: set[str] = set()
    dependency_aliases: set[str] = set()
    permissions: list[str] = []
    for facts in scanned:
        if facts is None:
            continue
        classes.extend(facts.classes)
        functions.extend(facts.functions)
        dependencies.update(facts.dependencies)
        dependency_aliases.update(facts.dependency_aliases)
        permissions.extend(facts.default_permissions)
    by_name: dict[str, list[ClassFacts]] = {}
    for raw in classes:
        by_name.setdefault(raw.name, []).append(raw)

    # Which classes are models: a known model base, or a project model as base (fixpoint).
    model_names: set[str] = set()
    changed = True
    while changed:
        changed = False
        for raw in classes:
            if raw.name in model_names:
                continue
            shorts = {_short(b) for b in raw.bases}
            # a declarative class names its table even when its base comes from another package
            if shorts & knowledge["models.bases"] or shorts & model_names or raw.table_declared:
                model_names.add(raw.name)
                changed = True

    tenant_models = frozenset(config.tenant_models)
    models, tables = _models(model_names, by_name)
    paths_of = _tenant_paths(models, tables, config, tenant_models)
    prefixes = {p for paths in paths_of.values() for p in paths}
    scoping_methods = frozenset(
        method
        for raw in classes
        for method, kwargs in raw.manager_methods
        if any(k == p or k.startswith((f"{p}__", f"{p}_id")) for k in kwargs for p in prefixes)
    )
    view_bases = knowledge["requests.view_bases"]
    view_mixins: set[str] = set()
    for raw in classes:
        base_shorts = [_short(b) for b in raw.bases]
        if set(base_shorts) & view_bases:
            view_mixins.update(b for b in base_shorts if b in by_name and b not in view_bases)
    hops = _hops(prefixes)

    def on_path(key: str, *, with_id: bool = False) -> bool:
        return any(key == p or key.startswith(f"{p}__") or (with_id and key == f"{p}_id") for p in prefixes)

    infos: dict[str, list[ClassInfo]] = {}
    for raw in classes:
        scoping = tuple(
            hook.name
            for hook in raw.hooks
            if hook.scopes
            or set(hook.calls) & scoping_methods
            or any(on_path(k, with_id=True) for k in hook.kwargs)
            or set(hook.parent_kwargs) & hops
        )
        narrows = (
            raw.narrows or bool(set(raw.narrow_calls) & scoping_methods) or any(on_path(k) for k in raw.narrow_kwargs)
        )
        infos.setdefault(raw.name, []).append(
            ClassInfo(
                raw.name,
                raw.path,
                raw.bases,
                raw.methods,
                scoping,
                tuple(hook.name for hook in raw.hooks if hook.inherits),
                raw.aliases,
                narrows,
            )
        )
    membership_attrs = _membership_attrs(classes, config, knowledge, tenant_models)
    summaries = _summarise(functions, membership_attrs)
    job_functions, webhook_functions = _entry_points(functions)
    return ProjectIndex(
        root=str(root),
        models=models,
        tenant_paths={k: tuple(v) for k, v in paths_of.items()},
        tenant_models=tenant_models,
        membership_models=frozenset(config.membership_models),
        classes={k: tuple(v) for k, v in infos.items()},
        tables=tables,
        functions=summaries,
        membership_attrs=membership_attrs,
        dependencies=frozenset(dependencies),
        dependency_aliases=frozenset(dependency_aliases),
        default_permissions=tuple(dict.fromkeys(permissions)),
        scoping_methods=scoping_methods,
        view_mixins=frozenset(view_mixins),
        job_functions=job_functions,
        webhook_functions=webhook_functions,
    )


def _models(
    model_names: set[str], by_name: Mapping[str, list[ClassFacts]]
) -> tuple[dict[str, ModelInfo], dict[str, str]]:
    """Every model with the fields it declares and inherits from project model bases; tables to models."""
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
    return models, tables


def _tenant_paths(
    models: Mapping[str, ModelInfo], tables: Mapping[str, str], config: Config, tenant_models: frozenset[str]
) -> dict[str, list[str]]:
    """How each tenant-owned model reaches the tenant: direct fields first, then through parents."""

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
    return paths_of


def _hops(tenant_prefixes: set[str]) -> set[str]:
    """Proper prefixes of tenant paths: the parents a row reaches its tenant through (``project``)."""
    hops: set[str] = set()
    for path in tenant_prefixes:
        parts = path.split("__")
        hops.update("__".join(parts[:i]) for i in range(1, len(parts)))
    return hops


def _membership_attrs(
    classes: list[ClassFacts], config: Config, knowledge: Knowledge, tenant_models: frozenset[str]
) -> frozenset[str]:
    """Relations from the user to tenants: configured names, the tenant's plural, and related_names
    declared on the tenant (``members = ManyToManyField(User, related_name="teams")``) and on the
    membership model (``user = ForeignKey(User, related_name="memberships")``)."""
    attrs = set(knowledge["guards.membership_attrs"])
    for tenant in tenant_models:
        low = tenant.lower()
        attrs.update((f"{low}s", f"{low}_set"))
    membership = set(config.membership_models)
    for raw in classes:
        if raw.name in tenant_models or raw.name in membership:
            attrs.update(name for target, name in raw.related if target == "User" and name != "+")
    return frozenset(attrs)


def _summarise(functions: list[FunctionFacts], attrs: frozenset[str]) -> dict[str, FunctionSummary]:
    direct = [
        f.verifies or bool(attrs.intersection(f.user_attrs) or attrs.intersection(f.user_kwargs)) for f in functions
    ]
    verifying = {f.qualname for f, v in zip(functions, direct, strict=True) if v}
    changed = True
    while changed:  # verifying through another verifying project helper
        changed = False
        for i, f in enumerate(functions):
            if not direct[i] and verifying.intersection(f.calls):
                direct[i] = True
                verifying.add(f.qualname)
                changed = True
    out: dict[str, FunctionSummary] = {}
    for f, verifies in zip(functions, direct, strict=True):
        summary = FunctionSummary(f.name, f.path, f.params, verifies, () if verifies else f.lookup_params)
        for key in dict.fromkeys((f.qualname, f.name)):
            previous = out.get(key)
            # ambiguous names: the verifying variant must not hide an unverified one, and vice versa
            if previous is None or (previous.verifies and not verifies):
                out[key] = summary
    return out


def _entry_points(functions: list[FunctionFacts]) -> tuple[frozenset[str], frozenset[str]]:
    """Functions enqueued as jobs anywhere, and functions reachable from webhook handlers."""
    top_level = {f.name for f in functions if "." not in f.qualname}
    jobs = {name for f in functions for name in f.enqueued if name in top_level}
    calls: dict[str, set[str]] = {}
    for f in functions:
        local = top_level.intersection(f.called)
        if local:
            calls.setdefault(f.qualname, set()).update(local)
    webhook: set[str] = {f.qualname for f in functions if f.webhook_root}
    frontier = set(webhook)
    for _ in range(3):  # the functions a handler dispatches to, and theirs
        nxt = {callee for name in frontier for callee in calls.get(name, ())} - webhook
        webhook |= nxt
        frontier = nxt
    return frozenset(jobs), frozenset(webhook)


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
