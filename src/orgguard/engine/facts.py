"""Per-function facts, computed once per function on demand and shared by every checker.

A function's *surface* (request handler, ...) decides which path class, hence which rule, a finding in
it belongs to. Its *parameters* say which values arrive from the client (URL kwargs, FastAPI query and
header parameters) and which from a trusted resolver (``Depends(get_current_org)``). The variable facts
let a query built first and narrowed later, or an object fetched and then checked against the tenant,
count as scoped; a narrowing applied only under a condition on the org is remembered for ORG104.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import libcst as cst

from orgguard.engine import walk
from orgguard.engine.context import FileContext, dotted_name
from orgguard.engine.flow import CLEAN, REQUEST, TRUSTED, FunctionFlow, Taint, Value, build_flow, names_in, refuses
from orgguard.engine.queries import QueryModel


class Surface(enum.Enum):
    """The path class of a function; it picks the rule a finding in it gets."""

    REQUEST = "public"
    ADMIN = "admin"
    WEBHOOK = "webhook"
    JOB = "job"
    EXPORT = "export"
    OTHER = "none"


@dataclass
class FunctionFacts:
    func: cst.FunctionDef
    surface: Surface
    params: dict[str, Value]
    # an object-level membership check guards the whole handler (decorator, class dispatch, permission)
    guarded: str = ""
    route: str = ""  # the route path when a decorator registers one
    command: bool = False  # an operator command (management/CLI): it reads across tenants by design
    # variables that get a tenant predicate, or a post-fetch tenant check, somewhere in the function
    scoped_vars: set[str] = field(default_factory=set)
    # variables narrowed to the tenant only under a condition on the org value (ORG104)
    conditional_vars: dict[str, str] = field(default_factory=dict)
    _flow: FunctionFlow | None = None

    def flow(self, ctx: FileContext, queries: QueryModel) -> FunctionFlow:
        if self._flow is None:
            self._flow = build_flow(ctx, queries, self.func, self.params)
        return self._flow


def decorator_names(func: cst.FunctionDef) -> set[str]:
    names = set()
    for dec in func.decorators:
        expr = dec.decorator
        if isinstance(expr, cst.Call):
            expr = expr.func
        text = dotted_name(expr)
        if text:
            names.add(text.rsplit(".", 1)[-1])
    return names


def route_of(ctx: FileContext, func: cst.FunctionDef) -> str | None:
    """The path of ``@app.route("/x")`` / ``@router.get("/x")``-style decorators, if any."""
    for dec in func.decorators:
        expr = dec.decorator
        if not isinstance(expr, cst.Call):
            continue
        name = dotted_name(expr.func).rsplit(".", 1)[-1]
        if name not in ctx.knowledge["requests.route_decorators"]:
            continue
        if isinstance(expr.func, cst.Name) and ctx.resolve(name) != name:
            continue  # an imported alias of something else
        for arg in expr.args:
            if (arg.keyword is None or arg.keyword.value in ("path", "rule")) and isinstance(
                arg.value, cst.SimpleString
            ):
                value = arg.value.evaluated_value
                if isinstance(value, str):
                    return value
        if not expr.args:
            return ""
    return None


def _all_params(func: cst.FunctionDef) -> list[cst.Param]:
    p = func.params
    out = [*p.posonly_params, *p.params, *p.kwonly_params]
    if isinstance(p.star_arg, cst.Param):
        out.append(p.star_arg)
    if p.star_kwarg is not None:
        out.append(p.star_kwarg)
    return out


def _marker(ctx: FileContext, param: cst.Param) -> str:
    """``Depends``/``Query``/... used as the default or inside ``Annotated[...]``, by short name."""
    candidates: list[cst.BaseExpression] = []
    if param.default is not None:
        candidates.append(param.default)
    if param.annotation is not None:
        ann = param.annotation.annotation
        alias = dotted_name(ann).rsplit(".", 1)[-1]
        if alias in ctx.index.dependency_aliases or alias in ctx.knowledge["trusted.dependency_markers"]:
            return "Depends"  # `org: ActiveOrg` where ActiveOrg = Annotated[OrgContext, Depends(...)]
        if isinstance(ann, cst.Subscript):
            candidates.extend(el.slice.value for el in ann.slice if isinstance(el.slice, cst.Index))
    for expr in candidates:
        if isinstance(expr, cst.Call):
            name = ctx.resolve(dotted_name(expr.func).rsplit(".", 1)[-1])
            if name in ctx.knowledge["trusted.dependency_markers"] or name in ctx.knowledge["sources.param_markers"]:
                return name
    return ""


def _annotation_name(param: cst.Param) -> str:
    if param.annotation is None:
        return ""
    ann = param.annotation.annotation
    if isinstance(ann, cst.Subscript):
        ann = ann.value
    return dotted_name(ann).rsplit(".", 1)[-1]


def initial_params(
    ctx: FileContext, func: cst.FunctionDef, *, routed: bool, view: bool, kind: str = "route"
) -> dict[str, Value]:
    """Parameters that arrive from the client are tainted; dependency-injected orgs are trusted."""
    k = ctx.knowledge
    out: dict[str, Value] = {}
    params = _all_params(func)
    handler_params = k["requests.handler_params"]
    after_request = False
    for index, param in enumerate(params):
        name = param.name.value
        marker = _marker(ctx, param)
        if marker in k["trusted.dependency_markers"]:
            out[name] = TRUSTED
            continue
        if marker in k["sources.param_markers"]:
            out[name] = Value(taints=frozenset({Taint(f"{marker.lower()} parameter {name}", REQUEST)}))
            continue
        if name in handler_params or (index == 0 and name in ("self", "cls")):
            after_request = after_request or name in handler_params
            out[name] = CLEAN
            continue
        if _annotation_name(param) in k["sources.neutral_param_types"]:
            out[name] = CLEAN
            continue
        if view and after_request:
            out[name] = Value(taints=frozenset({Taint(f"URL parameter {name}", REQUEST)}))
        elif routed:
            out[name] = Value(taints=frozenset({Taint(f"{kind} parameter {name}", REQUEST)}))
        else:
            out[name] = CLEAN
    return out


class _VarScan(cst.CSTVisitor):
    """Finds variables narrowed to the tenant after the fact, and whether only under a condition."""

    def __init__(self, ctx: FileContext, queries: QueryModel) -> None:
        self.ctx = ctx
        self.queries = queries
        self.tenant_attrs = self._tenant_attrs()
        self.scoped: set[str] = set()
        self.conditional: dict[str, str] = {}
        self.conditions: list[set[str]] = []  # names tested by the enclosing ifs
        self.calls: set[str] = set()  # dotted names of every call (surface detection)
        self.derived: dict[str, str] = {}  # project = view.project: checking project checks view
        self.staff_gate = False  # `if not request.user.is_staff: raise ...`

    def _tenant_attrs(self) -> set[str]:
        attrs: set[str] = set(self.ctx.config.tenant_fields)
        for paths in self.ctx.index.tenant_paths.values():
            for path in paths:
                head = path.split("__", 1)[0]
                attrs.update((head, f"{head}_id"))
        return attrs

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return True

    def visit_If(self, node: cst.If) -> None:
        self.conditions.append(names_in(node.test))
        staff = self.ctx.knowledge["admin.staff_attrs"]
        attrs = {n.attr.value for n in _attributes(node.test)}
        if attrs & staff and refuses(node.body):
            self.staff_gate = True

    def leave_If(self, original_node: cst.If) -> None:
        self.conditions.pop()

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self.conditions.append(names_in(node.test))

    def leave_IfExp(self, original_node: cst.IfExp) -> None:
        self.conditions.pop()

    def _narrowed(self, var: str, values: list[cst.BaseExpression]) -> None:
        used = set().union(*(names_in(v) for v in values)) if values else set()
        tested = set().union(*self.conditions) if self.conditions else set()
        if used & tested:
            # `if org: qs = qs.filter(organization=org)`: skipped when the org is missing
            self.conditional.setdefault(var, sorted(used & tested)[0])
        else:
            self.scoped.add(var)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        k = self.ctx.knowledge
        text = dotted_name(func)
        if text:
            self.calls.add(self.ctx.qualified(text))
        # qs.filter(organization=org) / qs = qs.filter(...)
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            var = func.value.value
            if func.attr.value in k["queries.scoping_methods"]:
                self._narrowed(var, [a.value for a in node.args])
            elif func.attr.value in k["queries.where_methods"] and any(
                a.keyword is None and self.queries.predicate_scopes(a.value) for a in node.args
            ):
                self._narrowed(var, [a.value for a in node.args if a.keyword is None])
            elif func.attr.value in k["queries.lookup_methods"]:
                hits = [
                    arg.value
                    for arg in node.args
                    if arg.keyword
                    and (
                        arg.keyword.value in self.tenant_attrs
                        or any(arg.keyword.value.startswith(a + "__") for a in self.tenant_attrs)
                        or self.queries.is_trusted(arg.value)
                    )
                ]
                if hits:
                    self._narrowed(var, hits)
        # Prefetch("x", queryset=qs): qs only covers the outer query's rows
        if text and text.rsplit(".", 1)[-1] in k["queries.subquery_wrappers"]:
            for arg in node.args:
                if isinstance(arg.value, cst.Name):
                    self.scoped.add(arg.value.value)
        # obj.has_permission(user) / self.check_object_permissions(request, obj) / user.has_perm(p, obj)
        if isinstance(func, cst.Attribute) and func.attr.value in k["guards.object_checks"]:
            for target in (func.value, *(a.value for a in node.args)):
                name = dotted_name(target) if isinstance(target, (cst.Name, cst.Attribute)) else ""
                if name and name not in ("self", "request", "user") and name.count(".") <= 1:
                    self._check(name)

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name) and isinstance(value, cst.Attribute):
            root: cst.BaseExpression = value
            while isinstance(root, cst.Attribute):
                root = root.value
            if isinstance(root, cst.Name):
                self.derived[node.targets[0].target.value] = root.value

    def _check(self, var: str) -> None:
        seen: set[str] = set()
        while var and var not in seen:
            seen.add(var)
            self.scoped.add(var)
            var = self.derived.get(var, "")

    def visit_Comparison(self, node: cst.Comparison) -> None:
        # obj.organization_id != request.organization.id  -> obj is checked against the tenant
        # view.project.pk != project.pk -> view is checked against a parent on its tenant path
        if not all(isinstance(c.operator, (cst.Equal, cst.NotEqual, cst.Is, cst.IsNot)) for c in node.comparisons):
            return
        operands = [node.left, *(c.comparator for c in node.comparisons)]
        for operand in operands:
            attrs: list[str] = []
            base: cst.BaseExpression = operand
            while isinstance(base, cst.Attribute):
                attrs.append(base.attr.value)
                base = base.value
            if isinstance(base, cst.Name) and len(attrs) <= 3 and set(attrs[-2:]) & self.tenant_attrs:
                self._check(base.value)


def _attributes(node: cst.CSTNode) -> list[cst.Attribute]:
    out: list[cst.Attribute] = []
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Attribute):
            out.append(current)
        stack.extend(walk.children(current))
    return out


def class_bases(ctx: FileContext, klass: cst.ClassDef) -> set[str]:
    """Short names of a class's bases, transitively through project classes."""
    bases = {dotted_name(b.value).rsplit(".", 1)[-1] for b in klass.bases}
    for base in list(bases):
        bases |= ctx.index.base_names(base)
    return bases


