"""The join: every file's facts into the :class:`~orgguard.engine.records.ProjectIndex`.

1. **Models**: which classes are models (a known base, or a project model as base, to a fixpoint),
   their tables, and how each tenant-owned model reaches the tenant (direct fields first, then through
   parents: ``LineItem -> Invoice -> Organization`` is ``invoice__organization``).
2. **Symbols**: every module's functions, classes, variables and imports, so that a reference as a file
   wrote it (``services.things.ThingService().delete``, ``self.repo.get``, ``HANDLERS.get(kind)``)
   resolves to qualified names; a helper of the same name in another module is another function.
3. **Calls**: every call resolved (module functions, methods through the class hierarchy and its
   overrides, instances of project classes, module singletons, class attributes holding repositories,
   ``functools.partial``), dispatch tables, ``getattr`` dispatch, registering decorators, signal
   receivers and task enqueues.
4. **Summaries**, solved to a fixpoint over the call graph: which functions verify membership (and of
   which parameters and URL kwargs), which look the tenant up by a parameter without a check, what each
   returns (a verified tenant, client input).
5. **Surfaces**: the path class of every function (request, admin, webhook, job, export), its guard, and
   where its parameters come from.
6. **Reach**, solved to a fixpoint forward from every entry point: which entry points reach each
   function, and which pass client input into which of its parameters, unguarded, with the path taken
   and what the callers do with the function's result.
"""

from __future__ import annotations

import functools
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from orgguard.config import Config
from orgguard.engine import vocab
from orgguard.engine.reading import SourceFile, read_sources
from orgguard.engine.records import (
    FACTORY_MARKER,
    CallFacts,
    Check,
    ClassFacts,
    ClassInfo,
    DefFacts,
    FileFacts,
    FunctionInfo,
    Lookup,
    ModelInfo,
    ModuleVar,
    Origin,
    ParamSpec,
    ProjectIndex,
    Reach,
    Ref,
    Step,
)
from orgguard.engine.scan import scan_source
from orgguard.knowledge import Knowledge

MAX_TENANT_DEPTH = 4
REACH_CAP = 64  # distinct entry points kept per function and path class (beyond it: "64+ more")
EXAMPLES = 3  # entry points kept with their paths, per function and path class
RESOLVE_DEPTH = 12
MAX_BUILD_DEPTH = 4  # calls followed to the row a function returns (``builds_row``)
ROW_KEYS = frozenset({"id", "pk"})  # the key of a row, which a constructor given one does not leave to the database
ADMIN_MODEL_ATTR = "model"  # the attribute a Django ModelAdmin holds the model it is registered for in
PROPERTY_DECORATORS = frozenset({"property", "cached_property", "cached_classproperty", "classproperty"})

REQUEST, ADMIN, WEBHOOK, JOB, EXPORT, OTHER = "public", "admin", "webhook", "job", "export", "none"
ENTRY_SURFACES = (REQUEST, ADMIN, WEBHOOK, JOB, EXPORT)


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _lineage(
    name: str, by_name: Mapping[str, list[ClassFacts]], follow: Callable[[str], bool] = lambda _short: True
) -> Iterator[tuple[str, ClassFacts]]:
    """A class and its ancestors by short name, breadth first, each name once: (the name, one of its
    definitions). ``follow`` says which bases (by short name) to go up to."""
    seen: set[str] = set()
    queue = deque([name])
    while queue:
        current = queue.popleft()
        if current in seen:
            continue
        seen.add(current)
        for raw in by_name.get(current, []):
            yield current, raw
            queue.extend(short for short in map(_short, raw.bases) if follow(short))


# ---------------------------------------------------------------------------------------------------
# symbols


@dataclass(frozen=True)
class Target:
    """What a reference resolves to: a function, a class, an instance of a class, a table, a module."""

    kind: str  # "func", "class", "inst", "table", "module", "container", "signal", "rows" (a model's query), "fetch"
    name: str  # qualname (function/class), module name, container id
    exact: bool = True  # an instance of exactly this class (``Service()``), not of any subclass (``self``)


@dataclass
class Symbols:
    """Every project module's names, and how a reference resolves against them."""

    files: list[FileFacts]
    modules: dict[str, FileFacts] = field(default_factory=dict)
    suffixes: dict[str, list[str]] = field(default_factory=dict)
    functions: dict[str, tuple[FileFacts, DefFacts]] = field(default_factory=dict)
    classes: dict[str, ClassFacts] = field(default_factory=dict)
    class_module: dict[str, str] = field(default_factory=dict)
    methods: dict[str, dict[str, str]] = field(default_factory=dict)  # class qualname -> method -> function
    variables: dict[str, ModuleVar] = field(default_factory=dict)  # module.name -> var
    imports: dict[str, dict[str, str]] = field(default_factory=dict)
    subclasses: dict[str, set[str]] = field(default_factory=dict)
    _bases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _mro: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _mixed: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _descendants: dict[str, frozenset[str]] = field(default_factory=dict)
    _resolved: dict[Ref, tuple[Target, ...]] = field(default_factory=dict)  # references resolved from the top
    _built: bool = False  # the class hierarchy is complete (it is being built while bases are resolved)
    user_classes: frozenset[str] = frozenset()  # the project's user models: what ``request.user`` is
    # ``Pipeline.objects.filter(...).get(...)``: the managers a model is queried through, the query methods that
    # continue a chain, and those ending one with a row (``queries.row_fetches``): an instance of the model
    managers: frozenset[str] = frozenset()
    chain_methods: frozenset[str] = frozenset()
    row_fetches: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for facts in self.files:
            module = facts.module
            if module in self.modules:
                continue  # two files claim one module name (a.py and a/__init__.py): the first wins
            self.modules[module] = facts
            parts = module.split(".")
            for i in range(len(parts)):
                self.suffixes.setdefault(".".join(parts[i:]), []).append(module)
            self.imports[module] = dict(facts.imports)
            for cls in facts.classes:
                qual = f"{module}.{cls.qualname}"
                self.classes.setdefault(qual, cls)
                self.class_module[qual] = module
            for fn in facts.functions:
                qual = f"{module}.{fn.qualname}"
                self.functions.setdefault(qual, (facts, fn))
                if fn.klass and "#" not in fn.qualname:
                    self.methods.setdefault(f"{module}.{fn.klass}", {}).setdefault(fn.name, qual)
            for var in facts.variables:
                self.variables[f"{module}.{var.name}"] = var
        for qual, cls in self.classes.items():
            module = self.class_module[qual]
            bases: list[str] = []
            for ref in cls.base_refs:
                if ref is None:
                    continue
                target = self.resolve(ref, module_hint=module)
                for t in target:
                    if t.kind == "class":
                        bases.append(t.name)
            self._bases[qual] = tuple(dict.fromkeys(bases))
            for base in bases:
                self.subclasses.setdefault(base, set()).add(qual)
        self._built = True

    # -- modules and names --------------------------------------------------------------------------

    def module_of(self, dotted: str) -> tuple[str, list[str]] | None:
        """The longest prefix of ``dotted`` that names a project module, and the rest."""
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            head = ".".join(parts[:i])
            if head in self.modules:
                return head, parts[i:]
            found = self.suffixes.get(head)
            if found and len(found) == 1:
                return found[0], parts[i:]
        return None

    def symbol(self, dotted: str, depth: int = 0) -> list[Target]:
        """What an absolute dotted name names in the project."""
        if depth > RESOLVE_DEPTH:
            return []
        found = self.module_of(dotted)
        if found is None:
            return []
        module, rest = found
        if not rest:
            return [Target("module", module)]
        return self._in_module(module, rest, depth)

    def _in_module(self, module: str, rest: list[str], depth: int) -> list[Target]:
        name, tail = rest[0], rest[1:]
        qual = f"{module}.{name}"
        start: list[Target] = []
        if qual in self.classes:
            start = [Target("class", qual)]
        elif qual in self.functions:
            start = [Target("func", qual)]
        elif qual in self.variables:
            start = self._var(qual, depth)
        elif name in self.imports.get(module, {}):
            return self.symbol(".".join([self.imports[module][name], *tail]), depth + 1)
        else:
            facts = self.modules[module]
            for star in facts.star_imports:
                found = self.symbol(".".join([star, name, *tail]), depth + 1)
                if found:
                    return found
            sub = f"{module}.{name}"
            if sub in self.modules:
                start = [Target("module", sub)]
        out: list[Target] = []
        for target in start:
            out.extend(self.walk(target, tail, depth))
        return out

    def _var(self, qual: str, depth: int) -> list[Target]:
        var = self.variables[qual]
        module = qual.rsplit(".", 1)[0]
        if var.signal:
            return [Target("signal", qual)]
        if var.table:
            return [Target("table", qual)]
        for ref in (var.alias, var.type):
            if ref is not None:
                found = self.resolve(ref, depth=depth + 1, module_hint=module)
                if found:
                    return found
        return [Target("container", qual)]  # a registry filled at import time, a defaultdict...

    def resolve(self, ref: Ref, *, depth: int = 0, module_hint: str = "") -> list[Target]:
        """What a reference resolves to (several targets: overrides of a method called on ``self``)."""
        if depth == 0 and self._built:  # the symbols do not change once built: a reference resolves the same
            found = self._resolved.get(ref)
            if found is None:
                found = self._resolved[ref] = tuple(self._resolve(ref, 0))
            return list(found)
        return self._resolve(ref, depth)

    def _resolve(self, ref: Ref, depth: int) -> list[Target]:
        if depth > RESOLVE_DEPTH:
            return []
        if ref.kind == "user":  # request.user.<method>: the signed-in user is an instance of a project user model
            methods: list[Target] = []
            for cls in sorted(self.user_classes):
                methods.extend(self.walk(Target("inst", cls, exact=False), list(ref.attrs), depth))
            return methods
        if ref.kind == "self":
            if ref.base not in self.classes:
                return []
            return self.walk(Target("inst", ref.base, exact=False), list(ref.attrs), depth)
        if ref.kind == "super":
            if not ref.attrs:
                return []
            for cls in self.mro(ref.base)[1:]:
                method = self.methods.get(cls, {}).get(ref.attrs[0])
                if method is not None:
                    return self.walk(Target("func", method), list(ref.attrs[1:]), depth)
            return []
        base = self.symbol(ref.base, depth + 1)
        out: list[Target] = []
        for found in base:
            target = Target("inst", found.name, exact=False) if ref.kind == "inst" and found.kind == "class" else found
            out.extend(self.walk(target, list(ref.attrs), depth + 1))
        return out

    def walk(self, target: Target, attrs: Sequence[str], depth: int = 0) -> list[Target]:
        current = [target]
        for i, attr in enumerate(attrs):
            nxt: list[Target] = []
            last = i == len(attrs) - 1
            follows_call = not last and attrs[i + 1] == "()"
            for t in current:
                nxt.extend(self._step(t, attr, depth, property_like=not last and not follows_call))
            current = list(dict.fromkeys(nxt))
            if not current:
                return []
        return current

    def _step(self, t: Target, attr: str, depth: int, *, property_like: bool) -> list[Target]:
        if attr == "()":
            if t.kind == "class":
                return [Target("inst", t.name)]
            if t.kind == "func":
                return self.returns(t.name, depth)
            if t.kind == "fetch":
                return [Target("inst", t.name)]  # the row a query fetched
            if t.kind == "rows":
                return [t]
            return []
        if t.kind == "rows":
            if attr in self.row_fetches:
                return [Target("fetch", t.name)]
            return [t] if attr in self.chain_methods else []
        if t.kind == "module":
            return self._in_module(t.name, [attr], depth + 1)
        if t.kind in ("class", "inst"):
            out: list[Target] = []
            method = self.method(t.name, attr)
            if method is not None:
                if property_like or self._is_property(method):
                    return self.returns(method, depth)
                out.append(Target("func", method))
                if t.kind == "inst" and not t.exact:
                    out.extend(Target("func", m) for m in self.overrides(t.name, attr))
                return out
            for cls in self.mro(t.name):
                nested = f"{cls}.{attr}"
                if nested in self.classes:
                    return [Target("class", nested)]
                attr_type = dict(self.classes[cls].attr_types).get(attr)
                if attr_type is not None:
                    found = self.resolve(attr_type, depth=depth + 1)
                    if found or attr not in self.managers:
                        return found
                    break  # `objects = PipelineQuerySet.as_manager()`: the model's rows all the same
            if t.kind == "inst" and not t.exact:
                # a mixin's `self.serialize()`: what the classes that mix it in inherit from their other bases
                mixed = self.mixed_in(t.name, attr)
                if mixed:
                    if property_like or any(self._is_property(m) for m in mixed):
                        return [r for m in mixed for r in self.returns(m, depth)]
                    return [Target("func", m) for m in mixed]
            if t.kind == "inst":
                return [Target("container", f"{t.name}.{attr}")]
            if attr in self.managers:
                return [Target("rows", t.name)]  # `Pipeline.objects`: the model's rows, queried
            return []
        return []

    def mixed_in(self, cls: str, name: str) -> list[str]:
        """``name`` as the project subclasses of ``cls`` resolve it, when ``cls`` itself has no such method."""
        if not self._built:  # the subclasses are still being found
            return self._mixed_in(cls, name)
        key = (cls, name)
        found = self._mixed.get(key)
        if found is None:
            found = self._mixed[key] = self._mixed_in(cls, name)
        return found

    def _mixed_in(self, cls: str, name: str) -> list[str]:
        return sorted({found for sub in self.descendants(cls) if (found := self.method(sub, name)) is not None})

    def descendants(self, cls: str) -> frozenset[str]:
        """The project classes deriving from ``cls``, directly or not (memoised once the hierarchy is built)."""
        found = self._descendants.get(cls) if self._built else None
        if found is None:
            out: set[str] = set()
            todo = list(self.subclasses.get(cls, ()))
            while todo:
                sub = todo.pop()
                if sub not in out:
                    out.add(sub)
                    todo.extend(self.subclasses.get(sub, ()))
            found = frozenset(out)
            if self._built:
                self._descendants[cls] = found
        return found

    def _is_property(self, function: str) -> bool:
        """``@property`` / ``@cached_property``: reading the attribute runs it (``self.repo.get(...)``)."""
        entry = self.functions.get(function)
        return entry is not None and any(_short(d.text) in PROPERTY_DECORATORS for d in entry[1].decorators)

    def returns(self, function: str, depth: int) -> list[Target]:
        entry = self.functions.get(function)
        if entry is None or entry[1].return_type is None:
            return []
        return self.resolve(entry[1].return_type, depth=depth + 1)

    # -- classes ------------------------------------------------------------------------------------

    def bases(self, cls: str) -> tuple[str, ...]:
        return self._bases.get(cls, ())

    def mro(self, cls: str) -> tuple[str, ...]:
        """The class and its project bases, depth-first left to right, each once."""
        if cls in self._mro:
            return self._mro[cls]
        out: list[str] = []
        stack = [cls]
        seen: set[str] = set()
        while stack:
            current = stack.pop(0)
            if current in seen or current not in self.classes:
                continue
            seen.add(current)
            out.append(current)
            stack[0:0] = list(self.bases(current))
        self._mro[cls] = tuple(out)
        return self._mro[cls]

    def method(self, cls: str, name: str) -> str | None:
        for c in self.mro(cls):
            found = self.methods.get(c, {}).get(name)
            if found is not None:
                return found
        return None

    def overrides(self, cls: str, name: str) -> list[str]:
        """``name`` as defined in the project subclasses of ``cls`` (what ``self.name()`` may run)."""
        return sorted(
            found for sub in self.descendants(cls) if (found := self.methods.get(sub, {}).get(name)) is not None
        )

    def container(self, ref: Ref, module_hint: str = "") -> str:
        """The identity of a table or registry a reference names (module variable or class attribute)."""
        for target in self.resolve(ref, module_hint=module_hint):
            if target.kind in ("table", "container", "signal"):
                return target.name
        return ""

    def variable(self, ref: Ref, depth: int = 0) -> str:
        """The module variable a reference names (``router``, ``admin.router``), by qualified name, or ""."""
        if ref.kind != "g" or depth > RESOLVE_DEPTH:
            return ""
        dotted = ".".join([ref.base, *ref.attrs])
        found = self.module_of(dotted)
        if found is None:
            return ""
        module, rest = found
        if len(rest) != 1:
            return ""
        qual = f"{module}.{rest[0]}"
        if qual in self.variables:
            return qual
        alias = self.imports.get(module, {}).get(rest[0])
        return self.variable(Ref("g", alias), depth + 1) if alias else ""

    def canonical(self, dotted: str, depth: int = 0) -> str:
        """The name a project symbol is defined under, following imports (``app.SessionLocal``, re-exported
        from ``app.db``, is ``app.db.SessionLocal``); names outside the project are returned as given."""
        found = self.module_of(dotted)
        if found is None or depth > RESOLVE_DEPTH:
            return dotted
        module, rest = found
        if not rest:
            return module
        qual = f"{module}.{rest[0]}"
        origin = self.imports.get(module, {}).get(rest[0])
        defined = qual in self.variables or qual in self.classes or qual in self.functions
        if origin is not None and not defined:
            return self.canonical(".".join([origin, *rest[1:]]), depth + 1)
        return ".".join([module, *rest])

    def container_text(self, text: str) -> str:
        """The identity of a registry written as :func:`orgguard.engine.scan.ref_text`."""
        kind, _, rest = text.partition(":")
        if kind == "self":
            # self:<module>.<Class>.<attr...>: the class is the longest known prefix
            parts = rest.split(".")
            for i in range(len(parts) - 1, 0, -1):
                cls = ".".join(parts[:i])
                if cls in self.classes:
                    return self.container(Ref("self", cls, tuple(parts[i:])))
            return ""
        return self.container(Ref("g", rest))


# ---------------------------------------------------------------------------------------------------
# models


def _models(
    model_names: set[str], by_name: Mapping[str, list[ClassFacts]], tenant_bases: Mapping[str, list[tuple[str, str]]]
) -> tuple[dict[str, ModelInfo], dict[str, str]]:
    """Every model with the fields it declares and inherits from project model bases (and from the installed
    bases of ``tenant_bases``: short base name -> (field, tenant model)); tables to models."""
    models: dict[str, ModelInfo] = {}
    tables: dict[str, str] = {}
    for name in sorted(model_names):
        rels: list[tuple[str, str]] = []
        colls: list[str] = []
        cols: list[str] = []
        secrets: list[str] = []
        table = ""
        abstract = False
        bases: tuple[str, ...] = ()
        path = ""
        for current, raw in _lineage(name, by_name, model_names.__contains__):
            rels.extend(raw.relations)
            colls.extend(raw.collections)
            for base in raw.bases:
                rels.extend(tenant_bases.get(_short(base), ()))
            cols.extend(raw.columns)
            secrets.extend(raw.secret_fields)
            if current == name:
                table = table or raw.table
                abstract = abstract or raw.abstract
                bases = bases or raw.bases
                path = path or raw.path
        if not table:
            app = path.rsplit("/", 2)[-2] if path.count("/") >= 1 else ""
            table = f"{app}_{name.lower()}" if app else name.lower()
            tables.setdefault(name.lower(), name)
            # a declarative base naming tables after their classes (``IndividualContact``: ``individual_contact``)
            tables.setdefault(_SNAKE.sub("_", name).lower(), name)
        tables.setdefault(table, name)
        models[name] = ModelInfo(
            name,
            path,
            bases,
            tuple(dict.fromkeys(rels)),
            tuple(dict.fromkeys(cols)),
            table,
            abstract,
            tuple(dict.fromkeys(secrets)),
            collections=tuple(dict.fromkeys(colls)),
        )
    return models, tables


