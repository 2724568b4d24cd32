"""Data flow inside one function: where a value came from (request input, the session, a trusted org,
one of the function's own parameters).

One pass over a function's statements in order keeps an environment ``name -> Value`` and records the
environment in force before every statement; checkers ask for the :class:`Value` of an expression at
the statement that holds it. Branches are joined: after an ``if``, a name has the union of what it had
at the end of each branch that goes on (a branch that raises or returns does not), so a value is
trusted after a branch only when every path that continues made it so. Guards (membership joins,
configured guard functions, project helpers whose summary verifies) mark what they verified as trusted
from the next statement on. A call to a project function is looked up in the index by its key (the
same key the index scan gave it), so its summary — verifies, returns a verified tenant, returns client
input, looks the tenant up without a check — is the one the whole-program join solved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import cast

import libcst as cst

from orgguard.engine import vocab, walk
from orgguard.engine.context import FileContext, dotted_name
from orgguard.engine.queries import QueryModel
from orgguard.engine.records import FunctionInfo

SESSION = vocab.SESSION
REQUEST = vocab.REQUEST


@dataclass(frozen=True)
class Taint:
    """Untrusted input: where it was read (``request.GET["org"]``) and what kind of source it is."""

    source: str
    kind: str = REQUEST


@dataclass(frozen=True)
class Value:
    """What is known about a value's origin."""

    taints: frozenset[Taint] = frozenset()
    trusted: bool = False  # a membership-verified org, the signed-in user, or reached from one
    resolved: bool = False  # an org resolved from input whose missing check is reported where it happens
    event: str = ""  # read from a verified webhook event: the attribute path (`event.data.object.customer`)
    params: frozenset[str] = frozenset()  # the function's parameters it derives from (callers say what they are)
    # a row the server builds (`Invitation(email=params.email, ...)`): its fields are what it was given, but its
    # key (`.id`, `.pk`) is the one the database assigns
    built: bool = False
    # a query of this model, or a row it fetched, read from the database (``qs = Model.objects.filter(...)``): what
    # runs on it (``qs.get(slug=slug)``) is a database row too, whose lookups the query rules judge where it runs
    query: str = ""

    @property
    def tainted(self) -> bool:
        return bool(self.taints) and not self.trusted

    def first(self) -> Taint | None:
        return min(self.taints, key=lambda t: (t.kind != SESSION, t.source)) if self.taints else None


CLEAN = Value()
TRUSTED = Value(trusted=True)
RESOLVED = Value(resolved=True)


def union(values: Iterable[Value]) -> Value:
    vals = list(values)
    taints = frozenset(t for v in vals for t in v.taints if not v.trusted)
    params = frozenset(p for v in vals for p in v.params if not v.trusted)
    built = bool(vals) and all(v.built for v in vals)
    if taints:
        return Value(taints=taints, params=params, built=built)
    event = next((v.event for v in vals if v.event), "")
    if event:
        return Value(event=event)
    first = vals[0].query if vals else ""
    query = first if first and all(v.query == first for v in vals) else ""
    if any(v.resolved for v in vals):
        return Value(resolved=True, query=query) if query else RESOLVED
    if vals and all(v.trusted for v in vals):
        return TRUSTED
    return Value(params=params, built=built, query=query) if params or query else CLEAN


def _literal_key(node: cst.BaseExpression | None) -> str | int | None:
    if isinstance(node, cst.SimpleString):
        return node.evaluated_value if isinstance(node.evaluated_value, str) else None
    if isinstance(node, cst.Integer):
        return int(node.value) if node.value.isdigit() else None
    return None


def value_of_origin(text: str) -> Value:
    """The value an index origin string stands for (``"trusted"``, ``"request:<source>"``...)."""
    if text == "trusted":
        return TRUSTED
    if text == "resolved":
        return RESOLVED
    kind, _, source = text.partition(":")
    if kind in (REQUEST, SESSION) and source:
        return Value(taints=frozenset({Taint(source, kind)}))
    return CLEAN


def call_methods(call: cst.Call) -> list[str]:
    """The methods a call chain calls, outermost first: ``X.objects.filter(...).update(...)`` -> update, filter."""
    out: list[str] = []
    node: cst.BaseExpression = call
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        out.append(node.func.attr.value)
        node = node.func.value
    return out


def call_keys(body: cst.CSTNode) -> dict[int, str]:
    """Every call of a function body keyed ``"<dotted text>#<n>"`` in source order (as the index scan does)."""
    out: dict[int, str] = {}
    seen: dict[str, int] = {}
    stack: list[cst.CSTNode] = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call):
            text = dotted_name(node.func) or "<expr>"
            n = seen.get(text, 0)
            seen[text] = n + 1
            out[id(node)] = f"{text}#{n}"
        stack.extend(reversed(list(walk.children(node))))
    return out