def is_view_class(ctx: FileContext, klass: cst.ClassDef) -> bool:
    """A view, or a project mixin that views are built from."""
    if klass.name.value in ctx.index.view_mixins:
        return True
    return bool(class_bases(ctx, klass) & ctx.knowledge["requests.view_bases"])


def class_guard(ctx: FileContext, klass: cst.ClassDef) -> str:
    """Why every handler of a view class is membership-checked ("" when it is not)."""
    k = ctx.knowledge
    bases = class_bases(ctx, klass)
    mixin = bases & k["guards.mixins"]
    if mixin:
        return f"mixin {sorted(mixin)[0]}"
    for stmt in klass.body.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign) and any(
                    isinstance(t.target, cst.Name) and t.target.value == "permission_classes" for t in small.targets
                ):
                    names = {n.rsplit(".", 1)[-1] for n in _dotted_leaves(small.value)}
                    hit = names & k["guards.permission_classes"]
                    # a project permission class whose has_permission() checks membership is a guard too
                    hit |= {n for n in names if _verifying_permission(ctx, n)}
                    if hit:
                        return f"permission class {sorted(hit)[0]}"
    for info in ctx.index.ancestors(klass.name.value):
        for hook in k["requests.object_hooks"]:
            summary = ctx.index.summary(f"{info.name}.{hook}")
            if summary is not None and summary.verifies and hook in info.methods:
                return f"{info.name}.{hook}()"
    return ""