# what a resolver calls the object whose field it resolves
_PARENT_NAMES = frozenset({"self", "cls", "root", "parent", "obj", "source", "_"})

_SNAKE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# a user's pointer to "the tenant they are looking at", not the tenant that owns the row
_SELECTION_PREFIXES = ("active_", "current_", "default_", "last_", "selected_", "preferred_", "primary_")


def _tenant_paths(
    models: Mapping[str, ModelInfo],
    tables: Mapping[str, str],
    config: Config,
    tenant_models: frozenset[str],
    user_model_names: Iterable[str],
) -> dict[str, list[str]]:
    """How each tenant-owned model reaches the tenant: direct fields first, then through parents."""

    by_lower = {name.lower(): name for name in models}
    by_lower.update({t.lower(): t for t in tenant_models})

    def target_model(target: str) -> str:
        if target.startswith("table:"):
            return _table_model(tables, target[6:]) or target
        # Django model references are case-insensitive: ForeignKey("db.WorkSpace") is the model Workspace
        return by_lower.get(target.lower(), target)

    many = _collections(models, target_model)
    paths_of: dict[str, list[str]] = {}
    named = set(user_model_names)
    user_models = named | {name for name, info in models.items() if {_short(b) for b in info.bases} & named}
    shared = set(config.shared_models)  # read by every tenant by design: no path starts or passes there
    for name, info in models.items():
        if name in tenant_models or name in shared:
            continue
        # a pointer such as `active_organization` (the tenant a user is looking at) is a selection, not
        # ownership; users usually span tenants through memberships, but a user row that belongs to one
        # tenant (`org = ForeignKey(Organization)`) is owned by it
        direct = [
            f for f, t in info.relations if target_model(t) in tenant_models and not f.startswith(_SELECTION_PREFIXES)
        ]
        if name in user_models and not direct:
            continue
        direct += [c for c in info.columns if c in config.tenant_fields and c not in direct]
        if direct:
            paths_of[name] = sorted(direct, key=lambda f: (f.endswith("_id"), len(f)))
    for _ in range(MAX_TENANT_DEPTH - 1):
        grew = False
        for name, info in models.items():
            if name in tenant_models or name in shared or (name in user_models and name not in paths_of):
                continue
            known = list(paths_of.get(name, []))
            for f, t in info.relations:
                target = target_model(t)
                if target == name or target not in paths_of or f in many.get(name, ()):
                    continue  # rows a collection holds do not own this one
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


def _user_classes(sym: Symbols, names: frozenset[str]) -> frozenset[str]:
    """Project classes that are user models: named as one (``models.user_models``) or deriving from one, through
    project bases too (``FFAdminUser(AbstractUser)``)."""
    out: set[str] = set()
    for qual in sym.classes:
        for cls in sym.mro(qual):
            raw = sym.classes.get(cls)
            if raw is not None and _names_user_model(raw, names):
                out.add(qual)
                break
    return frozenset(out)


def _names_user_model(raw: ClassFacts, names: frozenset[str]) -> bool:
    """A class named as a user model (``models.user_models``) or written on one as a base."""
    return raw.name in names or any(_short(b) in names for b in raw.bases)


def _table_model(tables: Mapping[str, str], table: str) -> str:
    """The model of a table a foreign key names, in a named schema too (``"dispatch_core.dispatch_user"``)."""
    return tables.get(table) or tables.get(table.rsplit(".", 1)[-1], "")


def _collections(models: Mapping[str, ModelInfo], target_model: Callable[[str], str]) -> dict[str, set[str]]:
    """Each model's relations that hold many rows: declared so (``ModelInfo.collections``), or a relationship
    to a model whose foreign key points back at this one while this one holds no foreign key to it
    (SQLAlchemy's ``service_feedback = relationship("ServiceFeedback", backref="individual")``: the foreign
    key is ``ServiceFeedback.individual_contact_id``). Only foreign keys named by table (SQLAlchemy's
    ``ForeignKey("individual_contact.id")``) take part: a Django ``ForeignKey`` is always this row's own."""
    table_targets = {
        name: {target_model(t) for _, t in info.relations if t.startswith("table:")} for name, info in models.items()
    }
    out: dict[str, set[str]] = {name: set(info.collections) for name, info in models.items()}
    for name, info in models.items():
        for attr, target in info.relations:
            if target.startswith("table:"):
                continue
            other = target_model(target)
            if other != name and other not in table_targets[name] and name in table_targets.get(other, ()):
                out[name].add(attr)
    return out


def _derived(classes: Sequence[ClassFacts], names: set[str]) -> set[str]:
    """``names`` (short names) and every project class that derives from one of them, directly or not."""
    grew = True
    while grew:
        grew = False
        for raw in classes:
            if raw.name not in names and any(_short(b) in names for b in raw.bases):
                names.add(raw.name)
                grew = True
    return names


def _call_name(call: CallFacts) -> str:
    """The last name a call calls (``app.DATABASE.tasks.get_task(...)``: ``get_task``)."""
    return call.key.rsplit("#", 1)[0].rsplit(".", 1)[-1]


def _unroutable(
    classes: Sequence[ClassFacts],
    by_name: Mapping[str, Sequence[ClassFacts]],
    views: set[str],
    view_bases: Iterable[str],
) -> frozenset[str]:
    """The project classes in ``views`` (short names) built on mixins alone, that no other class derives from: in
    their whole project ancestry every base from outside the project is a mixin (``SingleObjectMixin``,
    ``ContextMixin``: its name ends in ``Mixin``), and no class with another base from outside (``View``,
    ``APIView``, django-filter's ``FilterView``) derives from them. Nothing routes a request to such a class
    (``class MonitorEmail(DetailEmail)``, where ``DetailEmail(SingleObjectMixin, ...)`` renders one object in an
    e-mail a job sends); a mixin that some view is built from still runs as that view."""
    neutral = {"object", "ABC", "Generic", "Protocol"}
    dispatching = {b for b in view_bases if not b.endswith("Mixin")}  # a project class may share the name

    def dispatches(base: str) -> bool:
        short = _short(base).split("[", 1)[0]
        return short in dispatching or (short not in by_name and not short.endswith("Mixin") and short not in neutral)

    routable = _derived(classes, {raw.name for raw in classes if any(dispatches(b) for b in raw.bases)})
    todo = [_short(b) for name in routable for raw in by_name.get(name, ()) for b in raw.bases]
    while todo:  # the project bases of a routable class run as it
        name = todo.pop()
        if name in by_name and name not in routable:
            routable.add(name)
            todo.extend(_short(b) for raw in by_name[name] for b in raw.bases)
    return frozenset(name for name in views if name in by_name and name not in routable)


def _hops(tenant_prefixes: set[str]) -> set[str]:
    """Proper prefixes of tenant paths: the parents a row reaches its tenant through (``project``)."""
    hops: set[str] = set()
    for path in tenant_prefixes:
        parts = path.split("__")
        hops.update("__".join(parts[:i]) for i in range(1, len(parts)))
    return hops


def _membership_attrs(
    classes: list[ClassFacts],
    config: Config,
    knowledge: Knowledge,
    tenant_models: frozenset[str],
    tenant_paths: Iterable[str] = (),
) -> frozenset[str]:
    """Relations from the user to tenants: configured names, the tenant's plural, and related_names
    declared on the tenant (``members = ManyToManyField(User, related_name="teams")``) and on the
    membership model (``user = ForeignKey(User, related_name="memberships")``).

    And the lookups that join a row's tenant to its members (``organisation__users``: the tenant path, then the
    tenant's relation to users, a field of the tenant or the related_name of the user model's relation to
    it): ``Project.objects.filter(id=pk, organisation__users=user)`` finds the row only for a member."""
    attrs = set(knowledge["guards.membership_attrs"])
    for tenant in tenant_models:
        low = tenant.lower()
        attrs.update((f"{low}s", f"{low}_set"))
    membership = set(config.membership_models)
    # Django's reverse accessor of a foreign key with no related_name: request.user.workspacemember_set
    attrs.update(f"{name.lower()}_set" for name in membership)
    users = knowledge["models.user_models"]
    members: set[str] = set()
    for raw in classes:
        if raw.name in tenant_models or raw.name in membership:
            attrs.update(name for target, name in raw.related if target == "User" and name != "+")
        if raw.name in tenant_models:
            members.update(field for field, target in raw.relations if target in users)
        if _names_user_model(raw, users):
            members.update(name for target, name in raw.related if target in tenant_models and name != "+")
    attrs.update(f"{path}__{member}" for path in tenant_paths for member in members)
    return frozenset(attrs)


# ---------------------------------------------------------------------------------------------------
# the join


@dataclass
class _Fn:
    """A function while the join works on it."""

    qual: str
    facts: FileFacts
    d: DefFacts
    klass: str  # module-qualified class ("" for module functions)
    params: tuple[str, ...]
    edges: dict[str, list[str]] = field(default_factory=dict)  # call key -> callees
    callees: dict[str, tuple[_Fn, ...]] = field(default_factory=dict)  # call key -> the callees' own records
    surface: str = OTHER
    guard: str = ""
    command: bool = False
    route: str | None = None
    view: bool = False
    resolver: bool = False  # a GraphQL resolver
    helper: bool = False  # a view class's own helper method (not a handler): reached through its handlers
    dependency: bool = False
    initial: dict[str, str] = field(default_factory=dict)
    verifies: bool = False
    verified_params: frozenset[str] = frozenset()
    verified_kwargs: frozenset[str] = frozenset()
    resolves: frozenset[str] = frozenset()
    returns: str = ""
    check_ok: list[bool] = field(default_factory=list)
    vouched: list[bool] = field(default_factory=list)  # per check: a fetch by the id together with the tenant

    @property
    def path(self) -> str:
        return self.facts.path

    @property
    def name(self) -> str:
        return self.d.name


def build_index(
    root: Path,
    config: Config,
    knowledge: Knowledge,
    files: Iterable[Path] | None = None,
    *,
    sources: Iterable[SourceFile] | None = None,
) -> ProjectIndex:
    """Scan the project and join its facts, in this process (the runner scans in parallel and caches).

    ``sources`` (from :func:`~orgguard.engine.discover.read_sources`) saves reading the files again; each
    one's ``parsed`` is set.
    """
    scanned: list[FileFacts | None] = []
    for src in sources if sources is not None else read_sources(root, config, files):
        facts = scan_source(src.data, config.relpath(src.path), config, knowledge)
        src.parsed = None if facts is None else facts.parsed
        scanned.append(facts)
    return index_from_facts(str(root), config, knowledge, scanned)


@dataclass(frozen=True)
class Previous:
    """The index the project's facts built before an edit, and the facts the edited files had then (by
    path; ``None``: the file had none). Files not named had the facts they have now."""

    index: ProjectIndex
    before: Mapping[str, FileFacts | None]
    # the other files' facts as encoded (any encoding that holds their strings as UTF-8 bytes): where the
    # names of the functions an edit touched are looked for; encoded here when not given
    unchanged: bytes | None = None


def index_from_facts(
    root: str,
    config: Config,
    knowledge: Knowledge,
    scanned: Iterable[FileFacts | None],
    previous: Previous | None = None,
) -> ProjectIndex:
    """The index from every project file's facts (in the project's file order).

    With ``previous``, when the edit only added, removed or changed *isolated* functions (see
    :meth:`_Join.isolated`), the previous index is extended with theirs instead of joining every function
    again; the result is the same.
    """
    files = [f for f in scanned if f is not None]
    join = _Join(root, config, knowledge, files)
    if previous is not None:
        isolated = join.isolated(previous)
        if isolated is not None:
            return join.extend(previous.index, *isolated)
    return join.build()


