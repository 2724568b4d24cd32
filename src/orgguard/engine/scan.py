"""The index scan: one project file, read with :mod:`ast`, into :class:`~orgguard.engine.records.FileFacts`.

A file's facts depend on that file alone (and the settings), so files are scanned in parallel and
their facts cached by content. What needs the whole project — which classes are models, the tenant
paths, what a call resolves to, whether a helper verifies — is left symbolic here (names as written,
:class:`Ref` references, :class:`Origin` in terms of the function's own parameters) and settled in the
join (engine/join.py).

Each function is read once, statement by statement, in order: an environment maps local names to the
origin of their values (a parameter, client input, a verified tenant, the result of a project call),
branches are joined (a value is guarded after an ``if`` only when it is guarded on every path that
goes on), and every call that may reach project code is recorded with the origins of its arguments.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from orgguard.config import Config
from orgguard.engine import blank, syntax, vocab
from orgguard.engine.records import (
    CLEAN_ORIGIN,
    FACTORY_MARKER,
    TRUSTED_ORIGIN,
    CallFacts,
    Check,
    ClassFacts,
    Decorator,
    DefFacts,
    FileFacts,
    HookFacts,
    Layout,
    Lookup,
    ModuleVar,
    Origin,
    ParamSpec,
    Ref,
    join_origins,
)
from orgguard.knowledge import Knowledge

MANAGER_MARKERS = ("Manager", "QuerySet", "Query")
ENQUEUE_METHODS = ("delay", "apply_async", "send", "kiq", "send_with_options")
REGISTER_METHODS = ("append", "add", "insert", "extend")
HOOK_METHODS = ("before_request", "before_app_request")  # Flask: runs before every route of the app/blueprint
RANDOM_DEFAULTS = (
    "uuid4", "uuid1", "token_urlsafe", "token_hex", "token_bytes", "get_random_string", "urandom", "shortuuid",
)  # fmt: skip
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
_Func = ast.FunctionDef | ast.AsyncFunctionDef
BUILTINS = frozenset(dir(__import__("builtins")))


def dotted(node: ast.AST | None) -> str:
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


def call_text(call: ast.Call) -> str:
    """The dotted text a call key starts with (the checkers compute the same from LibCST)."""
    return dotted(call.func) or "<expr>"


def scan_source(
    data: bytes, rel: str, config: Config, knowledge: Knowledge, *, layout: bool = False
) -> FileFacts | None:
    """The facts of one file (None: nothing to learn, no class or function in it).

    ``layout``: record where its top-level statements are too (:class:`Layout`, for this run's checking: the
    runner takes it out before the facts are packed or joined)."""
    if b"class " not in data and b"def " not in data and b"import" not in data:
        return None
    found: Layout | None = None
    try:
        with warnings.catch_warnings():  # the project's invalid escapes are not our output
            warnings.simplefilter("ignore")
            try:
                tree = ast.parse(data, filename=rel)
                direct = True
            except SyntaxError:  # perhaps newer syntax, lowered for this interpreter
                tree = syntax.parse_ast(data, rel, config.target_version)  # the project's grammar
                direct = False
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return FileFacts(parsed=False, path=rel, module=vocab.module_name(rel))
    try:
        with deep_recursion():
            if layout and direct:  # the tree blanking would parse itself: its layout spares the checks a parse
                found = blank.layout_of(tree)
            facts = ModuleScan(config, knowledge, rel).module(tree)
    except (RecursionError, MemoryError):  # nesting too deep to walk: the file contributes nothing
        return FileFacts(parsed=True, path=rel, module=vocab.module_name(rel))
    return msgspec.structs.replace(facts, layout=found) if found is not None else facts


def parse_for_parts(data: bytes, rel: str) -> ast.Module | None:
    """The tree :func:`scan_part` reads (None: a file to scan whole with :func:`scan_source`: nothing to scan in
    it, or not valid for this interpreter's parser)."""
    if b"class " not in data and b"def " not in data and b"import" not in data:
        return None
    try:
        with warnings.catch_warnings():  # the project's invalid escapes are not our output
            warnings.simplefilter("ignore")
            return ast.parse(data, filename=rel)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def scan_part(tree: ast.Module, rel: str, config: Config, knowledge: Knowledge, part: tuple[int, int]) -> FileFacts:
    """Part ``part`` (index, count) of what :func:`scan_source` gives with ``layout`` for the file whose tree
    :func:`parse_for_parts` gave, for one big file scanned by several processes: the functions and classes of
    one run of its module-level definitions (cut by lines), and, in the first part, everything else of the
    module and its layout. :func:`joined_facts` puts the parts together. Raises where :func:`scan_source`
    gives the facts of a file it could not walk (the caller scans the file whole then)."""
    with deep_recursion():
        found = blank.layout_of(tree) if part[0] == 0 else None
        facts = ModuleScan(config, knowledge, rel).module(tree, part)
    return msgspec.structs.replace(facts, layout=found) if found is not None else facts


def joined_facts(parts: Sequence[FileFacts]) -> FileFacts:
    """The facts of a file scanned in parts (:func:`scan_part`, in order): what :func:`scan_source` gives."""
    return msgspec.structs.replace(
        parts[0],
        classes=tuple(c for p in parts for c in p.classes),
        functions=tuple(f for p in parts for f in p.functions),
        registrations=tuple(dict.fromkeys(r for p in parts for r in p.registrations)),
    )


def _part_statements(stmts: Sequence[ast.stmt], part: tuple[int, int] | None) -> range:
    """The module-level statements whose definitions part ``part`` (index, count) scans: runs of about the
    same number of lines (every statement without ``part``)."""
    if part is None:
        return range(len(stmts))
    index, count = part
    defs = [(n, s) for n, s in enumerate(stmts) if isinstance(s, (*_FUNCS, ast.ClassDef))]
    total = sum((s.end_lineno or s.lineno) - s.lineno + 1 for _, s in defs) or 1
    first, stop, seen = len(stmts), len(stmts), 0
    for n, stmt in defs:
        which = min(count - 1, seen * count // total)
        if which == index and first == len(stmts):
            first = n
        elif which > index:
            stop = n
            break
        seen += (stmt.end_lineno or stmt.lineno) - stmt.lineno + 1
    return range(first, stop) if first < stop else range(0)


@contextlib.contextmanager
def deep_recursion() -> Iterator[None]:
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


# fields that never hold a node the scan looks for: names and flags, and the Load/Store context and operator
# singletons (read through their parent, ``node.op``, never found by a walk)
_LEAF_FIELDS = frozenset(
    {
        "ctx",
        "op",
        "ops",
        "id",
        "attr",
        "arg",
        "name",
        "level",
        "module",
        "kind",
        "type_comment",
        "is_async",
        "conversion",
        "simple",
        "lineno",
        "col_offset",
        "end_lineno",
        "end_col_offset",
        "value_str",
        "asname",
        "rest",
        "tag",
    }
)
_MIXED_LISTS = frozenset({"keys", "kw_defaults", "names", "kwd_attrs"})  # lists that may hold None or names
_NO_CHILDREN: tuple[type, ...] = (ast.Constant, ast.MatchSingleton)  # their ``value`` is a Python value
_CHILD_FIELDS: dict[type, tuple[tuple[str, bool], ...]] = {}
_DOTTED_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")  # module.name, package.module.name


def _child_fields(kind: type[ast.AST]) -> tuple[tuple[str, bool], ...]:
    """The fields of a node type that may hold nodes, each with whether a list of it may hold other values."""
    found = _CHILD_FIELDS.get(kind)
    if found is None:
        fields = () if issubclass(kind, _NO_CHILDREN) else kind._fields
        found = _CHILD_FIELDS[kind] = tuple((f, f in _MIXED_LISTS) for f in fields if f not in _LEAF_FIELDS)
    return found


def walk(node: ast.AST) -> list[ast.AST]:
    """``ast.walk`` without the expression contexts and operator singletons: the other nodes in the same
    (breadth-first) order, as one list."""
    todo: list[ast.AST] = [node]
    append, extend = todo.append, todo.extend
    fields_of, AST = _CHILD_FIELDS.get, ast.AST
    for current in todo:  # the list grows while it is read: breadth first
        kind = current.__class__
        fields = fields_of(kind)
        if fields is None:
            fields = _child_fields(kind)
        for name, mixed in fields:
            value = getattr(current, name, None)
            if value is None:
                continue
            if value.__class__ is list:
                if mixed:
                    extend([item for item in value if isinstance(item, AST)])
                else:
                    extend(value)
            elif isinstance(value, AST):
                append(value)
    return todo


def _composed(node: ast.expr) -> bool:
    """An expression composing permissions with DRF's operators (``A & (B | C)``, ``~A``)."""
    return (isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitOr, ast.BitAnd))) or (
        isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert)
    )


def _all_of(entries: Sequence[tuple[tuple[Ref, ...], ...]], budget: int = 16) -> tuple[tuple[Ref, ...], ...] | None:
    """Entries that must all pass, each any one of its alternatives, as alternatives (None past ``budget``)."""
    out: list[tuple[Ref, ...]] = [()]
    for entry in entries:
        out = [(*have, *more) for have in out for more in entry]
        if len(out) > budget:
            return None
    return tuple(out)


def _super_call(node: ast.expr, method: str) -> bool:
    """``super().<method>()``."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == method
        and isinstance(node.func.value, ast.Call)
        and dotted(node.func.value.func) == "super"
    )


def _always_assigns(body: Sequence[ast.stmt]) -> bool:
    """Whether every path through ``body`` assigns ``self.permission_classes`` (an ``if`` counts when both of its
    branches do)."""
    for stmt in body:
        if isinstance(stmt, ast.Assign) and any(dotted(t) == "self.permission_classes" for t in stmt.targets):
            return True
        if isinstance(stmt, ast.If) and stmt.orelse and _always_assigns(stmt.body) and _always_assigns(stmt.orelse):
            return True
    return False


def _defaults(a: ast.arguments) -> dict[str, ast.expr]:
    """Each parameter's default, by name (positional and keyword-only)."""
    positional = [*a.posonlyargs, *a.args]
    found = dict(zip([x.arg for x in positional[len(positional) - len(a.defaults) :]], a.defaults, strict=True))
    found.update((x.arg, d) for x, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d is not None)
    return found


def _optional_params(node: _Func) -> tuple[str, ...]:
    """The parameters that default to ``None`` or whose annotation admits it (``str | None``, ``Optional[str]``)."""
    a = node.args
    defaults = _defaults(a)
    out: list[str] = []
    for arg in (*a.posonlyargs, *a.args, *a.kwonlyargs):
        default = defaults.get(arg.arg)
        if (isinstance(default, ast.Constant) and default.value is None) or (
            arg.annotation is not None and _admits_none(arg.annotation)
        ):
            out.append(arg.arg)
    return tuple(out)


def _admits_none(ann: ast.expr) -> bool:
    """Whether an annotation admits ``None``: ``str | None``, ``Optional[str]``, ``Union[str, None]``, or a string
    annotation that names it."""
    if isinstance(ann, ast.Constant):
        return ann.value is None or (isinstance(ann.value, str) and "None" in ann.value)
    if isinstance(ann, ast.BinOp):
        return _admits_none(ann.left) or _admits_none(ann.right)
    if isinstance(ann, ast.Subscript):
        name = dotted(ann.value).rsplit(".", 1)[-1]
        if name == "Optional":
            return True
        if name == "Union":
            items = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
            return any(_admits_none(item) for item in items)
    return False


def _empty_literal(node: ast.expr) -> bool:
    if isinstance(node, (ast.Tuple, ast.List)):
        return not node.elts
    return isinstance(node, ast.Dict) and not node.keys


def _periodic_task(table: ast.Dict, task_keys: frozenset[str]) -> list[str]:
    """The import path a periodic schedule's entry names its job by (Celery beat: ``{"task": "app.tasks.purge",
    "schedule": crontab(...)}``), when the entry hands the job no arguments (no ``args``/``kwargs``, or empty
    literals): such a job works for the whole service."""
    path = ""
    for key, value in zip(table.keys, table.values, strict=True):
        name = _string(key) if key is not None else None
        if name in task_keys:
            path = _string(value) or ""
        elif name in ("args", "kwargs") and not _empty_literal(value):
            return []  # arguments: the job may work for whoever they name
        elif key is None:
            return []  # `**extra`: what it holds is unknown
    return [path] if path and "." in path else []