@dataclass
class FunctionFlow:
    """The data flow of one function."""

    ctx: FileContext
    queries: QueryModel
    func: cst.FunctionDef
    params: dict[str, Value]
    info: FunctionInfo | None = None
    env_before: dict[int, Mapping[str, Value]] = field(default_factory=dict)
    guard_calls: set[int] = field(default_factory=set)  # ids of calls that verify membership
    # id(expression inside a comprehension) -> the comprehension's `for` clauses around it, outermost first
    comp_env: dict[int, tuple[cst.CompFor, ...]] = field(default_factory=dict)
    _keys: dict[int, str] | None = None

    # -- expressions --------------------------------------------------------------------------
    def value(self, expr: cst.BaseExpression, stmt: cst.CSTNode | None) -> Value:
        env = self.env_before.get(id(stmt), self.params) if stmt is not None else self.params
        inner = self.comp_env.get(id(expr))
        if inner is not None:
            # inside a comprehension: its loop variables hold the iterated rows, over the statement's env
            scoped = dict(env)
            for comp in inner:
                bind(comp.target, self._eval(comp.iter, scoped), scoped)
            env = scoped
        return self._eval(expr, env)

    def note_comprehensions(self, stmt: cst.CSTNode) -> None:
        """Remember, for every expression inside a comprehension of ``stmt``, the ``for`` clauses around it."""
        stack: list[tuple[cst.CSTNode, tuple[cst.CompFor, ...]]] = [(stmt, ())]
        while stack:
            node, fors = stack.pop()
            if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda, cst.BaseSuite)) and node is not stmt:
                continue
            if fors:
                self.comp_env[id(node)] = fors
            if isinstance(node, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
                clauses: list[cst.CompFor] = []
                comp: cst.CompFor | None = node.for_in
                while comp is not None:
                    stack.append((comp.iter, (*fors, *clauses)))
                    clauses.append(comp)
                    for cond in comp.ifs:
                        stack.append((cond, (*fors, *clauses)))
                    comp = comp.inner_for_in
                inner = (*fors, *clauses)
                parts = [node.key, node.value] if isinstance(node, cst.DictComp) else [node.elt]
                stack.extend((part, inner) for part in parts)
                continue
            stack.extend((child, fors) for child in walk.children(node))

    def key(self, call: cst.Call) -> str:
        if self._keys is None:
            self._keys = call_keys(self.func.body)
        return self._keys.get(id(call), "")

    def _source(self, text: str) -> Taint | None:
        found = vocab.request_source(text, self.ctx.knowledge)
        if found is None:
            return None
        return Taint(found[0], found[1])

    def _eval(self, expr: cst.BaseExpression, env: Mapping[str, Value]) -> Value:
        if isinstance(expr, cst.Name):
            if expr.value in env:
                return env[expr.value]
            # a module-level source imported by name (Flask's `session`, `request`)
            origin = self.ctx.imports.get(expr.value)
            if self.queries.is_trusted(expr):
                return TRUSTED
            src = self._source(origin) if origin else None
            return Value(taints=frozenset({Taint(expr.value, src.kind)})) if src else CLEAN
        if isinstance(expr, cst.Attribute):
            text = dotted_name(expr)
            if self.queries.is_trusted(expr):
                return TRUSTED
            src = self._source(text)
            if src is not None:
                return Value(taints=frozenset({src}))
            if expr.attr.value in vocab.SERVER_ATTRS and isinstance(expr.value, cst.Name):
                return CLEAN  # serializer.instance / self.object: the row the server saved or fetched
            base = self._eval(expr.value, env)
            if base.built and expr.attr.value in ("id", "pk"):
                return CLEAN  # the key the database gave the row the server built
            if base.event and not base.taints:
                return Value(event=f"{base.event}.{expr.attr.value}")
            if isinstance(expr.value, cst.Name) and len(base.taints) == 1 and not base.trusted:
                (taint,) = base.taints
                if taint.source.endswith((f"parameter {expr.value.value}", f"body {expr.value.value}")):
                    # body.organization_id of a pydantic body parameter
                    return Value(taints=frozenset({Taint(f"{taint.source}.{expr.attr.value}", taint.kind)}))
            return replace(base, query="") if base.query else base  # a row's field is no query
        if isinstance(expr, cst.Subscript):
            key = (
                _literal_key(expr.slice[0].slice.value)
                if expr.slice and isinstance(expr.slice[0].slice, cst.Index)
                else None
            )
            if isinstance(key, str) and self._trusted_kwarg(expr.value, key):
                return TRUSTED
            if vocab.is_saved_key(dotted_name(expr.value), key):
                return CLEAN
            base = self._eval(expr.value, env)
            if base.event and not base.taints:
                return Value(event=f"{base.event}.{key}" if key is not None else base.event)
            return self._narrow(base, expr.value, f"[{key!r}]" if key is not None else "[...]")
        if isinstance(expr, cst.Call):
            return self._eval_call(expr, env)
        if isinstance(expr, cst.Await):
            return self._eval(expr.expression, env)
        if isinstance(expr, (cst.BinaryOperation, cst.BooleanOperation)):
            return union([self._eval(expr.left, env), self._eval(expr.right, env)])
        if isinstance(expr, cst.IfExp):
            return union([self._eval(expr.body, env), self._eval(expr.orelse, env)])
        if isinstance(expr, cst.FormattedString):
            return union(
                self._eval(part.expression, env)
                for part in expr.parts
                if isinstance(part, cst.FormattedStringExpression)
            )
        if isinstance(expr, cst.ConcatenatedString):
            return union([self._eval(expr.left, env), self._eval(expr.right, env)])
        if isinstance(expr, (cst.Tuple, cst.List, cst.Set)):
            return union(self._eval(el.value, env) for el in expr.elements)
        if isinstance(expr, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
            # [p.id for p in projects]: each element derives from the iterated rows
            inner = dict(env)
            comp: cst.CompFor | None = expr.for_in
            while comp is not None:
                bind(comp.target, self._eval(comp.iter, inner), inner)
                comp = comp.inner_for_in
            elt = expr.key if isinstance(expr, cst.DictComp) else expr.elt
            return self._eval(elt, inner)
        return CLEAN

    def _requestish(self) -> bool:
        """Whether the function serves requests (a request parser reads client input there, not in a command)."""
        return self.info is not None and self.info.surface in ("public", "admin", "export")

    def _trusted_kwarg(self, base: cst.BaseExpression, key: str) -> bool:
        """``self.kwargs["project_pk"]`` where the view's guard verifies that kwarg."""
        if self.info is None or key not in self.info.trusted_kwargs:
            return False
        return dotted_name(base).endswith(("kwargs", "view_args"))

    def _narrow(self, base: Value, base_expr: cst.BaseExpression, suffix: str) -> Value:
        """``request.GET`` + ``["org"]`` -> a taint whose source text names the key."""
        if not base.taints or base.trusted:
            return base
        text = dotted_name(base_expr)
        if text and len(base.taints) == 1:
            (taint,) = base.taints
            if taint.source == text:
                return Value(taints=frozenset({Taint(f"{text}{suffix}", taint.kind)}))
        return base

    def _eval_call(self, call: cst.Call, env: Mapping[str, Value]) -> Value:
        found = self._eval_call_of(call, env)
        if (found.taints or found.params) and not found.built:
            if self.ctx.builds_row(call.func) and not any(
                arg.keyword is not None and arg.keyword.value in ("id", "pk") for arg in call.args
            ):
                return replace(
                    found, built=True
                )  # `Invitation(email=params.email, ...)`: a new row, keyed by the database
            summary = self.summary_for(call)
            if summary is not None and summary.builds_row:
                return replace(found, built=True)  # `comment = add_audit(..., change.comment)`: the row it builds
        return found

    def _eval_call_of(self, call: cst.Call, env: Mapping[str, Value]) -> Value:
        k = self.ctx.knowledge
        func_text = dotted_name(call.func)
        qualified = self.ctx.qualified(func_text) if func_text else ""
        if id(call) in self.guard_calls:
            return TRUSTED
        chain = self.queries.recognize(call)
        if chain is not None:
            # a database row: not client input, whatever its lookups were (their rules report those)
            if self.is_membership_query(call, env):
                return TRUSTED
            return self._rows_of(chain.model)
        model = self._manager_model(call)
        if model:
            return Value(query=model)  # a custom manager/queryset method: still rows from the database
        if func_text and self.ctx.resolve(vocab.short(func_text)) in k["queries.shortcuts"]:
            # get_object_or_404(self.get_queryset(), pk=pk): a row, fetched through whatever queryset the
            # view scoped; the lookup itself is judged where it happens
            return CLEAN
        if func_text and self.is_verify_call(func_text):
            return Value(event="event")  # a verified webhook event
        if func_text and (
            vocab.is_trusted_expr(func_text + "()", k["trusted.org_sources"])
            or vocab.is_trusted_expr(qualified + "()", k["trusted.org_sources"])
        ):
            return TRUSTED
        if func_text and (
            vocab.matches_any(qualified, k["trusted.resolvers"]) or vocab.matches_any(qualified, k["guards.functions"])
        ):
            return TRUSTED
        # the result of a membership-joined query, or a lookup through the user's own relations
        if self.is_membership_query(call, env):
            return TRUSTED
        summary = self.summary_for(call)
        if isinstance(call.func, cst.Attribute):
            receiver = call.func.value
            method = call.func.attr.value
            recv = self._eval(receiver, env)
            if recv.event and not recv.taints and method in ("get", "__getitem__", "to_dict", "copy"):
                key = _literal_key(call.args[0].value) if call.args else None
                return Value(event=f"{recv.event}.{key}" if key is not None else recv.event)
            if recv.query and not recv.taints and method in k["queries.methods"]:
                # `qs.get(slug=slug)` with `qs` holding a query: a database row, as the chain written out is; a query
                # narrowed further by input (`qs.filter(group=group_id)`) carries that input to the keys it projects
                fetch = method in k["queries.row_fetches"] or method in k["queries.raising_fetches"]
                if fetch or not any((v := self._eval(a.value, env)).tainted or v.params for a in call.args):
                    return Value(resolved=recv.resolved, query=recv.query)
            key = _literal_key(call.args[0].value) if call.args else None
            if method == "get" and vocab.is_saved_key(dotted_name(receiver), key):
                return CLEAN  # serializer.data.get("id")
            if method in ("get", "getlist", "pop", "get_all") and recv.taints and not recv.trusted:
                key = _literal_key(call.args[0].value) if call.args else None
                if isinstance(key, str) and self._trusted_kwarg(receiver, key):
                    return TRUSTED
                return self._narrow(recv, receiver, f".{method}({key!r})" if key else f".{method}(...)")
            src = self._source(func_text + "()") if func_text else None
            if src is not None:
                return Value(taints=frozenset({src}))
            if func_text and self._requestish() and vocab.reads_input_call(func_text + "()", k):
                return Value(taints=frozenset({Taint(func_text + "()", REQUEST)}))
            if summary is not None:
                return self._summary_value(summary, call, env)
            if recv.trusted and not any(self._eval(a.value, env).tainted for a in call.args):
                return TRUSTED  # request.user.organizations.get(...), org.invoices.all()
            if (method in ("create", "get_or_create") and not call.args) or (
                method == "save" and all(a.keyword is not None for a in call.args)
            ):
                return CLEAN  # form.save(), formset.save(commit=False): the rows just written
            return union([recv, *(self._eval(a.value, env) for a in call.args)])
        if summary is not None:
            return self._summary_value(summary, call, env)
        return union(self._eval(a.value, env) for a in call.args)

    def _rows_of(self, model: str) -> Value:
        """A query of ``model`` or a row it fetched: not client input, whatever its lookups were (their rules report
        those); a tenant so found is resolved, its missing check reported where it is looked up."""
        return Value(resolved=model in self.ctx.index.tenant_models, query=model)

    def is_verify_call(self, func_text: str) -> bool:
        """``stripe.Webhook.construct_event(...)`` / ``verify_event(...)``: the result is a verified event."""
        entries = self.ctx.knowledge["stripe.verify_calls"]
        return vocab.matches_any(self.ctx.qualified(func_text), entries) or vocab.matches_any(func_text, entries)

    def _manager_model(self, call: cst.Call) -> str:
        """The model whose manager a call chain starts from (``Model.objects.custom(...)``), or ""."""
        node: cst.BaseExpression = call
        while isinstance(node, cst.Call):
            if isinstance(node.func, cst.Attribute):
                node = node.func.value
            elif node.args:  # get_object_or_404(Model.objects.custom(...), ...)
                node = node.args[0].value
            else:
                return ""
        if isinstance(node, cst.Attribute) and node.attr.value in self.ctx.knowledge["models.managers"]:
            return self.ctx.model_of(node.value) or ""
        return ""

    def _summary_value(self, summary: FunctionInfo, call: cst.Call, env: Mapping[str, Value]) -> Value:
        if summary.verifies or summary.returns == "trusted":
            return TRUSTED
        if summary.returns == "event":
            return Value(event="event")  # a helper that verifies the webhook's signature and returns the event
        if summary.returns_scoped:
            # `_visible_saved_queries(request)`: the user's own rows, as the chain written out here would be
            return Value(query=summary.returns_scoped)
        args = [self._eval(a.value, env) for a in call.args]
        if summary.resolves_unverified and any(a.tainted for a in args):
            return RESOLVED
        if summary.returns:
            found = value_of_origin(summary.returns)
            if found.taints:
                return found
        if not summary.returns and not summary.carries:
            return CLEAN  # it returns rows and values of its own (`take_snapshot()`'s new entry), as the join reads it
        return union(args)

    def summary_for(self, call: cst.Call) -> FunctionInfo | None:
        """The index summary of the project function a call resolves to (by the call's key)."""
        if self.info is None:
            return None
        key = self.key(call)
        return self.ctx.index.callee(self.info.qualname, key) if key else None

    def is_membership_query(self, call: cst.Call, env: Mapping[str, Value] | None = None) -> bool:
        """A lookup joined to the signed-in user's memberships.

        ``Membership.objects.filter(user=request.user, ...)``, ``request.user.organizations.get(...)``,
        ``Organization.objects.get(pk=..., members=request.user)``, ``is_member(...)`` guards.
        """
        membership = set(self.ctx.config.membership_models)
        attrs = self.ctx.index.membership_attrs
        if vocab.writes_chain(call_methods(call), self.ctx.knowledge["queries.write_methods"]):
            return False  # Membership.objects.create(user=user, organization=org): joining checks nothing
        node: cst.BaseExpression = call
        has_user_lookup = False
        touches_membership = False
        paths: Sequence[str] | None = None  # the tenant paths of the query's model, once a lookup asks
        while isinstance(node, cst.Call):
            for arg in node.args:
                key = arg.keyword.value if arg.keyword else ""
                value_text = dotted_name(arg.value)
                if vocab.is_userish(value_text) and (not key or "user" in key or "member" in key or key in attrs):
                    has_user_lookup = True
                if "__" in key and vocab.is_userish(value_text):
                    if paths is None:
                        chain = self.queries.recognize(call)
                        paths = self.ctx.index.tenant_paths.get(chain.model, ()) if chain is not None else ()
                    if vocab.joins_members(key, paths, self.ctx.index.tenant_properties):
                        return True
                for compare in _comparisons(arg.value):
                    # SQLAlchemy: Membership.user_id == current_user.id
                    operands = [compare.left, *(c.comparator for c in compare.comparisons)]
                    if any(vocab.is_userish(dotted_name(o)) for o in operands):
                        has_user_lookup = True
                        for o in operands:
                            if (
                                isinstance(o, cst.Attribute)
                                and self.ctx.resolve(vocab.short(dotted_name(o.value))) in membership
                            ):
                                touches_membership = True
            func = node.func
            if isinstance(func, cst.Attribute):
                text = dotted_name(func.value)
                if func.attr.value in membership or vocab.short(text) in membership:
                    touches_membership = True
                if func.attr.value in attrs and vocab.is_userish(dotted_name(func.value)):
                    return True
                node = func.value
            else:
                if isinstance(func, cst.Name) and self.ctx.resolve(func.value) in membership:
                    touches_membership = True
                break
        while isinstance(node, cst.Attribute):
            if node.attr.value in attrs and vocab.is_userish(dotted_name(node.value)):
                return True
            if node.attr.value in membership:
                touches_membership = True
            node = node.value
        if isinstance(node, cst.Name) and self.ctx.resolve(node.value) in membership:
            touches_membership = True
        if call.args and isinstance(call.func, cst.Name):
            first = self.ctx.model_of(call.args[0].value)
            if first in membership:
                touches_membership = True
        return has_user_lookup and (touches_membership or self._queries_tenant(call))

    def _queries_tenant(self, call: cst.Call) -> bool:
        node: cst.BaseExpression = call
        while isinstance(node, cst.Call):
            if isinstance(node.func, cst.Name) and node.args:
                return self.ctx.model_of(node.args[0].value) in self.ctx.index.tenant_models
            if not isinstance(node.func, cst.Attribute):
                return False
            node = node.func.value
        while isinstance(node, cst.Attribute):
            node = node.value
        return isinstance(node, cst.Name) and self.ctx.resolve(node.value) in self.ctx.index.tenant_models


class _FlowBuilder:
    """Walks one function's statements in order, recording the environment before each statement."""

    def __init__(self, flow: FunctionFlow) -> None:
        self.flow = flow
        self.env: dict[str, Value] = dict(flow.params)
        self.deps: dict[str, set[str]] = {}  # owner_id = _get_owner_id(tab_state_id): owner_id <- tab_state_id
        self.exited = False

    def run(self, body: cst.BaseSuite) -> None:
        self._suite(body)

    # -- branches -----------------------------------------------------------------------------
    def _branch(self, suite: cst.BaseSuite | None) -> tuple[dict[str, Value], bool]:
        """Run a block from the current environment; its end state and whether it always leaves."""
        saved, saved_exit = dict(self.env), self.exited
        self.exited = False
        self._suite(suite)
        out, left = self.env, self.exited
        self.env, self.exited = saved, saved_exit
        return out, left

    def _join(self, ends: list[tuple[dict[str, Value], bool]]) -> None:
        live = [env for env, left in ends if not left]
        if not live:
            self.exited = True
            return
        if len(live) == 1:
            self.env = live[0]
            return
        names = set().union(*live)
        self.env = {name: union([env.get(name, CLEAN) for env in live]) for name in names}

    def _suite(self, suite: cst.BaseSuite | None) -> None:
        if suite is None:
            return
        if isinstance(suite, cst.SimpleStatementSuite):
            self._record(suite)
            for small in suite.body:
                self._small(small)
            self._guards(suite)
            return
        assert isinstance(suite, cst.IndentedBlock)
        for stmt in suite.body:
            self._stmt(stmt)

    def _record(self, stmt: cst.CSTNode) -> None:
        self.flow.env_before[id(stmt)] = dict(self.env)
        if _has_comprehension(stmt):
            self.flow.note_comprehensions(stmt)

    def _stmt(self, stmt: cst.BaseStatement) -> None:
        self._record(stmt)
        if self.exited:
            # unreachable code: recorded with what was known before, not joined into what follows
            self._unreachable(stmt)
            return
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self._small(small)
            self._guards(stmt)
            return
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            self._unreachable(stmt)  # nested bodies: their statements still get an environment
            return
        if isinstance(stmt, cst.If):
            weak = weak_checks(
                stmt.test,
                refusing=refuses(stmt.body, strict=True),
                verifies=lambda e: any(self._is_guard(c) for c in _calls_in(e)),
            )
            self._guards(stmt.test, skip=weak)
            if refuses(stmt.body):
                # `if owner_id != get_user_id(): return 403` — the body refuses; what follows is checked
                body = self._branch(stmt.body)
                self._owner_checks(stmt.test)
            else:
                body = self._branch(stmt.body)
            ends: list[tuple[dict[str, Value], bool]] = [body]
            orelse = stmt.orelse
            if isinstance(orelse, cst.If):
                saved = dict(self.env)
                self._stmt(orelse)
                ends.append((self.env, self.exited))
                self.env, self.exited = saved, False
            elif isinstance(orelse, cst.Else):
                ends.append(self._branch(orelse.body))
            else:
                ends.append((dict(self.env), False))
            self._join(ends)
            return
        if isinstance(stmt, cst.For):
            self._bind(stmt.target, self.flow._eval(stmt.iter, self.env))
            loop = self._branch(stmt.body)
            self._join([(dict(self.env), False), (loop[0], False)])
            if stmt.orelse:
                self._suite(stmt.orelse.body)
            return
        if isinstance(stmt, cst.While):
            self._guards(stmt.test)
            loop = self._branch(stmt.body)
            self._join([(dict(self.env), False), (loop[0], False)])
            if stmt.orelse:
                self._suite(stmt.orelse.body)
            return
        if isinstance(stmt, cst.With):
            for item in stmt.items:
                if item.asname is not None:
                    self._bind(item.asname.name, self.flow._eval(item.item, self.env))
            self._suite(stmt.body)
            return
        if isinstance(stmt, (cst.Try, cst.TryStar)):
            body_env, body_left = self._branch(stmt.body)
            ends = []
            # a handler may start anywhere in the body: from what held before it or after it
            start = dict(self.env)
            if not body_left:
                start = {
                    name: union([self.env.get(name, CLEAN), body_env.get(name, CLEAN)])
                    for name in set(self.env) | set(body_env)
                }
            for handler in stmt.handlers:
                saved = self.env
                self.env = dict(start)
                ends.append(self._branch(handler.body))
                self.env = saved
            if stmt.orelse is not None:
                saved = self.env
                self.env = dict(body_env)
                ends.append(self._branch(stmt.orelse.body) if not body_left else (body_env, True))
                self.env = saved
            else:
                ends.append((body_env, body_left))
            self._join(ends)
            if stmt.finalbody is not None:
                left = self.exited
                self.exited = False
                self._suite(stmt.finalbody.body)
                self.exited = self.exited or left
            return
        for child in walk.children(stmt):  # match, ... : record nested statements at least
            if isinstance(child, cst.BaseSuite):
                self._join([self._branch(child), (dict(self.env), False)])

    def _unreachable(self, stmt: cst.CSTNode) -> None:
        """Give every statement inside an environment (nested function bodies, dead code)."""
        saved, saved_exit = dict(self.env), self.exited
        self.exited = False
        for child in walk.children(stmt):
            if isinstance(child, cst.BaseSuite):
                self._suite(child)
        self.env, self.exited = saved, saved_exit

    def _small(self, small: cst.BaseSmallStatement) -> None:
        if isinstance(small, cst.Assign):
            value = self.flow._eval(small.value, self.env)
            for target in small.targets:
                self._bind(target.target, value)
                if isinstance(target.target, cst.Name):
                    self.deps[target.target.value] = names_in(small.value)
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            self._bind(small.target, self.flow._eval(small.value, self.env))
        elif isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name):
            old = self.env.get(small.target.value, CLEAN)
            self.env[small.target.value] = union([old, self.flow._eval(small.value, self.env)])
        elif isinstance(small, (cst.Return, cst.Raise, cst.Continue, cst.Break)) or (
            isinstance(small, cst.Expr)
            and isinstance(small.value, cst.Call)
            and vocab.is_refusing_call(dotted_name(small.value.func))
        ):
            self.exited = True

    def _bind(self, target: cst.BaseExpression, value: Value) -> None:
        bind(target, value, self.env)

    def _guards(self, node: cst.CSTNode, skip: set[int] | frozenset[int] = frozenset()) -> None:
        """Calls in ``node`` that verify membership mark the names they mention as trusted."""
        for call in _calls_in(node):
            if id(call) not in skip and self._is_guard(call):
                self.flow.guard_calls.add(id(call))
                for name in names_in(call):
                    self._trust(name)

    def _trust(self, name: str) -> None:
        value = self.env.get(name)
        if value is not None and (value.taints or value.resolved or value.params):
            self.env[name] = TRUSTED

    def _owner_checks(self, test: cst.BaseExpression) -> None:
        """``if owner_id != get_user_id(): return 403``: after it, owner_id and what it was derived from
        (the tab_state_id it was looked up by) are verified against the signed-in user or org."""
        atoms: list[cst.BaseExpression] = []
        stack: list[cst.BaseExpression] = [test]
        while stack:
            expr = stack.pop()
            if isinstance(expr, cst.BooleanOperation) and isinstance(expr.operator, cst.Or):
                stack.extend((expr.left, expr.right))
            else:
                atoms.append(expr)
        for atom in atoms:
            if not isinstance(atom, cst.Comparison) or len(atom.comparisons) != 1:
                continue
            if not isinstance(atom.comparisons[0].operator, (cst.NotEqual, cst.IsNot)):
                continue
            left, right = atom.left, atom.comparisons[0].comparator
            for mine, theirs in ((left, right), (right, left)):
                if self._is_principal(mine) and not self._is_principal(theirs):
                    self._verify(names_in(theirs))

    def _is_principal(self, expr: cst.BaseExpression) -> bool:
        text = dotted_name(expr)
        return bool(text) and (vocab.is_signed_in_user(text) or self.flow.queries.is_trusted(expr))

    def _verify(self, names: set[str]) -> None:
        seen: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            self._trust(name)
            todo.extend(self.deps.get(name, ()))

    def _is_guard(self, call: cst.Call) -> bool:
        k = self.flow.ctx.knowledge
        text = dotted_name(call.func)
        qualified = self.flow.ctx.qualified(text) if text else ""
        if text and (
            vocab.matches_any(qualified, k["guards.functions"]) or vocab.matches_any(qualified, k["trusted.resolvers"])
        ):
            return True
        summary = self.flow.summary_for(call)
        if summary is not None and summary.verifies:
            return True
        if self._inherited_fetch(call, summary):
            return True
        return self.flow.is_membership_query(call, self.env)

    def _inherited_fetch(self, call: cst.Call, summary: FunctionInfo | None) -> bool:
        """``response = super().post(request, *args, **kwargs)`` in a view's own ``post``, whose inherited handler
        fetches the view's object by those URL kwargs through the view's queryset (a project handler whose summary
        says so, or a framework handler that does: DRF's ``update``, ``requests.fetching_handlers`` of a view deriving
        from ``requests.fetching_bases``), and the view narrows that queryset to what the user may reach (a scoping
        call reassigning it, a scoping ``get_queryset``), with no ``get_object`` of the project's own in the
        framework's case: the inherited handler answered 404 for any other row, so what runs after it works on a
        row the user reaches."""
        func, own = call.func, self.flow.func
        if not (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Call)
            and dotted_name(func.value.func) == "super"
            and func.attr.value == own.name.value
        ):
            return False
        star = own.params.star_kwarg
        if star is None or not any(
            a.star == "**" and isinstance(a.value, cst.Name) and a.value.value == star.name.value for a in call.args
        ):
            return False
        info = self.flow.info
        if info is None or not info.klass:
            return False
        index, k = self.flow.ctx.index, self.flow.ctx.knowledge
        short = info.klass.rsplit(".", 1)[-1]
        ancestors = index.ancestors(short)
        if summary is not None:
            fetches = summary.fetches_object
        else:  # the framework's own handler
            fetches = (
                own.name.value in k["requests.fetching_handlers"]
                and bool(index.base_names(short) & k["requests.fetching_bases"])
                and not any("get_object" in a.methods for a in ancestors)
            )
        return fetches and any(a.narrows_queryset or "get_queryset" in a.scoping_hooks for a in ancestors)