class _Join:
    def __init__(self, root: str, config: Config, knowledge: Knowledge, files: list[FileFacts]) -> None:
        self.root = root
        self.config = config
        self.k = knowledge
        self.event_calls = knowledge["stripe.verify_calls"] | knowledge["stripe.unverified_calls"]
        self.files = files
        self.path_modules = {f.path: f.module for f in files}  # a file's path -> its module
        self.sym = Symbols(files)
        self.sym.user_classes = _user_classes(self.sym, knowledge["models.user_models"])
        self.sym.managers = knowledge["models.managers"]
        self.sym.chain_methods = knowledge["queries.methods"]
        self.sym.row_fetches = knowledge["queries.row_fetches"]
        self._hooks: dict[str, list[str]] | None = None
        self._router_deps: dict[str, list[str]] | None = None
        self._exempt: dict[str, bool] = {}
        self._app_hooks: list[str] = []
        # per class and per function, what the surfaces ask again and again (pure once the summaries are solved)
        self._class_bases: dict[str, frozenset[str]] = {}
        self._staff_classes: dict[str, bool] = {}
        self._command_classes: dict[str, bool] = {}
        self._flask_admin: dict[str, bool] = {}
        self._events: dict[str, bool] = {}
        self._called_matching: dict[int, frozenset[str]] = {}
        self._optional_names: frozenset[str] | None = None
        self._given: dict[tuple[str, str], bool] = {}
        self._class_deps: dict[str, tuple[tuple[Ref, str], ...]] = {}
        self._router_deps_of: dict[tuple[str, str], tuple[tuple[Ref, str], ...]] = {}
        self._vouches_of: dict[str, frozenset[str]] = {}
        self._guarded_kwargs: dict[str, frozenset[str]] = {}
        self._class_guarded: dict[tuple[str, bool], frozenset[str]] = {}
        self._writes_memo: dict[tuple[str, str], bool] = {}
        self._writers: frozenset[str] | None = None
        self.scoping_methods: frozenset[str] = frozenset()  # the project's managers' methods that narrow to a tenant
        # import paths of the jobs a periodic schedule runs with no arguments: they work for the whole service
        self.periodic = frozenset(path for facts in files for path in facts.periodic)
        self.bound_slots: Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]] = {}  # class -> self.<attr> -> models
        self._matched: dict[tuple[str, int], bool] = {}  # (text, id of a knowledge set) -> whether it names it
        self.registries: dict[str, set[str]] = {}  # a registry's identity -> the functions registered in it
        self.jobs: set[str] = set()
        self.url_routed: set[str] = set()  # module functions a URLconf routes to
        self.resolver_fns: set[str] = set()  # functions handed to a GraphQL field as ``resolver=``
        self.view_actions: dict[str, set[str]] = {}  # view class -> the actions its routes name (as_view({...}))
        self.has_urlconf = False
        self.dependencies: frozenset[str] = frozenset()  # functions injected with Depends(...)
        self.named_by_path: set[str] = set()  # functions settings name as dotted strings (loaded and called)
        # the project imports a GraphQL framework somewhere: its resolvers are request handlers
        resolver_modules = knowledge["requests.resolver_modules"]
        self.graphql = any(origin.partition(".")[0] in resolver_modules for f in files for _local, origin in f.imports)
        self.fns: dict[str, _Fn] = {}
        for qual, (facts, d) in self.sym.functions.items():
            klass = f"{facts.module}.{d.klass}" if d.klass else ""
            self.fns[qual] = _Fn(qual, facts, d, klass, tuple(p.name for p in d.params if not p.star))
        self.pool: list[_Fn] = list(self.fns.values())  # the functions the join derives facts for now

    # -- an edit of isolated functions --------------------------------------------------------------

    def isolated(self, previous: Previous) -> tuple[set[str], list[str]] | None:
        """The functions an edit removed and added (a changed one is both), when each of them is *isolated*:
        a module function, undecorated, injecting nothing, registering nothing, calling no project function
        (after the edit, by the symbols of now; before it, by the previous index), and named nowhere else in
        the project's facts; and when the edit changed nothing else in any file's facts. None otherwise.

        Everything the join derives for another function comes from that function's facts, its class's,
        the facts of the functions it calls, of those that call it, and of the names it resolves: an
        isolated function is none of these to any other, so the rest of the previous index holds, and the
        isolated functions' own entries depend on the project only through what the index holds."""
        index = previous.index
        if index.modules != self.path_modules:
            return None  # a file came or went (or changed its module)
        by_path = {f.path: f for f in self.files}
        removed: dict[str, DefFacts] = {}
        added: dict[str, DefFacts] = {}
        for path, before in previous.before.items():
            now = by_path.get(path)
            if before is None or now is None or before.module != now.module:
                return None
            if self.sym.modules.get(now.module) is not now:
                return None  # a file whose module another file claims first is not joined at all
            if msgspec.structs.replace(before, functions=()) != msgspec.structs.replace(now, functions=()):
                return None
            old, new = set(before.functions), set(now.functions)
            if [d for d in before.functions if d in new] != [d for d in now.functions if d in old]:
                return None  # the functions both have are no longer in the same order
            for d in before.functions:
                if d not in new:
                    removed[f"{now.module}.{d.qualname}"] = d
            for d in now.functions:
                if d not in old:
                    added[f"{now.module}.{d.qualname}"] = d
        candidates = [*removed.values(), *added.values()]
        if not candidates or not all(_loose(d) for d in candidates):
            return None
        if any(index.functions.get(qual) is None or index.functions[qual].callees for qual in removed):
            return None
        if any(self._calls_optional(d) for d in candidates):
            return None  # a call by the name of a function with an optional org may change what its callers give
        for qual, d in added.items():
            fn = self.fns.get(qual)
            if fn is None or fn.d is not d or not self._calls_nothing(fn):
                return None  # another definition of the name comes first
        # named nowhere else: not in any other facts (the edited files' remaining facts included), nor in
        # another isolated function's (a function's own name is in its facts: those are left out)
        changed = set(previous.before)
        new = set(added.values())
        remaining = [
            msgspec.structs.replace(f, functions=tuple(d for d in f.functions if d not in new))
            for f in self.files
            if f.path in changed
        ]
        unchanged = previous.unchanged
        if unchanged is None:
            unchanged = msgspec.msgpack.encode([f for f in self.files if f.path not in changed])
        others = msgspec.msgpack.encode(remaining) + unchanged
        encoded = [(qual, d.name.encode(), msgspec.msgpack.encode(d)) for qual, d in [*removed.items(), *added.items()]]
        for qual, needle, _own in encoded:
            if needle in others or any(needle in body for other, _name, body in encoded if other != qual):
                return None
        return set(removed), [q for q in self.fns if q in added]

    def _calls_optional(self, d: DefFacts) -> bool:
        """Whether a function calls, by name, a project function that takes an optional parameter (resolved or not:
        :meth:`given` asks every call of that name)."""
        if self._optional_names is None:
            self._optional_names = frozenset(fn.d.name for fn in self.fns.values() if fn.d.optional_params)
        names = self._optional_names
        return not names.isdisjoint(d.blind_calls) or any(
            _call_name(call) in names for call in d.calls if call.mode == "call"
        )

    def _calls_nothing(self, fn: _Fn) -> bool:
        """Whether no call of a function can reach project code (by what its references resolve to)."""
        for call in fn.d.calls:
            if call.ref is None:
                continue
            if call.mode not in ("call", "enqueue", "signal"):
                return False
            for target in self.sym.resolve(call.ref, module_hint=fn.facts.module):
                if target.kind in ("func", "class", "signal"):
                    return False
        return True

    def extend(self, index: ProjectIndex, removed: set[str], added: list[str]) -> ProjectIndex:
        """The previous index without the ``removed`` functions and with the ``added`` ones (isolated)."""
        # what the previous join derived from the whole project, which the edit left as it was; the sets of
        # functions other code names (injected, scheduled, routed, named by path) hold no isolated function
        self.membership_attrs = index.membership_attrs
        self.tenant_properties = index.tenant_properties
        self.tenant_models = index.tenant_models
        self.paths_of = {name: list(paths) for name, paths in index.tenant_paths.items()}
        self.tenant_attrs = vocab.tenant_attrs(self.config.tenant_fields, self.paths_of.values())
        self.own_tenant_fields = _own_tenant_fields(self.config.tenant_fields, self.paths_of.values())
        self.reference_targets = _reference_targets(
            index.models, index.tables, self.paths_of, index.tenant_models, self.k["models.user_models"]
        )
        self.model_infos = index.models
        self.view_mixins = index.view_mixins
        self.unroutable = index.unroutable
        self.scoping_methods = index.scoping_methods
        self.class_infos = index.classes
        self.bound_slots = {i.qualname: i.bound for v in index.classes.values() for i in v if i.bound}
        self.dependency_aliases = index.dependency_aliases
        self.default_permissions = index.default_permissions
        self.installed = index.installed_sessions
        self.has_urlconf = any(facts.urlconf for facts in self.files)
        fns = {qual: self.fns[qual] for qual in added}
        self.pool = list(fns.values())  # an isolated function is named by no other: its own calls are all there are
        self._summaries(fns)
        self._vouches(fns)
        for fn in fns.values():
            self._surface(fn)
        reach, param_reach = _Reach(self, sorted(fns)).solve()
        functions = {q: info for q, info in index.functions.items() if q not in removed}
        functions.update((fn.qual, self._info(fn)) for fn in fns.values())
        all_reach = {q: r for q, r in index.reach.items() if q not in removed} | reach
        all_params = {q: r for q, r in index.param_reach.items() if q not in removed} | param_reach
        return msgspec.structs.replace(
            index,
            functions=dict(sorted(functions.items())),
            reach=dict(sorted(all_reach.items())),
            param_reach=dict(sorted(all_params.items())),
            shortcuts=frozenset(q for q in index.shortcuts if q not in removed)
            | {fn.qual for fn in fns.values() if fn.d.shortcut},
        )

    # -- models and classes -------------------------------------------------------------------------

    def build(self) -> ProjectIndex:
        k, config = self.k, self.config
        classes = [c for f in self.files for c in f.classes]
        by_name: dict[str, list[ClassFacts]] = {}
        for raw in classes:
            by_name.setdefault(raw.name, []).append(raw)
        model_names: set[str] = set()
        changed = True
        while changed:
            changed = False
            for raw in classes:
                if raw.name in model_names:
                    continue
                shorts = {_short(b) for b in raw.bases}
                if (
                    shorts & k["models.bases"]
                    or shorts & model_names
                    or raw.table_declared
                    # bases from an installed package (a soft-delete or lifecycle mixin, a tree node), directly
                    # or through project mixins, and a relation: only models declare foreign keys
                    or (raw.relations and not shorts & set(by_name))
                    or (raw.relations and self._installed_rooted(raw, by_name))
                ):
                    model_names.add(raw.name)
                    changed = True
        tenant_models = frozenset(config.tenant_models)
        tenant_bases = self._tenant_bases(config)
        models, tables = _models(model_names, by_name, tenant_bases)
        models = {name: self._managers(info, by_name) for name, info in models.items()}
        models = {name: self._random_defaults(info, by_name) for name, info in models.items()}
        self.installed = self._installed_sessions()
        models = {name: self._session_scoping(info, by_name) for name, info in models.items()}
        paths_of = _tenant_paths(models, tables, config, tenant_models, k["models.user_models"])
        prefixes = {p for paths in paths_of.values() for p in paths}
        scoping_methods = frozenset(
            method
            for raw in classes
            for method, kwargs in raw.manager_methods
            if any(kw == p or kw.startswith((f"{p}__", f"{p}_id")) for kw in kwargs for p in prefixes)
        )
        self.scoping_methods = scoping_methods
        view_bases = k["requests.view_bases"]
        view_mixins: set[str] = set()
        views = _derived(
            classes, set(view_bases)
        )  # short names: the framework's views and the classes deriving from one
        unroutable = _unroutable(classes, by_name, views, view_bases)
        views -= unroutable
        for raw in classes:
            base_shorts = [_short(b) for b in raw.bases]
            if set(base_shorts) & views:
                # the project's bases of a view that are not views themselves: mixins whose methods run as the view's
                view_mixins.update(b for b in base_shorts if b in by_name and b not in views)
        hops = _hops(prefixes)

        def on_path(key: str, *, with_id: bool = False) -> bool:
            return any(key == p or key.startswith(f"{p}__") or (with_id and key == f"{p}_id") for p in prefixes)

        filter_attrs = k["requests.filter_backends"]
        narrowing_backends = {
            raw.name
            for raw in classes
            if any(
                hook.name == "filter_queryset"
                and (
                    hook.scopes
                    or set(hook.calls) & scoping_methods
                    or any(on_path(kw, with_id=True) for kw in hook.kwargs)
                )
                for hook in raw.hooks
            )
        }
        infos: dict[str, list[ClassInfo]] = {}
        for qual, raw in self.sym.classes.items():
            scoping = tuple(
                hook.name
                for hook in raw.hooks
                if hook.scopes
                or set(hook.calls) & scoping_methods
                or any(on_path(kw, with_id=True) for kw in hook.kwargs)
                or set(hook.parent_kwargs) & hops
            )
            narrows = (
                raw.narrows
                or bool(set(raw.narrow_calls) & scoping_methods)
                or any(on_path(kw) for kw in raw.narrow_kwargs)
            )
            infos.setdefault(raw.name, []).append(
                ClassInfo(
                    raw.name,
                    raw.path,
                    tuple(
                        dict.fromkeys([*raw.bases, *sorted(self.base_shorts(qual) - {_short(b) for b in raw.bases})])
                    ),
                    raw.methods,
                    scoping,
                    tuple(hook.name for hook in raw.hooks if hook.inherits),
                    raw.aliases,
                    narrows,
                    qual,
                    any(
                        _short(ref.base if not ref.attrs else ref.attrs[-1]) in narrowing_backends
                        for attr, refs in raw.attr_refs
                        if attr in filter_attrs
                        for ref in refs
                    ),
                    bool(filter_attrs & set(raw.columns)),
                    self._staff_class(qual)
                    or any(vocab.matches_any(dec, k["admin.decorators"]) for dec in self.class_decorators(qual)),
                )
            )
        self.membership_attrs = _membership_attrs(classes, config, k, tenant_models, prefixes)
        self.tenant_properties = frozenset(
            column
            for name in tenant_models
            if name in models
            for column in models[name].columns
            if column not in {f for f, _t in models[name].relations}
            and not vocab.identifies_tenant(column)
            and column not in self.membership_attrs
        )
        self.tenant_attrs = vocab.tenant_attrs(config.tenant_fields, paths_of.values())
        self.own_tenant_fields = _own_tenant_fields(config.tenant_fields, paths_of.values())
        self.reference_targets = _reference_targets(models, tables, paths_of, tenant_models, k["models.user_models"])
        homonyms = _homonyms(by_name, paths_of, self.path_modules, tenant_bases)
        self.tenant_models = tenant_models
        self.paths_of = paths_of
        self.model_infos = models
        self.view_mixins = frozenset(view_mixins)
        self.unroutable = unroutable
        self.class_infos = {name: tuple(v) for name, v in infos.items()}
        tenant_admins = self._tenant_admins(infos)
        self.class_infos = {
            name: tuple(msgspec.structs.replace(i, tenant_admin=True) if i.qualname in tenant_admins else i for i in v)
            for name, v in infos.items()
        }
        self.dependency_aliases = (
            frozenset(a for f in self.files for a in f.dependency_aliases) | self._factory_aliases()
        )
        self.default_permissions = tuple(dict.fromkeys(p for f in self.files for p in f.default_permissions))
        self.dependencies = self._dependencies()
        self._resolve_calls()
        bound = self._bound_models(models)
        self.bound_slots = bound
        if bound:
            self.class_infos = {
                name: tuple(
                    msgspec.structs.replace(i, bound=bound[i.qualname]) if i.qualname in bound else i for i in v
                )
                for name, v in self.class_infos.items()
            }
        self._summaries(self.fns)
        self._vouches(self.fns)
        self._surfaces()
        self._trusted_params()
        reach, param_reach = _Reach(self, sorted(self.fns)).solve()
        functions = {qual: self._info(fn) for qual, fn in sorted(self.fns.items())}
        return ProjectIndex(
            root=self.root,
            models=models,
            tenant_paths={name: tuple(v) for name, v in paths_of.items()},
            tenant_models=tenant_models,
            tenant_properties=self.tenant_properties,
            membership_models=frozenset(config.membership_models),
            classes=self.class_infos,
            tables=tables,
            membership_attrs=self.membership_attrs,
            dependencies=frozenset(_short(q) for q in self.dependencies),
            dependency_aliases=self.dependency_aliases,
            default_permissions=self.default_permissions,
            default_filtered=bool(narrowing_backends & {p for f in self.files for p in f.default_filters}),
            scoping_methods=scoping_methods,
            shortcuts=frozenset(fn.qual for fn in self.fns.values() if fn.d.shortcut),
            view_mixins=self.view_mixins,
            unroutable=self.unroutable,
            functions=functions,
            reach=reach,
            param_reach=param_reach,
            modules=self.path_modules,
            installed_sessions=self.installed,
            homonyms=homonyms,
        )

    def _bound_models(self, models: Mapping[str, ModelInfo]) -> dict[str, tuple[tuple[str, tuple[str, ...]], ...]]:
        """Per class, the models ``self.<attr>`` may be in its methods, from the classes whose instances run
        them: its subclasses' ``model = Device``, the admin classes registered for a model
        (``admin.site.register(Device, DeviceAdmin)``: Django's ModelAdmin sets ``self.model``), and the
        classes that call its methods on their own instances (``BaseConfigAdmin.download_view(self, ...)``
        in a view whose ``model = Device``)."""
        sym = self.sym
        own: dict[str, dict[str, list[str]]] = {}  # class -> attr -> the models it binds itself
        for qual, raw in sym.classes.items():
            for attr, target in raw.aliases:
                if _short(target) in models:
                    own.setdefault(qual, {}).setdefault(attr, []).append(_short(target))
        admin_bases = self.k["admin.bases"]
        for facts in self.files:
            for text, ref in facts.registrations:
                if _short(text) not in models:
                    continue
                for found in sym.resolve(ref, module_hint=facts.module):
                    if found.kind == "class" and self.class_bases(found.name) & admin_bases:
                        own.setdefault(found.name, {}).setdefault(ADMIN_MODEL_ATTR, []).append(_short(text))
        for cls, attr, model in self._constructed_models(models):
            own.setdefault(cls, {}).setdefault(attr, []).append(model)
        if not own:
            return {}
        runs_on: dict[str, set[str]] = {}  # class -> the classes whose methods it calls on its own instances
        for fn in self.fns.values():
            if not fn.klass:
                continue
            for call in fn.d.calls:
                first = dict(call.args).get("0") if call.ref is not None and call.ref.kind == "g" else None
                if first is None or first.params != ("self",):
                    continue
                for target in fn.edges.get(call.key, ()):
                    run = self.fns.get(target)
                    if run is not None and run.klass and run.klass != fn.klass:
                        runs_on.setdefault(fn.klass, set()).add(run.klass)
        slots: dict[str, dict[str, set[str]]] = {}

        def bind(classes: Iterable[str], binds: Mapping[str, Iterable[str]]) -> None:
            for cls in classes:
                for attr, names in binds.items():
                    slots.setdefault(cls, {}).setdefault(attr, set()).update(names)

        for cls, binds in own.items():
            bind(sym.mro(cls), binds)  # its bases' methods run on its instances
        for cls, callees in runs_on.items():
            seen: dict[str, set[str]] = {}  # what self.<attr> is on its instances (and its subclasses')
            for c in reversed(sym.mro(cls)):
                for attr, names in own.get(c, {}).items():
                    seen[attr] = set(names)
            for sub in self._subclasses(cls):
                for attr, names in own.get(sub, {}).items():
                    seen.setdefault(attr, set()).update(names)
            for callee in callees:
                bind(sym.mro(callee), seen)
        return {
            cls: tuple((attr, tuple(sorted(names))) for attr, names in sorted(binds.items()))
            for cls, binds in slots.items()
        }

    def _constructed_models(self, models: Mapping[str, ModelInfo]) -> Iterator[tuple[str, str, str]]:
        """(class, attr, model) of every construction that hands a model to ``__init__``, which keeps it in
        ``self.<attr>`` itself or through ``super().__init__(...)``: ``Repo(session, PK, ShoppingItem)`` binds
        ``self.model`` of that Repo (and of its bases' methods) to ``ShoppingItem``."""
        for fn in self.fns.values():
            for call in fn.d.calls:
                if not call.class_args or call.ref is None:
                    continue
                models_given = [(slot, _short(text)) for slot, text in call.class_args if _short(text) in models]
                if not models_given:
                    continue
                for target in fn.edges.get(call.key, ()):
                    init = self.fns.get(target)
                    if init is None or init.d.name != "__init__" or not init.klass:
                        continue
                    built = (
                        fn.klass  # super().__init__(session, Project): the subclass binds its own instances
                        if call.ref.kind == "super"
                        else next(
                            (
                                t.name
                                for t in self.sym.resolve(call.ref, module_hint=fn.facts.module)
                                if t.kind == "class"
                            ),
                            init.klass,
                        )
                    )
                    for slot, model in models_given:
                        for attr in self._kept_as(init, _param_for(init, slot, call), 0):
                            yield built, attr, model

    def _kept_as(self, init: _Fn, param: str, depth: int) -> list[str]:
        """The ``self`` attributes an ``__init__`` keeps a parameter in, itself or through the base's."""
        if not param:
            return []
        out = [attr for attr, p in init.d.self_binds if p == param]
        if depth >= 4:
            return out
        for call in init.d.calls:
            if call.ref is None or call.ref.kind != "super" or call.ref.attrs[-1:] != ("__init__",):
                continue
            for slot, origin in call.args:
                if param not in origin.params:
                    continue
                for target in init.edges.get(call.key, ()):
                    base = self.fns.get(target)
                    if base is not None:
                        out += self._kept_as(base, _param_for(base, slot, call), depth + 1)
        return out

    def _fetches_itself(self, fn: _Fn) -> bool:
        """``get_object()`` of a view whose framework handlers never call it (``SingleObjectMixin, View``):
        only the project's own handlers do, so it is their helper. Not when the class, or a subclass that
        runs it, derives from a view base that fetches (requests.fetching_bases)."""
        if fn.d.name != "get_object" or not fn.klass:
            return False
        fetching = self.k["requests.fetching_bases"]
        return not any(self.class_bases(c) & fetching for c in (fn.klass, *self._subclasses(fn.klass)))

    def _tenant_admins(self, infos: Mapping[str, list[ClassInfo]]) -> set[str]:
        """Admin classes that serve tenants' own staff: the class or a subclass narrows the admin's queryset
        to the user's tenants (``MultitenantAdminMixin`` among requests.scoping_mixins, a scoping
        ``get_queryset``)."""
        admin_bases, mixins = self.k["admin.bases"], self.k["requests.scoping_mixins"]
        scoping = {i.qualname for v in infos.values() for i in v if "get_queryset" in i.scoping_hooks}
        out: set[str] = set()
        for qual in self.sym.classes:
            if not self.class_bases(qual) & admin_bases:
                continue
            if any(c in scoping or self.class_bases(c) & mixins for c in (qual, *self._subclasses(qual))):
                out.add(qual)
        return out

    def _tenant_bases(self, config: Config) -> dict[str, list[tuple[str, str]]]:
        """``models.tenant_bases`` (``OrgMixin.organization``): short base name -> (field, the tenant model)."""
        out: dict[str, list[tuple[str, str]]] = {}
        if not config.tenant_models:
            return out
        for entry in sorted(self.k["models.tenant_bases"]):
            base, _, field = entry.rpartition(".")
            if base and field:
                out.setdefault(_short(base), []).append((field, config.tenant_models[0]))
        return out

    def _installed_rooted(
        self, raw: ClassFacts, by_name: Mapping[str, list[ClassFacts]], seen: frozenset[str] = frozenset()
    ) -> bool:
        """Whether every project class among ``raw``'s ancestors derives only from installed packages or
        nothing (``class Food(TreeModel)``, ``class TreeModel(MP_Node)``): no framework base the project
        knows as something else (a view, a form) is in its ancestry."""
        others = self.k["requests.view_bases"] | self.k["admin.bases"] | self.k["jobs.command_bases"]
        for base in raw.bases:
            short = _short(base)
            if short in others:
                return False
            for parent in by_name.get(short, ()):
                if parent.name in seen or not self._installed_rooted(parent, by_name, seen | {raw.name}):
                    return False
        return True

    def _managers(self, info: ModelInfo, by_name: Mapping[str, list[ClassFacts]]) -> ModelInfo:
        """A model's managers (its own and inherited), which of them scope at run time, the default one."""
        scoped_names = self.k["models.scoped_managers"]
        managers: list[str] = []
        scoped: list[str] = []
        primary: list[str] = []
        for _current, raw in _lineage(info.name, by_name):
            primary.extend(raw.primary_keys)
            for attr, ref in raw.attr_types:
                kinds = self._manager_kinds(ref)
                if kinds is None or attr in managers:
                    continue
                managers.append(attr)
                if kinds & scoped_names:
                    scoped.append(attr)
        return msgspec.structs.replace(
            info,
            primary_keys=tuple(dict.fromkeys(primary)),
            managers=tuple(managers),
            scoped_managers=tuple(scoped),
            default_manager=managers[0] if managers else "",
        )

    def _installed_sessions(self) -> frozenset[str]:
        """What some module install()s (queries.session_installers), by its defining name and by every name a
        module imports it under (``from app.extensions import db`` + ``.session``), as the checkers qualify
        a session expression through their file's imports."""
        # a test's conftest installing a factory says nothing about the app's sessions
        canonical = {
            self.sym.canonical(_ref_text(ref))
            for facts in self.files
            if not self.exempt(facts.path)
            for ref in facts.installs
        }
        out = set(canonical)
        for facts in self.files:
            for _local, origin in facts.imports:
                resolved = self.sym.canonical(origin)
                for name in canonical:
                    if name == resolved or name.startswith(resolved + "."):
                        out.add(origin + name[len(resolved) :])
        return frozenset(out)

    def _random_defaults(self, info: ModelInfo, by_name: Mapping[str, list[ClassFacts]]) -> ModelInfo:
        """A field whose default is a project function, in any module, that returns a fresh random value
        (``hash = CharField(default=create_hash)``, ``def create_hash(): return shortuuid.uuid()``) holds a bearer
        secret, as one defaulting to ``uuid4`` does."""
        found: list[str] = []
        for _current, raw in _lineage(info.name, by_name):  # an abstract base's field too
            if not raw.default_refs:
                continue
            module = self.path_modules.get(raw.path, "")
            for name, ref in raw.default_refs:
                for target in self.sym.resolve(ref, module_hint=module):
                    fn = self.sym.functions.get(target.name) if target.kind == "func" else None
                    if fn is not None and fn[1].random_maker:
                        found.append(name)
        if not found:
            return info
        return msgspec.structs.replace(info, secret_fields=tuple(dict.fromkeys((*info.secret_fields, *found))))

    def _session_scoping(self, info: ModelInfo, by_name: Mapping[str, list[ClassFacts]]) -> ModelInfo:
        """Whether a model derives from a models.scoped_bases class (an installed session scopes its queries),
        and the session behind its Flask-SQLAlchemy ``query`` (``db.session`` for a ``db.Model``)."""
        scoped_bases = self.k["models.scoped_bases"]
        scoped = False
        query_session = ""
        for _current, raw in _lineage(info.name, by_name):
            for text, ref in zip(raw.bases, raw.base_refs, strict=False):
                qualified = _ref_text(ref) if ref is not None else text
                scoped = scoped or vocab.matches_any(qualified, scoped_bases)
                if ref is not None and ref.attrs and ref.attrs[-1] == "Model" and not query_session:
                    owner = self.sym.canonical(".".join([ref.base, *ref.attrs[:-1]]))
                    if self.sym.module_of(owner) is not None:  # a project's extension object, not models.Model
                        query_session = f"{owner}.session"
        if not scoped and not query_session:
            return info
        return msgspec.structs.replace(info, session_scoped=scoped, query_session=query_session)

    def _scoped_session(self, fn: _Fn) -> bool:
        """Whether every session a function returns or yields scopes queries at run time (a ``get_db``
        provider over an installed factory, or one opening ``org_session(...)``)."""
        sources = fn.d.session_sources
        return bool(sources) and all(
            vocab.matches_any(_ref_text(ref), self.k["queries.scoped_sessions"])
            or self.sym.canonical(_ref_text(ref)) in self.installed
            for ref in sources
        )

    def _manager_kinds(self, ref: Ref) -> set[str] | None:
        """The short names of a manager attribute's class and its bases (None: not a manager)."""
        if not ref.attrs or ref.attrs[-1] != "()":
            return None
        names = {_short(ref.base)} | {a for a in ref.attrs if a != "()"}
        for target in self.sym.symbol(ref.base):
            if target.kind == "class":
                names.update(_short(c) for c in self.sym.mro(target.name))
                names.update(_short(b) for c in self.sym.mro(target.name) for b in self.sym.classes[c].bases)
        if not any(n.endswith(("Manager", "QuerySet")) or n in self.k["models.scoped_managers"] for n in names):
            return None
        return names

    def _dependencies(self) -> frozenset[str]:
        """Functions injected with ``Depends(...)`` somewhere (by qualname)."""
        out: set[str] = set()
        for facts in self.files:
            for ref in facts.dependencies:
                for target in self.sym.resolve(ref, module_hint=facts.module):
                    if target.kind == "func":
                        out.add(target.name)
            for fn in facts.functions:
                for p in fn.params:
                    if p.provider is not None and p.marker in self.k["trusted.dependency_markers"]:
                        for target in self.sym.resolve(p.provider, module_hint=facts.module):
                            if target.kind == "func":
                                out.add(target.name)
        return frozenset(out)

    # -- calls --------------------------------------------------------------------------------------

    def _resolve_calls(self) -> None:
        sym = self.sym
        registries: dict[str, set[str]] = {}
        receivers: dict[str, set[str]] = {}
        # functions that register what they decorate (directly or through a nested decorator)
        registering: dict[str, tuple[str, ...]] = {}
        for qual, fn in self.fns.items():
            containers = tuple(c for c in (sym.container_text(t) for t in fn.d.registers) if c)
            if containers:
                registering[qual] = containers
        for qual, fn in self.fns.items():
            for dec in fn.d.decorators:
                if dec.ref is None:
                    continue
                for target in sym.resolve(dec.ref, module_hint=fn.facts.module):
                    if target.kind == "func" and target.name in registering:
                        for container in registering[target.name]:
                            registries.setdefault(container, set()).add(qual)
                    if target.kind == "container":
                        # @registry.register("kind") on an instance whose method stores the function
                        pass
                if _short(dec.text) == "receiver":
                    for ref in dec.arg_refs:
                        signal = sym.container(ref, fn.facts.module)
                        if signal:
                            receivers.setdefault(signal, set()).add(qual)
                elif dec.ref.attrs and dec.ref.attrs[-1] in ("connect", "connect_via"):
                    # blinker: `@note_shared.connect`, `@note_shared.connect_via(app)`
                    signal = sym.container(Ref(dec.ref.kind, dec.ref.base, dec.ref.attrs[:-1]), fn.facts.module)
                    if signal:
                        receivers.setdefault(signal, set()).add(qual)
        for facts in self.files:
            for signal_ref, receiver_ref in facts.connects:
                signal = sym.container(signal_ref, facts.module)
                if not signal:
                    continue
                for target in sym.resolve(receiver_ref, module_hint=facts.module):
                    if target.kind == "func":
                        receivers.setdefault(signal, set()).add(target.name)
        self.registries = registries
        for facts in self.files:
            for ref in facts.scheduled:
                self.jobs.update(t.name for t in sym.resolve(ref, module_hint=facts.module) if t.kind == "func")
            for ref in facts.url_views:
                self.url_routed.update(t.name for t in sym.resolve(ref, module_hint=facts.module) if t.kind == "func")
            for ref in facts.resolvers if self.graphql else ():
                self.resolver_fns.update(t.name for t in sym.resolve(ref, module_hint=facts.module) if t.kind == "func")
            for ref, actions in facts.view_actions:
                for t in sym.resolve(ref, module_hint=facts.module):
                    if t.kind == "class":
                        self.view_actions.setdefault(t.name, set()).update(actions)
        self.has_urlconf = any(facts.urlconf for facts in self.files)
        for facts in self.files:
            for ref in facts.named_paths:
                self.named_by_path.update(t.name for t in sym.resolve(ref) if t.kind == "func")
        for fn in self.fns.values():
            for call in fn.d.calls:
                if call.ref is None:
                    continue
                targets = self._targets(fn, call, registries, receivers)
                if call.mode == "enqueue" and not targets:
                    # `sig.send(...)`: a signal's send, not a task's (the name is the same)
                    targets = self._targets(fn, msgspec.structs.replace(call, mode="signal"), registries, receivers)
                elif call.mode == "enqueue":
                    self.jobs.update(targets)
                if targets:
                    fn.edges[call.key] = targets
            for check in fn.d.checks:
                # `colleague = User.objects.get(pk=...)`, then `colleague.is_member_of(org)`: a user model's method
                # on a fetched user checks that user, and nothing about the one signed in
                if check.on_row and check.key in fn.edges:
                    kept = [
                        t for t in fn.edges[check.key] if t not in self.fns or self.fns[t].klass not in sym.user_classes
                    ]
                    if kept:
                        fn.edges[check.key] = kept
                    else:
                        del fn.edges[check.key]

    def _targets(
        self, fn: _Fn, call: CallFacts, registries: Mapping[str, set[str]], receivers: Mapping[str, set[str]]
    ) -> list[str]:
        sym = self.sym
        assert call.ref is not None
        resolved = sym.resolve(call.ref, module_hint=fn.facts.module)
        out: list[str] = []
        if call.mode == "dispatch":
            for target in resolved:
                if target.kind == "table":
                    var = sym.variables[target.name]
                    module = target.name.rsplit(".", 1)[0]
                    for ref in var.table:
                        out.extend(t.name for t in sym.resolve(ref, module_hint=module) if t.kind == "func")
                if target.kind in ("table", "container"):
                    out.extend(sorted(registries.get(target.name, ())))
            return list(dict.fromkeys(out))
        if call.mode == "getattr":
            if not call.prefix:
                return []
            for target in resolved:
                if target.kind in ("inst", "class"):
                    classes = [target.name] if target.exact else [target.name, *sorted(self._subclasses(target.name))]
                    for cls in classes:
                        for c in sym.mro(cls):
                            for name, qual in sym.methods.get(c, {}).items():
                                if name.startswith(call.prefix):
                                    out.append(qual)
            return list(dict.fromkeys(out))
        if call.mode == "signal":
            for target in resolved:
                if target.kind == "signal":
                    out.extend(sorted(receivers.get(target.name, ())))
            return out
        funcs = [t.name for t in resolved if t.kind == "func"]
        concrete = [q for q in funcs if q in self.fns and not self.fns[q].d.abstract]
        if concrete and len(concrete) < len(funcs):
            # `self._validate_signature(...)` on an abstract base: the overrides are what runs
            resolved = [t for t in resolved if t.kind != "func" or t.name in concrete]
        for target in resolved:
            if target.kind == "func":
                out.append(target.name)
            elif target.kind == "class" and call.mode == "call":
                init = sym.method(target.name, "__init__")
                if init is not None:
                    out.append(init)
        return list(dict.fromkeys(out))

    def _subclasses(self, cls: str) -> frozenset[str]:
        return self.sym.descendants(cls)

    def matches(self, text: str, entries: frozenset[str]) -> bool:
        """:func:`vocab.matches_any`, asked once per text and knowledge set (call texts repeat across functions)."""
        key = (text, id(entries))
        found = self._matched.get(key)
        if found is None:
            found = self._matched[key] = vocab.matches_any(text, entries)
        return found

    def called_matching(self, entries: frozenset[str]) -> frozenset[str]:
        """The call texts any function of the project makes (``DefFacts.called``) that ``entries`` name, found once
        per knowledge set: a function calls one when its texts are not disjoint from them."""
        found = self._called_matching.get(id(entries))
        if found is None:
            texts = {c for fn in self.pool for c in fn.d.called if c}
            found = self._called_matching[id(entries)] = frozenset(t for t in texts if self.matches(t, entries))
        return found

    @functools.cached_property
    def _export_prefixes(self) -> tuple[str, ...]:
        return tuple(sorted(self.k["exports.name_prefixes"]))

    @functools.cached_property
    def _admin_bases(self) -> frozenset[str]:
        """The admin bases that mark a staff surface (Flask-Admin's ``BaseView`` and ``ModelView`` need a check)."""
        return frozenset(b for b in self.k["admin.bases"] if b not in ("BaseView", "ModelView"))

    @functools.cached_property
    def event_builders(self) -> frozenset[str]:
        """The functions that verify (or build) a Stripe event and return it (see :meth:`builds_event`)."""
        return frozenset(q for q, fn in self.fns.items() if fn.d.returns_call and self.builds_event(fn))

    def exempt(self, rel: str) -> bool:
        """Whether a file is a test or a seed script (``exempt-files``)."""
        found = self._exempt.get(rel)
        if found is None:
            found = self._exempt[rel] = self.config.is_exempt_rel(rel)
        return found

    def callee(self, fn: _Fn, key: str) -> Sequence[_Fn]:
        """The functions a call may run (asked once the calls are resolved: kept per function and call)."""
        found = fn.callees.get(key)
        if found is None:
            found = fn.callees[key] = tuple(self.fns[q] for q in fn.edges.get(key, ()) if q in self.fns)
        return found

    def call_facts(self, fn: _Fn, key: str) -> CallFacts | None:
        for call in fn.d.calls:
            if call.key == key:
                return call
        return None

    # -- summaries ----------------------------------------------------------------------------------

    @functools.cached_property
    def tenant_prefixes(self) -> tuple[str, ...]:
        """Every model's tenant paths (``organization``, ``project__organization``), longest first."""
        return tuple(sorted({p for paths in self.paths_of.values() for p in paths}, key=lambda p: (-len(p), p)))

    def _check_verifies(self, fn: _Fn, check: Check) -> bool:
        attrs = self.membership_attrs
        if check.user_self and fn.klass not in self.sym.user_classes:
            return False  # `self` is no user here
        if check.row_self and _short(fn.klass) not in self.model_infos:
            return False  # `self` is no row here (a view's `self.parent_model`)
        if check.direct:
            return True
        if attrs.intersection(check.user_attrs) or attrs.intersection(check.user_kwargs):
            return True
        if any(vocab.joins_members(kw, self.tenant_prefixes, self.tenant_properties) for kw in check.user_kwargs):
            return True  # `organization__users=user`: the row's tenant joined to the user
        if check.key:
            callees = self.callee(fn, check.key)
            return bool(callees) and all(c.verifies for c in callees)
        return False

    def verified_names(self, fn: _Fn) -> set[str]:
        """Names a verifying check of the function takes (``check_access(user, ticket)``: ``ticket``)."""
        return {n for check, good in zip(fn.d.checks, fn.check_ok, strict=False) if good for n in check.names}

    def _helper_kwargs(self, fn: _Fn) -> frozenset[str]:
        """URL kwargs its own helper methods read for it (``project_id = self.get_project_id(request, view)``, the
        helper returning ``view.kwargs.get("project_id")``)."""
        out: set[str] = set()
        for key, targets in fn.edges.items():
            if key.startswith(("self.", "cls.")):
                for target in targets:
                    callee = self.fns.get(target)
                    if callee is not None and callee.klass:
                        out.update(callee.d.kwargs_read)
        return frozenset(out)

    def origin_verified(self, fn: _Fn, origin: Origin) -> bool:
        """Whether a value was verified on every path: trusted, or guarded by a check that verifies."""
        if origin.trusted:
            return True
        return any(i < len(fn.check_ok) and fn.check_ok[i] for i in origin.guards)

    def _summaries(self, fns: Mapping[str, _Fn]) -> None:
        """verifies / verified params / resolves_unverified / returns, to a fixpoint over the call graph
        (of ``fns``: every function, or functions that call none and that none calls)."""
        capability: dict[str, frozenset[str]] = {}
        for fn in fns.values():
            fn.verifies = False
            granted = self._capability_params(fn)
            if granted:
                capability[fn.qual] = granted
                fn.verifies = True
        # Rounds over every function in order, each seeing the values already updated in the round. A
        # function is evaluated again only when an input changed since its last evaluation (a callee's
        # summary, or its own: its parameters' lookups read whether it verified before): evaluating it
        # otherwise gives what it holds, so the rounds, and the fixpoint they stop at, are the same.
        callers: dict[str, set[str]] = {}
        for fn in fns.values():
            for targets in fn.edges.values():
                for target in targets:
                    callers.setdefault(target, set()).add(fn.qual)
        dirty = set(fns)
        for _ in range(50):
            changed = False
            for fn in fns.values():
                if fn.qual not in dirty:
                    continue
                dirty.discard(fn.qual)
                ok = [self._check_verifies(fn, c) for c in fn.d.checks]
                verifies = fn.verifies or any(ok)
                verified: set[str] = set(capability.get(fn.qual, ()))
                for check, good in zip(fn.d.checks, ok, strict=True):
                    if good:
                        verified.update(n for n in check.names if n in fn.params)
                kwargs: frozenset[str] = frozenset()
                if verifies:
                    # a permission class reads them from view.kwargs; a decorator's wrapper takes them as parameters
                    wrapper = {n for c, good in zip(fn.d.checks, ok, strict=True) if good for n in c.names}
                    wrapper &= set(fn.d.inner_params) - {"request", "args", "kwargs", "self", "cls"}
                    kwargs = frozenset(fn.d.kwargs_read) | frozenset(wrapper) | self._helper_kwargs(fn)
                resolves = frozenset(self._resolves(fn, ok))
                returns = self._returns(fn, ok)
                if (
                    ok != fn.check_ok
                    or verifies != fn.verifies
                    or frozenset(verified) != fn.verified_params
                    or kwargs != fn.verified_kwargs
                    or resolves != fn.resolves
                    or returns != fn.returns
                ):
                    fn.check_ok = ok
                    fn.verifies = verifies
                    fn.verified_params = frozenset(verified)
                    fn.verified_kwargs = kwargs
                    fn.resolves = resolves
                    fn.returns = returns
                    changed = True
                    dirty.add(fn.qual)
                    dirty.update(callers.get(fn.qual, ()))
            if not changed:
                break

    def _vouches(self, fns: Mapping[str, _Fn]) -> None:
        """Checks that vouch for an id: ``Alert.get_by_id_and_org(alert_id, current_org)`` hands the id to a
        lookup of one row together with the verified tenant, so the id is that tenant's (a foreign id finds
        nothing). Later uses of the id are not client input reaching another tenant's rows."""
        for fn in fns.values():
            out: list[bool] = []
            for check in fn.d.checks:
                call = self.call_facts(fn, check.key) if check.key else None
                out.append(call is not None and self._vouching_call(fn, call))
            fn.vouched = out

    def _vouching_call(self, fn: _Fn, call: CallFacts) -> bool:
        if call.mode != "call":
            return False
        callees = self.callee(fn, call.key)
        if not callees:
            return False
        tenant_given = any(o.trusted or self.origin_verified(fn, o) for _s, o in call.args)
        for callee in callees:
            slots = [_param_for(callee, slot, call) for slot, o in call.args if o.params or o.sources]
            if tenant_given and any(p and self._fetches_by(callee, p, 0) for p in slots):
                continue
            if not any(p and p in self.vouches(callee) for p in slots):
                return False
        return True

    def vouches(self, fn: _Fn) -> frozenset[str]:
        """Parameters ``fn`` looks one row up by, in a query that also pins the tenant it holds itself (a tenant
        column compared with its own attribute, ``Case.workspace_id == self.workspace_id``, or a verified
        source), and refuses when no row matches (it raises, or ends the query with a raising fetch)."""
        found = self._vouches_of.get(fn.qual)
        if found is None:
            found = self._vouches_of[fn.qual] = self._scoped_fetch_params(fn)
        return found

    def _scoped_fetch_params(self, fn: _Fn) -> frozenset[str]:
        if not fn.d.raises:
            return frozenset()
        pinned: set[tuple[str, int]] = set()  # (model, line) of the queries that pin the tenant
        for lk in fn.d.lookups:
            own = not lk.origin.sources and set(lk.origin.params) <= {"self", "cls"} and bool(lk.origin.params)
            if (own or lk.origin.trusted) and _pins_owner(lk.key, self.paths_of.get(lk.model, ())):
                pinned.add((lk.model, lk.line))
        return frozenset(
            p
            for lk in fn.d.lookups
            if (lk.model, lk.line) in pinned and vocab.is_key_lookup(lk.key)
            for p in lk.origin.params
            if p in fn.params and p not in ("self", "cls")
        )

    def _vouches_given(self, fn: _Fn) -> tuple[tuple[str, str], ...]:
        """(id param, tenant param) of the queries ``fn`` looks one row up by the id in, with the tenant pinned to
        the other parameter, when it refuses if no row matches (see :attr:`FunctionInfo.vouches_given`)."""
        if not fn.d.raises:
            return ()
        params = set(fn.params) - {"self", "cls"}
        tenants: dict[tuple[str, int], set[str]] = {}
        for lk in fn.d.lookups:
            given = set(lk.origin.params)
            if (
                len(given) == 1
                and given <= params
                and not lk.origin.sources
                and _pins_owner(lk.key, self.paths_of.get(lk.model, ()))
            ):
                tenants.setdefault((lk.model, lk.line), set()).update(given)
        return tuple(
            sorted(
                {
                    (p, t)
                    for lk in fn.d.lookups
                    if vocab.is_key_lookup(lk.key)
                    for t in tenants.get((lk.model, lk.line), ())
                    for p in lk.origin.params
                    if p in params and p != t
                }
            )
        )

    def _fetches_by(self, fn: _Fn, param: str, depth: int) -> bool:
        """Whether ``fn`` looks a row up by ``param`` as its identity (``cls.id == object_id``), itself or
        through a function it hands the parameter to (``super().get_by_id_and_org(object_id, org)``)."""
        if any(vocab.identifies_tenant(lk.key) and param in lk.origin.params for lk in fn.d.lookups):
            return True
        if depth >= 3:
            return False
        for call in fn.d.calls:
            for slot, origin in call.args:
                if param not in origin.params:
                    continue
                for callee in self.callee(fn, call.key):
                    target = _param_for(callee, slot, call)
                    if target and self._fetches_by(callee, target, depth + 1):
                        return True
        return False

    def origin_vouched(self, fn: _Fn, origin: Origin) -> bool:
        """Whether a value was verified, or vouched for by a fetch with the tenant, on every path."""
        return self.origin_verified(fn, origin) or any(i < len(fn.vouched) and fn.vouched[i] for i in origin.guards)

    def _capability_params(self, fn: _Fn) -> frozenset[str]:
        """Parameters a capability check vouches for: ``ShareLink.objects.filter(recipe=recipe,
        uuid=share)`` finds a row only when the caller holds that row's secret, and then ``recipe`` is
        the one the secret was issued for. (The secret itself comes from the caller: a share token.)"""
        by_line: dict[tuple[str, int], list[Lookup]] = {}
        for lookup in fn.d.lookups:
            by_line.setdefault((lookup.model, lookup.line), []).append(lookup)
        out: set[str] = set()
        for (model, _line), lookups in by_line.items():
            info = self.model_infos.get(model)
            if info is None or not info.secret_fields:
                continue
            keyed = [lk for lk in lookups if lk.key.split("__", 1)[0] in info.secret_fields and lk.origin.params]
            if not keyed:
                continue
            relations = {field for field, _target in info.relations}
            for lk in lookups:
                head = lk.key.split("__", 1)[0].removesuffix("_id")
                if lk not in keyed and (head in relations or lk.key in ("pk", "id")):
                    out.update(p for p in lk.origin.params if p in fn.params)
        return frozenset(out)

    def _resolves(self, fn: _Fn, ok: list[bool]) -> set[str]:
        """Parameters the tenant is looked up by (a tenant lookup, or a tenant-path lookup of a
        tenant-owned model) with no membership check — directly or through another such helper."""
        if fn.verifies:
            return set()
        out: set[str] = set()

        def unguarded(origin: Origin) -> bool:
            return not origin.trusted and not any(i < len(ok) and ok[i] for i in origin.guards)

        pinned = {  # queries pinned by key to a verified tenant (`id=request.org.id`): that tenant, or none
            (lk.model, lk.line)
            for lk in fn.d.lookups
            if lk.origin.trusted and lk.model in self.tenant_models and vocab.is_key_lookup(lk.key)
        }
        for lookup in fn.d.lookups:
            if not unguarded(lookup.origin) or lookup.aggregate or (lookup.model, lookup.line) in pinned:
                continue
            model = lookup.model
            on_tenant = model in self.tenant_models and vocab.identifies_tenant(lookup.key)
            if on_tenant or vocab.lookup_key_scopes(lookup.key, self.paths_of.get(model, ()), self.tenant_properties):
                out.update(p for p in lookup.origin.params if p in fn.params)
        for call in fn.d.calls:
            if call.mode != "call":
                continue
            for callee in self.callee(fn, call.key):
                if not callee.resolves:
                    continue
                for slot, origin in call.args:
                    param = _param_for(callee, slot, call)
                    if param in callee.resolves and unguarded(origin):
                        out.update(p for p in origin.params if p in fn.params)
        return out

    def _qualified(self, fn: _Fn, key: str) -> str:
        """A call key's dotted text with its head resolved through the module's imports."""
        text = key.rsplit("#", 1)[0]
        head, dot, rest = text.partition(".")
        origin = self.sym.imports.get(fn.facts.module, {}).get(head.removesuffix("()"))
        return (origin + dot + rest) if origin else text

    def builds_row(self, fn: _Fn, depth: int = 0) -> bool:
        """Whether every row ``fn`` returns is one it builds: each ``return`` hands back a project model's
        constructor call (``audit = AlertAudit(...)``; ``return audit``), or a call of a function that does."""
        d = fn.d
        if d.returns_other or not d.returns_call or d.generator or depth > MAX_BUILD_DEPTH:
            return False
        for key in d.returns_call:
            if _short(self._qualified(fn, key).removesuffix("()")) in self.model_infos:
                call = self.call_facts(fn, key)
                if call is not None and any(slot in ROW_KEYS for slot, _origin in call.args):
                    return False  # `Task(id=task_id)`: the caller's key, not one the database assigns
                continue
            callees = self.callee(fn, key)
            if not callees or not all(self.builds_row(c, depth + 1) for c in callees):
                return False
        return True

    def builds_event(self, fn: _Fn) -> bool:
        """A webhook's own helper: it verifies (or builds) a Stripe event and returns it."""
        found = self._events.get(fn.qual)
        if found is None:
            found = self._events[fn.qual] = self._builds_event(fn)
        return found

    def _builds_event(self, fn: _Fn) -> bool:
        return any(self.matches(self._qualified(fn, key), self.event_calls) for key in fn.d.returns_call)

    def _returns(self, fn: _Fn, ok: list[bool]) -> str:
        """What a caller gets: "trusted" (a verified tenant), "<kind>:<source>" (client input), "event" (a
        verified webhook event), or ""."""
        verify = self.k["stripe.verify_calls"]
        if any(self.matches(self._qualified(fn, key), verify) for key in fn.d.returns_call):
            return "event"
        origin = fn.d.returns
        if origin.trusted or (origin.guards and any(i < len(ok) and ok[i] for i in origin.guards)):
            return "trusted" if not origin.params and not origin.sources else ""
        if origin.sources:
            return origin.sources[0]
        if origin.calls and not origin.params:
            results = []
            for key in origin.calls:
                callees = self.callee(fn, key)
                results.append(("trusted" if callees[0].verifies else callees[0].returns) if callees else "")
            if results and all(r == "trusted" for r in results):
                return "trusted"
            for r in results:
                if r and r != "trusted":
                    return r
        return ""

    def _trusted_params(self) -> None:
        """Parameters every known caller fills with a verified tenant or the signed-in user
        (``switch_space(request.user, space)``): they are trusted inside the function, to a fixpoint."""
        incoming: dict[str, list[tuple[_Fn, CallFacts]]] = {}
        calls_into: dict[str, set[str]] = {}  # caller -> the functions it calls (as in ``incoming``)
        for fn in self.fns.values():
            if self.exempt(fn.path):
                continue  # a test passes whatever it likes
            for call in fn.d.calls:
                if call.mode != "call":
                    continue
                for target in fn.edges.get(call.key, ()):
                    incoming.setdefault(target, []).append((fn, call))
                    calls_into.setdefault(fn.qual, set()).add(target)
        trusted: dict[str, set[str]] = {}
        # as the summaries: a function is looked at again only when a caller's trusted parameters grew since
        # (what it is asked reads nothing else that changes here), so the rounds stop where they stopped
        dirty = set(incoming)
        for _ in range(10):
            changed = False
            for qual, edges in incoming.items():
                if qual not in dirty:
                    continue
                dirty.discard(qual)
                callee = self.fns.get(qual)
                if callee is None or callee.surface in ENTRY_SURFACES:
                    continue
                for param in callee.params:
                    if param in ("self", "cls") or param in trusted.get(qual, ()):
                        continue
                    if all(self._passes_trusted(caller, call, callee, param, trusted) for caller, call in edges):
                        trusted.setdefault(qual, set()).add(param)
                        changed = True
                        dirty.update(calls_into.get(qual, ()))
            if not changed:
                break
        for qual, params in trusted.items():
            fn = self.fns[qual]
            for param in params:
                fn.initial.setdefault(param, "trusted")

    def _passes_trusted(
        self, caller: _Fn, call: CallFacts, callee: _Fn, param: str, trusted: Mapping[str, set[str]]
    ) -> bool:
        for slot, origin in call.args:
            if _param_for(callee, slot, call) != param:
                continue
            if self.origin_verified(caller, origin):
                return True
            if origin.sources or not (origin.params or origin.calls):
                return False
            if any(p not in trusted.get(caller.qual, ()) and caller.initial.get(p) != "trusted" for p in origin.params):
                return False
            for key in origin.calls:
                callees = self.callee(caller, key)
                if not callees or not all(c.verifies or c.returns == "trusted" for c in callees):
                    return False
            return True
        return False  # the parameter's default: nothing known

    # -- surfaces -----------------------------------------------------------------------------------

    def class_bases(self, klass: str) -> frozenset[str]:
        """Short names of a class's bases, transitively through project classes."""
        found = self._class_bases.get(klass)
        if found is None:
            found = self._class_bases[klass] = frozenset(self._class_bases_of(klass))
        return found

    def _class_bases_of(self, klass: str) -> set[str]:
        cls = self.sym.classes.get(klass)
        if cls is None:
            return set()
        out: set[str] = set()
        for c in self.sym.mro(klass):
            out.update(self.base_shorts(c))
        # bases named by short name only (another module's class of that name, unresolved)
        for base in list(out):
            for info in self._ancestors_by_name(base):
                out.update(_short(b) for b in info.bases)
        return out

    def base_shorts_of(self, annotation: str, module: str) -> frozenset[str]:
        """Short names of the bases of the project class an annotation names (empty for anything else)."""
        qual = self._annotated_class(annotation, module)
        return self.class_bases(qual) if qual else frozenset()

    def _annotated_class(self, annotation: str, module: str) -> str:
        """The project class an annotation names (through re-exports: ``mealie.schema.cookbook.UpdateCookBook``
        is defined in ``mealie.schema.cookbook.cookbook``), or ""."""
        for qual in (annotation, f"{module}.{annotation}"):
            if qual in self.sym.classes:
                return qual
        found = self.sym.canonical(annotation) if annotation else ""
        return found if found in self.sym.classes else ""

    def base_shorts(self, cls: str) -> set[str]:
        """Short names of a class's own bases, as written and as imported (``RestxResource`` is ``Resource``)."""
        imports = self.sym.imports.get(self.sym.class_module.get(cls, ""), {})
        out: set[str] = set()
        for base in self.sym.classes[cls].bases:
            out.add(_short(base))
            origin = imports.get(base.split(".", 1)[0])
            if origin is not None:
                out.add(_short(origin + base[len(base.split(".", 1)[0]) :]))
        return out

    def _ancestors_by_name(self, name: str, seen: frozenset[str] = frozenset()) -> Iterator[ClassInfo]:
        for info in self.class_infos.get(name, ()):
            yield info
            for base in info.bases:
                short = _short(base)
                if short not in seen and short != name:
                    yield from self._ancestors_by_name(short, seen | {name})

    def _factory_aliases(self) -> frozenset[str]:
        """``OrgRole = Annotated[Role, RoleACL(...)]`` where ``RoleACL`` is a project function that returns
        ``Depends(...)`` (a dependency factory): the alias injects a dependency, like ``Annotated[T, Depends(p)]``."""
        return frozenset(
            alias
            for facts in self.files
            for alias, ref in facts.dependency_factories
            if self.dependency_factory(ref, facts.module)
        )

    @functools.cached_property
    def alias_providers(self) -> dict[str, list[tuple[Ref, str]]]:
        """The providers of each dependency alias (by its short name, as parameters name it), with the module
        that wrote it."""
        out: dict[str, list[tuple[Ref, str]]] = {}
        for facts in self.files:
            for alias, ref in facts.alias_providers:
                out.setdefault(alias, []).append((ref, facts.module))
        return out

    def dependency_factory(self, ref: Ref, module: str) -> bool:
        """Whether a reference names a project function that returns a dependency (``return Depends(...)``)."""
        markers = self.k["trusted.dependency_markers"]
        for target in self.sym.resolve(ref, module_hint=module):
            fn = self.fns.get(target.name) if target.kind == "func" else None
            if fn is not None and any(_short(self._qualified(fn, key)) in markers for key in fn.d.returns_call):
                return True
        return False

    def _surfaces(self) -> None:
        for fn in self.fns.values():
            self._surface(fn)
        self._staff_providers()

    def _staff_providers(self) -> None:
        """A dependency provider runs inside the routes (and providers) that inject it: when every one of them is
        a staff surface (fief's admin routers, each behind ``Depends(is_authenticated_admin_api)``), so is the
        provider; one injected by any other route stays a request handler."""
        markers = self.k["trusted.dependency_markers"]
        dependents: dict[str, set[str]] = {}
        for fn in self.fns.values():
            refs = [
                (p.provider, fn.facts.module) for p in fn.d.params if p.provider is not None and p.marker in markers
            ]
            refs.extend(item for p in fn.d.params for item in self.alias_providers.get(p.marker, ()))
            for ref, module in refs:
                for target in self.sym.resolve(ref, module_hint=module):
                    if target.kind == "func" and target.name in self.fns and target.name != fn.qual:
                        dependents.setdefault(target.name, set()).add(fn.qual)
        changed = True
        while changed:
            changed = False
            for qual, users in dependents.items():
                provider = self.fns[qual]
                if (
                    provider.surface == REQUEST
                    and provider.dependency
                    and provider.route is None
                    and all(self.fns[user].surface == ADMIN for user in users)
                ):
                    provider.surface = ADMIN
                    changed = True

    def _route(self, fn: _Fn) -> str | None:
        k = self.k
        imports = dict(fn.facts.imports)
        for dec in fn.d.decorators:
            if not dec.call:
                continue
            name = _short(dec.text)
            if name not in k["requests.route_decorators"]:
                continue
            if "." not in dec.text and _short(imports.get(dec.text, dec.text)) != dec.text:
                continue  # an imported alias of something else
            return dec.first
        return None

    def _resolver(self, fn: _Fn) -> bool:
        """A GraphQL resolver, in a project that imports a GraphQL framework: a function decorated as one
        (Ariadne's ``@mutation.field("renameWebapp")``, Strawberry's ``@strawberry.field``), or a resolver
        method of a class deriving from a GraphQL type (Graphene's ``resolve_*`` and ``mutate``)."""
        if not self.graphql:
            return False
        if fn.qual in self.resolver_fns:
            return True  # `strawberry.field(resolver=get_webapp)`
        k = self.k
        if any(
            (dec.call or "." in dec.text) and _short(dec.text) in k["requests.resolver_decorators"]
            for dec in fn.d.decorators
        ):
            return True
        return (
            bool(fn.klass)
            and vocab.matches_any(fn.d.name, k["requests.resolver_methods"])
            and bool(self.class_bases(fn.klass) & k["requests.resolver_bases"])
        )

    def _surface(self, fn: _Fn) -> None:
        k = self.k
        d = fn.d
        route = self._route(fn)
        resolver = self._resolver(fn)
        bases = self.class_bases(fn.klass) if fn.klass else frozenset()
        klass_short = _short(fn.klass) if fn.klass else ""
        view_class = (
            bool(fn.klass)
            and klass_short not in self.unroutable
            and (klass_short in self.view_mixins or bool(bases & k["requests.view_bases"]))
        )
        decorators = {_short(dec.text) for dec in d.decorators if dec.text}
        params = fn.params
        has_request_param = bool(set(params[:2]) & k["requests.handler_params"])
        # `def _role_dependency(request: Request, ...)`: a FastAPI/Starlette request handed to a helper; an ASGI
        # endpoint is always a route the app registers (decorated, or named in a routes table)
        asgi_request = any(
            p.name in k["requests.handler_params"] and self.matches(p.annotation, k["requests.asgi_request_types"])
            for p in d.params
            if p.annotation
        )
        markers = any(p.marker in k["sources.param_markers"] for p in d.params)
        dependency = not fn.klass and fn.qual in self.dependencies
        if (
            view_class
            or resolver
            or route is not None
            or (decorators & k["requests.view_decorators"] and (bool(fn.klass) or self._routable(fn)))
            or markers
            or dependency
            or (not fn.klass and has_request_param and not asgi_request and self._routable(fn))
        ):
            surface = REQUEST
        else:
            surface = OTHER
        special = self._special_surface(fn, route=route, decorators=decorators, bases=bases, serves=surface == REQUEST)
        if special is not None:
            surface = special
        if d.debug_gate:
            surface = OTHER  # development-only: it refuses first thing unless a debug or test switch is on
        guard = ""
        if any(good and check.top for check, good in zip(d.checks, fn.check_ok, strict=False)):
            guard = f"{d.name}() checks membership"  # on its main path, whichever branch a request takes
        elif decorators & k["guards.decorators"]:
            guard = f"@{sorted(decorators & k['guards.decorators'])[0]}"
        else:
            guard = self._decorator_guard(fn) or self._decorated_permissions(fn)
            if not guard and view_class:
                # the permission classes are checked once `get_permissions` picked them, not before it returns
                guard = self.class_guard(fn.klass, bases, permissions=d.name != "get_permissions")
            if not guard and view_class and d.name in k["requests.queryset_hooks"]:
                guard = self._actions_guard(fn.klass)
            if not guard:
                hooks = [h for h in self.request_hooks(fn) if h.verifies]
                if hooks:
                    guard = f"before_request hook {hooks[0].d.name}()"
        handler = (
            not view_class
            or d.name in k["requests.handler_methods"]
            or bool(decorators & k["requests.view_decorators"])
        )
        fn.helper = (
            view_class
            and not handler
            and route is None
            and d.name not in k["requests.queryset_hooks"]
            and (d.name not in k["requests.object_hooks"] or self._fetches_itself(fn))
            and not d.name.startswith("__")
        )
        requestish = surface in (REQUEST, ADMIN, EXPORT)
        view = requestish and handler and (view_class or has_request_param)
        kind = "query" if dependency and route is None else "route"
        fn.surface = surface
        fn.guard = guard
        fn.route = route
        fn.view = view
        fn.dependency = dependency
        fn.command = surface == JOB and self._is_command(fn, bases)
        fn.resolver = resolver
        if resolver:
            fn.initial = self._resolver_arguments(fn)
        else:
            fn.initial = self._initial(fn, routed=route is not None or dependency, view=view, kind=kind)

    def _routable(self, fn: _Fn) -> bool:
        """A module function taking ``request``: a view unless the project's URLconfs, which orgguard reads,
        route nowhere near it (then it is a helper its callers reach, or dead code). A function the settings
        name by its dotted path (``SAVE_USER = "users.functions.save_user"``) is loaded and called by name with
        the request: it stays one."""
        return not self.has_urlconf or fn.qual in self.url_routed or fn.qual in self.named_by_path

    def _actions_guard(self, klass: str) -> str:
        """A viewset's queryset hook runs only inside the actions its routes name (``as_view({"get": "list"})``):
        guarded when each of them is a method of the project decorated with a verifying guard. An action
        the framework provides (an inherited ``retrieve``) has no decorator of the project's, so it guards
        nothing."""
        actions = self.view_actions.get(klass)
        if not actions:
            return ""
        guards: set[str] = set()
        for action in sorted(actions):
            found = self.sym.method(klass, action)
            method = self.fns.get(found) if found is not None else None
            if method is None:
                return ""
            decorators = {_short(dec.text) for dec in method.d.decorators if dec.text}
            named = decorators & self.k["guards.decorators"]
            guard = f"@{sorted(named)[0]}" if named else self._decorator_guard(method)
            if not guard:
                return ""
            guards.add(guard)
        return f"every routed action ({', '.join(sorted(actions))}) is guarded by {', '.join(sorted(guards))}"

    def _decorator_guard(self, fn: _Fn) -> str:
        """A project decorator whose summary verifies membership (``@team_member_required``)."""
        for dec in fn.d.decorators:
            if dec.ref is None:
                continue
            for target in self.sym.resolve(dec.ref, module_hint=fn.facts.module):
                if target.kind != "func":
                    continue
                deco = self.fns.get(target.name)
                if deco is None:
                    continue
                # a decorator factory's check runs in the decorator it returns
                if deco.verifies or any(c.verifies for key in deco.edges for c in self.callee(deco, key) if c.d.wraps):
                    return f"@{_short(dec.text)}"
        return ""

    @staticmethod
    def _permission_refs(fn: _Fn) -> list[Ref]:
        """What a function view's ``@permission_classes([...])`` lists (DRF's decorator: the function's own
        ``permission_classes``), and what a resolver's ``@strawberry.field(permission_classes=[...])`` does."""
        out: list[Ref] = []
        for dec in fn.d.decorators:
            if dec.call and _short(dec.text) == "permission_classes":
                out.extend(dec.arg_refs)
            out.extend(dec.permissions)
        return out

    def _permission_decorations(self, fn: _Fn) -> list[str]:
        """The project classes of :meth:`_permission_refs`."""
        return [
            t.name
            for ref in self._permission_refs(fn)
            for t in self.sym.resolve(ref, module_hint=fn.facts.module)
            if t.kind == "class"
        ]

    def _decorated_permissions(self, fn: _Fn) -> str:
        """``@permission_classes([IsAuthenticated, HasOrgPermission])`` naming a class that verifies membership."""
        hit = {_short(ref.attrs[-1] if ref.attrs else ref.base) for ref in self._permission_refs(fn)}
        hit &= self.k["guards.permission_classes"]
        hit |= {_short(cls) for cls in self._permission_decorations(fn) if self.verifying_permission(cls)}
        return f"permission class {sorted(hit)[0]}" if hit else ""

    def class_guard(self, klass: str, bases: frozenset[str], *, permissions: bool = True) -> str:
        """Why every handler of a view class is membership-checked ("" when it is not); ``permissions``: whether its
        permission classes count (not for ``get_permissions``, which picks them)."""
        k = self.k
        mixin = bases & k["guards.mixins"]
        if mixin:
            return f"mixin {sorted(mixin)[0]}"
        declared = self.permission_classes(klass) if permissions else None
        if declared is not None:
            cls, names = declared
            raw = self.sym.classes[cls]
            hit = set(names & k["guards.permission_classes"])
            hit |= {
                _short(t.name)
                for ref in raw.permission_classes
                for t in self.sym.resolve(ref, module_hint=self.sym.class_module[cls])
                if t.kind == "class" and self.verifying_permission(t.name)
            }
            for composed in raw.permission_alternatives:
                alternatives = self.permission_alternatives(composed, self.sym.class_module[cls])
                if self.composed_guard(alternatives):
                    hit.add(" | ".join(sorted({_short(c) for a in alternatives for c in a})))
            if hit:
                return f"permission class {sorted(hit)[0]}"
        for cls in self.sym.mro(klass):
            for hook in k["requests.object_hooks"]:
                method = self.sym.methods.get(cls, {}).get(hook)
                if method is not None and self.fns[method].verifies:
                    return f"{_short(cls)}.{hook}()"
        return ""

    def permission_classes(self, klass: str) -> tuple[str, frozenset[str]] | None:
        """The nearest class in ``klass``'s order that sets ``permission_classes``, with their short names."""
        for cls in self.sym.mro(klass):
            raw = self.sym.classes[cls]
            if "permission_classes" in raw.columns:
                refs = [*raw.permission_classes, *(r for alts in raw.permission_alternatives for a in alts for r in a)]
                return cls, frozenset(_short(r.base if not r.attrs else r.attrs[-1]) for r in refs)
        return None

    def permission_alternatives(
        self, alternatives: tuple[tuple[Ref, ...], ...], module: str, depth: int = 0
    ) -> list[list[str]]:
        """A composed permission's alternatives as the classes each requires (qualnames), a module variable that
        composes permissions itself (``IsProjectMember = IsAnnotator | IsAdmin``) expanded in place."""
        out: list[list[str]] = []
        for alternative in alternatives:
            expanded: list[list[str]] = [[]]
            for ref in alternative:
                choices = self._permission_choices(ref, module, depth)
                expanded = [have + more for have in expanded for more in choices][:64]
            out.extend(expanded)
        return out

    def _permission_choices(self, ref: Ref, module: str, depth: int) -> list[list[str]]:
        targets = self.sym.resolve(ref, module_hint=module)
        classes = [t.name for t in targets if t.kind == "class"]
        if classes:
            return [classes]
        for target in targets:
            var = self.sym.variables.get(target.name) if target.kind == "container" else None
            if var is not None and var.permission and depth < 3:
                return self.permission_alternatives(var.permission, target.name.rsplit(".", 1)[0], depth + 1)
        return [[]]  # a class of a library, or unknown: it verifies nothing known here

    def composed_guard(self, alternatives: list[list[str]]) -> bool:
        """Whether a composed permission verifies membership: every alternative requires a class that does."""
        declared = self.k["guards.permission_classes"]
        return bool(alternatives) and all(
            any(_short(c) in declared or self.verifying_permission(c) for c in alternative)
            for alternative in alternatives
        )

    def verifying_permission(self, cls: str) -> bool:
        for method in self.k["guards.permission_hooks"]:
            found = self.sym.method(cls, method)
            if found is not None and self.fns[found].verifies:
                return True
        return False

    def _special_surface(
        self, fn: _Fn, *, route: str | None, decorators: set[str], bases: frozenset[str], serves: bool
    ) -> str | None:
        """Webhook, job, export or admin: the surfaces whose own rule replaces ORG101/ORG102. ``serves``: the
        function serves requests (a route, a view, a dependency)."""
        k = self.k
        d = fn.d
        qualified = [dec.qualified for dec in d.decorators if dec.qualified]
        name = d.name.lower()
        called = d.called
        if (
            any(self.matches(q, k["webhooks.decorators"]) for q in qualified)
            or (route is not None and any(m in route for m in k["webhooks.path_markers"]))
            or (
                any(m in name and not _manages(name, m) for m in k["webhooks.name_markers"])
                and not _sends(name)
                and _receives(d)
            )
            or not self.called_matching(self.event_calls).isdisjoint(called)
            or (bool(fn.edges) and any(q in self.event_builders for qs in fn.edges.values() for q in qs))
        ):
            return WEBHOOK
        if (
            any(self.matches(q, k["jobs.decorators"]) for q in qualified)
            or (not fn.klass and fn.qual in self.jobs)
            or (fn.klass and self._command_class(fn.klass, bases))
            or any(_short(q) in k["jobs.command_decorators"] and "." in q for q in qualified)
        ):
            return JOB
        module = fn.path.rsplit("/", 1)[-1]
        prefixes = self._export_prefixes
        # named like an export, it writes for someone: a request, or a caller that says what (a module function
        # taking nothing, `report_uptime_to_posthog()`, serves the service itself; a method has its instance)
        named = name.startswith(prefixes) or module.startswith(prefixes)
        if (named and (serves or bool(fn.klass) or bool(fn.params))) or not self.called_matching(
            k["exports.writer_calls"]
        ).isdisjoint(called):
            return EXPORT
        admin_bases = self._admin_bases
        class_decorators = self.class_decorators(fn.klass) if fn.klass else []
        if (
            decorators & k["admin.decorators"]
            or any(self.matches(q, k["admin.decorators"]) for q in [*qualified, *class_decorators])
            or (fn.params[:1] == ("modeladmin",) and not fn.klass)  # a Django admin action
            or d.secret_gate  # an operator endpoint behind a shared secret (metrics, health)
            or (fn.klass and self._staff_class(fn.klass))
            or self._staff_dependency(fn)
            or bases & admin_bases
            or (route is not None and any(route.startswith(p) or f"/{p}" in route for p in k["admin.path_prefixes"]))
            or d.staff_gate
            or (fn.klass and self._flask_admin_view(fn.klass))
        ):
            return ADMIN
        return None

    def _staff_class(self, klass: str) -> bool:
        """A view only staff may enter: a permission hook that checks a staff flag (``has_permission``,
        ``test_func``, ``dispatch``), or a permission class that admits staff only (``IsAdminUser``)."""
        found = self._staff_classes.get(klass)
        if found is None:
            found = self._staff_classes[klass] = self._staff_class_of(klass)
        return found

    def _staff_class_of(self, klass: str) -> bool:
        for cls in self.sym.mro(klass):
            for hook in ("has_permission", "test_func", "dispatch", "has_object_permission"):
                method = self.sym.methods.get(cls, {}).get(hook)
                if method is not None and self.fns[method].d.staff_gate:
                    return True
            raw = self.sym.classes[cls]
            for ref in raw.permission_classes:
                if _short(ref.attrs[-1] if ref.attrs else ref.base) in self.k["admin.permission_classes"]:
                    return True
                for target in self.sym.resolve(ref, module_hint=self.sym.class_module[cls]):
                    if target.kind == "class" and self._staff_class(target.name):
                        return True
        return False

    def _staff_dependency(self, fn: _Fn) -> bool:
        """A route whose injected providers (its own, its controller class's, its router's and the routers
        it is mounted under) include one that refuses anyone but staff (``Depends(get_admin_user)``)."""
        for ref, module in self._route_providers(fn):
            for target in self.sym.resolve(ref, module_hint=module):
                provider = self.fns.get(target.name) if target.kind == "func" else None
                if provider is not None and self._staff_provider(provider):
                    return True
        return False

    def _route_providers(self, fn: _Fn) -> list[tuple[Ref, str]]:
        """The dependency providers injected into a route (or provider): its parameters' (``Depends(p)``, an alias
        of ``Annotated[..., Depends(p)]``), its controller class's, its router's and the routers it is mounted
        under; each with the module that names it."""
        providers: list[tuple[Ref, str]] = [
            (p.provider, fn.facts.module)
            for p in fn.d.params
            if p.provider is not None and p.marker in self.k["trusted.dependency_markers"]
        ]
        # `role: SuperuserRole`, an alias of `Annotated[..., Depends(require_superuser)]`
        providers.extend(item for p in fn.d.params for item in self.alias_providers.get(p.marker, ()))
        if fn.klass:
            providers.extend(self._class_dependencies(fn.klass))
        for dec in fn.d.decorators:
            if dec.ref is not None and dec.call and dec.ref.attrs:
                owner = Ref(dec.ref.kind, dec.ref.base, dec.ref.attrs[:-1])
                key = (_ref_key(owner), fn.facts.module)
                found = self._router_deps_of.get(key)
                if found is None:
                    found = self._router_deps_of[key] = tuple(self._router_dependencies(owner, fn.facts.module))
                providers.extend(found)
        return providers

    def _class_dependencies(self, klass: str) -> tuple[tuple[Ref, str], ...]:
        """A controller class's dependencies, its bases' included (asked for each of its methods: kept)."""
        found = self._class_deps.get(klass)
        if found is None:
            found = self._class_deps[klass] = tuple(
                (ref, self.sym.class_module[cls])
                for cls in self.sym.mro(klass)
                for ref in self.sym.classes[cls].dependencies
            )
        return found

    def _provider_params(self, fn: _Fn) -> frozenset[str]:
        """The route's parameters that one of its dependency providers verifies (directly, or through its own
        sub-dependencies): FastAPI hands every provider in a request's dependency tree the same path and query
        parameters by name, so ``get_current_org(org_id: int, ...)``, which checks membership of ``org_id``,
        vouches for the route's own ``org_id``. Only a parameter read from the same place counts: the same
        marker (``Path()``, ``Query()``, or none on both), or none on one side and ``Path()`` on the other where
        the route's path names it; a provider's ``workspace_id: UUID = Query(...)`` does not vouch for the
        route's ``{workspace_id}``."""
        route = self._route(fn)  # (asked before the function's surface may be known)
        if route is None and not any(p.provider is not None or p.marker in self.alias_providers for p in fn.d.params):
            return frozenset()  # neither a route nor a provider with sub-dependencies: no provider runs with it
        markers = self.k["sources.param_markers"]

        def place(spec: ParamSpec) -> str | None:
            """Where FastAPI reads a parameter from: its marker, "" for none; None for an injected one."""
            if spec.star or spec.provider is not None or spec.marker in self.alias_providers:
                return None
            if spec.marker in self.dependency_aliases or spec.marker in self.k["trusted.dependency_markers"]:
                return None
            return spec.marker if spec.marker in markers else ""  # the annotation's name stands in for none

        own = {p.name: found for p in fn.d.params if (found := place(p)) is not None}
        if not own:
            return frozenset()
        route = route or ""
        out: set[str] = set()
        seen: set[str] = {fn.qual}
        todo = [(ref, module, 0) for ref, module in self._route_providers(fn)]
        while todo:
            ref, module, depth = todo.pop()
            for target in self.sym.resolve(ref, module_hint=module):
                provider = self.fns.get(target.name) if target.kind == "func" else None
                if provider is None or provider.qual in seen:
                    continue
                seen.add(provider.qual)
                for p in provider.d.params:
                    mine, theirs = own.get(p.name), place(p)
                    if mine is None or theirs is None or p.name not in provider.verified_params:
                        continue
                    if theirs == mine or ({theirs, mine} == {"", "Path"} and f"{{{p.name}}}" in route):
                        out.add(p.name)
                if depth < 3:
                    todo.extend(
                        (p.provider, provider.facts.module, depth + 1)
                        for p in provider.d.params
                        if p.provider is not None and p.marker in self.k["trusted.dependency_markers"]
                    )
                    todo.extend(
                        (ref, mod, depth + 1)
                        for p in provider.d.params
                        for ref, mod in self.alias_providers.get(p.marker, ())
                    )
        return frozenset(out)

    def _staff_provider(self, provider: _Fn, depth: int = 0) -> bool:
        if provider.d.staff_gate or self.matches(provider.qual, self.k["admin.dependencies"]):
            return True
        if depth > 3:
            return False
        for p in provider.d.params:  # get_admin_user(user = Depends(get_current_user)) checks user.admin itself
            if p.provider is not None:
                for target in self.sym.resolve(p.provider, module_hint=provider.facts.module):
                    inner = self.fns.get(target.name) if target.kind == "func" else None
                    if inner is not None and (
                        inner.d.staff_gate or self.matches(inner.qual, self.k["admin.dependencies"])
                    ):
                        return True
        return False

    def _router_dependencies(self, owner: Ref, module: str) -> list[tuple[Ref, str]]:
        """Dependencies of a router (its constructor's, its class's) and of the routers it is included in."""
        if self._router_deps is None:
            parents: dict[str, list[str]] = {}
            for facts in self.files:
                for parent, child in facts.mounts:
                    parents.setdefault(self.sym.variable(child), []).append(self.sym.variable(parent))
            self._router_deps = parents
        out: list[tuple[Ref, str]] = []
        seen: set[str] = set()
        todo = [self.sym.variable(owner)]
        while todo:
            key = todo.pop()
            if not key or key in seen:
                continue
            seen.add(key)
            var = self.sym.variables.get(key)
            if var is not None:
                var_module = key.rsplit(".", 1)[0]
                out.extend((ref, var_module) for ref in var.dependencies)
                if var.type is not None:
                    for target in self.sym.resolve(var.type, module_hint=var_module):
                        if target.kind == "inst":
                            for cls in self.sym.mro(target.name):
                                out.extend((r, self.sym.class_module[cls]) for r in self.sym.classes[cls].dependencies)
            todo.extend(self._router_deps.get(key, ()))
        return out

    def class_decorators(self, klass: str) -> list[str]:
        """The decorators of a class and its project bases (``method_decorator(staff_member_required)``)."""
        return [dec for cls in self.sym.mro(klass) for dec in self.sym.classes[cls].decorators]

    def _command_class(self, klass: str, bases: frozenset[str]) -> bool:
        """A management command: a command base imported from a command module, or living in one
        (``bases``: the class's, :meth:`class_bases`)."""
        found = self._command_classes.get(klass)
        if found is None:
            found = self._command_classes[klass] = self._command_class_of(klass, bases)
        return found

    def _command_class_of(self, klass: str, bases: frozenset[str]) -> bool:
        k = self.k
        if not bases & k["jobs.command_bases"]:
            return False
        modules = k["jobs.command_modules"]
        for cls in self.sym.mro(klass):
            raw = self.sym.classes[cls]
            if any(m in raw.path for m in modules if "/" in m):
                return True
            imports = self.sym.imports.get(self.sym.class_module[cls], {})
            for base in raw.bases:
                head, dot, rest = base.partition(".")
                text = imports.get(head, head) + dot + rest
                if any(text.startswith(m) for m in modules if "/" not in m):
                    return True
        return any(any(m in info.path for m in modules if "/" in m) for info in self._ancestors_by_name(_short(klass)))

    def _is_command(self, fn: _Fn, bases: frozenset[str]) -> bool:
        if fn.klass and self._command_class(fn.klass, bases):
            return True
        if not fn.klass and fn.qual in self.periodic:
            return True  # a periodic schedule runs it with no arguments: it works for the whole service
        return any(
            _short(dec.qualified) in self.k["jobs.command_decorators"] and "." in dec.qualified
            for dec in fn.d.decorators
            if dec.qualified
        )

    def _flask_admin_view(self, klass: str) -> bool:
        """Flask-Admin's ModelView/BaseView (not Flask-AppBuilder's, which share the names)."""
        found = self._flask_admin.get(klass)
        if found is None:
            found = self._flask_admin[klass] = self._flask_admin_view_of(klass)
        return found

    def _flask_admin_view_of(self, klass: str) -> bool:
        for cls in self.sym.mro(klass):
            imports = self.sym.imports.get(self.sym.class_module[cls], {})
            for base in self.sym.classes[cls].bases:
                head, dot, rest = base.partition(".")
                if (imports.get(head, head) + dot + rest).startswith("flask_admin."):
                    return True
        return False

    def _initial(self, fn: _Fn, *, routed: bool, view: bool, kind: str) -> dict[str, str]:
        """Where each parameter comes from: client input, a verified dependency, or nothing known."""
        k = self.k
        out: dict[str, str] = {}
        handler_params = k["requests.handler_params"]
        after_request = False
        # MethodView/Resource handlers take the route's parameters right after self
        kwarg_view = bool(fn.klass) and bool(self.class_bases(fn.klass) & k["requests.kwarg_views"])
        # has_delete_permission(self, request, obj): the object the admin fetched through its own get_queryset
        admin_objects = k["admin.object_params"] if fn.klass and self.class_bases(fn.klass) & k["admin.bases"] else ()
        for index, spec in enumerate(p for p in fn.d.params if p.star != "*"):
            name = spec.name
            if spec.star:
                # `def destroy(self, request, *args, **kwargs)`: a view handler's **kwargs are the URL's
                if view and (after_request or kwarg_view):
                    out[name] = f"request:{name}"
                continue
            if spec.marker in k["trusted.dependency_markers"] or spec.marker in self.dependency_aliases:
                out[name] = self._provided(fn, spec.provider) if spec.provider is not None else "trusted"
                continue
            if spec.marker == FACTORY_MARKER and spec.provider is not None:
                if self.dependency_factory(spec.provider, fn.facts.module):
                    out[name] = "trusted"  # `role: Role = RoleACL(...)`: what the factory's dependency provides
                    continue
            elif spec.marker in k["sources.param_markers"]:
                out[name] = f"request:{spec.marker.lower()} parameter {name}"
                continue
            if name in handler_params or (index == 0 and name in ("self", "cls")):
                after_request = after_request or name in handler_params
                continue
            if name in admin_objects:
                continue
            if _short(spec.annotation) in k["sources.neutral_param_types"]:
                continue
            if name in fn.verified_kwargs or name in self._guard_kwargs(fn):
                out[name] = "trusted"  # a URL kwarg the handler's guard verifies
                continue
            body = any(
                bool(ann) and bool(self.base_shorts_of(ann, fn.facts.module) & k["sources.body_types"])
                for ann in (spec.annotation, spec.items)
            )
            if body and (routed or (view and after_request)):
                out[name] = f"request:request body {name}"
            elif view and (after_request or kwarg_view):
                out[name] = f"request:URL parameter {name}"
            elif routed:
                out[name] = f"request:{kind} parameter {name}"
        return out

    def _resolver_arguments(self, fn: _Fn) -> dict[str, str]:
        """A GraphQL resolver's parameters: the first is the parent object (``root``, ``self``, ``_``), ``info``
        is the execution context; every other one, ``**kwargs`` included, is an argument the client sent. A
        function handed as ``resolver=`` takes the parent only when it names one (Strawberry passes by name:
        ``def get_webapp(id: strawberry.ID)`` takes just the argument)."""
        out: dict[str, str] = {}
        neutral = self.k["sources.neutral_param_types"]
        guarded = self._guard_kwargs(fn)  # the arguments its permission classes verify
        by_name = fn.qual in self.resolver_fns
        for index, spec in enumerate(p for p in fn.d.params if p.star != "*"):
            parent = index == 0 and not spec.star and (not by_name or spec.name in _PARENT_NAMES)
            if parent or spec.name == "info" or _short(spec.annotation) in neutral:
                continue
            out[spec.name] = "trusted" if spec.name in guarded else f"request:GraphQL argument {spec.name}"
        return out

    def request_hooks(self, fn: _Fn) -> list[_Fn]:
        """``before_request`` hooks that run before a route: its blueprint's, and the application's."""
        if not fn.d.decorators:
            return []  # only a route decorator brings hooks
        if self._hooks is None:
            hooks: dict[str, list[str]] = {}
            for facts in self.files:
                pairs = list(facts.hooks)
                for d in facts.functions:
                    for dec in d.decorators:
                        if (
                            dec.ref is not None
                            and dec.ref.attrs
                            and dec.ref.attrs[-1] in ("before_request", "before_app_request")
                        ):
                            pairs.append(
                                (
                                    Ref(dec.ref.kind, dec.ref.base, dec.ref.attrs[:-1]),
                                    Ref("g", f"{facts.module}.{d.qualname}"),
                                )
                            )
                for owner, hook in pairs:
                    key = self.sym.container(owner, facts.module) or _ref_key(owner)
                    for target in self.sym.resolve(hook, module_hint=facts.module):
                        if target.kind == "func":
                            hooks.setdefault(key, []).append(target.name)
            self._hooks = hooks
            self._app_hooks = [
                q for key, found in hooks.items() if _short(key) == "app" or "Flask" in key for q in found
            ]
        out: list[_Fn] = []
        for dec in fn.d.decorators:
            if (
                dec.ref is None
                or not dec.call
                or not dec.ref.attrs
                or dec.ref.attrs[-1] not in self.k["requests.route_decorators"]
            ):
                continue
            owner = Ref(dec.ref.kind, dec.ref.base, dec.ref.attrs[:-1])
            key = self.sym.container(owner, fn.facts.module) or _ref_key(owner)
            out.extend(self.fns[q] for q in self._hooks.get(key, []) + self._app_hooks if q in self.fns)
        return out

    def _guard_kwargs(self, fn: _Fn) -> frozenset[str]:
        """URL kwargs verified by the handler's decorators, or the view's permission classes or dispatch hooks
        (asked once the summaries are solved)."""
        found = self._guarded_kwargs.get(fn.qual)
        if found is None:
            found = self._guarded_kwargs[fn.qual] = self._guard_kwargs_of(fn)
        return found

    def _guard_kwargs_of(self, fn: _Fn) -> frozenset[str]:
        out: set[str] = set(self._provider_params(fn))
        for before in self.request_hooks(fn):
            out.update(before.verified_kwargs)
        for dec in fn.d.decorators:
            if dec.ref is not None:
                for target in self.sym.resolve(dec.ref, module_hint=fn.facts.module):
                    deco = self.fns.get(target.name) if target.kind == "func" else None
                    if deco is not None:
                        out.update(deco.verified_kwargs)
        for cls in self._permission_decorations(fn):
            for method in self.k["guards.permission_hooks"]:
                found = self.sym.method(cls, method)
                if found is not None:
                    out.update(self._permission_kwargs(self.fns[found], fn.klass))
        if not fn.klass:
            return frozenset(out)
        # the view's permission classes are checked once `get_permissions` has picked them: not before or inside it
        key = (fn.klass, fn.d.name == "get_permissions")
        found_kwargs = self._class_guarded.get(key)
        if found_kwargs is None:
            found_kwargs = self._class_guarded[key] = self._class_guard_kwargs(*key)
        return frozenset(out | found_kwargs) if out else found_kwargs

    def _class_guard_kwargs(self, klass: str, picking: bool) -> frozenset[str]:
        """The URL kwargs every method of a view class has verified by the class's guards: its parent hooks, its
        permission classes (not for ``picking``: ``get_permissions``) and its object hooks."""
        out: set[str] = set()
        bases = self.class_bases(klass)
        for entry in self.k["guards.parent_hooks"]:
            # FilterByParentManaged.get_parent_queryset: the mixin refuses a URL parent outside the user's tenants
            mixin, _, hook = entry.rpartition(".")
            found = self.sym.method(klass, hook) if _short(mixin) in bases else None
            if found is not None:
                out.update(self.fns[found].d.kwargs_read)
        object_hooks = self.k["requests.object_hooks"]
        for cls in self.sym.mro(klass):
            raw = self.sym.classes[cls]
            for ref in () if picking else raw.permission_classes:
                for t in self.sym.resolve(ref, module_hint=self.sym.class_module[cls]):
                    if t.kind == "class":
                        out.update(self._class_kwargs(t.name, klass))
            for composed in () if picking else raw.permission_alternatives:
                # each alternative verifies what any class it requires does; the permission, what every one does
                found_sets = [
                    set().union(*(self._class_kwargs(c, klass) for c in alternative))
                    for alternative in self.permission_alternatives(composed, self.sym.class_module[cls])
                ]
                if found_sets:
                    out.update(set.intersection(*found_sets))
            methods = self.sym.methods.get(cls)
            if methods:
                for name in object_hooks:
                    hooked = methods.get(name)
                    if hooked is not None:
                        out.update(self.fns[hooked].verified_kwargs)
        return frozenset(out)

    def _class_kwargs(self, permission: str, view: str) -> frozenset[str]:
        """The URL kwargs a permission class's hooks verify for ``view``."""
        out: set[str] = set()
        for method in self.k["guards.permission_hooks"]:
            found = self.sym.method(permission, method)
            if found is not None:
                out.update(self._permission_kwargs(self.fns[found], view))
        return frozenset(out)

    def _permission_kwargs(self, hook: _Fn, view: str) -> frozenset[str]:
        """The URL kwargs a verifying permission hook checks for ``view``: those it reads itself
        (``view.kwargs["pk"]``), and those read by the view's own methods or properties it asks for
        (``view.project_id``, where the view's ``project_id`` returns ``self.kwargs.get("project_id")``)."""
        if not hook.verifies:
            return hook.verified_kwargs
        out = set(hook.verified_kwargs)
        for attr in hook.d.view_attrs:
            found = self.sym.method(view, attr)
            if found is not None:
                out.update(self.fns[found].d.kwargs_read)
        return frozenset(out)

    def _hands_back(self, fn: _Fn, depth: int = 0) -> bool:
        """Whether what a function returns may derive from its arguments, as the reach reads it (``_taints``): its
        return carries its parameters, or it yields, or it returns a call the join cannot follow (a library's
        ``simplejson.loads(obj)``) or one of a project function that carries. A function returning rows and values
        of its own (``entry = Entry(...); entry.save(); return entry``) does not."""
        if _passes_through(fn):
            return True
        for key in fn.d.returns.calls:
            callees = self.callee(fn, key)
            if not callees:
                return True
            if depth < 3 and any(
                not c.returns and not c.verifies and not c.resolves and self._hands_back(c, depth + 1) for c in callees
            ):
                return True
        return False

    def _provided(self, fn: _Fn, provider: Ref) -> str:
        """What a ``Depends(provider)`` parameter is: the provider's summary says."""
        targets = [t for t in self.sym.resolve(provider, module_hint=fn.facts.module) if t.kind in ("func", "class")]
        if not targets:
            return "trusted"  # a provider from a library (orgguard.runtime's ActiveOrg, a security scheme)
        for target in targets:
            callee = self.fns.get(target.name) if target.kind == "func" else None
            if callee is None:
                continue
            if callee.verifies or callee.returns == "trusted":
                return "trusted"
            if callee.resolves or callee.returns.startswith(("request:", "session:")):
                return "resolved"  # the provider's own lookup is reported where it happens
        return ""

    # -- output -------------------------------------------------------------------------------------

    def _info(self, fn: _Fn) -> FunctionInfo:
        callees = tuple((key, targets[0]) for key, targets in sorted(fn.edges.items()) if targets)
        whole = tuple(p for p in fn.params if self._writes_whole(fn, p, 0))
        return FunctionInfo(
            qualname=fn.qual,
            name=fn.d.name,
            path=fn.path,
            line=fn.d.line,
            klass=fn.klass,
            params=fn.params,
            surface=fn.surface,
            guard=fn.guard,
            command=fn.command,
            object_check=fn.d.object_check,
            route=fn.route or "",
            routed=fn.route is not None,
            view=fn.view,
            resolver=fn.resolver,
            dependency=fn.dependency,
            initial=tuple(sorted(fn.initial.items())),
            verifies=fn.verifies,
            verified_params=tuple(sorted(fn.verified_params)),
            verified_kwargs=tuple(sorted(fn.verified_kwargs)),
            trusted_kwargs=tuple(sorted(self._guard_kwargs(fn))),
            resolves_unverified=tuple(sorted(fn.resolves)),
            returns=fn.returns,
            carries=self._hands_back(fn),
            callees=callees,
            scoped_session=self._scoped_session(fn),
            helper=fn.helper,
            assigns=fn.d.assigns,
            narrows=fn.d.narrows,
            narrowed_in=fn.d.narrowed_in,
            passes=fn.d.passes,
            writes=whole,
            writes_fixed=tuple((p, fixed) for p in whole if (fixed := self._fixed(fn, p, 0))),
            body_tenant=self._body_tenant(fn),
            body_refs=self._body_refs(fn),
            vouches=tuple(sorted(self.vouches(fn))),
            vouches_given=self._vouches_given(fn),
            builds_row=self.builds_row(fn),
            returns_scoped=self._returns_scoped(fn),
            fetches_object=fn.d.fetches_object,
            periodic=not fn.klass and fn.qual in self.periodic,
            given_params=self._given_params(fn),
            own_fetch=fn.d.name == "get_object"
            and not any(t.startswith("super(") or t.rsplit(".", 1)[-1] == "get_queryset" for t in fn.d.called),
        )

    @functools.cached_property
    def calls_by_name(self) -> dict[str, list[tuple[_Fn, CallFacts]]]:
        """Every call of the project by the last name it calls (``app.DATABASE.tasks.get_task(...)``: ``get_task``),
        resolved or not, with the function making it: a superset of the calls that may run a function of that name."""
        wanted = {fn.d.name for fn in self.fns.values() if fn.d.optional_params}  # the names :meth:`given` asks
        out: dict[str, list[tuple[_Fn, CallFacts]]] = {}
        for fn in self.pool:
            for call in fn.d.calls:
                if call.mode == "call":
                    name = _call_name(call)
                    if name in wanted:
                        out.setdefault(name, []).append((fn, call))
        return out

    @functools.cached_property
    def unrecorded_call_names(self) -> frozenset[str]:
        """The last names of the calls whose arguments the index pass did not record (``repo.find(doc_id)`` on an
        untyped parameter): what they give is unknown."""
        return frozenset(name for fn in self.pool for name in fn.d.blind_calls)

    def _given_params(self, fn: _Fn) -> tuple[str, ...]:
        """The optional parameters of ``fn`` that every call of its name in the project gives (see :meth:`given`)."""
        return tuple(name for name in fn.d.optional_params if name in fn.params and self.given(fn, name))

    def given(self, fn: _Fn, name: str) -> bool:
        """Whether every call of ``fn``'s name in the project gives its parameter ``name`` (by position or by
        keyword), never as the literal ``None``, and, where the value comes from the caller's own optional
        parameters, only when those are given in turn. Never for a function nothing calls by name (a route or a
        job the framework calls, a callback). Every call of that name counts but those the join resolved to
        other functions, so a caller it cannot resolve (``app.DATABASE.tasks.get_task``, through a proxy) is
        still asked."""
        if name not in fn.d.optional_params:
            return name in fn.params
        key = (fn.qual, name)
        found = self._given.get(key)
        if found is None:
            self._given[key] = False  # a cycle of calls gives nothing it does not give from outside
            found = self._given[key] = self._given_of(fn, name)
        return found

    def _given_of(self, fn: _Fn, name: str) -> bool:
        if fn.surface in ENTRY_SURFACES:
            return False
        calls = self.calls_by_name.get(fn.d.name, ())
        params = list(fn.params)
        if not calls or name not in params or fn.d.name in self.unrecorded_call_names:
            return False
        index = params.index(name)
        method = bool(fn.klass) and params[:1] in (["self"], ["cls"])
        for caller, call in calls:
            targets = caller.edges.get(call.key)
            if targets and fn.qual not in targets:
                continue  # resolved to another function of that name
            text = call.key.rsplit("#", 1)[0]
            slot = str(index - 1) if method and "." in text else str(index)
            origin = next((value for key, value in call.args if key in (name, slot)), None)
            if origin is None or name in call.nones or slot in call.nones:
                return False
            if any(q in caller.d.optional_params and not self.given(caller, q) for q in origin.params):
                return False
        return True

    def _returns_scoped(self, fn: _Fn) -> str:
        """The model of the query ``fn`` returns, when a trusted source or a scoping method narrows it (the
        signed-in user's own rows, the verified tenant's), as a queryset hook's narrowing is read; else ""."""
        hook = fn.d.returned_query
        if hook is None or not (hook.scopes or set(hook.calls) & self.scoping_methods):
            return ""
        return fn.d.returned_model

    def _writes_whole(self, fn: _Fn, param: str, depth: int) -> bool:
        """Whether ``fn`` writes every field of ``param`` onto a row, itself or through a function it hands
        the parameter to (``self.repo.update(item_id, data)``)."""
        if fn.qual not in self._may_write():
            return False
        memo = (fn.qual, param)
        found = self._writes_memo.get(memo)
        if found is not None:
            return found
        self._writes_memo[memo] = False  # a cycle writes nothing more
        found = bool(self._own_whole_writes(fn, param))
        if not found and depth < 5:
            found = any(
                self._carries(fn, origin, param)
                and any(
                    (target := _param_for(callee, slot, call)) and self._writes_whole(callee, target, depth + 1)
                    for callee in self.callee(fn, call.key)
                )
                for call in fn.d.calls
                if call.mode == "call"
                for slot, origin in call.args
            )
        self._writes_memo[memo] = found
        return found

    def _fixed(self, fn: _Fn, param: str, depth: int) -> tuple[str, ...]:
        """The fields every whole write of ``param`` in ``fn`` sets itself (``Meter(**body, organization=org)``:
        ``organization``), itself or through the callees it hands the parameter to; () when one sets none."""
        sets = self._own_whole_writes(fn, param)
        if any(not fixed for fixed in sets):
            return ()
        if depth < 5:
            for call in fn.d.calls:
                if call.mode != "call":
                    continue
                for slot, origin in call.args:
                    if not self._carries(fn, origin, param):
                        continue
                    for callee in self.callee(fn, call.key):
                        target = _param_for(callee, slot, call)
                        if target and self._writes_whole(callee, target, depth + 1):
                            sets.append(set(self._fixed(callee, target, depth + 1)))
        if not sets:
            return ()
        return tuple(sorted(set.intersection(*sets)))

    def _own_whole_writes(self, fn: _Fn, param: str) -> list[set[str]]:
        """The fields each of ``fn``'s own whole writes of ``param`` sets itself beside it: none for a query's
        ``update(**data)`` or a repository's ``self.model(**data)``; the keywords of
        ``Meter(**data, organization=org)``."""
        sets: list[set[str]] = []
        if param in fn.d.writes or any(p == param and self._binds_models(fn.klass, a) for a, p in fn.d.constructs):
            sets.append(set())
        sets.extend(set(named) for text, p, named in fn.d.builds_from if p == param and self._names_model(fn, text))
        return sets

    def _may_write(self) -> frozenset[str]:
        """Functions that write a row's fields themselves, and those that call them (five calls up): only these
        can write a parameter whole (computed once, from the call graph)."""
        if self._writers is None:
            callers: dict[str, set[str]] = {}
            for fn in self.fns.values():
                for targets in fn.edges.values():
                    for target in targets:
                        callers.setdefault(target, set()).add(fn.qual)
            found = {q for q, fn in self.fns.items() if fn.d.writes or fn.d.constructs or fn.d.builds_from}
            frontier = set(found)
            for _ in range(5):
                frontier = {c for q in frontier for c in callers.get(q, ())} - found
                found |= frontier
            self._writers = frozenset(found)
        return self._writers

    def _names_model(self, fn: _Fn, text: str) -> bool:
        """Whether a call's text in ``fn`` names a project model (``TopologyServiceDependency``, ``models.Task``)."""
        return _short(self._qualified(fn, text)) in self.model_infos

    def _binds_models(self, klass: str, attr: str) -> bool:
        """Whether constructions (or subclasses, registrations) bind ``self.<attr>`` of ``klass`` to models."""
        return bool(klass) and any(a == attr and models for a, models in self.bound_slots.get(klass, ()))

    def _carries(self, fn: _Fn, origin: Origin, param: str) -> bool:
        """Whether a value is the parameter's fields: the parameter, or a copy of it (``data.model_dump()``)."""
        if param in origin.params:
            return True
        for key in origin.calls:
            if key.split("#", 1)[0].rsplit(".", 1)[-1] in vocab.FIELD_COPIES:
                call = self.call_facts(fn, key)
                if call is not None and param in call.receiver.params:
                    return True
        return False

    def _body_classes(self, fn: _Fn) -> Iterator[tuple[str, str, list[str]]]:
        """(param, body class, its fields with the inherited ones) of the request-body parameters whose model is
        a project class, itself or as a collection of them (``data: list[UpdateCookBook]``)."""
        for spec in fn.d.params:
            if not fn.initial.get(spec.name, "").startswith("request:request body"):
                continue
            qual = next(
                (q for a in (spec.annotation, spec.items) if a and (q := self._annotated_class(a, fn.facts.module))), ""
            )
            if qual:
                yield spec.name, qual, [c for klass in self.sym.mro(qual) for c in self.sym.classes[klass].columns]

    def _body_refs(self, fn: _Fn) -> tuple[tuple[str, str, str, str], ...]:
        """(param, body class, field, target) of the request-body parameters whose model declares a foreign id
        that one tenant-owned model's relations name (``shopping_list_id`` -> ``ShoppingList``): the client
        picks the referenced row by id. Not the tenant fields themselves (``body_tenant``)."""
        return tuple(
            dict.fromkeys(
                (param, _short(qual), name, target)
                for param, qual, fields in self._body_classes(fn)
                for name in fields
                if (target := self.reference_targets.get(name)) and name not in self.own_tenant_fields
            )
        )

    def _body_tenant(self, fn: _Fn) -> tuple[tuple[str, str, str], ...]:
        """(param, body class, field) of the request-body parameters whose model declares the tenant field
        (``data: ShoppingListUpdate`` inheriting ``group_id``), itself or as a list of them."""
        declared = list(self.config.tenant_fields)
        out: list[tuple[str, str, str]] = []
        for param, qual, fields in self._body_classes(fn):
            # the declared tenant fields first, in their order (a body's first field may be a proxy)
            held = min(
                (f for f in fields if f in self.own_tenant_fields),
                key=lambda f: declared.index(f) if f in declared else len(declared),
                default="",
            )
            if held:
                out.append((param, _short(qual), held))
        return tuple(out)