def permission_classes(ctx: FileContext, klass: cst.ClassDef) -> set[str]:
    """The view's permission classes (its own attribute, else the project's DRF defaults)."""
    for stmt in klass.body.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign) and any(
                    isinstance(t.target, cst.Name) and t.target.value == "permission_classes" for t in small.targets
                ):
                    return {n.rsplit(".", 1)[-1] for n in _dotted_leaves(small.value)}
    return set(ctx.index.default_permissions)


def object_permission_guard(ctx: FileContext, klass: cst.ClassDef) -> str:
    """A permission class that checks every object get_object() returns against the user's tenant."""
    for name in sorted(permission_classes(ctx, klass)):
        if name in ctx.knowledge["guards.permission_classes"] or _verifying_permission(ctx, name):
            return name
    return ""


def is_list_view(ctx: FileContext, klass: cst.ClassDef) -> bool:
    """Whether the view lists its queryset (object permissions are not checked on lists)."""
    return bool(class_bases(ctx, klass) & ctx.knowledge["requests.list_bases"])


def _verifying_permission(ctx: FileContext, name: str) -> bool:
    for info in ctx.index.ancestors(name):
        for method in ("has_permission", "has_object_permission"):
            summary = ctx.index.summary(f"{info.name}.{method}")
            if summary is not None and summary.verifies:
                return True
    return False