def refuses(body: cst.BaseSuite, *, strict: bool = False) -> bool:
    """Whether a block starts by refusing the request: ``raise``, ``abort(...)``, ``return ...``.

    With ``strict``, a ``return`` counts only when it returns nothing, ``False``/``None`` or an error
    response (``HttpResponseForbidden()``, ``Response(status=403)``-style names), not any value.
    """
    stmts = body.body if isinstance(body, cst.IndentedBlock) else [body]
    for stmt in stmts[:1]:
        smalls = stmt.body if isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)) else []
        for small in smalls:
            if isinstance(small, cst.Raise):
                return True
            if isinstance(small, cst.Return):
                if not strict:
                    return True
                value = small.value
                if value is None or (isinstance(value, cst.Name) and value.value in ("False", "None")):
                    return True
                text = dotted_name(value.func) if isinstance(value, cst.Call) else ""
                return vocab.is_error_response(text)
            if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
                return vocab.is_refusing_call(dotted_name(small.value.func))
    return False


_COMPREHENSIONS = walk.Kinds(cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)
_OPAQUE = walk.Kinds(cst.Lambda, cst.SimpleString, cst.Name, cst.BaseSuite)  # holds no comprehension of the line


def _has_comprehension(stmt: cst.CSTNode) -> bool:
    """Whether a statement (its own line or header, not a nested block) holds a comprehension."""
    comprehensions, opaque, children = _COMPREHENSIONS, _OPAQUE, walk.children
    stack: list[cst.CSTNode] = [stmt]
    while stack:
        node = stack.pop()
        kind = type(node)
        if comprehensions[kind]:
            return True
        if not opaque[kind]:
            stack.extend(children(node))
    return False