def _loose(d: DefFacts) -> bool:
    """A module function that nothing registers, injects into it, or wraps it with."""
    return (
        not d.klass
        and d.qualname == d.name
        and not d.decorators
        and not d.registers
        and all(p.provider is None for p in d.params)
    )


def _ref_text(ref: Ref) -> str:
    """A global reference as dotted text (``app.extensions.db.session``)."""
    return ".".join([ref.base, *ref.attrs])


def _ref_key(ref: Ref) -> str:
    return f"{ref.kind}:{ref.base}" + "".join(f".{a}" for a in ref.attrs)


def _homonyms(
    by_name: Mapping[str, list[ClassFacts]],
    paths_of: Mapping[str, list[str]],
    path_modules: Mapping[str, str],
    tenant_bases: Mapping[str, list[tuple[str, str]]],
) -> dict[str, tuple[tuple[str, bool], ...]]:
    """Tenant-owned models whose short name several project classes have: each definition's module, and
    whether that definition itself declares (or inherits) the first step of a tenant path. Models are keyed by
    short name, so the fields of every same-named class were merged; a file that imports the one without a
    tenant path queries a model no tenant owns (see :meth:`ProjectIndex.foreign_homonym`)."""
    out: dict[str, tuple[tuple[str, bool], ...]] = {}
    for name, paths in paths_of.items():
        defs = by_name.get(name, [])
        if len(defs) < 2:
            continue
        heads = {p.split("__", 1)[0] for p in paths}
        homes: dict[str, bool] = {}
        for raw in defs:
            fields = {f for f, _t in raw.relations} | set(raw.columns)
            for base in map(_short, raw.bases):
                fields.update(f for f, _t in tenant_bases.get(base, ()))
                if base != name:
                    for _current, ancestor in _lineage(base, by_name):
                        fields.update(f for f, _t in ancestor.relations)
                        fields.update(ancestor.columns)
            module = path_modules.get(raw.path, "")
            if module:
                homes[module] = homes.get(module, False) or bool(fields & heads)
        if any(homes.values()) and not all(homes.values()):
            out[name] = tuple(sorted(homes.items()))
    return out