def _dotted_leaves(node: cst.CSTNode) -> list[str]:
    out = []
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (cst.Name, cst.Attribute)):
            out.append(dotted_name(current))
            continue
        stack.extend(walk.children(current))
    return out


def compute_facts(
    ctx: FileContext, queries: QueryModel, func: cst.FunctionDef, klass: cst.ClassDef | None
) -> FunctionFacts:
    k = ctx.knowledge
    route = route_of(ctx, func)
    view_class = klass is not None and is_view_class(ctx, klass)
    decorators = decorator_names(func)
    params = [p.name.value for p in _all_params(func)]
    has_request_param = bool(set(params[:2]) & k["requests.handler_params"])
    markers = any(_marker(ctx, p) in k["sources.param_markers"] for p in _all_params(func))
    dependency = klass is None and func.name.value in ctx.index.dependencies
    if (
        view_class
        or route is not None
        or decorators & k["requests.view_decorators"]
        or markers
        or dependency
        or (klass is None and has_request_param)
    ):
        surface = Surface.REQUEST
    else:
        surface = Surface.OTHER
    scan = _VarScan(ctx, queries)
    walk.visit(func.body, scan)
    special = _special_surface(ctx, func, klass, route=route, decorators=decorators, scan=scan)
    if special is not None:
        surface = special
    guarded = ""
    own = ctx.index.summary(f"{klass.name.value}.{func.name.value}" if klass is not None else func.name.value)
    if own is not None and own.verifies and own.path == ctx.relpath:
        guarded = f"{func.name.value}() checks membership"
    elif decorators & k["guards.decorators"]:
        guarded = f"@{sorted(decorators & k['guards.decorators'])[0]}"
    elif view_class and klass is not None:
        guarded = class_guard(ctx, klass)
    # URL kwargs reach a view class only through its HTTP handlers (and @action methods), not helpers
    handler = (
        not view_class
        or func.name.value in k["requests.handler_methods"]
        or bool(decorators & k["requests.view_decorators"])
    )
    requestish = surface in (Surface.REQUEST, Surface.ADMIN, Surface.EXPORT)
    view = requestish and handler and (view_class or has_request_param)
    kind = "query" if dependency and route is None else "route"
    values = initial_params(ctx, func, routed=route is not None or dependency, view=view, kind=kind)
    if surface is Surface.WEBHOOK:
        # a handler dispatched an event (`def handle_invoice_paid(event)`): its fields identify the billable
        values.update({name: Value(event=name) for name in values if "event" in name.lower()})
    facts = FunctionFacts(
        func=func,
        surface=surface,
        params=values,
        guarded=guarded,
        route=route or "",
        command=surface is Surface.JOB and _is_command(ctx, func, klass),
    )
    facts.scoped_vars = scan.scoped
    facts.conditional_vars = {v: c for v, c in scan.conditional.items() if v not in scan.scoped}
    return facts


def _matches(text: str, entries: frozenset[str]) -> bool:
    short = text.rsplit(".", 1)[-1]
    for entry in entries:
        if entry.startswith("*"):
            if short.endswith(entry[1:]):
                return True
        elif "." in entry:
            if text == entry or text.endswith("." + entry):
                return True
        elif short == entry:
            return True
    return False