def bind(target: cst.BaseExpression, value: Value, env: dict[str, Value]) -> None:
    """Assign ``value`` to the names of an assignment or loop target (each element of a tuple gets it)."""
    if isinstance(target, cst.Name):
        env[target.value] = value
    elif isinstance(target, (cst.Tuple, cst.List)):
        for el in target.elements:
            bind(el.value, value, env)
    elif isinstance(target, cst.StarredElement):
        bind(target.value, value, env)


def weak_checks(
    test: cst.BaseExpression, *, refusing: bool, verifies: Callable[[cst.BaseExpression], bool]
) -> set[int]:
    """Ids of the nodes of an ``if`` test whose checks do not hold on the allowed path.

    The allowed path needs the test true (or false, when the body refuses). Where that condition is a
    disjunction — ``if is_admin(user) or can_edit(user, project): <allowed>``, ``if not (staff or
    is_member(...)): raise`` — one disjunct suffices, so a check in it verifies nothing unless every
    disjunct checks the tenant.
    """
    weak: set[int] = set()

    def disjuncts(expr: cst.BaseExpression, want: bool) -> list[tuple[cst.BaseExpression, bool]] | None:
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
            return disjuncts(expr.expression, not want)
        if isinstance(expr, cst.BooleanOperation) and isinstance(expr.operator, cst.Or if want else cst.And):
            left = disjuncts(expr.left, want) or [(expr.left, want)]
            return left + (disjuncts(expr.right, want) or [(expr.right, want)])
        return None

    def visit(expr: cst.BaseExpression, want: bool) -> None:
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
            visit(expr.expression, not want)
            return
        parts = disjuncts(expr, want)
        if parts is not None:
            if not all(verifies(part) for part, _ in parts):
                weak.update(id(n) for n in walk.iter_tree(expr))
                return
            for part, polarity in parts:
                visit(part, polarity)
            return
        if isinstance(expr, cst.BooleanOperation):  # a conjunction on the allowed path: each part must hold
            visit(expr.left, want)
            visit(expr.right, want)

    visit(test, not refusing)
    return weak