def _calls_of(node: ast.AST) -> Iterator[ast.Call]:
    for sub in walk(node):
        if isinstance(sub, ast.Call):
            yield sub


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _module_statements(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements at module (or class) level, including those inside ``if``/``try``/``with`` blocks."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If):
            yield from _module_statements(stmt.body)
            yield from _module_statements(stmt.orelse)
        elif isinstance(stmt, ast.Try) or (sys.version_info >= (3, 11) and type(stmt).__name__ == "TryStar"):
            for block in (stmt.body, stmt.orelse, stmt.finalbody):  # type: ignore[attr-defined]
                yield from _module_statements(block)
            for handler in stmt.handlers:  # type: ignore[attr-defined]
                yield from _module_statements(handler.body)
        elif isinstance(stmt, ast.With):
            yield from _module_statements(stmt.body)


def import_table(stmts: Iterable[ast.stmt], module: str, is_package: bool) -> tuple[dict[str, str], list[str]]:
    """Local name -> absolute dotted origin, and star-imported modules, from import statements."""
    table: dict[str, str] = {}
    stars: list[str] = []
    for stmt in stmts:
        if isinstance(stmt, ast.ImportFrom):
            base = vocab.absolute_module(module, is_package, stmt.level or 0, stmt.module)
            for alias in stmt.names:
                if alias.name == "*":
                    stars.append(base)
                    continue
                table[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    table[alias.asname] = alias.name
                else:
                    head = alias.name.split(".", 1)[0]
                    table.setdefault(head, head)
    return table, stars


@dataclass
class ModuleScope:
    """What a module's names are, for resolving references while its functions are read."""

    module: str
    imports: dict[str, str]
    local: set[str]  # module-level defs, classes and variables

    def absolute(self, name: str, local_imports: Mapping[str, str] | None = None) -> str | None:
        """The absolute dotted origin of a module-level name (None: a builtin or unknown)."""
        if local_imports and name in local_imports:
            return local_imports[name]
        if name in self.imports:
            return self.imports[name]
        if name in self.local:
            return f"{self.module}.{name}"
        return None

    def qualified(self, text: str, local_imports: Mapping[str, str] | None = None) -> str:
        """``current_org.org_id`` -> ``orgguard.runtime.flask.current_org.org_id`` through the imports only
        (what the checkers' ``FileContext.qualified`` gives)."""
        head, dot, rest = text.partition(".")
        bare = head.removesuffix("()")
        origin = (local_imports or {}).get(bare) or self.imports.get(bare)
        if origin is None:
            return text
        return origin + ("()" if head.endswith("()") else "") + dot + rest


class ModuleScan:
    """Reads one module's tree into :class:`FileFacts`."""

    def __init__(self, config: Config, knowledge: Knowledge, rel: str) -> None:
        self.config = config
        self.k = knowledge
        self.rel = rel
        self.module_name = vocab.module_name(rel)
        self.is_package = rel.endswith("__init__.py")
        self.trusted = knowledge["trusted.org_sources"]
        self.scoping = knowledge["queries.scoping_methods"]
        self.tenant_models = frozenset(config.tenant_models)
        self.membership = frozenset(config.membership_models)
        words = {t.lower() for t in self.tenant_models}
        # attributes and lookup keys that name the tenant: organization, organization_id, the tenant fields
        self.tenant_words = frozenset(words | {f"{w}_id" for w in words} | set(config.tenant_fields))
        self.scope = ModuleScope(self.module_name, {}, set())
        self.random_makers: frozenset[str] = frozenset()  # see module()
        self.trusted_texts: dict[str, bool] = {}  # FunctionScan._trusted_text of functions with no imports of their own

    # -- module ------------------------------------------------------------------------------------

    def module(self, tree: ast.Module, part: tuple[int, int] | None = None) -> FileFacts:
        """The module's facts; with ``part`` (index, count), the functions and classes of that part of its
        definitions only (see :func:`scan_part`), and the module's other facts in the first part alone."""
        stmts = list(_module_statements(tree.body))
        imports, stars = import_table(stmts, self.module_name, self.is_package)
        local: set[str] = set()
        for stmt in stmts:
            if isinstance(stmt, (*_FUNCS, ast.ClassDef)):
                local.add(stmt.name)
            elif isinstance(stmt, ast.Assign):
                local.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                local.add(stmt.target.id)
        self.scope = ModuleScope(self.module_name, imports, local)
        # module functions that return a fresh random value (`def get_anchor(): return uuid4().hex`): a field
        # defaulting to one holds a bearer secret, as one defaulting to uuid4 itself does
        self.random_makers = frozenset(stmt.name for stmt in stmts if isinstance(stmt, _FUNCS) and _makes_random(stmt))
        if part is not None and part[0] > 0:
            classes, functions, decorated = self._definitions(stmts, part)
            return FileFacts(
                parsed=True,
                path=self.rel,
                module=self.module_name,
                classes=tuple(classes),
                functions=tuple(functions),
                registrations=tuple(dict.fromkeys(decorated)),
            )
        markers = self.k["trusted.dependency_markers"]
        permissions: list[str] = []
        filters: list[str] = []
        aliases: list[str] = []
        factories: list[tuple[str, Ref]] = []
        providers: list[tuple[str, Ref]] = []
        variables: list[ModuleVar] = []
        for stmt in stmts:
            if (
                isinstance(stmt, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "REST_FRAMEWORK" for t in stmt.targets)
                and isinstance(stmt.value, ast.Dict)
            ):
                for key, value in zip(stmt.value.keys, stmt.value.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value in (
                        "DEFAULT_PERMISSION_CLASSES",
                        "DEFAULT_FILTER_BACKENDS",
                    ):
                        into = permissions if key.value == "DEFAULT_PERMISSION_CLASSES" else filters
                        for leaf in walk(value):
                            if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str):
                                into.append(vocab.short(leaf.value))
            if (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.value, ast.Subscript)
                and any(isinstance(n, ast.Call) and self._marker_name(n.func) in markers for n in walk(stmt.value))
            ):
                aliases.extend(t.id for t in stmt.targets if isinstance(t, ast.Name))
                for call in walk(stmt.value):
                    if isinstance(call, ast.Call) and self._marker_name(call.func) in markers and call.args:
                        provider = self.ref_of(call.args[0], {}, {})
                        if provider is not None:
                            providers.extend((t.id, provider) for t in stmt.targets if isinstance(t, ast.Name))
            elif (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.value, ast.Subscript)
                and vocab.short(dotted(stmt.value.value)) == "Annotated"
                and isinstance(stmt.value.slice, ast.Tuple)
            ):
                for meta in stmt.value.slice.elts[1:]:
                    ref = self.ref_of(meta.func, {}, {}) if isinstance(meta, ast.Call) else None
                    if ref is not None:
                        factories.extend((t.id, ref) for t in stmt.targets if isinstance(t, ast.Name))
            var = self._module_var(stmt)
            if var is not None:
                variables.append(var)
        dependencies: list[Ref] = []
        connects: list[tuple[Ref, Ref]] = []
        mounts: list[tuple[Ref, Ref]] = []
        # the URLconf: `urlpatterns = [...]` (or `+=`) at module level; every name in it may be a view, however
        # wrapped (`acme_guard(views.detail)`, `login_required(...)`); path() calls elsewhere count too (below)
        patterns = [
            stmt.value
            for stmt in tree.body
            if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign))
            and stmt.value is not None
            and any(
                isinstance(t, ast.Name) and t.id == "urlpatterns"
                for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
            )
        ]
        hooks: list[tuple[Ref, Ref]] = []
        registrations: list[tuple[str, Ref]] = []
        scheduled: list[Ref] = []
        periodic: list[str] = []
        url_views: list[Ref] = []
        resolvers: list[Ref] = []
        view_actions: list[tuple[Ref, tuple[str, ...]]] = []
        schedule_keys, task_keys = self.k["jobs.schedule_keys"], self.k["jobs.schedule_task_keys"]
        installs = list(self._installed_names(stmts))
        for value in patterns:
            for sub in walk(value):
                if isinstance(sub, (ast.Name, ast.Attribute)):
                    ref = self.ref_of(sub, {}, {})
                    if ref is not None:
                        url_views.append(ref)
        url_functions, schedule_calls = self.k["requests.url_functions"], self.k["jobs.schedule_calls"]
        for node in walk(tree):
            if isinstance(node, ast.Dict):
                # a scheduler's table: `{"func": version_check, "interval": timedelta(days=1)}`
                for key, value in zip(node.keys, node.values, strict=True):
                    if key is not None and _string(key) in schedule_keys:
                        ref = self.ref_of(value, {}, {})
                        if ref is not None:
                            scheduled.append(ref)
                periodic.extend(_periodic_task(node, task_keys))
                continue
            if not isinstance(node, ast.Call):
                continue
            if (
                isinstance(node.func, ast.Attribute)
                and node.func.attr == "as_view"
                and node.args
                and isinstance(node.args[0], ast.Dict)
            ):
                # `IssueViewSet.as_view({"get": "list", "post": "create"})`: the actions a viewset route runs
                actions = tuple(a for a in (_string(v) for v in node.args[0].values) if a)
                view = self.ref_of(node.func.value, {}, {})
                if view is not None and actions:
                    view_actions.append((view, actions))
            marker = self._marker_name(node.func) if node.args else ""
            if len(node.args) >= 2 and marker in url_functions:
                # path("invoices/<int:pk>/", login_required(views.detail)): every name in the view argument
                for sub in walk(node.args[1]):
                    if isinstance(sub, (ast.Name, ast.Attribute)):
                        ref = self.ref_of(sub, {}, {})
                        if ref is not None:
                            url_views.append(ref)
            resolvers.extend(self._resolvers_handed(node))
            if isinstance(node.func, ast.Attribute) and node.func.attr in schedule_calls:
                # `scheduler.cron("0 * * * *", func=purge)`, `scheduler.add_job(func=purge, ...)`
                for kw in node.keywords:
                    if kw.arg in schedule_keys:
                        ref = self.ref_of(kw.value, {}, {})
                        if ref is not None:
                            scheduled.append(ref)
            if (
                isinstance(node.func, ast.Attribute)
                and node.func.attr == "register"
                and len(node.args) >= 2
                and all(isinstance(a, (ast.Name, ast.Attribute)) for a in node.args[:2])
            ):
                # admin.site.register(Device, DeviceAdmin): the admin class serves the model (its self.model)
                admin = self.ref_of(node.args[1], {}, {})
                if admin is not None:
                    registrations.append((dotted(node.args[0]), admin))
            if node.args and self.installs_sessions(node):
                ref = self.ref_of(node.args[0], {}, {})
                if ref is not None and "()" not in ref.attrs:
                    installs.append(ref)
            if node.args and marker in markers:
                ref = self.ref_of(node.args[0], {}, {})
                if ref is not None:
                    dependencies.append(ref)
            if isinstance(node.func, ast.Attribute) and node.args:
                if node.func.attr == "connect":
                    signal = self.ref_of(node.func.value, {}, {})
                    receiver = self.ref_of(node.args[0], {}, {})
                    if signal is not None and receiver is not None:
                        connects.append((signal, receiver))
                elif node.func.attr in HOOK_METHODS:
                    owner = self.ref_of(node.func.value, {}, {})
                    hook = self.ref_of(node.args[0], {}, {})
                    if owner is not None and hook is not None:
                        hooks.append((owner, hook))
                elif node.func.attr in ("include_router", "mount", "register_blueprint"):
                    parent = self.ref_of(node.func.value, {}, {})
                    child_node = node.args[-1] if node.func.attr == "mount" else node.args[0]
                    child = self.ref_of(child_node, {}, {})
                    if parent is not None and child is not None:
                        mounts.append((parent, child))
        classes, functions, more = self._definitions(stmts, part)
        registrations.extend(more)
        return FileFacts(
            parsed=True,
            path=self.rel,
            module=self.module_name,
            classes=tuple(classes),
            functions=tuple(functions),
            imports=tuple(sorted(imports.items())),
            star_imports=tuple(stars),
            variables=tuple(variables),
            dependencies=tuple(dict.fromkeys(dependencies)),
            dependency_aliases=tuple(dict.fromkeys(aliases)),
            dependency_factories=tuple(dict.fromkeys(factories)),
            alias_providers=tuple(dict.fromkeys(providers)),
            default_permissions=tuple(permissions),
            default_filters=tuple(filters),
            mounts=tuple(mounts),
            connects=tuple(connects),
            registrations=tuple(dict.fromkeys(registrations)),
            scheduled=tuple(scheduled),
            periodic=tuple(dict.fromkeys(periodic)),
            url_views=tuple(dict.fromkeys(url_views)),
            resolvers=tuple(dict.fromkeys(resolvers)),
            view_actions=tuple(dict.fromkeys(view_actions)),
            urlconf=bool(patterns),
            named_paths=tuple(self._named_paths(tree.body)),
            hooks=tuple(hooks),
            installs=tuple(dict.fromkeys(installs)),
        )

    def _resolvers_handed(self, call: ast.Call) -> Iterator[Ref]:
        """Functions a call makes GraphQL resolvers of (the join counts them only in a project that imports a
        GraphQL framework): ``strawberry.field(resolver=get_webapp)``, ``graphene.Field(T, resolver=...)`` and
        Ariadne's ``query.set_field("webapp", resolve_webapp)``."""
        values: list[ast.expr] = [kw.value for kw in call.keywords if kw.arg == "resolver"]
        if isinstance(call.func, ast.Attribute) and call.func.attr == "set_field" and len(call.args) >= 2:
            values.append(call.args[1])
        for value in values:
            ref = self.ref_of(value, {}, {})
            if ref is not None:
                yield ref

    def _definitions(
        self, stmts: Sequence[ast.stmt], part: tuple[int, int] | None
    ) -> tuple[list[ClassFacts], list[DefFacts], list[tuple[str, Ref]]]:
        """The facts of the module's functions and classes (of one part of them, with ``part``), and the
        registrations their class decorators make."""
        classes: list[ClassFacts] = []
        functions: list[DefFacts] = []
        registrations: list[tuple[str, Ref]] = []
        seen: dict[str, int] = {}
        mine = _part_statements(stmts, part)

        def add(node: _Func, klass: str, scanned: bool) -> FunctionScan:
            qual = f"{klass}.{node.name}" if klass else node.name
            seen[qual] = seen.get(qual, 0) + 1
            if seen[qual] > 1:
                qual = f"{qual}#{seen[qual]}"
            scan = FunctionScan(self, node, qual, klass)
            if scanned:
                functions.append(scan.run())
            return scan

        def visit_class(node: ast.ClassDef, outer: str, scanned: bool) -> None:
            qual = f"{outer}.{node.name}" if outer else node.name
            at = len(classes)
            if scanned:
                classes.append(None)  # type: ignore[arg-type]  # filled once its methods are read
            scans: list[FunctionScan] = []
            for item in _module_statements(node.body):
                if isinstance(item, _FUNCS):
                    scans.append(add(item, qual, scanned))
                elif isinstance(item, ast.ClassDef):
                    visit_class(item, qual, scanned)
            if not scanned:
                return  # another part's: only its names are counted (numbered qualified names)
            classes[at] = self.klass(node, qual, scans)
            for dec in node.decorator_list:
                if isinstance(dec, ast.Call) and vocab.short(dotted(dec.func)) == "register":
                    # @admin.register(Device, Template): the class serves each model named
                    registrations.extend(
                        (dotted(arg), Ref("g", f"{self.module_name}.{qual}"))
                        for arg in dec.args
                        if isinstance(arg, (ast.Name, ast.Attribute))
                    )

        for n, stmt in enumerate(stmts):
            if n >= mine.stop:
                break
            if isinstance(stmt, _FUNCS):
                add(stmt, "", n in mine)
            elif isinstance(stmt, ast.ClassDef):
                visit_class(stmt, "", n in mine)
        return classes, functions, registrations

    @staticmethod
    def _named_paths(stmts: list[ast.stmt]) -> Iterator[Ref]:
        """Dotted paths given as strings in module-level assignments (a settings module's callables)."""
        for stmt in stmts:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                for leaf in walk(stmt.value):
                    if (
                        isinstance(leaf, ast.Constant)
                        and isinstance(leaf.value, str)
                        and _DOTTED_PATH.fullmatch(leaf.value)
                    ):
                        yield Ref("g", leaf.value)

    def installs_sessions(self, call: ast.Call) -> bool:
        """``install(SessionLocal)``: a call of queries.session_installers (resolved through the imports)."""
        text = dotted(call.func)
        return bool(text) and vocab.matches_any(self.scope.qualified(text), self.k["queries.session_installers"])

    def _installed_names(self, stmts: Sequence[ast.stmt]) -> Iterator[Ref]:
        """``SessionLocal = install(sessionmaker(engine))``: the module name bound to what install() returns."""
        for stmt in stmts:
            if isinstance(stmt, ast.Assign):
                targets, value = list(stmt.targets), stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                targets, value = [stmt.target], stmt.value
            else:
                continue
            if not isinstance(value, ast.Call) or not self.installs_sessions(value):
                continue
            for target in targets:
                if isinstance(target, ast.Name):
                    yield Ref("g", f"{self.module_name}.{target.id}")

    def _marker_name(self, func: ast.AST) -> str:
        """The short name of a marker call as imported (``Depends``, ``Query``)."""
        text = dotted(func)
        if isinstance(func, ast.Name):
            origin = self.scope.imports.get(func.id)
            if origin:
                return vocab.short(origin)
        return vocab.short(text)

    def _module_var(self, stmt: ast.stmt) -> ModuleVar | None:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name, value = stmt.targets[0].id, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            name, value = stmt.target.id, stmt.value
        else:
            return None
        if isinstance(value, (ast.Dict, ast.List, ast.Tuple, ast.Set)):
            values = value.values if isinstance(value, ast.Dict) else value.elts
            table = tuple(r for r in (self.ref_of(v, {}, {}) for v in values) if r is not None)
            return ModuleVar(name, table=table)  # a table of handlers, or a registry filled later
        if isinstance(value, (ast.Name, ast.Attribute)):
            alias = self.ref_of(value, {}, {})
            return ModuleVar(name, alias=alias) if alias is not None else None
        if _composed(value):
            composed = self._permission_alternatives(value)
            return ModuleVar(name, permission=composed) if composed else None
        if isinstance(value, ast.Call):
            func = dotted(value.func)
            short = self._marker_name(value.func)
            if short == "partial" and value.args:
                alias = self.ref_of(value.args[0], {}, {})
                return ModuleVar(name, alias=alias) if alias is not None else None
            if short == "Signal" or (short == "signal" and value.args):  # Django's Signal(), blinker's signal("x")
                return ModuleVar(name, signal=True)
            deps: list[Ref] = []
            for kw in value.keywords:
                if kw.arg == "dependencies":
                    for leaf in _calls_of(kw.value):
                        if leaf.args and self._marker_name(leaf.func) in self.k["trusted.dependency_markers"]:
                            ref = self.ref_of(leaf.args[0], {}, {})
                            if ref is not None:
                                deps.append(ref)
            type_ref = self.ref_of(value.func, {}, {}) if func else None
            if type_ref is not None:
                return ModuleVar(
                    name, type=Ref(type_ref.kind, type_ref.base, (*type_ref.attrs, "()")), dependencies=tuple(deps)
                )
        return None

    def _permission_alternatives(self, expr: ast.expr, budget: int = 16) -> tuple[tuple[Ref, ...], ...] | None:
        """A permission composed with DRF's operators, as its alternatives (``A | B``: either; ``A & B``: both, one
        alternative; ``~A``: an alternative that requires nothing), each the classes that must all pass on it.
        None for anything else, or past ``budget`` alternatives."""
        if isinstance(expr, (ast.Name, ast.Attribute)):
            ref = self.ref_of(expr, {}, {})
            return ((ref,),) if ref is not None else None
        if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Invert):
            return ((),)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.BitOr, ast.BitAnd)):
            left = self._permission_alternatives(expr.left, budget)
            right = self._permission_alternatives(expr.right, budget)
            if left is None or right is None:
                return None
            out = (*left, *right) if isinstance(expr.op, ast.BitOr) else tuple((*a, *b) for a in left for b in right)
            return out if len(out) <= budget else None
        return None

    def ref_of(
        self,
        node: ast.AST,
        types: Mapping[str, Ref],
        local_imports: Mapping[str, str],
        klass: str = "",
    ) -> Ref | None:
        """A :class:`Ref` for a Name/Attribute chain (or ``Cls(...)``/``f()`` at its base), else None."""
        attrs: list[str] = []
        while True:
            if isinstance(node, ast.Attribute):
                attrs.append(node.attr)
                node = node.value
            elif isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute, ast.Call)):
                attrs.append("()")
                node = node.func
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Subscript):
                attrs.append("()")
                node = node.func.value  # HttpRepo[Create, Out, Update](repo): an instance of HttpRepo
            else:
                break
        attrs.reverse()
        if not isinstance(node, ast.Name):
            return None
        name = node.id
        user = _user_method(name, attrs)
        if user is not None:
            return user  # request.user.is_organisation_admin(org): a method of the project's user model
        if klass and name in ("self", "cls"):
            return Ref("self", f"{self.module_name}.{klass}", tuple(attrs))
        if klass and name == "super" and attrs[:1] == ["()"] and len(attrs) > 1:
            # super().post(...) / super(Alert, cls).get(...): the method as a base class defines it
            return Ref("super", f"{self.module_name}.{klass}", tuple(attrs[1:]))
        if name in types:
            base = types[name]
            return Ref(base.kind, base.base, (*base.attrs, *attrs))
        absolute = self.scope.absolute(name, local_imports)
        if absolute is None:
            return None
        return Ref("g", absolute, tuple(attrs))

    # -- classes ------------------------------------------------------------------------------------

    def _permissions_returned(self, method: _Func) -> list[Ref] | None:
        """The permission classes a DRF view's ``get_permissions`` returns when it returns one list, whatever the
        action (``return [IsAuthenticated(), IsMember()]``); None when it has another shape (a list per action)."""
        returns = [n for n in walk(method) if isinstance(n, ast.Return)]
        if len(returns) != 1 or not isinstance(returns[0].value, (ast.List, ast.Tuple)):
            return None
        items = [el for el in returns[0].value.elts if not isinstance(el, ast.Starred)]
        refs = [self.ref_of(el.func if isinstance(el, ast.Call) else el, {}, {}) for el in items]
        return [r for r in refs if r is not None]

    def _permission_branches(self, method: _Func) -> tuple[tuple[tuple[Ref, ...], ...], bool] | None:
        """The permission lists a DRF view's ``get_permissions`` picks among (``self.permission_classes = [...]`` or
        ``return [...]`` in each branch), as one composed permission's alternatives, and whether some path may keep
        the class's own list (a ``return super().get_permissions()`` not preceded, on every path, by an assignment).
        None for any other shape, or past the alternatives' budget."""
        lists: list[ast.expr] = []
        others = False
        for node in walk(method):
            if isinstance(node, ast.Assign) and any(dotted(t) == "self.permission_classes" for t in node.targets):
                lists.append(node.value)
            elif isinstance(node, ast.Return) and node.value is not None:
                if isinstance(node.value, (ast.List, ast.Tuple)):
                    lists.append(node.value)
                elif _super_call(node.value, "get_permissions"):
                    others = True
                else:
                    return None
        if not lists:
            return None
        alternatives: list[tuple[Ref, ...]] = []
        for listed in lists:
            if not isinstance(listed, (ast.List, ast.Tuple)):
                return None
            entries: list[tuple[tuple[Ref, ...], ...]] = []
            for el in listed.elts:
                item = el.func if isinstance(el, ast.Call) else el  # `IsMember()`: an instance of the class
                composed = self._permission_alternatives(item)
                if composed is None:
                    return None
                entries.append(composed)
            combined = _all_of(entries)
            if combined is None:
                return None
            alternatives.extend(combined)
        if len(alternatives) > 16:
            return None
        return tuple(alternatives), others and not _always_assigns(method.body)

    @staticmethod
    def _permission_lists(
        classes: Sequence[Ref], composed: Sequence[tuple[tuple[Ref, ...], ...]]
    ) -> tuple[tuple[Ref, ...], ...] | None:
        """The class's own ``permission_classes`` as alternatives (every plain class and one alternative of each
        composed entry); None when the class declares none here (its bases' list applies, unknown in this file)."""
        if not classes and not composed:
            return None
        return _all_of([(tuple(classes),), *composed])

    def _relation_target(self, call: ast.Call, owner: str) -> str | None:
        """The model (or ``table:<name>``) a relation call points at, or None."""
        func = vocab.short(dotted(call.func))
        target: ast.AST | None = None
        if func in self.k["models.foreign_keys"]:
            target = call.args[0] if call.args else None
            for kw in call.keywords:
                if kw.arg in ("to", "foreign_key", "argument"):
                    target = kw.value
        # SQLModel's Field(sa_column=Column(ForeignKey("tenant.id"))) names no target itself: its column does
        if target is not None:
            if isinstance(target, ast.Constant) and isinstance(target.value, str):
                text = target.value
                if text == "self":
                    return owner
                if "." in text:
                    head, tail = text.rsplit(".", 1)
                    # "app.Model" names a class; "table.column" (SQLAlchemy, SQLModel) names a table
                    return vocab.short(tail) if tail[:1].isupper() else "table:" + head
                return text
            if isinstance(target, ast.Call):
                # swapper.get_model_name("config", "Device"): a swappable model named by its app and class
                named = [a.value for a in target.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                if named and vocab.short(named[-1])[:1].isupper():
                    return vocab.short(named[-1])
            name = dotted(target)
            if name in self.k["models.user_model_refs"]:
                return "User"
            if name:
                return vocab.short(name)
            return None
        # SQLAlchemy: Column(ForeignKey("orgs.id")) / mapped_column(...) / Field(foreign_key=...)
        for arg in [*call.args, *(kw.value for kw in call.keywords)]:
            if isinstance(arg, ast.Call):
                inner = self._relation_target(arg, owner)
                if inner:
                    return inner
        return None

    def _declared_attribute(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.expr | None:
        """What a declared-attribute method (``@declared_attr``) returns, when it returns one call: the value of
        the class attribute named after it."""
        decorators = self.k["models.declared_attributes"]
        if not any(vocab.matches_any(dotted(d), decorators) for d in node.decorator_list):
            return None
        returned = [n.value for n in node.body if isinstance(n, ast.Return) and n.value is not None]
        return returned[0] if len(returned) == 1 and isinstance(returned[0], ast.Call) else None

    def _default_callables(self, call: ast.Call) -> Iterator[Ref]:
        """The functions a field's default names (``default=create_hash``), as references the join resolves."""
        for kw in call.keywords:
            if kw.arg in ("default", "default_factory") and isinstance(kw.value, (ast.Name, ast.Attribute)):
                ref = self.ref_of(kw.value, {}, {})
                if ref is not None:
                    yield ref

    def _related_names(self, call: ast.Call) -> Iterator[tuple[str, str]]:
        """``ManyToManyField(User, related_name="teams")``: the reverse accessor on the target."""
        for kw in call.keywords:
            if kw.arg in ("related_name", "backref", "back_populates") and isinstance(kw.value, ast.Constant):
                first = call.args[0] if call.args else None
                target = dotted(first) if first is not None else ""
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    target = first.value
                if target in self.k["models.user_model_refs"] or vocab.short(target) == "User":
                    target = "User"
                yield vocab.short(target), str(kw.value.value)

    def klass(self, node: ast.ClassDef, qualname: str, scans: Sequence[FunctionScan] = ()) -> ClassFacts:
        base_nodes: list[ast.expr] = []
        for b in node.bases:
            # six.with_metaclass(Meta, Base1, Base2) / with_metaclass(...): the real bases follow the metaclass
            if isinstance(b, ast.Call) and vocab.short(dotted(b.func)) == "with_metaclass":
                base_nodes.extend(b.args[1:])
            elif isinstance(b, ast.Subscript):
                base_nodes.append(b.value)  # class TaskDAO(BaseDAO[Task]): a generic base is its class
            else:
                base_nodes.append(b)
        kept = [(d, b) for d, b in ((dotted(b), b) for b in base_nodes) if d]
        bases = tuple(d for d, _ in kept)
        base_refs = tuple(self.ref_of(b, {}, {}) for _, b in kept)
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
        collections: list[str] = []  # the relations among them that hold many rows
        columns: list[str] = []
        related: list[tuple[str, str]] = []
        methods: list[_Func] = []
        attr_types: list[tuple[str, Ref]] = []
        permission_classes: list[Ref] = []
        permission_alternatives: list[tuple[tuple[Ref, ...], ...]] = []
        per_method: tuple[tuple[tuple[Ref, ...], ...], bool] | None = None  # get_permissions' lists (see below)
        attr_refs: list[tuple[str, tuple[Ref, ...]]] = []
        secret: list[str] = []
        default_refs: list[tuple[str, Ref]] = []  # (field, the function its default calls), resolved by the join
        primary: list[str] = []
        table, table_declared, abstract = "", False, False
        for stmt in node.body:
            targets: list[ast.expr] = []
            value: ast.AST | None = None
            annotation: ast.AST | None = None
            if isinstance(stmt, ast.Assign):
                targets, value = list(stmt.targets), stmt.value
            elif isinstance(stmt, ast.AnnAssign):
                targets, value, annotation = [stmt.target], stmt.value, stmt.annotation
            elif isinstance(stmt, _FUNCS) and (declared := self._declared_attribute(stmt)) is not None:
                # @declared_attr def project_id(cls): return Column(ForeignKey("project.id")): a field
                targets, value, annotation = [ast.Name(id=stmt.name)], declared, stmt.returns
                methods.append(stmt)
            if targets:
                for target in targets:
                    if not isinstance(target, ast.Name):
                        continue
                    if target.id == "__tablename__" and isinstance(value, ast.Constant):
                        table, table_declared = str(value.value), True
                        continue
                    columns.append(target.id)
                    if isinstance(value, (ast.List, ast.Tuple)):
                        refs = tuple(r for r in (self.ref_of(el, {}, {}) for el in value.elts) if r is not None)
                        if refs:
                            attr_refs.append((target.id, refs))
                        if target.id == "permission_classes":
                            permission_classes.extend(refs)
                            for el in value.elts:
                                composed = self._permission_alternatives(el) if _composed(el) else None
                                if composed is not None:
                                    permission_alternatives.append(composed)
                    if isinstance(value, ast.Call):
                        rel_target = self._relation_target(value, node.name)
                        if rel_target:
                            relations.append((target.id, rel_target))
                            if _collection(value, annotation):
                                collections.append(target.id)
                        related.extend(self._related_names(value))
                        if self._is_primary(value) or target.id in ("id", "pk"):
                            primary.append(target.id)
                        elif self._random_default(value):
                            secret.append(target.id)
                        else:
                            # default=create_hash, imported: a secret when the join finds a random maker there
                            default_refs.extend((target.id, ref) for ref in self._default_callables(value))
                        type_ref = self.ref_of(value.func, {}, {})
                        if type_ref is not None:
                            attr_types.append((target.id, Ref(type_ref.kind, type_ref.base, (*type_ref.attrs, "()"))))
                    if annotation is not None:
                        ann = self._annotation_ref(annotation)
                        if ann is not None:
                            attr_types.append((target.id, ann))
            elif isinstance(stmt, _FUNCS):
                methods.append(stmt)
                if stmt.name == "__init__":
                    attr_types.extend(self._init_types(stmt))
                listed = self._permissions_returned(stmt) if stmt.name == "get_permissions" else None
                if listed is not None:
                    # `def get_permissions(self): return [NestedProjectPermissions(...)]`: what the attribute says
                    permission_classes[:] = listed
                    columns.append("permission_classes")
                elif stmt.name == "get_permissions":
                    per_method = self._permission_branches(stmt) or per_method
            elif isinstance(stmt, ast.ClassDef) and stmt.name == "Meta":
                for meta in stmt.body:
                    if isinstance(meta, ast.Assign) and isinstance(meta.value, ast.Constant):
                        for t in meta.targets:
                            if isinstance(t, ast.Name) and t.id == "db_table":
                                table = str(meta.value.value)
                            if isinstance(t, ast.Name) and t.id == "abstract":
                                abstract = bool(meta.value.value)
        if per_method is not None:
            # `get_permissions` picks a list per action or condition: the view's permission is any one of them, as a
            # composed permission is any one of its alternatives (a path that keeps the class's own list adds it)
            picked, keeps_own = per_method
            own = self._permission_lists(permission_classes, permission_alternatives)
            if not keeps_own or own is not None:
                permission_classes[:] = []
                permission_alternatives[:] = [(*picked, *(own if keeps_own and own else ()))]
                columns.append("permission_classes")
        hooks: dict[str, HookFacts] = {}
        for m in methods:
            if m.name in self.k["requests.queryset_hooks"]:
                hooks[m.name] = self._hook(m)  # a redefinition replaces the first
        manager = node.name.endswith(MANAGER_MARKERS) or any(vocab.short(b).endswith(MANAGER_MARKERS) for b in bases)
        manager_methods = tuple(
            (m.name, tuple(dict.fromkeys(kw.arg for c in _calls_of(m) for kw in c.keywords if kw.arg)))
            for m in methods
            if manager and not m.name.startswith("__") and len(m.args.args) >= 2
        )
        narrows, narrow_calls, narrow_kwargs = self._narrowing(scans)
        return ClassFacts(
            name=node.name,
            qualname=qualname,
            path=self.rel,
            line=node.lineno,
            bases=bases,
            base_refs=base_refs,
            relations=tuple(relations),
            columns=tuple(columns),
            methods=tuple(m.name for m in methods),
            table=table,
            table_declared=table_declared,
            abstract=abstract,
            related=tuple(related),
            aliases=tuple(aliases),
            hooks=tuple(hooks.values()),
            manager_methods=manager_methods,
            narrows=narrows,
            narrow_calls=narrow_calls,
            narrow_kwargs=narrow_kwargs,
            attr_types=tuple(dict.fromkeys(attr_types)),
            permission_classes=tuple(permission_classes),
            permission_alternatives=tuple(permission_alternatives),
            secret_fields=tuple(secret),
            default_refs=tuple(default_refs),
            primary_keys=tuple(primary),
            attr_refs=tuple(attr_refs),
            decorators=tuple(self._class_decorators(node)),
            dependencies=tuple(self._class_dependencies(node)),
            collections=tuple(collections),
        )

    def _class_dependencies(self, node: ast.ClassDef) -> Iterator[Ref]:
        """Providers a class injects into every handler: ``user = Depends(get_admin_user)`` attributes, and a
        router subclass's ``super().__init__(dependencies=[Depends(...)])``."""
        markers = self.k["trusted.dependency_markers"]
        for stmt in node.body:
            value = stmt.value if isinstance(stmt, (ast.Assign, ast.AnnAssign)) else None
            if isinstance(value, ast.Call) and self._marker_name(value.func) in markers and value.args:
                ref = self.ref_of(value.args[0], {}, {})
                if ref is not None:
                    yield ref
            if isinstance(stmt, _FUNCS) and stmt.name == "__init__":
                for call in _calls_of(stmt):
                    for kw in call.keywords:
                        if kw.arg != "dependencies":
                            continue
                        for inner in _calls_of(kw.value):
                            if self._marker_name(inner.func) in markers and inner.args:
                                ref = self.ref_of(inner.args[0], {}, {})
                                if ref is not None:
                                    yield ref

    def _class_decorators(self, node: ast.ClassDef) -> Iterator[str]:
        """Qualified decorator texts of a class; ``method_decorator(X, name=...)`` stands for X."""
        for dec in node.decorator_list:
            target: ast.AST = dec.func if isinstance(dec, ast.Call) else dec
            text = dotted(target)
            given = [kw.value for kw in dec.keywords if kw.arg == "decorator"] if isinstance(dec, ast.Call) else []
            if isinstance(dec, ast.Call) and vocab.short(text) == "method_decorator" and (dec.args or given):
                inner = dec.args[0] if dec.args else given[0]  # method_decorator(name="get", decorator=X())
                for el in inner.elts if isinstance(inner, (ast.List, ast.Tuple)) else [inner]:
                    named = el.func if isinstance(el, ast.Call) else el
                    if dotted(named):
                        yield self.scope.qualified(dotted(named))
            elif text:
                yield self.scope.qualified(text)

    def _annotation_ref(self, node: ast.AST) -> Ref | None:
        """The class an annotation names as an instance (``Repo``, ``Optional[Repo]``, ``"Repo"``)."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                node = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                return None
        if isinstance(node, ast.Subscript):
            head = vocab.short(dotted(node.value))
            if head in ("Optional", "Annotated", "Type", "type", "ClassVar", "Final"):
                inner = node.slice
                if isinstance(inner, ast.Tuple) and inner.elts:
                    inner = inner.elts[0]
                return self._annotation_ref(inner)
            if head in _NOT_INSTANCES or head[:1].islower():
                return None  # list[Repo], Iterator[Row], Callable[..., X]: not an instance of the head
            node = node.value  # a project generic, ``Repo[Schema, Model]``: an instance of ``Repo``
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # Repo | None
            return self._annotation_ref(node.left)
        ref = self.ref_of(node, {}, {})
        if ref is None or (ref.attrs and ref.attrs[-1] == "()"):
            return None
        return Ref(ref.kind, ref.base, (*ref.attrs, "()"))  # an instance of the class

    def _init_types(self, init: _Func) -> list[tuple[str, Ref]]:
        """``self.repo = Repo(...)`` / ``self.repo = repo`` (a parameter annotated ``repo: Repo``)."""
        params: dict[str, Ref] = {}
        for arg in (*init.args.posonlyargs, *init.args.args, *init.args.kwonlyargs):
            if arg.annotation is not None:
                ref = self._annotation_ref(arg.annotation)
                if ref is not None:
                    params[arg.arg] = ref
        out: list[tuple[str, Ref]] = []
        for node in walk(init):
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                if not (isinstance(target, ast.Attribute) and dotted(target.value) == "self"):
                    continue
                value = node.value
                if isinstance(value, ast.Name) and value.id in params:
                    out.append((target.attr, params[value.id]))
                elif isinstance(value, ast.Attribute) and dotted(value).split(".", 1)[0] in params:
                    # self.items = repos.shopping_items: an attribute (a property) of an annotated parameter
                    ref = self.ref_of(value, params, {})
                    if ref is not None:
                        out.append((target.attr, ref))
                elif isinstance(value, ast.Attribute) and isinstance(_attr_base(value), ast.Call):
                    # self.recipes = get_repositories(session).recipes: an attribute of what a factory returns
                    ref = self.ref_of(value, {}, {})
                    if ref is not None:
                        out.append((target.attr, ref))
                elif isinstance(value, ast.Call):
                    ref = self.ref_of(value.func, {}, {})
                    if ref is not None:
                        out.append((target.attr, Ref(ref.kind, ref.base, (*ref.attrs, "()"))))
        return out

    @staticmethod
    def _is_primary(call: ast.Call) -> bool:
        return any(
            kw.arg == "primary_key" and isinstance(kw.value, ast.Constant) and kw.value.value is True
            for kw in call.keywords
        )

    def _random_default(self, call: ast.Call) -> bool:
        for kw in call.keywords:
            if kw.arg in ("default", "default_factory", "server_default"):
                if _random_call(kw.value):
                    return True
                if isinstance(kw.value, ast.Name) and kw.value.id in self.random_makers:
                    return True  # default=get_anchor, defined in this module as `return uuid4().hex`
        return False

    def _hook(self, hook: _Func) -> HookFacts:
        """What a get_queryset-style hook filters on: a trusted source, a scoping method, lookup keywords,
        a parent object it holds (``filter(project=project)``); and whether it builds on the class queryset."""
        scopes = inherits = False
        calls: list[str] = []
        kwargs: list[str] = []
        parents: list[str] = []
        params = {a.arg for a in hook.args.args}
        for node in walk(hook):
            if isinstance(node, ast.Call):
                name = vocab.short(dotted(node.func))
                calls.append(name)
                if name in self.scoping:
                    scopes = True
                for kw in node.keywords:
                    value = dotted(kw.value)
                    if vocab.is_trusted_expr(value, self.trusted):
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
                if text and vocab.is_trusted_expr(text, self.trusted) and not text.endswith((".user", ".user.id")):
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

    def _narrowing(self, scans: Sequence[FunctionScan]) -> tuple[bool, tuple[str, ...], tuple[str, ...]]:
        """``self.queryset = self.queryset.restrict(user, action)`` in any method (a permission mixin)."""
        narrows = False
        calls: list[str] = []
        kwargs: list[str] = []
        for scan in scans:
            for node in scan.nodes:  # each method's body was walked once already
                if not isinstance(node, ast.Assign) or not any(dotted(t) == "self.queryset" for t in node.targets):
                    continue
                for sub in _calls_of(node.value):
                    name = vocab.short(dotted(sub.func))
                    narrows = narrows or name in self.scoping
                    calls.append(name)
                    kwargs.extend(kw.arg for kw in sub.keywords if kw.arg)
        return narrows, tuple(dict.fromkeys(calls)), tuple(dict.fromkeys(kwargs))


# ---------------------------------------------------------------------------------------------------
# functions


@dataclass
class _Env:
    """The state of the walk through a function: the origin, type and derivation of each local name."""

    values: dict[str, Origin] = field(default_factory=dict)
    types: dict[str, Ref] = field(default_factory=dict)  # instances of project classes, dispatch tables
    dispatch: dict[str, Ref] = field(default_factory=dict)  # handler = HANDLERS.get(kind)
    getattrs: dict[str, tuple[Ref, str]] = field(default_factory=dict)  # handler = getattr(self, f"on_{x}")
    deps: dict[str, set[str]] = field(default_factory=dict)  # org = get(org_id): org <- org_id
    from_call: dict[str, str] = field(default_factory=dict)  # thing = svc.get(...): thing <- the call's key
    secrets: set[str] = field(default_factory=set)  # names holding a row's secret (``config.get("secret")``)
    exited: bool = False
    rows: set[str] = field(default_factory=set)  # names typed by the row a query fetched (``Pipeline.objects.get``)
    queries: set[str] = field(default_factory=set)  # names holding a query, or a row it fetched, on every path

    def copy(self) -> _Env:
        return _Env(
            dict(self.values),
            dict(self.types),
            dict(self.dispatch),
            dict(self.getattrs),
            {k: set(v) for k, v in self.deps.items()},
            dict(self.from_call),
            set(self.secrets),
            self.exited,
            set(self.rows),
            set(self.queries),
        )


def _join_envs(envs: list[_Env]) -> _Env:
    live = [e for e in envs if not e.exited]
    if not live:
        out = envs[0].copy() if envs else _Env()
        out.exited = True
        return out
    if len(live) == 1:
        return live[0]
    out = _Env()
    names = set().union(*(e.values for e in live))
    for name in names:
        out.values[name] = join_origins([e.values.get(name, CLEAN_ORIGIN) for e in live])
    for e in live:
        out.types.update(e.types)
        out.dispatch.update(e.dispatch)
        out.getattrs.update(e.getattrs)
        out.from_call.update(e.from_call)
        out.rows.update(e.rows)
        for k, v in e.deps.items():
            out.deps.setdefault(k, set()).update(v)
    out.secrets = set.intersection(*(e.secrets for e in live))
    out.queries = set.intersection(*(e.queries for e in live))
    return out


def _exits(body: Sequence[ast.stmt]) -> bool:
    """Whether a block always leaves: ends in ``raise``/``return``/``abort()``/``continue``/``break``."""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, (ast.Raise, ast.Return, ast.Continue, ast.Break)):
        return True
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        return vocab.is_refusing_call(dotted(last.value.func))
    if isinstance(last, ast.If):
        return _exits(last.body) and _exits(last.orelse)
    return False


def _refusal(stmt: ast.stmt) -> bool:
    """A statement that turns the request away: ``raise``, ``abort(403)``, ``return HttpResponseForbidden()``,
    ``return Response(status=403)`` (not any ``return``: a response with data is an answer)."""
    if isinstance(stmt, ast.Raise):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        return vocab.is_refusing_call(dotted(stmt.value.func))
    if isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.Call):
        call = stmt.value
        status = [kw.value for kw in call.keywords if kw.arg in ("status", "status_code")]
        codes = [s.value for s in status if isinstance(s, ast.Constant)]
        text = dotted(call.func) + "".join(dotted(s) for s in status)
        return vocab.is_error_response(text) or any(isinstance(c, int) and 400 <= c < 500 for c in codes)
    return False


def refuses(body: Sequence[ast.stmt]) -> bool:
    """Whether a block starts by refusing the request: ``raise``, ``abort(...)``, ``return ...``."""
    for stmt in body[:1]:
        if isinstance(stmt, (ast.Raise, ast.Return)):
            return True
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            return vocab.is_refusing_call(dotted(stmt.value.func))
    return False


# the node types FunctionScan's passes over a body look for (``FunctionScan.nodes`` holds only these)
# subscripted annotations that do not name an instance of their head (``List[Repo]``, ``Union[A, B]``)
# fmt: off
_NOT_INSTANCES = frozenset({
    "List", "Dict", "Set", "FrozenSet", "Tuple", "Sequence", "MutableSequence", "Mapping", "MutableMapping",
    "Iterable", "Iterator", "AsyncIterable", "AsyncIterator", "Generator", "AsyncGenerator", "Awaitable",
    "Coroutine", "Callable", "Union", "Literal", "Collection", "Container", "DefaultDict", "OrderedDict",
    "Counter", "Deque", "ChainMap", "AbstractSet", "MutableSet", "KeysView", "ValuesView", "ItemsView",
    "TypeGuard", "Required", "NotRequired", "Unpack", "Concatenate", "ContextManager", "AsyncContextManager",
    "Pattern", "Match", "IO", "Never", "Self",
})
# fmt: on

_INDEXED = frozenset(
    {
        ast.Import,
        ast.ImportFrom,
        ast.Call,
        ast.Subscript,
        ast.Assign,
        ast.AnnAssign,
        ast.For,
        ast.AsyncFor,
        ast.Return,
        ast.Yield,
        ast.With,
        ast.AsyncWith,
        ast.FunctionDef,
        ast.AsyncFunctionDef,
        ast.Compare,
        ast.Raise,
    }
)


COLLECTIONS = frozenset({"list", "List", "Sequence", "set", "Set", "Iterable", "tuple", "Tuple"})


def _signed_in_heads() -> dict[str, tuple[tuple[str, ...], ...]]:
    """The signed-in user's spellings by their first name: "self" -> (("request", "user"),) (vocab.SIGNED_IN)."""
    out: dict[str, tuple[tuple[str, ...], ...]] = {}
    for text in vocab.SIGNED_IN:
        head, *rest = text.split(".")
        out[head] = (*out.get(head, ()), tuple(rest))
    return out


_SIGNED_IN_HEADS = _signed_in_heads()


def _user_method(name: str, attrs: Sequence[str]) -> Ref | None:
    """``request.user.belongs_to`` (``self.request.user...``, ``current_user...``): a method called on the
    signed-in user, an instance of the project's user model (``Ref("user", "", ("belongs_to", "()"))``); None
    for anything else: the user itself, and another user (``target_user.belongs_to(org)`` checks not the
    requester)."""
    for rest in _SIGNED_IN_HEADS.get(name, ()):
        n = len(rest)
        if len(attrs) > n and tuple(attrs[:n]) == rest:
            return None if attrs[n] in ("()", "id", "pk") else Ref("user", "", tuple(attrs[n:]))
    return None


def _self_in_chain(call: ast.Call) -> bool:
    """Whether a call chain reads a relation of ``self`` (``self.memberships.filter(...)``) or is handed ``self``
    (``filter(user=self)``); not a method called on ``self`` (``self.is_admin(org)``: its summary says)."""
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
        return any(map(_is_self, call.args)) or any(_is_self(kw.value) for kw in call.keywords)
    node: ast.AST = call
    while True:
        if isinstance(node, ast.Call):
            if any(map(_is_self, node.args)) or any(_is_self(kw.value) for kw in node.keywords):
                return True
            node = node.func
        elif isinstance(node, ast.Attribute):
            node = node.value
        else:
            return isinstance(node, ast.Name) and node.id == "self"


def _is_self(node: ast.AST) -> bool:
    return _self_userish(dotted(node))


def _chain_methods(call: ast.Call) -> list[str]:
    """The methods a call chain calls, outermost first: ``X.objects.filter(...).update(...)`` -> update, filter."""
    out: list[str] = []
    node: ast.AST = call
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        out.append(node.func.attr)
        node = node.func.value
    return out


def _self_userish(text: str) -> bool:
    """The user as a user model's own method names it: ``self`` (``self.id``, ``self.pk``)."""
    return text in ("self", "self.id", "self.pk")


def _collection(call: ast.Call, annotation: ast.AST | None) -> bool:
    """Whether a relation attribute holds many rows: annotated as a collection (SQLAlchemy's
    ``Mapped[list["UserPermission"]]``), or a ``relationship()`` through a ``secondary`` table, with
    ``uselist=True`` or ``lazy="dynamic"``. The rows it holds point at this one, or are shared with it: they
    do not own it, so it is no step on this model's way to a tenant it reaches through them (held straight to
    the tenant, ``organizations = relationship(secondary=...)``, it shares the row among them)."""
    if isinstance(annotation, ast.Subscript):
        inner = annotation.slice
        if isinstance(inner, ast.Subscript) and vocab.short(dotted(inner.value)) in COLLECTIONS:
            return True
    for kw in call.keywords:
        value = kw.value.value if isinstance(kw.value, ast.Constant) else None
        if (
            kw.arg == "secondary"
            or (kw.arg == "uselist" and value is True)
            or (kw.arg == "lazy" and value == "dynamic")
        ):
            return True
    return False


MERGES = frozenset({"update", "append", "extend", "add", "insert"})
NOT_ROWS = vocab.FIELD_COPIES | {"items", "values", "keys"}  # calls whose result is a copy or a view, not a fetched row


def _random_call(value: ast.AST) -> bool:
    """A value made by a random generator (``uuid4``, ``secrets.token_urlsafe``, ``generate_token``)."""
    names = {vocab.short(dotted(n)) for n in walk(value) if isinstance(n, (ast.Name, ast.Attribute))}
    names |= {vocab.short(dotted(n.func)) for n in _calls_of(value)}
    return any(n in RANDOM_DEFAULTS or "token" in n.lower() or "secret" in n.lower() for n in names)


def _makes_random(node: _Func) -> bool:
    """A generator of random values (``def get_anchor(): return uuid4().hex``), not a function that happens to return
    one: a field defaulting to one holds a bearer secret, as one defaulting to uuid4 itself does."""
    return len(node.body) <= 3 and any(
        isinstance(ret, ast.Return) and ret.value is not None and _random_call(ret.value) for ret in node.body
    )


def _tenant_root(node: ast.AST, words: frozenset[str]) -> str:
    """``ticket.organization`` or ``ticket.project.organization_id`` (one of the last two attributes a tenant
    word): the name of the row whose tenant it is; else ""."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and 0 < len(attrs) <= 3 and not words.isdisjoint(attrs[-2:]):
        return node.id
    return ""


def names_in(node: ast.AST) -> set[str]:
    """Variable names an expression mentions (``org.id`` names ``org``, not ``id``)."""
    return {n.id for n in walk(node) if isinstance(n, ast.Name)}


class FunctionScan:
    """One function (with its nested functions) read into :class:`DefFacts`."""

    def __init__(self, mod: ModuleScan, node: _Func, qualname: str, klass: str) -> None:
        self.mod = mod
        self.k = mod.k
        self.node = node
        self.qualname = qualname
        self.klass = klass
        # a method: its `self` is the signed-in user when the class is the user model (the join knows)
        self.user_self = bool(klass) and bool(node.args.args) and node.args.args[0].arg == "self"
        self.local_imports: dict[str, str] = {}
        self.keys: dict[int, str] = {}
        self.texts: dict[int, tuple[str, str]] = {}  # id of a call of the body -> (dotted text, qualified)
        self.trusted_texts: dict[str, bool] = {}
        self.calls: list[CallFacts] = []
        self.checks: list[Check] = []
        self.lookups: list[Lookup] = []
        self.returns: list[Origin] = []
        self.returns_call: list[str] = []
        self.returns_other = False
        self._spreads: list[tuple[ast.Call, str]] | None = None  # see _spread_params
        self.returned_refs: list[Ref | None] = []  # what each `return` hands back, as a reference (None: unknown)
        self.called: list[str] = []
        self.user_attrs: list[str] = []
        self.user_kwargs: list[str] = []
        self.registers: list[str] = []
        self.kwargs_read: list[str] = []
        self.query_calls: set[int] = set()  # ids of calls that continue a query held in a name (``qs.get(...)``)
        self.staff_gate = False
        self.secret_gate = False
        self.debug_gate = False
        # the body's first statement (after a docstring): where a gate must stand to come before anything else
        self._first = next(
            (n for n in node.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))), None
        )
        self.params: list[ParamSpec] = []
        self.fates: dict[str, str] = {}  # call key -> fate, from how its result is used
        self.compared: dict[str, set[str]] = {}  # var -> attributes of it compared somewhere (x.organization_id == ...)
        self.fate_attrs: dict[str, tuple[str, ...]] = {}  # call key -> attributes its result is compared on
        self.result_vars: dict[str, str] = {}  # call key -> the name its result is assigned to
        self.param_names: set[str] = set()
        self._assigned_values: dict[str, list[ast.expr]] | None = None
        self.nested_defs: set[str] = set()
        self.depth = 0  # how many branches, loops and nested functions deep the walk is
        self.discarded = 0  # id of the call whose result the statement being read throws away

    # -- setup --------------------------------------------------------------------------------------

    def run(self) -> DefFacts:
        node = self.node
        # the nodes of the body the passes below read (nested functions and classes included), walked once
        indexed = _INDEXED
        self.nodes = [sub for stmt in node.body for sub in walk(stmt) if sub.__class__ in indexed]
        local_stmts = [n for n in self.nodes if isinstance(n, (ast.Import, ast.ImportFrom))]
        self.local_imports, _ = import_table(local_stmts, self.mod.module_name, self.mod.is_package)
        self._number_calls()
        self.kwargs_read.extend(self._kwargs_in(self.nodes))
        env = _Env()
        for spec in self._param_specs(node):
            self.params.append(spec)
            self.param_names.add(spec.name)
            env.values[spec.name] = Origin(params=(spec.name,))
            arg = self._find_arg(node, spec.name)
            if arg is not None and arg.annotation is not None:
                ref = self.mod._annotation_ref(arg.annotation)
                if ref is not None:
                    env.types[spec.name] = ref
            if spec.provider is not None and spec.marker in self.k["trusted.dependency_markers"]:
                env.types.setdefault(
                    spec.name, Ref(spec.provider.kind, spec.provider.base, (*spec.provider.attrs, "()"))
                )
        self._fates(node)
        self.nested_defs = {n.name for n in self.nodes if isinstance(n, _FUNCS)}
        self._block(node.body, env)
        self.staff_gate = self.staff_gate or self._serves_staff_only(node)
        self._register_into(self.nodes, {a.arg for a in (*node.args.posonlyargs, *node.args.args)})
        decorators = tuple(self._decorator(d) for d in node.decorator_list)
        narrowed_in, passes = self._param_queries()
        returned = self._returned_query()
        return DefFacts(
            name=node.name,
            qualname=self.qualname,
            line=node.lineno,
            klass=self.klass,
            params=tuple(self.params),
            decorators=decorators,
            is_async=isinstance(node, ast.AsyncFunctionDef),
            calls=tuple(
                msgspec.structs.replace(
                    c, fate_attrs=self.fate_attrs.get(c.key, ()), result_var=self.result_vars.get(c.key, "")
                )
                if c.key in self.fate_attrs or c.key in self.result_vars
                else c
                for c in self.calls
            ),
            checks=tuple(self.checks),
            lookups=tuple(self.lookups),
            returns=join_origins(self.returns) if self.returns else CLEAN_ORIGIN,
            generator=any(isinstance(n, ast.Yield) for n in self.nodes),
            returns_call=tuple(dict.fromkeys(self.returns_call)),
            returns_other=self.returns_other,
            called=tuple(dict.fromkeys(self.called)),
            user_attrs=tuple(dict.fromkeys(self.user_attrs)),
            user_kwargs=tuple(dict.fromkeys(self.user_kwargs)),
            staff_gate=self.staff_gate,
            secret_gate=self.secret_gate,
            debug_gate=self.debug_gate,
            abstract=_abstract(node),
            random_maker=not self.klass and node.name in self.mod.random_makers,
            raises=any(
                isinstance(n, ast.Raise)
                or (
                    isinstance(n, ast.Call)
                    and isinstance(n.func, ast.Attribute)
                    and n.func.attr in self.k["queries.raising_fetches"]
                )
                for n in self.nodes
            ),
            object_check=any(
                isinstance(c, ast.Call)
                and isinstance(c.func, ast.Attribute)
                and (
                    # self.check_permissions(request, "retrieve", obj): the view's own object check
                    (
                        isinstance(c.func.value, ast.Name)
                        and c.func.value.id == "self"
                        and c.func.attr in self.k["guards.object_checks"]
                        and len(c.args) + len(c.keywords) >= 2
                    )
                    # partial_update -> self.update(...): handled by a sibling handler
                    or (
                        isinstance(c.func.value, ast.Name)
                        and c.func.value.id == "self"
                        and c.func.attr in ("retrieve", "update", "destroy")
                        and c.func.attr != node.name
                    )
                    # super().update(request, ...): an override that hands the object to the base's check
                    or (
                        c.func.attr == node.name
                        and isinstance(c.func.value, ast.Call)
                        and isinstance(c.func.value.func, ast.Name)
                        and c.func.value.func.id == "super"
                    )
                )
                for c in self.nodes
            ),
            registers=tuple(dict.fromkeys(self.registers)),
            wraps=self._wraps(),
            kwargs_read=tuple(dict.fromkeys(self.kwargs_read)),
            inner_params=tuple(
                dict.fromkeys(
                    a.arg
                    for n in node.body
                    if isinstance(n, _FUNCS)
                    for a in (*n.args.posonlyargs, *n.args.args, *n.args.kwonlyargs)
                )
            ),
            optional_params=_optional_params(node),
            blind_calls=self._blind_calls(),
            return_type=self._return_type(),
            assigns=self._assigns(),
            narrows=self._narrows(),
            narrowed_in=narrowed_in,
            passes=passes,
            shortcut=self._shortcut(),
            writes=self._writes(),
            constructs=self._constructs(),
            builds_from=self._builds_from(),
            self_binds=tuple(
                (t.attr, n.value.id)
                for n in self.nodes
                if node.name == "__init__"
                and isinstance(n, ast.Assign)
                and isinstance(n.value, ast.Name)
                and n.value.id in self.param_names
                for t in n.targets
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"
            ),
            session_sources=tuple(dict.fromkeys(self._session_sources())),
            view_attrs=self._view_attrs(),
            returned_model=returned[0],
            returned_query=returned[1],
            fetches_object=self._fetches_object(),
        )

    def _view_attrs(self) -> tuple[str, ...]:
        """A permission hook's reads of its view's attributes (``view.project_id``; not ``view.kwargs``)."""
        node = self.node
        if node.name not in self.k["guards.permission_hooks"] or not self.klass:
            return ()
        positional = [*node.args.posonlyargs, *node.args.args]
        if len(positional) <= vocab.PERMISSION_VIEW_ARG:
            return ()
        view = positional[vocab.PERMISSION_VIEW_ARG].arg
        return tuple(
            dict.fromkeys(
                sub.attr
                for stmt in node.body
                for sub in walk(stmt)
                if isinstance(sub, ast.Attribute)
                and isinstance(sub.value, ast.Name)
                and sub.value.id == view
                and sub.attr != "kwargs"
            )
        )

    def _assigns(self) -> tuple[tuple[str, str], ...]:
        """(row, dict) parameters of ``for k, v in updates.items(): setattr(model, k, v)`` (or ``for k in
        updates: setattr(model, k, updates[k])``): every key the dict holds is set on the row."""
        if not any(
            isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "setattr" for n in self.nodes
        ):
            return ()
        params = self.param_names
        out: list[tuple[str, str]] = []
        for loop in walk(self.node):
            if not isinstance(loop, (ast.For, ast.AsyncFor)):
                continue
            source = loop.iter
            if isinstance(source, ast.Call) and isinstance(source.func, ast.Attribute) and source.func.attr == "items":
                source = source.func.value
            if not (isinstance(source, ast.Name) and source.id in params):
                continue
            keys = loop.target.elts[0] if isinstance(loop.target, ast.Tuple) and loop.target.elts else loop.target
            for call in (n for stmt in loop.body for n in walk(stmt) if isinstance(n, ast.Call)):
                if (
                    isinstance(call.func, ast.Name)
                    and call.func.id == "setattr"
                    and len(call.args) == 3
                    and isinstance(call.args[0], ast.Name)
                    and call.args[0].id in params
                    and isinstance(keys, ast.Name)
                    and isinstance(call.args[1], ast.Name)
                    and call.args[1].id == keys.id
                ):
                    out.append((call.args[0].id, source.id))
        return tuple(dict.fromkeys(out))

    def _writes(self) -> tuple[str, ...]:
        """Parameters whose every field the function writes onto a row: ``entry.update(**new_data)`` on a row
        it fetched (a local holding a call's result, or a loop over one, never a dict it built), a query's
        ``update(**data)``/``create(**data)``; ``data`` a parameter, its ``model_dump()``, an element of it,
        or a local built from it (``merged.update(data)``). A caller handing it the client's body lets the
        client set every column, the tenant's included."""
        params = self.param_names
        writes = [
            n
            for n in self.nodes
            if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr in self.k["queries.write_methods"]
            and any(kw.arg is None for kw in n.keywords)
        ]
        loops = [
            n
            for n in self.nodes
            if isinstance(n, (ast.For, ast.AsyncFor))
            and isinstance(n.target, ast.Tuple)
            and len(n.target.elts) == 2
            and all(isinstance(e, ast.Name) for e in n.target.elts)
            and isinstance(n.iter, ast.Call)
            and isinstance(n.iter.func, ast.Attribute)
            and n.iter.func.attr == "items"
        ]
        if not params or not (writes or loops):
            return ()
        assigned = self._holders
        roots = self._param_roots(assigned)

        def row(expr: ast.expr, seen: frozenset[str]) -> bool:
            """A fetched row (or rows): a call's result that is no copy or dict, or a name only ever one."""
            if isinstance(expr, ast.Await):
                expr = expr.value
            if isinstance(expr, ast.Call):
                return _last_name(expr.func) not in NOT_ROWS
            if isinstance(expr, ast.Name) and expr.id not in params and expr.id not in seen:
                values = assigned.get(expr.id, ())
                return bool(values) and all(row(v, seen | {expr.id}) for v in values)
            return False

        out: set[str] = set()
        for call in writes:
            assert isinstance(call.func, ast.Attribute)
            receiver = call.func.value
            if not (self._is_query(call) or (call.func.attr == "update" and row(receiver, frozenset()))):
                continue
            for kw in call.keywords:
                if kw.arg is None:
                    out |= roots(kw.value)
        for loop in loops:
            # for key, value in data.dict().items(): setattr(incident, key, value), on a row it fetched
            assert isinstance(loop.target, ast.Tuple) and isinstance(loop.iter, ast.Call)
            assert isinstance(loop.iter.func, ast.Attribute)
            key, value = (e.id for e in loop.target.elts if isinstance(e, ast.Name))
            inside = [n for stmt in loop.body for n in walk(stmt)]
            if any(
                isinstance(n, ast.Compare)
                and any(isinstance(o, ast.Name) and o.id == key for o in (n.left, *n.comparators))
                for n in inside
            ):
                continue  # `if key in EDITABLE:` / `if key == "owner_id": continue`: the loop picks its fields
            if any(
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Name)
                and n.func.id == "setattr"
                and len(n.args) == 3
                and isinstance(n.args[1], ast.Name)
                and n.args[1].id == key
                and value in names_in(n.args[2])
                and row(n.args[0], frozenset())
                for n in inside
            ):
                out |= roots(loop.iter.func.value)
        return tuple(sorted((out & params) - {"self", "cls"}))

    def _constructs(self) -> tuple[tuple[str, str], ...]:
        """(attr, param) of ``self.<attr>(**data)`` with ``data`` a parameter, its ``model_dump()``, an element
        of it, or a local built from it: a row built from every field the parameter holds."""
        return tuple(
            sorted(
                {
                    (call.func.attr, p)
                    for call, p in self._spread_params()
                    if isinstance(call.func, ast.Attribute)
                    and isinstance(call.func.value, ast.Name)
                    and call.func.value.id == "self"
                }
            )
        )

    def _builds_from(self) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
        """(callee text, param, keywords) of ``Dependency(**dep.dict(), tenant_id=t)``: a class called with every
        field a parameter holds (see :meth:`_spread_params`), and the keywords it is given beside them. Whether
        the class is a model is the join's."""
        return tuple(
            sorted(
                {
                    (dotted(call.func), p, tuple(sorted(kw.arg for kw in call.keywords if kw.arg)))
                    for call, p in self._spread_params()
                    if isinstance(call.func, (ast.Name, ast.Attribute)) and _last_name(call.func)[:1].isupper()
                }
            )
        )

    def _spread_params(self) -> list[tuple[ast.Call, str]]:
        """(call, param) of the calls given every field a parameter holds (``f(**data)``; ``data`` a parameter, a
        copy of its fields, an element of it, or a local built from it), read once for both readers above."""
        if self._spreads is None:
            calls = [n for n in self.nodes if isinstance(n, ast.Call) and any(kw.arg is None for kw in n.keywords)]
            out: list[tuple[ast.Call, str]] = []
            if calls and self.param_names:
                roots = self._param_roots(self._holders)
                for call in calls:
                    for kw in call.keywords:
                        if kw.arg is None:
                            found = roots(kw.value) & self.param_names
                            out.extend((call, p) for p in sorted(found) if p not in ("self", "cls"))
            self._spreads = out
        return self._spreads

    @functools.cached_property
    def _holders(self) -> dict[str, list[ast.expr]]:
        """What each local name holds: its assignments, what a loop over it walks, what is merged or appended
        into it (``merged.update(data)``, ``items.append(item)``). Read once the walk has indexed the body."""
        assigned: dict[str, list[ast.expr]] = {}
        for n in self.nodes:
            if isinstance(n, (ast.Assign, ast.AnnAssign)) and n.value is not None:
                for target in n.targets if isinstance(n, ast.Assign) else [n.target]:
                    root = target.value if isinstance(target, ast.Subscript) else target
                    if isinstance(root, ast.Name):
                        assigned.setdefault(root.id, []).append(n.value)  # d[k] = v: d holds v
            elif isinstance(n, (ast.For, ast.AsyncFor)) and isinstance(n.target, ast.Name):
                assigned.setdefault(n.target.id, []).append(n.iter)  # an element of what it walks
            elif (
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute)
                and n.func.attr in MERGES
                and isinstance(n.func.value, ast.Name)
                and n.args
            ):
                assigned.setdefault(n.func.value.id, []).extend(n.args)  # merged.update(data), rows.append(row)
        return assigned

    def _param_roots(self, assigned: Mapping[str, list[ast.expr]]) -> Callable[[ast.expr], set[str]]:
        """The parameters a value is built from, through what the locals it names hold."""
        params = self.param_names

        def roots(expr: ast.expr, seen: frozenset[str] = frozenset()) -> set[str]:
            out: set[str] = set()
            for name in names_in(expr):
                if name in params:
                    out.add(name)
                if name not in seen and name != "self":
                    for value in assigned.get(name, ()):
                        out |= roots(value, seen | {name})
            return out

        return roots

    def _shortcut(self) -> bool:
        """Whether the function hands its first parameter and its ``**`` parameter, and nothing else, to a query
        shortcut (``get_object_or_404(queryset, *args, **kwargs)``): its callers' ``f(Model, id=pk)`` is that
        query."""
        args = self.node.args
        positional = [a.arg for a in (*args.posonlyargs, *args.args)]
        if self.klass or not positional or args.kwarg is None:
            return False
        first, star = positional[0], args.kwarg.arg
        shortcuts = self.k["queries.shortcuts"]
        for n in self.nodes:
            if (
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Name)
                and self._resolve_short(n.func.id) in shortcuts
                and n.args
                and isinstance(n.args[0], ast.Name)
                and n.args[0].id == first
                and any(kw.arg is None and isinstance(kw.value, ast.Name) and kw.value.id == star for kw in n.keywords)
                # nothing of its own: a wrapper adding a lookup (the tenant) narrows what its callers pick
                and all(kw.arg is None for kw in n.keywords)
                and all(isinstance(a, ast.Starred) for a in n.args[1:])
            ):
                return True
        return False

    def _assigned(self) -> dict[str, list[ast.expr]]:
        """Every value the function assigns to each plain name (``q = q.filter(...)``: both)."""
        if self._assigned_values is None:
            assigned: dict[str, list[ast.expr]] = {}
            for n in self.nodes:
                if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name):
                    assigned.setdefault(n.targets[0].id, []).append(n.value)
            self._assigned_values = assigned
        return self._assigned_values

    def _roots(self, expr: ast.expr, seen: frozenset[str] = frozenset()) -> set[str]:
        """The parameters a value is a chain on, through reassignments, either branch of a conditional
        (``base_queryset if base_queryset is not None else Model.objects.all()``) and either side of ``or``."""
        node: ast.AST = expr
        while isinstance(node, (ast.Await, ast.Call, ast.Attribute, ast.Subscript)):
            node = node.func if isinstance(node, ast.Call) else node.value
        if isinstance(node, ast.IfExp):
            return self._roots(node.body, seen) | self._roots(node.orelse, seen)
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            return set().union(*(self._roots(v, seen) for v in node.values))
        if not isinstance(node, ast.Name):
            return set()
        out = {node.id} if node.id in self.param_names and node.id not in ("self", "cls") else set()
        if node.id not in seen:
            for value in self._assigned().get(node.id, ()):
                out |= self._roots(value, seen | {node.id})
        return out

    def _fetches_object(self) -> bool:
        """A statement of the body itself (not a branch) fetches the view's object by the URL kwargs it was given:
        ``obj = self.get_object(**kwargs)`` (NetBox's, Django's ``SingleObjectMixin``), ``self.get_object()``
        (DRF's, which reads ``self.kwargs``). A row the view's queryset does not hold is a 404 there."""
        star = self.node.args.kwarg.arg if self.node.args.kwarg is not None else ""
        for stmt in self.node.body:
            value = stmt.value if isinstance(stmt, (ast.Assign, ast.Expr, ast.AnnAssign)) else None
            if isinstance(value, ast.Await):
                value = value.value
            if not (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Attribute)
                and value.func.attr == "get_object"
                and isinstance(value.func.value, ast.Name)
                and value.func.value.id == "self"
            ):
                continue
            if not value.args and not value.keywords:
                return True
            if not value.args and [(kw.arg, dotted(kw.value)) for kw in value.keywords] == [(None, star)] and star:
                return True
        return False

    def _returned_query(self) -> tuple[str, HookFacts | None]:
        """The model of the query every ``return`` hands back (not a row it fetched), and what that query filters
        on, read as a queryset hook's is (``ModuleScan._hook``); ("", None) when it returns anything else."""
        returned = [n.value for n in self.nodes if n.__class__ is ast.Return]
        if not returned or self.nested_defs:
            return "", None
        models: set[str] = set()
        fetches = self.k["queries.row_fetches"] | self.k["queries.raising_fetches"]
        for value in returned:
            raw = value.value if isinstance(value, ast.Await) else value
            if not isinstance(raw, ast.Call) or not self._is_query(raw):
                return "", None
            if isinstance(raw.func, ast.Attribute) and raw.func.attr in fetches:
                return "", None  # a row, not a query
            models.add(self._query_model(raw))
        if len(models) != 1 or "" in models or any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in self.nodes):
            return "", None
        return models.pop(), self.mod._hook(self.node)

    def _narrows(self) -> tuple[str, ...]:
        """Parameters the function returns narrowed to a tenant: ``return q.filter(organization=org)``, a query
        reassigned through a narrowing call before it is returned, or one handed to a filter object's applier
        (Flask-AppBuilder's ``BaseFilter(...).apply(query, value)``): its callers' ``q = f(q)`` narrows ``q``."""
        params = self.param_names
        if not params:
            return ()
        appliers = self.k["queries.filter_appliers"]
        narrowing = (
            self.k["queries.scoping_methods"] | self.k["queries.lookup_methods"] | self.k["queries.where_methods"]
        )
        if not any(
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and (n.func.attr in narrowing or n.func.attr in appliers)
            for n in self.nodes
        ):
            return ()  # nothing in it narrows a query
        returned = [n.value for n in self.nodes if isinstance(n, ast.Return) and n.value is not None]
        if not returned:
            return ()
        assigned = self._assigned()

        def narrowed(expr: ast.expr, seen: frozenset[str]) -> set[str]:
            """The parameters a value is a narrowed chain on."""
            out: set[str] = set()
            node: ast.AST = expr
            while isinstance(node, (ast.Await, ast.Call, ast.Attribute, ast.Subscript)):
                if isinstance(node, ast.Call):
                    func = node.func
                    if isinstance(func, ast.Attribute):
                        if self._narrowing_call(node):
                            out |= self._roots(func.value, seen)
                        elif func.attr in appliers and len(node.args) >= 2:
                            out |= self._roots(node.args[0], seen) | narrowed(node.args[0], seen)
                    node = func
                else:
                    node = node.value
            if isinstance(node, ast.Name) and node.id not in seen:
                for value in assigned.get(node.id, ()):
                    out |= narrowed(value, seen | {node.id})
            return out

        found: set[str] = set()
        for value in returned:
            found |= narrowed(value, frozenset())
        return tuple(sorted(found & params))

    def _param_queries(self) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], tuple[str, ...]]:
        """What the function does with queries its callers hand it, in one pass over its nodes:

        - ``narrowed_in``: (parameter, lookup heads) of the queries it continues on a parameter: ``queryset =
          base_queryset if base_queryset is not None else Element.objects.all()`` then ``queryset.filter(page=page)``
          narrows the caller's ``base_queryset=`` by ``page``; a known scoping method, by ``*``. Which heads hold a
          tenant is the checkers' to say, as for a query narrowed in the caller itself;
        - ``passes``: the parameters it returns as they are, or continued (``return queryset``): a query its
          caller hands it comes back out (``CoreHandler().filter_queryset(user, op, Element.objects.all())``).
        """
        if not self.param_names - {"self", "cls"}:
            return (), ()
        lookups, scoping = self.k["queries.lookup_methods"], self.k["queries.scoping_methods"]
        wheres = self.k["queries.where_methods"]
        row_refs = {*self.k["queries.outer_references"], "F"}  # a row's own columns, no value
        heads: dict[str, set[str]] = {}
        passes: set[str] = set()
        for n in self.nodes:
            if isinstance(n, ast.Return) and n.value is not None:
                passes |= self._roots(n.value)
                continue
            if not (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)):
                continue
            method = n.func.attr
            words: set[str] = set()
            if method in scoping:
                words.add("*")
            if method in lookups:
                words.update(
                    kw.arg.split("__", 1)[0]
                    for kw in n.keywords
                    if kw.arg
                    and kw.arg.rsplit("__", 1)[-1] not in vocab.WIDENING_LOOKUPS
                    # `summarylog=OuterRef("summarylog")`: tied to the outer row, it pins no value
                    and not (isinstance(kw.value, ast.Call) and vocab.short(dotted(kw.value.func)) in row_refs)
                )
            if method in wheres or method in lookups:  # .where(Doc.organization_id == org_id)
                words.update(
                    compare.left.attr
                    for arg in n.args
                    if not (isinstance(arg, ast.Call) and vocab.short(dotted(arg.func)) == "or_")
                    for compare in _comparisons(arg)
                    if isinstance(compare.left, ast.Attribute) and all(isinstance(op, ast.Eq) for op in compare.ops)
                )
            if words:
                for root in self._roots(n.func.value):
                    heads.setdefault(root, set()).update(words)
        narrowed = tuple((param, tuple(sorted(words))) for param, words in sorted(heads.items()))
        return narrowed, tuple(sorted(passes))

    def _return_type(self) -> Ref | None:
        """What the function returns: its annotation as an instance (``-> Repo``), else the one reference
        every ``return`` hands back (``return Service(self.repos)``, ``return self.repos``)."""
        if self.node.returns is not None:
            return self.mod._annotation_ref(self.node.returns)
        refs = set(self.returned_refs)
        if len(refs) != 1:
            return None
        ref = refs.pop()
        return ref if ref is not None and ref.kind != "super" else None

    def _session_sources(self) -> Iterator[Ref]:
        """Where the sessions the function returns or yields come from: the factory ``F`` of ``F()``,
        ``F.begin()``, ``with F() as s`` or ``s = F()``; the call itself for ``org_session(F, ctx)``."""
        bound: dict[str, list[ast.expr]] = {}
        for sub in self.nodes:
            if isinstance(sub, (ast.With, ast.AsyncWith)):
                for item in sub.items:
                    if isinstance(item.optional_vars, ast.Name):
                        bound.setdefault(item.optional_vars.id, []).append(item.context_expr)
            elif isinstance(sub, ast.Assign) and len(sub.targets) == 1 and isinstance(sub.targets[0], ast.Name):
                bound.setdefault(sub.targets[0].id, []).append(sub.value)
        for sub in self.nodes:
            if not isinstance(sub, (ast.Return, ast.Yield)) or sub.value is None:
                continue
            values = bound.get(sub.value.id, []) if isinstance(sub.value, ast.Name) else [sub.value]
            for value in values:
                if not isinstance(value, ast.Call):
                    continue
                func = value.func
                scoped = vocab.matches_any(
                    self.mod.scope.qualified(dotted(func), self.local_imports), self.k["queries.scoped_sessions"]
                )
                if value.args and not scoped:
                    continue  # a factory takes no positional argument: render(request, ...) makes no session
                if isinstance(func, ast.Attribute) and func.attr == "begin":
                    func = func.value  # SessionLocal.begin(): a session in a transaction
                ref = self.mod.ref_of(func, {}, self.local_imports)
                if ref is not None:
                    yield ref

    @staticmethod
    def _find_arg(node: _Func, name: str) -> ast.arg | None:
        a = node.args
        for arg in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg):
            if arg is not None and arg.arg == name:
                return arg
        return None

    def _param_specs(self, node: _Func) -> Iterator[ParamSpec]:
        a = node.args
        defaults = _defaults(a)
        for arg in (*a.posonlyargs, *a.args, *a.kwonlyargs):
            yield self._param_spec(arg, defaults.get(arg.arg))
        if a.vararg is not None:
            yield ParamSpec(a.vararg.arg, star="*")
        if a.kwarg is not None:
            yield ParamSpec(a.kwarg.arg, star="**")

    def _param_spec(self, arg: ast.arg, default: ast.expr | None) -> ParamSpec:
        markers = self.k["trusted.dependency_markers"] | self.k["sources.param_markers"]
        candidates: list[ast.expr] = []
        annotation = ""
        if default is not None:
            candidates.append(default)
        marker = ""
        if arg.annotation is not None:
            ann = arg.annotation
            annotation = self.mod.scope.qualified(dotted(ann.value if isinstance(ann, ast.Subscript) else ann))
            alias = vocab.short(dotted(ann))
            if isinstance(ann, (ast.Name, ast.Attribute)) and alias and alias not in self.k["sources.param_markers"]:
                # `org: ActiveOrg`: a dependency alias is known in the join (a bare `query: Query` is a type:
                # FastAPI's Query() marker is only ever a call)
                marker = alias
            if isinstance(ann, ast.Subscript):
                inner = ann.slice
                candidates.extend(inner.elts if isinstance(inner, ast.Tuple) else [inner])
        for expr in candidates:
            if isinstance(expr, ast.Call):
                name = self.mod._marker_name(expr.func)
                if name in markers:
                    provider = self.mod.ref_of(expr.args[0], {}, self.local_imports) if expr.args else None
                    if provider is None and name in self.k["trusted.dependency_markers"]:
                        # Depends() with no argument: the annotation is the provider
                        provider = (
                            self.mod.ref_of(
                                arg.annotation.value if isinstance(arg.annotation, ast.Subscript) else arg.annotation,
                                {},
                                self.local_imports,
                            )
                            if arg.annotation is not None
                            else None
                        )
                    return ParamSpec(arg.arg, annotation, name, provider)
        for expr in candidates:
            # `role: Role = RoleACL(...)`: a project function's result as the default or in the metadata; a
            # dependency when that function returns `Depends(...)` (decided in the join)
            factory = self.mod.ref_of(expr.func, {}, self.local_imports) if isinstance(expr, ast.Call) else None
            if factory is not None:
                return ParamSpec(arg.arg, annotation, FACTORY_MARKER, factory)
        items = ""
        collection = arg.annotation
        if (
            isinstance(collection, ast.Subscript)
            and vocab.short(dotted(collection.value)) in COLLECTIONS
            and isinstance(collection.slice, (ast.Name, ast.Attribute))
        ):
            items = self.mod.scope.qualified(dotted(collection.slice))  # data: list[UpdateCookBook]
        return ParamSpec(arg.arg, annotation, marker, items=items)

    def _blind_calls(self) -> tuple[str, ...]:
        """The last names of the calls whose arguments no :class:`CallFacts` records."""
        recorded = {call.key for call in self.calls}
        names = {
            key.rsplit("#", 1)[0].rsplit(".", 1)[-1]
            for key in self.keys.values()
            if key not in recorded and not key.startswith("<expr>")
        }
        return tuple(sorted(names))

    def _number_calls(self) -> None:
        """Key every call of the body (nested functions included) by its text and occurrence, in source order."""
        calls = [c for c in self.nodes if isinstance(c, ast.Call)]
        calls.sort(
            key=lambda c: (c.lineno, c.col_offset, -(c.end_lineno or c.lineno), -(c.end_col_offset or c.col_offset))
        )
        seen: dict[str, int] = {}
        texts = self.texts
        for call in calls:
            text = dotted(call.func)
            qualified = self.mod.scope.qualified(text, self.local_imports) if text else ""
            texts[id(call)] = (text, qualified)
            key_text = text or "<expr>"  # call_text()
            n = seen.get(key_text, 0)
            seen[key_text] = n + 1
            self.keys[id(call)] = f"{key_text}#{n}"
            self.called.append(qualified)

    def _texts(self, call: ast.Call) -> tuple[str, str]:
        """A call's dotted text and that text through the imports ("" and "" for another callee)."""
        found = self.texts.get(id(call))
        if found is None:
            text = dotted(call.func)
            found = (text, self.mod.scope.qualified(text, self.local_imports) if text else "")
        return found

    def _fates(self, node: _Func) -> None:
        """What each call's result becomes: returned, checked/narrowed, or consumed (by variable use)."""
        assigned: dict[str, str] = {}  # var -> key of the call it holds
        for sub in self.nodes:
            if isinstance(sub, ast.Assign) and len(sub.targets) == 1 and isinstance(sub.targets[0], ast.Name):
                value = sub.value.value if isinstance(sub.value, ast.Await) else sub.value
                while isinstance(value, ast.Attribute):
                    value = value.value  # group = Device.objects.get(...).group: what the row leads to
                if isinstance(value, ast.Call) and id(value) in self.keys:
                    var = sub.targets[0].id
                    # qs = qs.with_state() / q = self.add_search(q, ...): still the first call's result
                    if var not in assigned or (_chain_root(value) != var and var not in names_in(value)):
                        assigned[var] = self.keys[id(value)]
        self.result_vars = {key: var for var, key in assigned.items()}
        checked_vars = self._checked_vars()
        for sub in self.nodes:
            if isinstance(sub, ast.Return) and sub.value is not None:
                value = sub.value.value if isinstance(sub.value, ast.Await) else sub.value
                if isinstance(value, ast.Call) and id(value) in self.keys:
                    self.fates.setdefault(self.keys[id(value)], "returned")
                elif isinstance(value, ast.Name) and value.id in assigned:
                    self.fates.setdefault(assigned[value.id], "returned")
            # qs.exclude(id__in=deny_list(user)): the result only removes rows from a query
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr == "exclude":
                for value in [*sub.args, *(kw.value for kw in sub.keywords)]:
                    if isinstance(value, ast.Call) and id(value) in self.keys:
                        self.fates[self.keys[id(value)]] = "checked"
            # Prefetch("annotations", queryset=svc.annotations()): covers only the outer query's rows
            if isinstance(sub, ast.Call) and _last_name(sub.func) in self.k["queries.subquery_wrappers"]:
                for value in [*sub.args, *(kw.value for kw in sub.keywords)]:
                    if isinstance(value, ast.Call) and id(value) in self.keys:
                        self.fates[self.keys[id(value)]] = "checked"
                    elif isinstance(value, ast.Name) and value.id in assigned:
                        self.fates[assigned[value.id]] = "checked"
            # svc.list().filter(organization=org): narrowed on the spot
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute):
                inner = sub.func.value
                inner = inner.value if isinstance(inner, ast.Await) else inner
                if isinstance(inner, ast.Call) and id(inner) in self.keys and self._narrowing_call(sub):
                    self.fates[self.keys[id(inner)]] = "checked"
        for var, key in assigned.items():
            if var in checked_vars:
                self.fates[key] = "checked"
            elif var in self.compared:
                self.fate_attrs[key] = tuple(sorted(self.compared[var]))  # checked if one holds the tenant

    def _narrowing_call(self, call: ast.Call) -> bool:
        assert isinstance(call.func, ast.Attribute)
        method = call.func.attr
        if method in self.k["queries.scoping_methods"]:
            return True
        if method in self.k["queries.lookup_methods"] and any(kw.arg is None for kw in call.keywords):
            return (
                True  # filter_by(**self._filter_builder()): opaque lookups may hold the tenant, as the checkers judge
            )
        if method in self.k["queries.lookup_methods"] or method in self.k["queries.where_methods"]:
            words = self.mod.tenant_words
            for kw in call.keywords:
                if kw.arg and (
                    vocab.is_trusted_expr(dotted(kw.value), self.mod.trusted) or kw.arg.split("__", 1)[0] in words
                ):
                    return True
            for arg in call.args:  # .filter(Note.organization_id == org_id)
                for compare in _comparisons(arg):
                    if any(
                        isinstance(o, ast.Attribute) and o.attr in words for o in (compare.left, *compare.comparators)
                    ):
                        return True
        return False

    def _checked_vars(self) -> set[str]:
        """Variables whose tenant is checked after they are fetched: compared on a tenant-ish attribute,
        passed to an object check, or narrowed by a tenant lookup."""
        out: set[str] = set()
        object_checks = self.k["guards.object_checks"]
        words = self.mod.tenant_words
        owners, logins = self.k["models.owner_fields"], self.k["models.login_fields"]
        for sub in self.nodes:
            if isinstance(sub, ast.Compare):
                if all(isinstance(op, (ast.Eq, ast.NotEq, ast.Is, ast.IsNot)) for op in sub.ops):
                    # the signed-in user's own row (vocab.owned_row)
                    out.update(vocab.owned_rows([dotted(o) for o in (sub.left, *sub.comparators)], owners, logins))
                for operand in (sub.left, *sub.comparators):
                    attrs: list[str] = []
                    base: ast.AST = operand
                    while isinstance(base, ast.Attribute):
                        attrs.append(base.attr)
                        base = base.value
                    if isinstance(base, ast.Name) and attrs:
                        self.compared.setdefault(base.id, set()).update(attrs)
                        if set(attrs) & words:
                            out.add(base.id)
            elif isinstance(sub, ast.Call):
                name = vocab.short(self._texts(sub)[0])
                if name in object_checks:
                    for target in (
                        sub.func.value if isinstance(sub.func, ast.Attribute) else None,
                        *sub.args,
                    ):
                        if isinstance(target, ast.Name):
                            out.add(target.id)
                    # `user.has_perm(p, invitation.workspace)`: the row's tenant checked is the row checked
                    for target in sub.args:
                        row = _tenant_root(target, words)
                        if row and row not in ("self", "request"):
                            out.add(row)
                if (
                    isinstance(sub.func, ast.Attribute)
                    and isinstance(sub.func.value, ast.Name)
                    and (self._narrowing_call(sub))
                ):
                    out.add(sub.func.value.id)
        return out

    def _wraps(self) -> bool:
        """A decorator that returns a function defined inside it (it keeps the handler it wraps)."""
        inner = {n.name for n in self.node.body if isinstance(n, _FUNCS)}
        return any(
            isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.Name) and stmt.value.id in inner
            for stmt in self.node.body
        )

    def _decorator(self, dec: ast.expr) -> Decorator:
        target = dec.func if isinstance(dec, ast.Call) else dec
        text = dotted(target)
        first = ""
        arg_refs: tuple[Ref, ...] = ()
        if isinstance(dec, ast.Call):
            for arg in dec.args[:1]:
                first = _string(arg) or ""
            for kw in dec.keywords:
                if kw.arg in ("path", "rule") and _string(kw.value):
                    first = _string(kw.value) or first
            # @receiver(invoice_paid); @permission_classes([IsAuthenticated, IsMember]): the classes listed
            given = [el for a in dec.args for el in (a.elts if isinstance(a, (ast.List, ast.Tuple)) else [a])]
            arg_refs = self._class_refs(given)
            if not first and not dec.args:
                first = ""
        return Decorator(
            text=text,
            qualified=self.mod.scope.qualified(text, self.local_imports) if text else "",
            ref=self.mod.ref_of(target, {}, self.local_imports, self.klass),
            call=isinstance(dec, ast.Call),
            first=first,
            arg_refs=arg_refs,
            permissions=self._permission_keyword(dec),
        )

    def _permission_keyword(self, dec: ast.expr) -> tuple[Ref, ...]:
        """The classes a decorator is handed as ``permission_classes=[...]`` (Strawberry's
        ``@strawberry.field(permission_classes=[IsMember])``)."""
        if not isinstance(dec, ast.Call):
            return ()
        listed = [
            el
            for kw in dec.keywords
            if kw.arg == "permission_classes" and isinstance(kw.value, (ast.List, ast.Tuple))
            for el in kw.value.elts
        ]
        return self._class_refs(listed)

    def _class_refs(self, exprs: Iterable[ast.expr]) -> tuple[Ref, ...]:
        """References to what a decorator is handed: names, or classes instantiated there (``IsMember()``)."""
        refs = (self.mod.ref_of(e.func if isinstance(e, ast.Call) else e, {}, self.local_imports) for e in exprs)
        return tuple(r for r in refs if r is not None)

    # -- statements ---------------------------------------------------------------------------------

    def _block(self, body: Sequence[ast.stmt], env: _Env) -> _Env:
        for stmt in body:
            if env.exited:
                break
            env = self._stmt(stmt, env)
        return env

    def _stmt(self, stmt: ast.stmt, env: _Env) -> _Env:
        if isinstance(stmt, ast.Assign):
            value = self.eval(stmt.value, env)
            for target in stmt.targets:
                self._bind(target, value, stmt.value, env)
            self._guards(stmt.value, env)
            return env
        if isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self._bind(stmt.target, self.eval(stmt.value, env), stmt.value, env)
                self._guards(stmt.value, env)
            return env
        if isinstance(stmt, ast.AugAssign):
            value = self.eval(stmt.value, env)
            if isinstance(stmt.target, ast.Name):
                old = env.values.get(stmt.target.id, CLEAN_ORIGIN)
                env.values[stmt.target.id] = join_origins([old, value])
            self._guards(stmt.value, env)
            return env
        if isinstance(stmt, ast.Expr):
            thrown = stmt.value.value if isinstance(stmt.value, ast.Await) else stmt.value
            self.discarded = id(thrown)  # a row this statement fetches is thrown away (see _lookups)
            self.eval(stmt.value, env)
            self.discarded = 0
            self._guards(stmt.value, env)
            call = stmt.value
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr in MERGES
                and isinstance(call.func.value, ast.Name)
                and call.func.value.id in env.values
                and call.args
            ):
                # merged.update(new_data), rows.append(row): the container now holds what the argument holds
                name = call.func.value.id
                env.values[name] = join_origins([env.values[name], *(self.eval(a, env) for a in call.args)])
            if isinstance(stmt.value, ast.Call) and vocab.is_refusing_call(dotted(stmt.value.func)):
                env.exited = True
            return env
        if isinstance(stmt, ast.Return):
            if stmt.value is not None and self._reads_staff(stmt.value):
                self.staff_gate = True  # `def has_permission(self): return self.request.user.is_staff`
            if stmt.value is not None:
                value = self.eval(stmt.value, env)
                self._guards(stmt.value, env)
                self.returns.append(value)
                inner = stmt.value.value if isinstance(stmt.value, ast.Await) else stmt.value
                if isinstance(inner, ast.Call) and id(inner) in self.keys:
                    self.returns_call.append(self.keys[id(inner)])
                elif isinstance(inner, ast.Name) and inner.id in env.from_call:
                    self.returns_call.append(env.from_call[inner.id])
                elif not (isinstance(inner, ast.Constant) and inner.value is None):
                    self.returns_other = True
                if not (isinstance(inner, ast.Constant) and inner.value is None):
                    self.returned_refs.append(self.mod.ref_of(inner, env.types, self.local_imports, self.klass))
            env.exited = True
            return env
        if isinstance(stmt, ast.Raise):
            if stmt.exc is not None:
                self.eval(stmt.exc, env)
            env.exited = True
            return env
        if isinstance(stmt, ast.If):
            self.eval(stmt.test, env)
            self._staff(stmt, env)
            self._guards(stmt.test, env)
            if refuses(stmt.body):
                self._owner_checks(stmt.test, env)
            self.depth += 1
            body_env = self._block(stmt.body, env.copy())
            else_env = self._block(stmt.orelse, env.copy())
            self.depth -= 1
            return _join_envs([body_env, else_env])
        if isinstance(stmt, (ast.For, ast.AsyncFor)):
            iterated = self.eval(stmt.iter, env)
            loop = env.copy()
            self._bind(stmt.target, iterated, stmt.iter, loop)
            self._loop_dispatch(stmt, loop)
            self.depth += 1
            body_env = self._block(stmt.body, loop)
            self.depth -= 1
            body_env.exited = False
            out = _join_envs([env, body_env])
            return self._block(stmt.orelse, out) if stmt.orelse else out
        if isinstance(stmt, ast.While):
            self.eval(stmt.test, env)
            self._guards(stmt.test, env)
            self.depth += 1
            body_env = self._block(stmt.body, env.copy())
            self.depth -= 1
            body_env.exited = False
            return _join_envs([env, body_env])
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                value = self.eval(item.context_expr, env)
                if item.optional_vars is not None:
                    self._bind(item.optional_vars, value, item.context_expr, env)
            return self._block(stmt.body, env)
        if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            return self._try(stmt, env)  # type: ignore[arg-type]  # TryStar has the same fields
        if isinstance(stmt, _FUNCS):
            self.depth += 1
            try:
                return self._nested(stmt, env)
            finally:
                self.depth -= 1
        if isinstance(stmt, ast.ClassDef):
            self._block([s for s in stmt.body if not isinstance(s, ast.ClassDef)], env.copy())
            return env
        if type(stmt).__name__ == "Match":
            self.eval(stmt.subject, env)  # type: ignore[attr-defined]
            self.depth += 1
            ends = [self._block(case.body, env.copy()) for case in stmt.cases]  # type: ignore[attr-defined]
            self.depth -= 1
            return _join_envs([env, *ends])
        if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Pass, ast.Global, ast.Nonlocal, ast.Delete)):
            return env
        if isinstance(stmt, ast.Assert):
            self.eval(stmt.test, env)
            self._guards(stmt.test, env)
            return env
        if isinstance(stmt, (ast.Continue, ast.Break)):
            env.exited = True
            return env
        return env

    def _try(self, stmt: ast.Try, env: _Env) -> _Env:
        body_env = self._block(stmt.body, env.copy())
        start = _join_envs([env, body_env]) if not body_env.exited else env
        self.depth += 1  # a handler, an else or a finally block is not the function's main path
        ends = [self._block(stmt.orelse, body_env) if stmt.orelse else body_env]
        for handler in stmt.handlers:
            h_env = start.copy()
            h_env.exited = False
            if handler.name:
                h_env.values[handler.name] = CLEAN_ORIGIN
            ends.append(self._block(handler.body, h_env))
        out = _join_envs(ends)
        if stmt.finalbody:
            final = out.copy()
            final.exited = False
            final = self._block(stmt.finalbody, final)
            final.exited = final.exited or out.exited
            self.depth -= 1
            return final
        self.depth -= 1
        return out

    def _nested(self, stmt: _Func, env: _Env) -> _Env:
        """A nested function runs later (a wrapper, a callback): its body is read in what is known now."""
        nested = env.copy()
        for param in (*stmt.args.posonlyargs, *stmt.args.args, *stmt.args.kwonlyargs):
            nested.values[param.arg] = CLEAN_ORIGIN
        for star in (stmt.args.vararg, stmt.args.kwarg):
            if star is not None:
                nested.values[star.arg] = CLEAN_ORIGIN
        for dec in stmt.decorator_list:
            self.eval(dec, env)
        self._block(stmt.body, nested)
        self._registrations(stmt)
        return env

    def _bind(self, target: ast.expr, value: Origin, source: ast.expr, env: _Env) -> None:
        if isinstance(target, ast.Name):
            name = target.id
            env.values[name] = value
            deps = names_in(source)
            if name in deps:  # secret = bytes(secret.encode()): still derived from what secret was
                deps |= env.deps.get(name, set())
            env.deps[name] = deps
            if deps & env.secrets or self._names_secret(source):
                env.secrets.add(name)
            else:
                env.secrets.discard(name)
            raw = source.value if isinstance(source, ast.Await) else source
            env.types.pop(name, None)
            env.rows.discard(name)
            if (
                isinstance(raw, ast.Call)
                and not value.trusted  # a membership query's rows are the user's: trusted, not a query to go on
                and (self._is_query(raw) or id(raw) in self.query_calls)
            ):
                env.queries.add(name)
            else:
                env.queries.discard(name)
            env.dispatch.pop(name, None)
            env.getattrs.pop(name, None)
            env.from_call.pop(name, None)
            if isinstance(raw, ast.Call) and id(raw) in self.keys:
                env.from_call[name] = self.keys[id(raw)]
            type_ref = self._type_of(raw, env)
            if type_ref is not None:
                env.types[name] = type_ref
                if isinstance(raw, ast.Call) and self._fetched_model(raw) is not None:
                    env.rows.add(name)
            table = self._table_lookup(raw, env)
            if table is not None:
                env.dispatch[name] = table
            found = self._getattr_lookup(raw, env)
            if found is not None:
                env.getattrs[name] = found
        elif isinstance(target, (ast.Tuple, ast.List)):
            for el in target.elts:
                self._bind(el, value, source, env)
        elif isinstance(target, ast.Starred):
            self._bind(target.value, value, source, env)

    def _type_of(self, value: ast.expr, env: _Env) -> Ref | None:
        """The instance a value is, when it names one: ``Service()``, ``self.repo``, ``svc`` (typed), a row a
        query fetches (``Pipeline.objects.get(pk=pk)``, ``get_object_or_404(Pipeline, pk=pk)``)."""
        if isinstance(value, ast.Call):
            model = self._fetched_model(value)
            if model is not None:
                ref = self.mod.ref_of(model, env.types, self.local_imports, self.klass)
                return Ref(ref.kind, ref.base, (*ref.attrs, "()")) if ref is not None else None
            ref = self.mod.ref_of(value.func, env.types, self.local_imports, self.klass)
            if ref is not None:
                if vocab.short(dotted(value.func)) == "partial" and value.args:
                    return self.mod.ref_of(value.args[0], env.types, self.local_imports, self.klass)
                return Ref(ref.kind, ref.base, (*ref.attrs, "()"))
            return None
        if isinstance(value, (ast.Name, ast.Attribute)):
            ref = self.mod.ref_of(value, env.types, self.local_imports, self.klass)
            if ref is not None and (
                ref.kind != "g" or ref.attrs or (isinstance(value, ast.Name) and value.id in env.types)
            ):
                return ref
            if ref is not None and isinstance(value, ast.Name):
                return ref  # an alias of a module-level function or class
        return None

    def _fetched_model(self, call: ast.Call) -> ast.expr | None:
        """The model class a query fetching one row names (``Pipeline`` in ``Pipeline.objects.filter(...).first()``
        and ``get_object_or_404(Pipeline, ...)``), as written; None for anything else."""
        k = self.k
        func = call.func
        if isinstance(func, ast.Name):
            if self._resolve_short(func.id) not in k["queries.shortcuts"] or not call.args:
                return None
            first = call.args[0]
            return first if isinstance(first, (ast.Name, ast.Attribute)) else None
        if not isinstance(func, ast.Attribute) or func.attr not in k["queries.row_fetches"]:
            return None
        node: ast.expr = func.value
        while (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in k["queries.methods"]
        ):
            node = node.func.value
        if isinstance(node, ast.Attribute) and node.attr in k["models.managers"]:
            base = node.value
            if isinstance(base, (ast.Name, ast.Attribute)) and dotted(base) not in ("self", "cls"):
                return base
        return None

    def _table_lookup(self, value: ast.expr, env: _Env) -> Ref | None:
        """``HANDLERS[kind]`` / ``HANDLERS.get(kind)``: a function out of a table or registry."""
        if isinstance(value, ast.Subscript):
            return self.mod.ref_of(value.value, env.types, self.local_imports, self.klass)
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Attribute)
            and value.func.attr in ("get", "pop", "setdefault")
        ):
            return self.mod.ref_of(value.func.value, env.types, self.local_imports, self.klass)
        return None

    def _getattr_lookup(self, value: ast.expr, env: _Env) -> tuple[Ref, str] | None:
        """``getattr(self, f"handle_{kind}")``: a method picked by name, with the literal prefix."""
        if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "getattr"):
            return None
        if len(value.args) < 2:
            return None
        obj = self.mod.ref_of(value.args[0], env.types, self.local_imports, self.klass)
        if obj is None:
            return None
        name = value.args[1]
        prefix: str | None = None
        if isinstance(name, ast.JoinedStr):
            prefix = ""
            for part in name.values:
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    prefix += part.value
                else:
                    break
        elif isinstance(name, ast.BinOp) and isinstance(name.op, ast.Add):
            prefix = _string(name.left) or ""
        elif _string(name) is not None:
            prefix = _string(name)
        if prefix is None:
            return None
        return obj, prefix

    def _loop_dispatch(self, stmt: ast.For | ast.AsyncFor, env: _Env) -> None:
        """``for handler in HANDLERS.get(kind, [])``: each handler is a function out of the table."""
        if not isinstance(stmt.target, ast.Name):
            return
        table = self._table_lookup(stmt.iter, env) or (
            self.mod.ref_of(stmt.iter, env.types, self.local_imports, self.klass)
            if isinstance(stmt.iter, (ast.Name, ast.Attribute))
            else None
        )
        if table is not None:
            env.dispatch[stmt.target.id] = table

    def _registrations(self, fn: _Func) -> None:
        """``HANDLERS[kind] = func`` / ``HANDLERS.append(func)`` inside a (nested) decorator: a registry."""
        params = {a.arg for a in (*fn.args.posonlyargs, *fn.args.args)}
        self._register_into([sub for stmt in fn.body for sub in walk(stmt)], params)

    def _register_into(self, nodes: Iterable[ast.AST], params: set[str]) -> None:
        if not params:
            return
        for sub in nodes:
            if isinstance(sub, ast.Assign):
                if isinstance(sub.value, ast.Name) and sub.value.id in params:
                    for target in sub.targets:
                        if isinstance(target, ast.Subscript):
                            self._container(target.value)
            elif (
                isinstance(sub, ast.Call)
                and isinstance(sub.func, ast.Attribute)
                and sub.func.attr in REGISTER_METHODS
                and any(isinstance(a, ast.Name) and a.id in params for a in sub.args)
            ):
                base = sub.func.value
                if isinstance(base, ast.Call) and isinstance(base.func, ast.Attribute):
                    base = base.func.value  # REG.setdefault(kind, []).append(func)
                elif isinstance(base, ast.Subscript):
                    base = base.value  # REG[kind].append(func)
                self._container(base)

    def _container(self, node: ast.expr) -> None:
        ref = self.mod.ref_of(node, {}, self.local_imports, self.klass)
        if ref is not None:
            self.registers.append(_ref_text(ref))

    def _reads_staff(self, node: ast.AST) -> bool:
        """Whether an expression reads a staff flag on the user (``request.user.is_staff``, ``user.admin``)."""
        staff = self.k["admin.staff_attrs"]
        return any(
            isinstance(n, ast.Attribute) and n.attr in staff and vocab.is_userish(dotted(n.value)) for n in walk(node)
        )

    def _serves_staff_only(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        """``if request.user.is_superuser: ...; return ...`` then ``raise PermissionDenied()``: the function does
        its work in a branch only staff enter, and refuses everyone else after it."""
        body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        if len(body) != 2 or not isinstance(body[0], ast.If) or body[0].orelse:
            return False
        branch, after = body[0], body[1]
        leaves = bool(branch.body) and isinstance(branch.body[-1], (ast.Return, ast.Raise))
        return leaves and self._staff_only(branch.test) and _refusal(after)

    def _staff_only(self, test: ast.expr) -> bool:
        """A condition only staff meet: a staff flag, all of an ``and`` with one, or an ``or`` of staff flags and
        operator settings (``settings.ALLOW_METRICS_FOR_ANONYMOUS_USERS or user.is_superuser``)."""
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
            return any(self._staff_only(v) for v in test.values)
        if isinstance(test, ast.BoolOp):
            return any(self._staff_only(v) for v in test.values) and all(
                self._staff_only(v) or dotted(v).startswith("settings.") for v in test.values
            )
        return not isinstance(test, ast.UnaryOp) and self._reads_staff(test)

    def _staff(self, stmt: ast.If, env: _Env) -> None:
        # `if not request.user.is_staff: raise`: a refusal of whoever is not staff (`if user.is_staff: return
        # rows` is the opposite, the staff's own branch: see _serves_staff_only)
        negated = [n.operand for n in walk(stmt.test) if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not)]
        if any(self._reads_staff(n) for n in negated) and refuses(stmt.body):
            self.staff_gate = True
        if refuses(stmt.body) and self._compares_to_secret(stmt.test, env):
            self.secret_gate = True
        if stmt is self._first and refuses(stmt.body) and self._switched_off(stmt.test):
            self.debug_gate = True  # `if not settings.DEBUG: raise Http404`, first thing in the body

    def _switched_off(self, test: ast.expr) -> bool:
        """A condition that holds when a development switch is off: ``not settings.DEBUG``,
        ``settings.ENABLE_TEST_API is not True``, ``not app.config.get("TESTING")``, or an ``or`` with one."""
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
            return any(self._switched_off(v) for v in test.values)
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            inner = test.operand
            if isinstance(inner, ast.BoolOp):  # not (DEBUG or TESTING): every one off; not (DEBUG and x): one off
                reads = [self._dev_switch(v) for v in inner.values]
                return all(reads) if isinstance(inner.op, ast.Or) else any(reads)
            return self._dev_switch(inner)
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and self._dev_switch(test.left):
            value = test.comparators[0]
            if isinstance(value, ast.Constant) and isinstance(value.value, bool):
                negative = isinstance(test.ops[0], (ast.IsNot, ast.NotEq))
                return negative == value.value  # `is not True`, `!= True`, `is False`, `== False`
        return False

    def _dev_switch(self, node: ast.expr) -> bool:
        """A read of a setting that switches on development-only code (``admin.debug_settings``):
        ``settings.DEBUG``, ``app.config["TESTING"]``, ``current_app.config.get("E2E")``,
        ``getattr(settings, "ENABLE_TEST_API", False)``."""
        name, holder = "", None
        if isinstance(node, ast.Attribute):
            name, holder = node.attr, node.value
        elif isinstance(node, ast.Subscript):
            name, holder = _string(node.slice) or "", node.value
        elif isinstance(node, ast.Call) and node.args:
            func = dotted(node.func)
            if func == "getattr" and len(node.args) >= 2:
                name, holder = _string(node.args[1]) or "", node.args[0]
            elif isinstance(node.func, ast.Attribute) and node.func.attr == "get":
                name, holder = _string(node.args[0]) or "", node.func.value
        if not name or holder is None:
            return False
        receiver = dotted(holder.func if isinstance(holder, ast.Call) else holder).rsplit(".", 1)[-1].lower()
        if not ("settings" in receiver or "config" in receiver or receiver in ("app", "current_app", "conf")):
            return False
        return vocab.matches_any(name.upper(), self.k["admin.debug_settings"])

    def _compares_to_secret(self, test: ast.expr, env: _Env) -> bool:
        """``request.headers.get("Authorization") != f"Bearer {settings.METRICS_TOKEN}"`` and
        ``not hmac.compare_digest(token, settings.WEBHOOK_SECRET)``: client input against a shared secret."""
        secrets = self.k["admin.shared_secrets"]

        def names_secret(node: ast.AST) -> bool:
            for sub in walk(node):
                if isinstance(sub, (ast.Attribute, ast.Name)):
                    name = sub.attr if isinstance(sub, ast.Attribute) else sub.id
                    if name.isupper() and vocab.is_secret_field(name, [p.lower() for p in secrets]):
                        return True
                key = _string(sub.slice) if isinstance(sub, ast.Subscript) else None
                if key and vocab.is_secret_field(key, [p.lower() for p in secrets]):
                    return True
            return False

        def reads_request(node: ast.AST) -> bool:
            # `key = request.headers.get("X-Metrics-Key")` first, then `key != settings.METRICS_KEY`
            return self._client_input(node, env)

        node = test.operand if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) else test
        if isinstance(node, ast.Compare) and len(node.comparators) == 1:
            sides = (node.left, node.comparators[0])
            return any(names_secret(a) and reads_request(b) for a, b in (sides, sides[::-1]))
        if isinstance(node, ast.Call) and vocab.short(dotted(node.func)) == "compare_digest":
            return any(names_secret(a) for a in node.args)
        return False

    # -- checks -------------------------------------------------------------------------------------

    def _names_secret(self, node: ast.AST) -> bool:
        """Whether an expression reads a row's own secret: a field or key named like one
        (``hook.secret``, ``config.get("secret")``, ``row["api_key"]``); settings constants are shared
        secrets, not a row's (see :meth:`_compares_to_secret`)."""
        markers = self.k["models.secret_fields"]
        for sub in walk(node):
            if isinstance(sub, ast.Attribute) and not sub.attr.isupper():
                if vocab.is_secret_field(sub.attr, markers):
                    return True
            elif isinstance(sub, ast.Subscript) or (
                isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr == "get"
            ):
                key = _string(sub.slice) if isinstance(sub, ast.Subscript) else _string(next(iter(sub.args), None))
                if key and not key.isupper() and vocab.is_secret_field(key, markers):
                    return True
        return False

    def _secret_comparisons(self, node: ast.AST, env: _Env) -> Iterator[Check]:
        """``return project_secret == request.GET.get("key")``: the client's value compared with the
        row's own secret. Holding it is the authorization, as with ``compare_digest``."""
        # the comparison is the statement's value or test, or one operand of its `and`/`not` (no deep walk)
        shallow = [node]
        if isinstance(node, ast.BoolOp):
            shallow.extend(node.values)
        elif isinstance(node, ast.UnaryOp):
            shallow.append(node.operand)
        for sub in shallow:
            if not isinstance(sub, ast.Compare) or len(sub.ops) != 1 or not isinstance(sub.ops[0], (ast.Eq, ast.NotEq)):
                continue
            sides = (sub.left, sub.comparators[0])
            for mine, theirs in (sides, sides[::-1]):
                secret = self._names_secret(mine) or bool(names_in(mine) & env.secrets)
                if secret and self._client_input(theirs, env):
                    yield Check(names=tuple(sorted(names_in(sub) - {"self", "cls", "request"})), direct=True)
                    break

    def _client_input(self, node: ast.AST, env: _Env) -> bool:
        """Whether an expression carries client input: a name holding some, or a request read."""
        if any(env.values[n].sources for n in names_in(node) if n in env.values):
            return True
        return any(
            vocab.request_source(dotted(sub), self.k) is not None
            for sub in walk(node)
            if isinstance(sub, (ast.Attribute, ast.Call))
        )

    def _guards(self, node: ast.AST, env: _Env) -> None:
        """Calls in ``node`` that may verify membership: the names they mention are guarded by them."""
        checks = [self._check_of(call, env) for call in _calls_of(node)]
        for check in [*checks, *self._secret_comparisons(node, env)]:
            if check is None:
                continue
            ident = len(self.checks)
            self.checks.append(
                msgspec.structs.replace(check, names=self._closure(check.names, env), top=self.depth == 0)
            )
            self._mark(check.names, ident, env)

    @staticmethod
    def _closure(names: Iterable[str], env: _Env) -> tuple[str, ...]:
        """The names and, transitively, the names they were computed from (``org`` <- ``org_id``)."""
        seen: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(env.deps.get(name, ()))
        return tuple(sorted(seen))

    def _mark(self, names: Iterable[str], ident: int, env: _Env) -> None:
        seen: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            value = env.values.get(name)
            if value is not None and not value.empty:
                env.values[name] = Origin(
                    value.params, value.sources, value.calls, tuple(sorted({*value.guards, ident})), value.trusted
                )
            todo.extend(env.deps.get(name, ()))

    def _own_row_check(self, call: ast.Call) -> Check | None:
        """``principal.has_perm("pipelines.delete_pipeline", self)`` (or ``self.workspace``) in a method: the
        user the caller hands in (a parameter, or the signed-in user) checked against the method's own row; the
        row is ``self``, which the join then counts among the verified parameters (a caller's
        ``pipeline.delete_if_has_perm(principal=request.user)`` checks ``pipeline``) when the class is a model."""
        if not self.klass or not isinstance(call.func, ast.Attribute):
            return None
        params = self.param_names - {"self", "cls"}
        receiver = dotted(call.func.value)
        users = [receiver, *(dotted(x) for x in [*call.args, *(kw.value for kw in call.keywords)])]
        if not any(u in params or vocab.is_userish(u) for u in users if u):
            return None
        for target in (*call.args, *(kw.value for kw in call.keywords)):
            text = dotted(target)
            if text == "self" or (text.startswith("self.") and text.count(".") == 1):
                names = {n for n in names_in(call) if n in params}
                return Check(names=tuple(sorted({"self", *names})), direct=True, row_self=True)
        return None

    def _check_of(self, call: ast.Call, env: _Env) -> Check | None:
        k = self.k
        if not call.args and not call.keywords and not isinstance(call.func, ast.Attribute):
            return None  # `f()` names nothing it could verify
        text, qualified = self._texts(call)
        name = vocab.short(text) if text else ""
        if isinstance(call.func, ast.Name) and call.func.id in ("filter", "any", "next", "all"):
            searched = self._row_search(call, env)
            if searched is not None:
                return searched

        def names() -> tuple[str, ...]:
            return tuple(sorted(names_in(call) - {"self", "cls", "request"}))

        if text and (
            vocab.matches_any(qualified, k["guards.functions"]) or vocab.matches_any(qualified, k["trusted.resolvers"])
        ):
            return Check(names=names(), direct=True)
        if name in ("compare_digest", "constant_time_compare"):
            # an HMAC or token compared with the row's own secret: holding it is the authorization
            return Check(names=names(), direct=True)
        if name in k["guards.object_checks"] and any(
            vocab.is_userish(dotted(x)) for x in [*call.args, *(kw.value for kw in call.keywords)]
        ):
            return Check(names=names(), direct=True)
        own = self._own_row_check(call) if name in k["guards.object_checks"] else None
        if own is not None:
            return own
        membership = self._membership(call)
        if membership is None and self.user_self and _self_in_chain(call):
            # a method of a class that may be the user model: `self` is the user (the join decides)
            found = self._membership(call, user_self=True)
            if found is not None:
                direct, attrs, kws = found
                return Check(names=names(), direct=direct, user_attrs=attrs, user_kwargs=kws, user_self=True)
        receiver = self._row_receiver(call, env)
        func = call.func
        # Version.objects.get(id=x).delete_if_has_perm(principal=user): a method on the row fetched right there
        inline = (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Call)
            and self._fetched_model(func.value) is not None
        )
        if membership is not None and (membership[0] or not (self._user_method_call(call) or receiver or inline)):
            direct, attrs, kws = membership
            return Check(names=names(), direct=direct, user_attrs=attrs, user_kwargs=kws)
        key = self.keys.get(id(call), "")
        ref = (
            self.mod.ref_of(call.func, env.types, self.local_imports, self.klass)
            if key and (call.args or call.keywords) and not self._is_query(call)
            else None
        )
        if ref is None:
            if membership is not None:  # user.teams.get(...) on an untyped user: a relation of that name verifies
                return Check(names=names(), user_attrs=membership[1], user_kwargs=membership[2])
            return None
        args: list[tuple[str, tuple[str, ...]]] = []
        for i, arg in enumerate(call.args):
            args.append((str(i), tuple(sorted(names_in(arg)))))
        for kw in call.keywords:
            if kw.arg:
                args.append((kw.arg, tuple(sorted(names_in(kw.value)))))
        # request.user.has_project_permission(perm, project): a membership relation of that name verifies, else
        # the user model's method does when its summary does
        attrs, kws = (membership[1], membership[2]) if membership is not None else ((), ())
        # pipeline.delete_if_has_perm(principal=request.user): the method checks the row it runs on
        held = {n for _, found in args for n in found} | ({receiver} if receiver else set())
        return Check(
            names=tuple(sorted(held - {"self", "cls", "request"})),
            user_attrs=attrs,
            user_kwargs=kws,
            key=key,
            args=tuple(args),
            on_row=receiver in env.rows or inline,
        )

    def _row_search(self, call: ast.Call, env: _Env) -> Check | None:
        """A membership looked up in Python: the user's membership rows searched for one whose attribute
        equals a value (``filter(lambda m: m.organisation_id == org_id, user.memberships.all())``,
        ``any(m.org_id == org_id for m in request.user.memberships.all())``). Checks the value as
        ``user.memberships.get(organisation_id=org_id)`` does; the join decides whether the relation is one."""
        pairs: list[tuple[ast.expr, str, ast.expr]] = []  # (rows searched, the row's name, the condition)
        first = call.args[0] if call.args else None
        if isinstance(first, ast.Lambda) and len(call.args) == 2 and len(first.args.args) == 1:
            pairs.append((call.args[1], first.args.args[0].arg, first.body))
        elif isinstance(first, ast.GeneratorExp) and len(first.generators) == 1:
            gen = first.generators[0]
            if isinstance(gen.target, ast.Name):
                for cond in [first.elt, *gen.ifs]:
                    pairs.append((gen.iter, gen.target.id, cond))
        for searched, row, cond in pairs:
            rows = searched
            if isinstance(rows, ast.Call) and isinstance(rows.func, ast.Attribute) and rows.func.attr == "all":
                rows = rows.func.value
            if not isinstance(rows, ast.Attribute) or not isinstance(cond, ast.Compare) or len(cond.ops) != 1:
                continue
            if not isinstance(cond.ops[0], ast.Eq):
                continue
            owner = dotted(rows.value)
            user_self = not vocab.is_userish(owner)
            if user_self and not (self.user_self and _self_userish(owner)):
                continue
            sides = [cond.left, cond.comparators[0]]
            mine = [x for x in sides if isinstance(x, ast.Attribute) and dotted(x.value) == row]
            other = [x for x in sides if row not in names_in(x)]
            # m.role == "ADMIN": a flag of some membership, of no tenant in particular
            if len(mine) == 1 and len(other) == 1 and names_in(other[0]):
                return Check(
                    names=self._closure(names_in(other[0]) - {"self", "cls", "request"}, env),
                    user_attrs=(rows.attr,),
                    user_self=user_self,
                )
        return None

    @staticmethod
    def _row_receiver(call: ast.Call, env: _Env) -> str:
        """The variable a method is called on when it holds an instance of a project class (a row a query
        fetched, a service): ``pipeline`` in ``pipeline.delete_if_has_perm(principal=request.user)``."""
        func = call.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in env.types:
            return func.value.id
        return ""

    @staticmethod
    def _user_method_call(call: ast.Call) -> bool:
        """``request.user.belongs_to(org_id)``, ``user.get_membership(org)``: a method called on a user."""
        func = call.func
        return isinstance(func, ast.Attribute) and vocab.is_userish(dotted(func.value))

    def _kwargs_in(self, nodes: Iterable[ast.AST]) -> Iterator[str]:
        """URL kwargs read: ``view.kwargs["pk"]``, ``self.kwargs.get("pk")``, ``request.view_args["pk"]``."""
        for sub in nodes:
            if isinstance(sub, ast.Subscript) and dotted(sub.value).endswith(("kwargs", "view_args")):
                key = _string(sub.slice)
                if key:
                    yield key
            elif (
                isinstance(sub, ast.Call)
                and isinstance(sub.func, ast.Attribute)
                and sub.func.attr == "get"
                and dotted(sub.func.value).endswith(("kwargs", "view_args"))
                and sub.args
            ):
                key = _string(sub.args[0])
                if key:
                    yield key

    def _membership(
        self, call: ast.Call, *, user_self: bool = False
    ) -> tuple[bool, tuple[str, ...], tuple[str, ...]] | None:
        """A lookup joined to the signed-in user's memberships: (direct, user relations, user keywords).

        ``Membership.objects.filter(user=request.user, ...)`` and ``Organization.objects.get(pk=...,
        members=request.user)`` verify by themselves; ``request.user.teams.get(...)`` and
        ``filter(teams=user)`` verify when ``teams`` is a membership relation of the project. ``user_self``:
        ``self`` is the user (``self.userorganisation_set.get(organisation=org)`` in the user model's method).
        """
        userish = _self_userish if user_self else vocab.is_userish
        if vocab.writes_chain(_chain_methods(call), self.k["queries.write_methods"]):
            return None  # Membership.objects.create(user=user, organization=org): joining checks nothing
        membership = self.mod.membership
        has_user_lookup = False
        touches = False
        attrs: list[str] = []
        kws: list[str] = []
        node: ast.AST = call
        picks = False  # a lookup somewhere in the chain: a relation read with none picks no tenant
        while isinstance(node, ast.Call):
            picks = picks or bool(node.args or node.keywords)
            for arg in [*node.args, *(kw.value for kw in node.keywords)]:
                if userish(dotted(arg)):
                    has_user_lookup = True
                for compare in _comparisons(arg):
                    # SQLAlchemy: Membership.user_id == current_user.id
                    operands = [compare.left, *compare.comparators]
                    if any(userish(dotted(o)) for o in operands):
                        has_user_lookup = True
                        for o in operands:
                            if isinstance(o, ast.Attribute) and self._resolve_short(dotted(o.value)) in membership:
                                touches = True
            for kw in node.keywords:
                key = kw.arg or ""
                if userish(dotted(kw.value)):
                    if "member" in key:
                        touches = True
                    kws.append(key)
            func = node.func
            if isinstance(func, ast.Attribute):
                if func.attr in membership or vocab.short(dotted(func.value)) in membership:
                    touches = True
                if userish(dotted(func.value)):
                    attrs.append(func.attr)
                node = func.value
            else:
                if isinstance(func, ast.Name) and self._resolve_short(func.id) in membership:
                    touches = True
                break
        while isinstance(node, ast.Attribute):
            if userish(dotted(node.value)):
                attrs.append(node.attr)
            if node.attr in membership:
                touches = True
            node = node.value
        if isinstance(node, ast.Name) and self._resolve_short(node.id) in membership:
            touches = True
        if call.args and isinstance(call.func, ast.Name) and vocab.short(dotted(call.args[0])) in membership:
            touches = True
        if has_user_lookup and (touches or self._queries_tenant(call)):
            return True, (), ()
        if (attrs and picks) or (has_user_lookup and kws):
            # request.user.teams.get(pk=team_id); `request.user.workspaces.exists()` checks no tenant in particular
            return False, tuple(dict.fromkeys(attrs)), tuple(dict.fromkeys(kws))
        return None

    def _resolve_short(self, name: str) -> str:
        origin = self.local_imports.get(name) or self.mod.scope.imports.get(name)
        return vocab.short(origin) if origin else name

    def _queries_tenant(self, call: ast.Call) -> bool:
        node: ast.AST = call
        tenants = self.mod.tenant_models
        while isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.args:
                return vocab.short(dotted(node.args[0])) in tenants
            if not isinstance(node.func, ast.Attribute):
                return False
            node = node.func.value
        while isinstance(node, ast.Attribute):
            node = node.value
        return isinstance(node, ast.Name) and self._resolve_short(node.id) in tenants

    def _owner_checks(self, test: ast.expr, env: _Env) -> None:
        """``if owner_id != get_user_id(): return 403``: what the owner was compared with is verified, and
        what it was derived from."""
        atoms: list[ast.expr] = []
        stack: list[ast.expr] = [test]
        while stack:
            expr = stack.pop()
            if isinstance(expr, ast.BoolOp) and isinstance(expr.op, ast.Or):
                stack.extend(expr.values)
            else:
                atoms.append(expr)
        for atom in atoms:
            if not isinstance(atom, ast.Compare) or len(atom.ops) != 1:
                continue
            if not isinstance(atom.ops[0], (ast.NotEq, ast.IsNot, ast.NotIn)):
                continue
            left, right = atom.left, atom.comparators[0]
            if isinstance(atom.ops[0], ast.NotIn):
                # `if obj.organization not in request.user.organizations.all(): raise`
                attrs = [n.attr for n in walk(right) if isinstance(n, ast.Attribute)]
                if any(vocab.is_userish(dotted(n.value)) for n in walk(right) if isinstance(n, ast.Attribute)):
                    ident = len(self.checks)
                    self.checks.append(Check(names=self._closure(names_in(left), env), user_attrs=tuple(attrs)))
                    self._mark(names_in(left), ident, env)
                continue
            for mine, theirs in ((left, right), (right, left)):
                if self._is_principal(mine) and not self._is_principal(theirs):
                    ident = len(self.checks)
                    self.checks.append(Check(names=self._closure(names_in(theirs), env), direct=True))
                    self._mark(names_in(theirs), ident, env)

    def _is_principal(self, expr: ast.expr) -> bool:
        text = dotted(expr)
        return bool(text) and (
            vocab.is_signed_in_user(text)
            or vocab.is_trusted_expr(text, self.mod.trusted)
            or vocab.is_trusted_expr(self.mod.scope.qualified(text, self.local_imports), self.mod.trusted)
        )

    # -- expressions --------------------------------------------------------------------------------

    def eval(self, expr: ast.expr, env: _Env) -> Origin:
        """The origin of an expression's value, recording the calls it makes on the way."""
        if isinstance(expr, ast.Name):
            if expr.id in env.values:
                return env.values[expr.id]
            origin = self.local_imports.get(expr.id) or self.mod.scope.imports.get(expr.id)
            if self._trusted_text(expr.id):
                return TRUSTED_ORIGIN
            src = vocab.request_source(origin, self.k) if origin else None
            return Origin(sources=(f"{src[1]}:{expr.id}",)) if src else CLEAN_ORIGIN
        if isinstance(expr, ast.Attribute):
            text = dotted(expr)
            if text and self._trusted_text(text):
                return TRUSTED_ORIGIN
            src = vocab.request_source(text, self.k) if text else None
            if src is not None:
                return Origin(sources=(f"{src[1]}:{src[0]}",))
            if expr.attr in vocab.SERVER_ATTRS and isinstance(expr.value, ast.Name):
                return CLEAN_ORIGIN  # serializer.instance: the row the server saved
            base = self.eval(expr.value, env)
            if isinstance(expr.value, ast.Name) and vocab.is_userish(expr.value.id) and not base.empty:
                return base
            return base
        if isinstance(expr, ast.Subscript):
            self.eval(expr.slice, env)
            key = _string(expr.slice)
            if vocab.is_saved_key(dotted(expr.value), key):
                return CLEAN_ORIGIN
            base = self.eval(expr.value, env)
            if base.sources and not base.params and not base.calls and len(base.sources) == 1:
                kind, text = base.sources[0].split(":", 1)
                if text == dotted(expr.value):
                    return Origin(sources=(f"{kind}:{text}[{key!r}]" if key is not None else f"{kind}:{text}[...]",))
            return base
        if isinstance(expr, ast.Call):
            return self._eval_call(expr, env)
        if isinstance(expr, ast.Await):
            return self.eval(expr.value, env)
        if isinstance(expr, ast.BinOp):
            return join_origins([self.eval(expr.left, env), self.eval(expr.right, env)])
        if isinstance(expr, ast.BoolOp):
            return join_origins([self.eval(v, env) for v in expr.values])
        if isinstance(expr, ast.IfExp):
            self.eval(expr.test, env)
            return join_origins([self.eval(expr.body, env), self.eval(expr.orelse, env)])
        if isinstance(expr, ast.JoinedStr):
            return join_origins([self.eval(v.value, env) for v in expr.values if isinstance(v, ast.FormattedValue)])
        if isinstance(expr, (ast.Tuple, ast.List, ast.Set)):
            return join_origins([self.eval(el, env) for el in expr.elts])
        if isinstance(expr, ast.Dict):
            for key_node in expr.keys:
                if key_node is not None:
                    self.eval(key_node, env)
            return join_origins([self.eval(v, env) for v in expr.values])
        if isinstance(expr, ast.Starred):
            return self.eval(expr.value, env)
        if isinstance(expr, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            inner = env.copy()
            for gen in expr.generators:
                self._bind(gen.target, self.eval(gen.iter, inner), gen.iter, inner)
                for cond in gen.ifs:
                    self.eval(cond, inner)
            if isinstance(expr, ast.DictComp):
                self.eval(expr.key, inner)
                return self.eval(expr.value, inner)
            return self.eval(expr.elt, inner)
        if isinstance(expr, ast.Compare):
            self.eval(expr.left, env)
            for c in expr.comparators:
                self.eval(c, env)
            return CLEAN_ORIGIN
        if isinstance(expr, ast.UnaryOp):
            return self.eval(expr.operand, env)
        if isinstance(expr, ast.Lambda):
            return CLEAN_ORIGIN
        if isinstance(expr, ast.NamedExpr):
            value = self.eval(expr.value, env)
            self._bind(expr.target, value, expr.value, env)
            return value
        return CLEAN_ORIGIN

    def _trusted_text(self, text: str) -> bool:
        # remembered per module, or per function when the function imports names of its own
        memo = self.trusted_texts if self.local_imports else self.mod.trusted_texts
        found = memo.get(text)
        if found is None:
            trusted = self.mod.trusted
            found = memo[text] = vocab.is_trusted_expr(text, trusted) or vocab.is_trusted_expr(
                self.mod.scope.qualified(text, self.local_imports), trusted
            )
        return found

    def _is_query(self, call: ast.Call) -> bool:
        """A database query: a manager chain, a session call, a statement builder or a shortcut (not a method
        called on the row a manager chain fetched: ``Version.objects.get(id=x).delete_if_has_perm(user)``)."""
        k = self.k
        node: ast.AST = call
        outer: list[str] = []  # the methods called on what the inner calls return, outermost first
        while isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                name = self._resolve_short(func.id)
                return name in k["queries.shortcuts"] or name in k["queries.statement_builders"]
            if not isinstance(func, ast.Attribute):
                return False
            if func.attr in k["queries.session_calls"] and _session_receiver(dotted(func.value)):
                return True
            if func.attr in k["queries.shortcuts"]:
                return True
            if func.attr in k["queries.row_fetches"] and any(m not in k["queries.methods"] for m in outer):
                return False
            outer.append(func.attr)
            node = func.value
        while isinstance(node, ast.Attribute):
            if node.attr in k["models.managers"] and isinstance(node.value, (ast.Name, ast.Attribute)):
                return True
            node = node.value
        return False

    def _continues_query(self, call: ast.Call, env: _Env, args: list[tuple[str, Origin]]) -> bool:
        """A query method called on a name holding a query (or on such a call): a row it fetches (``qs.get(slug=
        slug)``), or the query narrowed by nothing from input or parameters, which is still a query (the check pass's
        ``Value.query``). A query narrowed by input carries it (``qs.filter(group=group_id).values("id")``)."""
        func = call.func
        if not isinstance(func, ast.Attribute) or func.attr not in self.k["queries.methods"]:
            return False
        receiver = func.value
        if not (
            (isinstance(receiver, ast.Name) and receiver.id in env.queries)
            or (isinstance(receiver, ast.Call) and id(receiver) in self.query_calls)
        ):
            return False
        fetch = func.attr in self.k["queries.row_fetches"] or func.attr in self.k["queries.raising_fetches"]
        return fetch or all(o.trusted or not (o.params or o.sources or o.calls) for _, o in args)

    def _query_model(self, call: ast.Call) -> str:
        """The model a query names at its base, as written (``Invoice``), or ""."""
        k = self.k
        node: ast.AST = call
        while isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                return vocab.short(dotted(node.args[0])) if node.args else ""
            if not isinstance(func, ast.Attribute):
                return ""
            if func.attr in k["queries.session_calls"] and _session_receiver(dotted(func.value)) and node.args:
                inner = node.args[0]
                if isinstance(inner, ast.Call):
                    return self._query_model(inner)
                text = dotted(inner)
                return vocab.short(text.rsplit(".", 1)[0] if "." in text and text[0].isupper() else text)
            node = func.value
        while isinstance(node, ast.Attribute):
            if node.attr in k["models.managers"]:
                name = vocab.short(dotted(node.value))
                # `cls.query` / `cls.objects` in a model's classmethod: the model itself
                return self.klass.rsplit(".", 1)[-1] if name == "cls" and self.klass else name
            node = node.value
        return ""

    def _lookups(self, call: ast.Call, env: _Env) -> None:
        """Lookups of a query whose values carry a parameter or client input (tenant paths come later)."""
        model = self._query_model(call)
        if not model:
            return
        aggregate = (
            isinstance(call.func, ast.Attribute)
            and (
                call.func.attr in vocab.AGGREGATES
                # `Workspace.objects.get(slug=slug)` as a statement of its own: whether such a row exists, no more
                or (id(call) == self.discarded and call.func.attr in self.k["queries.row_fetches"])
            )
        ) or (
            # `get_object_or_404(Workspace, slug=slug)` thrown away: one row or a 404, as the check pass reads it
            isinstance(call.func, ast.Name)
            and id(call) == self.discarded
            and self._resolve_short(call.func.id) in self.k["queries.shortcuts"]
            and "list" not in call.func.id
        )
        node: ast.AST = call
        while isinstance(node, ast.Call):
            func = node.func
            values: list[tuple[str, ast.expr]] = [(kw.arg, kw.value) for kw in node.keywords if kw.arg]
            if isinstance(func, ast.Name):
                values += [("pk", a) for a in node.args[1:2]]
            elif (
                isinstance(func, ast.Attribute)
                and func.attr in ("get", "get_one")
                and _session_receiver(dotted(func.value))
            ):
                values += [("pk", a) for a in node.args[1:2]]  # session.get(Model, ident)
            elif isinstance(func, ast.Attribute) and func.attr in ("get", "get_or_404"):
                # Model.query.get(ident): a bare positional value is the primary key (Q objects are not)
                values += [("pk", a) for a in node.args[:1] if not isinstance(a, (ast.Compare, ast.Call))]
            for arg in node.args:
                if isinstance(arg, ast.Compare) and len(arg.comparators) == 1:
                    left, right = arg.left, arg.comparators[0]
                    if isinstance(left, ast.Attribute) and vocab.short(dotted(left.value)):
                        values.append((left.attr, right))
                elif (
                    isinstance(arg, ast.Call)
                    and isinstance(arg.func, ast.Attribute)
                    and arg.func.attr in ("in_", "any", "contains", "has")
                    and isinstance(arg.func.value, ast.Attribute)
                    and vocab.short(dotted(arg.func.value.value))
                    and arg.args
                ):
                    relation = arg.func.value.attr
                    if arg.func.attr in ("any", "has") and _is_predicate(arg.args[0]):
                        # Card.board.has(Board.organization_id == org_id): the related row's columns, through it
                        for cmp in _conjunct_comparisons(arg.args[0]):
                            if isinstance(cmp.left, ast.Attribute) and vocab.short(dotted(cmp.left.value)):
                                values.append((f"{relation}__{cmp.left.attr}", cmp.comparators[0]))
                    elif arg.func.attr != "has":
                        # Document.project_id.in_(ids), User.group_ids.any(group_id)
                        values.append((f"{relation}__in", arg.args[0]))
            for key, value in values:
                origin = self.eval(value, env)
                # and the key pinned to a verified tenant (`id=request.org.id`): the query finds that tenant or none
                pinned = origin.trusted and vocab.is_key_lookup(key)
                if origin.params or origin.sources or origin.calls or pinned:
                    self.lookups.append(Lookup(model, key, origin, node.lineno, aggregate))
            node = func.value if isinstance(func, ast.Attribute) else func

    def _eval_call(self, call: ast.Call, env: _Env) -> Origin:
        k = self.k
        text, qualified = self._texts(call)
        key = self.keys.get(id(call), "")
        args = [(str(i), self.eval(a, env)) for i, a in enumerate(call.args)]
        args += [(kw.arg or "**", self.eval(kw.value, env)) for kw in call.keywords]
        func = call.func
        receiver = CLEAN_ORIGIN
        if isinstance(func, ast.Attribute):
            receiver = self.eval(func.value, env)
        elif not isinstance(func, ast.Name):
            receiver = self.eval(func, env)
        # user relations read in a call chain: request.user.teams.get(...)
        for kw in call.keywords:
            if kw.arg and vocab.is_userish(dotted(kw.value)):
                self.user_kwargs.append(kw.arg)
        sub: ast.AST = func
        while isinstance(sub, ast.Attribute):
            if vocab.is_userish(dotted(sub.value)):
                self.user_attrs.append(sub.attr)
            sub = sub.value
        # the call itself
        if self._is_query(call):
            self._lookups(call, env)
            if self._membership(call) == (True, (), ()):
                return TRUSTED_ORIGIN
            return CLEAN_ORIGIN  # a database row: not client input, whatever its lookups were
        if self._continues_query(call, env, args):
            self.query_calls.add(id(call))
            return CLEAN_ORIGIN  # `qs.get(slug=slug)` with `qs` holding a query: a database row too
        if text and (
            vocab.matches_any(qualified, k["guards.functions"]) or vocab.matches_any(qualified, k["trusted.resolvers"])
        ):
            return TRUSTED_ORIGIN
        if text and (self._trusted_text(text + "()")):
            # request.user.belongs_to(org_id): the user's own method, whose summary may verify its argument
            self._record_call(call, key, env, args, receiver)
            return TRUSTED_ORIGIN
        if isinstance(func, ast.Attribute):
            method = func.attr
            narrowable = len(receiver.sources) == 1 and not receiver.params and not receiver.calls
            if method == "get" and call.args and vocab.is_saved_key(dotted(func.value), _string(call.args[0])):
                return CLEAN_ORIGIN  # serializer.data.get("id")
            if method in ("get", "getlist", "pop", "get_all") and narrowable:
                kind, src = receiver.sources[0].split(":", 1)
                if src == dotted(func.value):
                    lit = _string(call.args[0]) if call.args else None
                    return Origin(
                        sources=(f"{kind}:{src}.{method}({lit!r})" if lit else f"{kind}:{src}.{method}(...)",)
                    )
            read = vocab.request_source(text + "()", k) if text else None
            if read is not None:
                return Origin(sources=(f"{read[1]}:{read[0]}",))
            if text and vocab.reads_input_call(text + "()", k):
                return Origin(sources=(f"request:{text}()",))
            if (method in ("create", "get_or_create") and not args) or (method == "save" and not call.args):
                return CLEAN_ORIGIN  # form.save(), formset.save(commit=False): the rows just written
        # dispatch, getattr dispatch, enqueue, project calls
        if self._record_call(call, key, env, args, receiver):
            return Origin(calls=(key,))  # the callee's summary says (the join applies it to the arguments)
        return join_origins([receiver, *(o for _, o in args)])

    def _record_call(
        self, call: ast.Call, key: str, env: _Env, args: list[tuple[str, Origin]], receiver: Origin
    ) -> bool:
        """Record a call that may reach project code; True when its result is the callee's to say."""
        if not key:
            return False
        func = call.func
        k = self.k
        fate = self.fates.get(key, "consumed")
        # enqueue: task.delay(...), queue.enqueue(task, ...), background_tasks.add_task(task, ...)
        if isinstance(func, ast.Attribute):
            method = func.attr
            if method in ENQUEUE_METHODS and method in k["jobs.enqueue_calls"]:
                target = self.mod.ref_of(func.value, env.types, self.local_imports, self.klass)
                if target is not None and not (target.kind == "self" and not target.attrs):
                    self.calls.append(
                        CallFacts(key, call.lineno, call.col_offset, target, "enqueue", args=tuple(args), fate=fate)
                    )
                    return False
            if method in k["jobs.enqueue_calls"] and call.args:
                target = self.mod.ref_of(call.args[0], env.types, self.local_imports, self.klass)
                if target is not None:
                    shifted = tuple((str(int(n) - 1), o) for n, o in args if n.isdigit() and n != "0")
                    shifted += tuple((n, o) for n, o in args if not n.isdigit())
                    self.calls.append(
                        CallFacts(key, call.lineno, call.col_offset, target, "enqueue", args=shifted, fate=fate)
                    )
                    return False
            if method in ("send", "send_robust"):
                target = self.mod.ref_of(func.value, env.types, self.local_imports, self.klass)
                if target is not None:
                    self.calls.append(
                        CallFacts(key, call.lineno, call.col_offset, target, "signal", args=tuple(args), fate=fate)
                    )
        # dispatch through a table: HANDLERS[kind](event), HANDLERS.get(kind)(event), handler(event)
        table: Ref | None = None
        if isinstance(func, (ast.Subscript, ast.Call)):
            table = self._table_lookup(func, env)
            found = self._getattr_lookup(func, env) if isinstance(func, ast.Call) else None
            if found is not None:
                self.calls.append(
                    CallFacts(
                        key, call.lineno, call.col_offset, found[0], "getattr", found[1], tuple(args), receiver, fate
                    )
                )
                return True
        elif isinstance(func, ast.Name) and func.id in env.dispatch:
            table = env.dispatch[func.id]
        elif isinstance(func, ast.Name) and func.id in env.getattrs:
            obj, prefix = env.getattrs[func.id]
            self.calls.append(
                CallFacts(key, call.lineno, call.col_offset, obj, "getattr", prefix, tuple(args), receiver, fate)
            )
            return True
        if table is not None:
            self.calls.append(
                CallFacts(key, call.lineno, call.col_offset, table, "dispatch", "", tuple(args), receiver, fate)
            )
            return True
        if (
            isinstance(func, ast.Name)
            and (func.id in BUILTINS and func.id not in self.mod.scope.local)
            and not (func.id in self.local_imports or func.id in self.mod.scope.imports)
        ):
            return False
        if isinstance(func, ast.Name) and func.id in self.nested_defs:
            return False
        ref = self.mod.ref_of(func, env.types, self.local_imports, self.klass)
        if ref is None:
            return False
        class_args: tuple[tuple[str, str], ...] = ()
        if _last_name(func)[:1].isupper() or (ref.kind == "super" and ref.attrs[-1:] == ("__init__",)):
            class_args = tuple(
                (str(i), self.mod.scope.qualified(dotted(a), self.local_imports))
                for i, a in enumerate(call.args)
                if isinstance(a, (ast.Name, ast.Attribute)) and _last_name(a)[:1].isupper()
            )
        nones = tuple(
            [str(i) for i, a in enumerate(call.args) if isinstance(a, ast.Constant) and a.value is None]
            + [
                kw.arg
                for kw in call.keywords
                if kw.arg and isinstance(kw.value, ast.Constant) and kw.value.value is None
            ]
        )
        self.calls.append(
            CallFacts(
                key,
                call.lineno,
                call.col_offset,
                ref,
                "call",
                "",
                tuple(args),
                receiver,
                fate,
                class_args=class_args,
                nones=nones,
            )
        )
        return True


def _abstract(node: _Func) -> bool:
    """A method subclasses implement: only a docstring, ``pass``, ``...`` or ``raise NotImplementedError``."""
    for stmt in node.body:
        if isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            continue
        if isinstance(stmt, ast.Raise) and "NotImplemented" in dotted(
            stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
        ):
            continue
        return False
    return True


def _attr_base(node: ast.Attribute) -> ast.expr:
    """What an attribute chain is read from: ``f(x)`` for ``f(x).a.b``."""
    base: ast.expr = node
    while isinstance(base, ast.Attribute):
        base = base.value
    return base


def _chain_root(call: ast.Call) -> str:
    """The variable a method chain starts from: ``qs`` for ``qs.filter(...).with_state()``."""
    node: ast.AST = call.func
    while isinstance(node, (ast.Attribute, ast.Call)):
        node = node.value if isinstance(node, ast.Attribute) else node.func
    return node.id if isinstance(node, ast.Name) else ""


def _last_name(node: ast.AST) -> str:
    return dotted(node).rsplit(".", 1)[-1]


def _comparisons(node: ast.AST) -> Iterator[ast.Compare]:
    """Equality comparisons in a predicate (``a == b``, ``and_(a == b, c == d)``), not in nested queries."""
    if isinstance(node, ast.Compare) and all(isinstance(op, (ast.Eq, ast.Is, ast.In)) for op in node.ops):
        yield node
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from _comparisons(value)
    elif isinstance(node, ast.Call) and vocab.short(dotted(node.func)) in ("and_", "or_"):
        for arg in node.args:
            yield from _comparisons(arg)


def _is_predicate(node: ast.AST) -> bool:
    """A condition on columns (``Card.title == t``, ``and_(...)``, ``a & b``), not a value (``group_id``)."""
    if isinstance(node, (ast.Compare, ast.BoolOp, ast.UnaryOp)):
        return True
    if isinstance(node, ast.BinOp):
        return isinstance(node.op, (ast.BitAnd, ast.BitOr))
    return isinstance(node, ast.Call) and vocab.short(dotted(node.func)) in ("and_", "or_", "not_")


def _conjunct_comparisons(node: ast.AST) -> Iterator[ast.Compare]:
    """The single equality comparisons a condition requires all of (``a == b``, ``and_(a == b, c == d)``,
    ``a & b``); an ``or_`` requires none of its own."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.Is, ast.In)):
        yield node
    elif isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        for value in node.values:
            yield from _conjunct_comparisons(value)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitAnd):
        yield from _conjunct_comparisons(node.left)
        yield from _conjunct_comparisons(node.right)
    elif isinstance(node, ast.Call) and vocab.short(dotted(node.func)) == "and_":
        for arg in node.args:
            yield from _conjunct_comparisons(arg)


def _session_receiver(text: str) -> bool:
    last = text.rsplit(".", 1)[-1].lower()
    return "session" in last or last in ("db", "s", "sess", "conn", "connection")


def _ref_text(ref: Ref) -> str:
    return f"{ref.kind}:{ref.base}" + "".join(f".{a}" for a in ref.attrs)


def ref_text(ref: Ref) -> str:
    """A reference as one string (registries are keyed by it)."""
    return _ref_text(ref)


__all__ = ["FunctionScan", "ModuleScan", "call_text", "deep_recursion", "dotted", "ref_text", "scan_source"]