def _special_surface(
    ctx: FileContext,
    func: cst.FunctionDef,
    klass: cst.ClassDef | None,
    *,
    route: str | None,
    decorators: set[str],
    scan: _VarScan,
) -> Surface | None:
    """Webhook, job, export or admin: the surfaces whose own rule replaces ORG101/ORG102."""
    k = ctx.knowledge
    qualname = f"{klass.name.value}.{func.name.value}" if klass is not None else func.name.value
    dotted_decorators = {ctx.qualified(d) for d in _decorator_texts(func)}
    name = func.name.value.lower()
    # webhook handlers, replay/catch-up functions, and what they dispatch to
    if (
        qualname in ctx.index.webhook_functions
        or any(_matches(d, k["webhooks.decorators"]) for d in dotted_decorators)
        or (route is not None and any(m in route for m in k["webhooks.path_markers"]))
        or any(m in name for m in k["webhooks.name_markers"])
        or any(_matches(c, k["stripe.verify_calls"] | k["stripe.unverified_calls"]) for c in scan.calls)
    ):
        return Surface.WEBHOOK
    # background jobs and commands
    bases = class_bases(ctx, klass) if klass is not None else set()
    if (
        any(_matches(d, k["jobs.decorators"]) for d in dotted_decorators)
        or (klass is None and func.name.value in ctx.index.job_functions)
        or (klass is not None and _command_class(ctx, klass))
        or any(d.rsplit(".", 1)[-1] in k["jobs.command_decorators"] and "." in d for d in dotted_decorators)
    ):
        return Surface.JOB
    # exports and reports
    module = ctx.relpath.rsplit("/", 1)[-1]
    if (
        any(name.startswith(p) for p in k["exports.name_prefixes"])
        or any(module.startswith(p) for p in k["exports.name_prefixes"])
        or any(_matches(c, k["exports.writer_calls"]) for c in scan.calls)
    ):
        return Surface.EXPORT
    # staff-only surfaces
    admin_bases = {b for b in k["admin.bases"] if b not in ("BaseView", "ModelView")}
    if (
        decorators & k["admin.decorators"]
        or bases & admin_bases
        or (route is not None and any(route.startswith(p) or f"/{p}" in route for p in k["admin.path_prefixes"]))
        or scan.staff_gate
        or (klass is not None and _flask_admin_view(ctx, klass))
    ):
        return Surface.ADMIN
    return None


def _command_class(ctx: FileContext, klass: cst.ClassDef) -> bool:
    """A management command: a command base imported from a command module, or living in one."""
    k = ctx.knowledge
    if not class_bases(ctx, klass) & k["jobs.command_bases"]:
        return False
    modules = k["jobs.command_modules"]
    if any(m in ctx.relpath for m in modules if "/" in m):
        return True
    for base in klass.bases:
        text = ctx.qualified(dotted_name(base.value))
        if any(text.startswith(m) for m in modules if "/" not in m):
            return True
    return any(any(m in info.path for m in modules if "/" in m) for info in ctx.index.ancestors(klass.name.value))


def _is_command(ctx: FileContext, func: cst.FunctionDef, klass: cst.ClassDef | None) -> bool:
    if klass is not None and _command_class(ctx, klass):
        return True
    return any(
        d.rsplit(".", 1)[-1] in ctx.knowledge["jobs.command_decorators"] and "." in d
        for d in (ctx.qualified(t) for t in _decorator_texts(func))
    )


def _decorator_texts(func: cst.FunctionDef) -> list[str]:
    out = []
    for dec in func.decorators:
        expr = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
        text = dotted_name(expr)
        if text:
            out.append(text)
    return out


def _flask_admin_view(ctx: FileContext, klass: cst.ClassDef) -> bool:
    """Flask-Admin's ModelView/BaseView (not Flask-AppBuilder's, which share the names)."""
    for base in klass.bases:
        text = ctx.qualified(dotted_name(base.value))
        if text.startswith("flask_admin."):
            return True
    return False


class FactsCache:
    """Memoises :func:`compute_facts` per function node for one file."""

    def __init__(self, ctx: FileContext, queries: QueryModel) -> None:
        self.ctx = ctx
        self.queries = queries
        self._facts: dict[int, FunctionFacts] = {}

    def of(self, func: cst.FunctionDef) -> FunctionFacts:
        key = id(func)
        if key not in self._facts:
            klass = self.ctx.scope.class_of(func)
            self._facts[key] = compute_facts(self.ctx, self.queries, func, klass)
        return self._facts[key]


__all__ = ["FactsCache", "FunctionFacts", "Surface", "class_guard", "is_view_class"]