def _reference_targets(
    models: Mapping[str, ModelInfo],
    tables: Mapping[str, str],
    paths: Mapping[str, Sequence[str]],
    tenants: Iterable[str],
    users: Iterable[str],
) -> dict[str, str]:
    """Foreign-id field names -> the one tenant-owned model the project's relations by that name point at
    (``shopping_list_id`` -> ``ShoppingList``); a name two relations share for different models is left out,
    and so are user models: a body's ``user_id`` names a person (an author, an assignee), not a row of the
    tenant's data that the write would expose."""
    found: dict[str, set[str]] = {}
    named = set(users)
    tenant_models = set(tenants) | named
    tenant_models |= {name for name, info in models.items() if {_short(b) for b in info.bases} & named}
    for info in models.values():
        for relation, target in info.relations:
            name = relation if relation.endswith("_id") else f"{relation}_id"
            model = _table_model(tables, target.removeprefix("table:")) if target.startswith("table:") else target
            if model:
                found.setdefault(name, set()).add(model)
    return {
        name: next(iter(targets))
        for name, targets in found.items()
        if len(targets) == 1 and paths.get(next(iter(targets))) and next(iter(targets)) not in tenant_models
    }


def _own_tenant_fields(tenant_fields: Iterable[str], paths: Iterable[Iterable[str]]) -> frozenset[str]:
    """Fields that hold a row's own tenant: the declared tenant fields and every direct tenant path (not the
    parents further up: a body naming its project is a reference, judged as one)."""
    out = set(tenant_fields)
    for model_paths in paths:
        for path in model_paths:
            if "__" not in path:
                out.update((path, path if path.endswith("_id") else f"{path}_id"))
    return frozenset(out)