def _comparisons(node: cst.BaseExpression) -> Iterator[cst.Comparison]:
    """Equality comparisons in a predicate (``a == b``, ``and_(a == b, c == d)``), not in nested queries."""
    if isinstance(node, cst.Comparison) and all(
        isinstance(c.operator, (cst.Equal, cst.Is, cst.In)) for c in node.comparisons
    ):
        yield node
    elif isinstance(node, cst.BooleanOperation):
        yield from _comparisons(node.left)
        yield from _comparisons(node.right)
    elif isinstance(node, cst.Call) and vocab.short(dotted_name(node.func)) in ("and_", "or_"):
        for arg in node.args:
            yield from _comparisons(arg.value)


_SCOPES = walk.Kinds(cst.FunctionDef, cst.ClassDef, cst.Lambda)
_CALL = walk.Kinds(cst.Call)
_NAME = walk.Kinds(cst.Name)
_ATTRIBUTE = walk.Kinds(cst.Attribute)


def _calls_in(node: cst.CSTNode) -> Iterator[cst.Call]:
    scopes, calls, children = _SCOPES, _CALL, walk.children
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        kind = type(current)
        if scopes[kind] and current is not node:
            continue
        if calls[kind]:
            yield cast("cst.Call", current)
        stack.extend(children(current))


def names_in(node: cst.CSTNode) -> set[str]:
    """Variable names an expression mentions (``org.id`` names ``org``, not ``id``)."""
    out: set[str] = set()
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        kind = type(current)
        if _NAME[kind]:
            out.add(cast("cst.Name", current).value)
        elif _ATTRIBUTE[kind]:
            stack.append(cast("cst.Attribute", current).value)
            continue
        stack.extend(walk.children(current))
    return out


def build_flow(
    ctx: FileContext,
    queries: QueryModel,
    func: cst.FunctionDef,
    params: dict[str, Value],
    info: FunctionInfo | None = None,
    *,
    keys: dict[int, str] | None = None,
) -> FunctionFlow:
    flow = FunctionFlow(ctx, queries, func, params, info, _keys=keys or None)
    _FlowBuilder(flow).run(func.body)
    return flow