def _ALWAYS(_entry: str) -> bool:
    return True


def _pins_owner(key: str, paths: Iterable[str]) -> bool:
    """Whether a lookup key pins the tenant or an owner on the way to it (``workspace_id`` on the path
    ``workspace_id__organization_id``): one tenant's rows, whichever owner the value names."""
    key = key.removesuffix("__exact")
    for path in paths:
        parts = path.split("__")
        for i in range(1, len(parts) + 1):
            hop = "__".join(parts[:i])
            if key in (hop, f"{hop}_id") or (hop.endswith("_id") and key == hop[:-3]):
                return True
    return False


def _param_for(callee: _Fn, slot: str, call: CallFacts) -> str:
    """The callee parameter an argument slot (``"0"`` or a keyword) binds to."""
    if not slot.isdigit():
        return slot if slot in callee.params else ""
    index = int(slot)
    params = callee.params
    bound = bool(callee.klass) and bool(params) and params[0] in ("self", "cls")
    if bound and (call.mode in ("getattr", "dispatch") or callee.d.name == "__init__" or _bound_call(call)):
        index += 1
    elif not callee.klass and call.mode == "enqueue" and params and params[0] == "self":
        index += 1  # `@app.task(bind=True) def dump(self, user, project)`: the task instance comes first
    return params[index] if index < len(params) else ""


def _bound_call(call: CallFacts) -> bool:
    """``self.m(x)``, ``svc.m(x)``, ``Service().m(x)``, ``Cls.classmethod(x)``: the first argument is not ``self``."""
    ref = call.ref
    if ref is None:
        return False
    return ref.kind in ("self", "inst", "super") or bool(ref.attrs)


# ---------------------------------------------------------------------------------------------------
# reach


@dataclass
class _Item:
    source: str  # client input text ("" for function reach)
    pred: tuple[str, str, str, str] | None  # (caller qualname, group key text, param or "", call key)
    step: Step | None


_Group = tuple[str, bool, str]  # (surface, command, fate)


class _Reach:
    """Forward from every entry point: which entries reach each function, and with which client input
    in which parameter (unguarded), keeping the first paths found (breadth first: the shortest)."""

    def __init__(self, join: _Join, entries: Iterable[str]) -> None:
        self.j = join
        self.entries = entries  # the functions that may be entry points, in order
        self.freach: dict[str, dict[_Group, dict[str, _Item]]] = {}
        self.preach: dict[str, dict[str, dict[_Group, dict[str, _Item]]]] = {}
        # what ``self`` may be when a function runs for an entry: classes whose instances (theirs or their
        # subclasses') it is ("" when nothing is known). An entry defined on a base class runs on every
        # subclass; ``self.m()`` then runs what those classes resolve ``m`` to, not every override in the
        # project (a sibling viewset's ``annotate_queryset()`` is not run by this one's ``serialize()``)
        self.receivers: dict[str, dict[str, set[str]]] = {}
        self._runs: dict[tuple[str, str], frozenset[str]] = {}
        self._made: dict[tuple[str, Ref], frozenset[str]] = {}
        self._open: dict[str, bool] = {}

    def solve(self) -> tuple[dict[str, tuple[Reach, ...]], dict[str, tuple[tuple[str, tuple[Reach, ...]], ...]]]:
        j = self.j
        queue: deque[str] = deque()
        queued: set[str] = set()
        for qual in self.entries:
            fn = j.fns[qual]
            if fn.surface not in ENTRY_SURFACES or j.exempt(fn.path) or fn.helper:
                # tests and seed scripts call the app's code; a view's helper method runs for its handlers
                continue
            group: _Group = (fn.surface, fn.command, "consumed")
            entry_step = Step(qual, fn.path, fn.d.line, 1, "entry", f"{fn.d.name}()")
            self.receivers.setdefault(qual, {}).setdefault(qual, set()).add(fn.klass)
            self.freach.setdefault(qual, {}).setdefault(group, {})[qual] = _Item("", None, entry_step)
            for param, origin in fn.initial.items():
                if origin.startswith(("request:", "session:")):
                    step = Step(qual, fn.path, fn.d.line, 1, "source", origin.split(":", 1)[1])
                    self.preach.setdefault(qual, {}).setdefault(param, {}).setdefault(group, {})[qual] = _Item(
                        origin, None, step
                    )
            queue.append(qual)
            queued.add(qual)
        rounds = 0
        while queue and rounds < 200_000:
            rounds += 1
            qual = queue.popleft()
            queued.discard(qual)
            for callee in self._propagate(j.fns[qual]):
                if callee not in queued:
                    queued.add(callee)
                    queue.append(callee)
        return self._output()

    def _propagate(self, fn: _Fn) -> dict[str, None]:
        """Push what reaches ``fn`` into everything it calls; the callees whose state grew, in the order of
        the calls (not a set's: the paths kept depend on the order the queue takes them, which must not
        change from one process to the next)."""
        j = self.j
        grown: dict[str, None] = {}
        freach = self.freach.get(fn.qual, {})
        preach = self.preach.get(fn.qual, {})
        for call in fn.d.calls:
            targets = fn.edges.get(call.key)
            if not targets:
                continue
            step = Step(fn.qual, fn.path, call.line, call.col + 1, "call", call.key.rsplit("#", 1)[0] + "()")
            at_call = call.fate
            if set(call.fate_attrs) & j.tenant_attrs or (call.result_var and call.result_var in j.verified_names(fn)):
                at_call = "checked"  # the caller checks the row's tenant before using it
            own = call.ref is not None and call.ref.kind == "self" and len(call.ref.attrs) == 1
            made = self._instance_classes(fn, call.ref) if call.ref is not None and not own else frozenset()
            for target in targets:
                callee = j.fns.get(target)
                if callee is None:
                    continue
                # `self.perform_delete()` from a base class's handler, overridden by a staff-only view: the
                # override runs for that view's (staff) requests only
                staff_override = callee.surface == ADMIN and call.ref is not None and call.ref.kind == "self"
                kept = call.ref is not None and call.ref.kind == "super"
                into_receivers = self._into_receivers(fn, callee, grown, own=own, kept=kept, made=made)
                if call.mode != "enqueue":
                    for (surface, command, fate), items in freach.items():
                        new_fate = _fate(at_call, fate)
                        into = ADMIN if staff_override and surface == REQUEST else surface
                        dest = self.freach.setdefault(target, {}).setdefault((into, command, new_fate), {})
                        for entry, _item in items.items():
                            if not into_receivers(entry):
                                continue
                            if entry not in dest and len(dest) < REACH_CAP:
                                dest[entry] = _Item("", (fn.qual, _gk((surface, command, fate)), "", call.key), step)
                                grown[target] = None
                for slot, origin in call.args:
                    param = _param_for(callee, slot, call)
                    if not param or j.origin_vouched(fn, origin) or param in callee.verified_params:
                        continue
                    for group, source, pred_param, pred_group in self._taints(fn, origin):
                        surface, command, fate = group
                        into = ADMIN if staff_override and surface == REQUEST else surface
                        new_group = (into, command, _fate(at_call, fate))
                        dest = self.preach.setdefault(target, {}).setdefault(param, {}).setdefault(new_group, {})
                        items = (
                            preach.get(pred_param, {}).get(pred_group, {}) if pred_param else freach.get(pred_group, {})
                        )
                        for entry in items:
                            if not into_receivers(entry):
                                continue
                            if entry in dest or len(dest) >= REACH_CAP:
                                continue
                            src = items[entry].source if pred_param else source
                            dest[entry] = _Item(src, (fn.qual, _gk(pred_group), pred_param, call.key), step)
                            grown[target] = None
        return grown

    def _instance_classes(self, fn: _Fn, ref: Ref) -> frozenset[str]:
        """The classes of the instance a method is called on (``DependencyManager().schedule()``: the class made,
        not the base that defines ``schedule``); empty when unknown."""
        if not ref.attrs:
            return frozenset()
        key = (fn.facts.module, ref)
        found = self._made.get(key)
        if found is None:
            receiver = Ref(ref.kind, ref.base, ref.attrs[:-1])
            found = self._made[key] = frozenset(
                t.name for t in self.j.sym.resolve(receiver, module_hint=fn.facts.module) if t.kind == "inst"
            )
        return found

    def _into_receivers(
        self, fn: _Fn, callee: _Fn, grown: dict[str, None], *, own: bool, kept: bool, made: frozenset[str]
    ) -> Callable[[str], bool]:
        """For a call from ``fn`` into ``callee``: whether an entry's run of ``fn`` may run ``callee`` (recording
        what ``self`` then is in ``callee``). ``own``: ``self.m()``; ``kept``: ``super().m()`` (the same ``self``)."""
        before = self.receivers.get(fn.qual, {})
        after = self.receivers.setdefault(callee.qual, {})

        if not callee.klass and not own and not kept:
            return _ALWAYS  # a module function: no `self` to follow into it

        def into(entry: str) -> bool:
            classes = before.get(entry) or {""}
            if own:
                found = {r for c in classes for r in self._runs_as(c, callee)}
            elif kept:
                found = set(classes)
            else:
                # `DependencyManager().schedule()` runs `schedule` on a DependencyManager: `self._schedule()` in it
                # is DependencyManager's, not a sibling manager's
                made_here = {c for c in made if c == callee.klass or c in self.j.sym.descendants(callee.klass)}
                found = made_here or {callee.klass}
            if not found:
                return False
            held = after.setdefault(entry, set())
            if not found <= held:
                held |= found
                grown[callee.qual] = None  # what reaches it is pushed on again, for the new receivers
            return True

        return into

    def _runs_as(self, receiver: str, callee: _Fn) -> frozenset[str]:
        """What ``self`` may be in ``callee`` when ``self.<name>()`` on an instance of ``receiver`` (or of one of its
        subclasses) runs it; empty when it never does (``callee`` is a sibling class's override). A mixin's
        ``self.serialize()`` runs what the classes that mix it in inherit from their other bases."""
        if not receiver or not callee.klass:
            return frozenset({callee.klass})
        key = (receiver, callee.qual)
        found = self._runs.get(key)
        if found is not None:
            return found
        subclasses = self.j.sym.descendants(receiver)
        sym, name = self.j.sym, callee.d.name
        if callee.klass == receiver or callee.klass in subclasses:
            found = frozenset({callee.klass})  # an override in a subclass: it runs on that subclass's instances
        elif sym.method(receiver, name) == callee.qual:
            found = frozenset({receiver})  # what the receiver's own class order resolves the name to
        else:
            found = frozenset(c for c in subclasses if sym.method(c, name) == callee.qual)
        self._runs[key] = found
        return found

    def _taints(self, fn: _Fn, origin: Origin, depth: int = 0) -> Iterator[tuple[_Group, str, str, _Group]]:
        """(group, source, caller param, caller group) for each way client input reaches ``origin``."""
        j = self.j
        preach = self.preach.get(fn.qual, {})
        for param in origin.params:
            for group in preach.get(param, {}):
                yield group, "", param, group
        sources = list(origin.sources)
        for key in origin.calls:
            callees = j.callee(fn, key)
            if callees:
                for callee in callees:
                    if callee.returns.startswith(("request:", "session:")):
                        sources.append(callee.returns)
                    elif not callee.returns and depth < 3 and not callee.verifies and not callee.resolves:
                        call = j.call_facts(fn, key)
                        if call is not None and _passes_through(callee):
                            for _slot, arg in call.args:
                                yield from self._taints(fn, arg, depth + 1)
            else:
                call = j.call_facts(fn, key)
                if call is not None and depth < 3:
                    for _slot, arg in (*call.args, ("", call.receiver)):
                        yield from self._taints(fn, arg, depth + 1)
        for source in sources:
            call_input = vocab.reads_input_call(source.split(":", 1)[1], j.k)  # parser.parse_args()
            for group in self.freach.get(fn.qual, {}):
                if call_input and group[0] not in (REQUEST, ADMIN, EXPORT):
                    continue  # a command's parser reads the operator's arguments, not a client's
                yield group, source, "", group

    def _path(self, table: str, qual: str, param: str, group: _Group, entry: str) -> tuple[Step, ...]:
        steps: list[Step] = []
        current: tuple[str, str, _Group] | None = (qual, param, group)
        seen: set[tuple[str, str, _Group]] = set()
        while current is not None and current not in seen and len(steps) < 32:
            seen.add(current)
            f, p, g = current
            item = (
                self.preach.get(f, {}).get(p, {}).get(g, {}).get(entry)
                if p
                else self.freach.get(f, {}).get(g, {}).get(entry)
            )
            if item is None:
                break
            if item.step is not None:
                steps.append(item.step)
            if item.pred is None:
                break
            caller, gtext, pparam, _key = item.pred
            current = (caller, pparam, _ungk(gtext))
        steps.reverse()
        return tuple(steps)

    def _groups(
        self, table: str, qual: str, param: str, groups: Mapping[_Group, dict[str, _Item]]
    ) -> tuple[Reach, ...]:
        out: list[Reach] = []
        for group in sorted(groups):
            items = groups[group]
            if not items:
                continue
            surface, command, fate = group
            examples = []
            # an entry anyone may call (`permission_classes = [AllowAny]`) first: the path a reviewer should see
            ordered = sorted(items, key=lambda entry: not self._anonymous(entry))
            for entry in ordered[:EXAMPLES]:
                examples.append((entry, items[entry].source, self._path(table, qual, param, group, entry)))
            out.append(Reach(surface, command, fate, len(items), tuple(examples)))
        return tuple(out)

    def _anonymous(self, entry: str) -> bool:
        """Whether a view class's handler admits anyone: the nearest ``permission_classes`` in its class order
        names only classes that admit everyone (``requests.anonymous_permission_classes``)."""
        found = self._open.get(entry)
        if found is None:
            found = self._open[entry] = self._anonymous_of(entry)
        return found

    def _anonymous_of(self, entry: str) -> bool:
        fn = self.j.fns.get(entry)
        if fn is None or not fn.klass:
            return False
        declared = self.j.permission_classes(fn.klass)
        return (
            declared is not None
            and bool(declared[1])
            and declared[1] <= self.j.k["requests.anonymous_permission_classes"]
        )

    def _output(self) -> tuple[dict[str, tuple[Reach, ...]], dict[str, tuple[tuple[str, tuple[Reach, ...]], ...]]]:
        reach: dict[str, tuple[Reach, ...]] = {}
        for qual in sorted(self.freach):
            groups = self._groups("f", qual, "", self.freach[qual])
            if groups:
                reach[qual] = groups
        param_reach: dict[str, tuple[tuple[str, tuple[Reach, ...]], ...]] = {}
        for qual in sorted(self.preach):
            rows = []
            for param in sorted(self.preach[qual]):
                groups = self._groups("p", qual, param, self.preach[qual][param])
                if groups:
                    rows.append((param, groups))
            if rows:
                param_reach[qual] = tuple(rows)
        return reach, param_reach


def _receives(d: DefFacts) -> bool:
    """Whether a function takes something to handle (an event, a payload, a request): a webhook handler by
    its name does; ``webhook_event_archive()``, a retention job that takes nothing, handles no event."""
    return any(p.name not in ("self", "cls") for p in d.params)


def _sends(name: str) -> bool:
    """``send_webhook``, ``deliver_webhooks``: an outgoing-webhook feature, not a handler that receives one."""
    return any(verb in name for verb in ("send", "deliver", "emit", "fire", "trigger", "notify", "outgoing", "post_"))


_MANAGING_VERBS = ("get", "list", "create", "update", "delete", "patch", "retrieve", "edit", "read")


def _manages(name: str, marker: str) -> bool:
    """``get_webhook_by_id_or_404``, ``list_webhooks``: the marker names what the function manages (a webhook's
    settings), right after a verb of reading or editing it; it receives nothing."""
    heads = tuple(f"{verb}_{marker}" for verb in _MANAGING_VERBS)
    return any(name in (head, f"{head}s") or name.startswith((f"{head}_", f"{head}s_")) for head in heads)


def _passes_through(callee: _Fn) -> bool:
    """Whether a helper hands back what it was given (``int(x)``-style): its return carries its params (a
    generator is read as doing so: what it yields is not among its returns)."""
    return bool(callee.d.returns.params) or callee.d.generator


def _fate(at_call: str, above: str) -> str:
    if at_call == "checked":
        return "checked"
    if at_call == "returned":
        return above
    return "consumed"


def _gk(group: _Group) -> str:
    return f"{group[0]}|{int(group[1])}|{group[2]}"


def _ungk(text: str) -> _Group:
    surface, command, fate = text.split("|")
    return surface, command == "1", fate


__all__ = ["Previous", "Symbols", "Target", "build_index", "index_from_facts"]
