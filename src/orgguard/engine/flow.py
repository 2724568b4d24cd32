"""Intra-procedural data flow: where a value came from (request input, the session, a trusted org).

One pass over a function's statements in order keeps an environment ``name -> Value`` and records the
environment in force before every statement; checkers ask for the :class:`Value` of an expression at
the statement that holds it. Guards (membership joins, configured guard functions, verifying project
helpers summarised in the index) mark what they verified as trusted from the next statement on.
Branches are merged by running them in order (a flow-insensitive approximation inside a function).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import libcst as cst

from orgguard.engine import walk
from orgguard.engine.context import FileContext, dotted_name
from orgguard.engine.index import FunctionSummary, is_trusted_expr
from orgguard.engine.queries import QueryModel

SESSION = "session"
REQUEST = "request"


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
    if taints:
        return Value(taints=taints)
    event = next((v.event for v in vals if v.event), "")
    if event:
        return Value(event=event)
    if any(v.resolved for v in vals):
        return RESOLVED
    if vals and all(v.trusted for v in vals):
        return TRUSTED
    return CLEAN


def _literal_key(node: cst.BaseExpression | None) -> str | int | None:
    if isinstance(node, cst.SimpleString):
        return node.evaluated_value if isinstance(node.evaluated_value, str) else None
    if isinstance(node, cst.Integer):
        return int(node.value) if node.value.isdigit() else None
    return None


def _short(text: str) -> str:
    return text.rstrip("()").rsplit(".", 1)[-1]


SIGNED_IN = ("request.user", "self.request.user", "current_user", "g.user", "flask_login.current_user")


def is_signed_in_user(text: str) -> bool:
    """Strictly the signed-in user (or its id): ``request.user``, ``current_user.id``, ``get_user_id()``."""
    text = text.removesuffix(".id").removesuffix(".pk").removesuffix("()")
    return text in SIGNED_IN or text.rsplit(".", 1)[-1] in ("get_user_id", "current_user_id", "get_current_user")


def is_userish(text: str) -> bool:
    """The signed-in user or its id: ``request.user``, ``current_user.id``, ``get_user_id()``."""
    text = text.removesuffix(".id").removesuffix(".pk").removesuffix("()")
    return (
        text in ("user", "current_user", "request.user", "self.request.user", "g.user")
        or text.endswith((".user", "_user"))
        or text.rsplit(".", 1)[-1] in ("get_user_id", "current_user_id", "get_current_user")
    )


@dataclass
class FunctionFlow:
    """The data flow of one function."""

    ctx: FileContext
    queries: QueryModel
    func: cst.FunctionDef
    params: dict[str, Value]
    env_before: dict[int, Mapping[str, Value]] = field(default_factory=dict)
    guard_calls: set[int] = field(default_factory=set)  # ids of calls that verify membership

    # -- expressions --------------------------------------------------------------------------
    def value(self, expr: cst.BaseExpression, stmt: cst.CSTNode | None) -> Value:
        env = self.env_before.get(id(stmt), self.params) if stmt is not None else self.params
        return self._eval(expr, env)

    def _source(self, text: str) -> Taint | None:
        k = self.ctx.knowledge
        if not text:
            return None
        for session in k["sources.session_names"]:
            if text == session or text.startswith(session + "."):
                return Taint(text, SESSION)
        for name in k["sources.request_names"]:
            if text.startswith(name + "."):
                rest = text[len(name) + 1 :].split(".", 1)[0].rstrip("()")
                if rest in k["sources.request_attrs"] or rest in k["sources.request_methods"]:
                    return Taint(text, REQUEST)
        for attr in k["sources.kwarg_attrs"]:
            if text == attr or text.startswith(attr + "."):
                return Taint(text, REQUEST)
        return None

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
            base = self._eval(expr.value, env)
            if base.event and not base.taints:
                return Value(event=f"{base.event}.{expr.attr.value}")
            if isinstance(expr.value, cst.Name) and len(base.taints) == 1 and not base.trusted:
                (taint,) = base.taints
                if taint.source.endswith(f"parameter {expr.value.value}"):
                    # body.organization_id of a pydantic body parameter
                    return Value(taints=frozenset({Taint(f"{taint.source}.{expr.attr.value}", taint.kind)}))
            return base
        if isinstance(expr, cst.Subscript):
            base = self._eval(expr.value, env)
            if base.event and not base.taints:
                key = _literal_key(expr.slice[0].slice.value) if isinstance(expr.slice[0].slice, cst.Index) else None
                return Value(event=f"{base.event}.{key}" if key is not None else base.event)
            key = (
                _literal_key(expr.slice[0].slice.value)
                if expr.slice and isinstance(expr.slice[0].slice, cst.Index)
                else None
            )
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
        return CLEAN

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
        k = self.ctx.knowledge
        func_text = dotted_name(call.func)
        name = self.ctx.resolve(_short(func_text)) if func_text else ""
        if id(call) in self.guard_calls:
            return TRUSTED
        chain = self.queries.recognize(call)
        if chain is not None:
            # a database row: not client input, whatever its lookups were (their rules report those)
            if self.is_membership_query(call, env):
                return TRUSTED
            if chain.model in self.ctx.index.tenant_models:
                return RESOLVED
            return CLEAN
        if self._from_manager(call):
            return CLEAN  # a custom manager/queryset method: still rows from the database
        if name in self.ctx.knowledge["queries.shortcuts"]:
            # get_object_or_404(self.get_queryset(), pk=pk): a row, fetched through whatever queryset the
            # view scoped; the lookup itself is judged where it happens
            return CLEAN
        if func_text and self.is_verify_call(func_text):
            return Value(event="event")  # a verified webhook event
        if func_text and (
            is_trusted_expr(func_text + "()", k["trusted.org_sources"])
            or is_trusted_expr(self.ctx.qualified(func_text) + "()", k["trusted.org_sources"])
        ):
            return TRUSTED
        if name in k["trusted.resolvers"] or name in k["guards.functions"]:
            return TRUSTED
        # the result of a membership-joined query, or a lookup through the user's own relations
        if self.is_membership_query(call, env):
            return TRUSTED
        if isinstance(call.func, cst.Attribute):
            receiver = call.func.value
            method = call.func.attr.value
            recv = self._eval(receiver, env)
            if recv.event and not recv.taints and method in ("get", "__getitem__", "to_dict", "copy"):
                key = _literal_key(call.args[0].value) if call.args else None
                return Value(event=f"{recv.event}.{key}" if key is not None else recv.event)
            if method in ("get", "getlist", "pop", "get_all") and recv.taints and not recv.trusted:
                key = _literal_key(call.args[0].value) if call.args else None
                return self._narrow(recv, receiver, f".{method}({key!r})" if key else f".{method}(...)")
            src = self._source(func_text + "()") if func_text else None
            if src is not None:
                return Value(taints=frozenset({src}))
            if recv.trusted and not any(self._eval(a.value, env).tainted for a in call.args):
                return TRUSTED  # request.user.organizations.get(...), org.invoices.all()
            summary = self.summary_for(call)
            if summary is not None:
                return self._summary_value(summary, call, env)
            return union([recv, *(self._eval(a.value, env) for a in call.args)])
        summary = self.summary_for(call)
        if summary is not None:
            return self._summary_value(summary, call, env)
        return union(self._eval(a.value, env) for a in call.args)

    def is_verify_call(self, func_text: str) -> bool:
        """``stripe.Webhook.construct_event(...)`` / ``verify_event(...)``: the result is a verified event."""
        qualified = self.ctx.qualified(func_text)
        for entry in self.ctx.knowledge["stripe.verify_calls"]:
            if "*" in entry:
                continue
            if "." in entry:
                if qualified.endswith(entry) or func_text.endswith(entry):
                    return True
            elif _short(func_text) == entry:
                return True
        return False

    def _from_manager(self, call: cst.Call) -> bool:
        node: cst.BaseExpression = call
        while isinstance(node, cst.Call):
            if isinstance(node.func, cst.Attribute):
                node = node.func.value
            elif node.args:  # get_object_or_404(Model.objects.custom(...), ...)
                node = node.args[0].value
            else:
                return False
        return (
            isinstance(node, cst.Attribute)
            and node.attr.value in self.ctx.knowledge["models.managers"]
            and self.ctx.model_of(node.value) is not None
        )

    def _summary_value(self, summary: FunctionSummary, call: cst.Call, env: Mapping[str, Value]) -> Value:
        if summary.verifies:
            return TRUSTED
        if summary.resolves_unverified and any(self._eval(a.value, env).tainted for a in call.args):
            return RESOLVED
        return union(self._eval(a.value, env) for a in call.args)

    def summary_for(self, call: cst.Call) -> FunctionSummary | None:
        """The index summary of a project function called here (``helper(...)``, ``self.helper(...)``)."""
        text = dotted_name(call.func)
        if not text:
            return None
        if isinstance(call.func, cst.Name):
            return self.ctx.index.summary(self.ctx.resolve(call.func.value))
        if text.startswith("self.") and text.count(".") == 1:
            klass = self.ctx.scope.class_of(self.ctx.scope.outer_function)
            method = text[5:]
            if klass is not None:
                for info in self.ctx.index.ancestors(klass.name.value):
                    found = self.ctx.index.summary(f"{info.name}.{method}")
                    if found is not None:
                        return found
            return None
        return None

    def is_membership_query(self, call: cst.Call, env: Mapping[str, Value] | None = None) -> bool:
        """A lookup joined to the signed-in user's memberships.

        ``Membership.objects.filter(user=request.user, ...)``, ``request.user.organizations.get(...)``,
        ``Organization.objects.get(pk=..., members=request.user)``, ``is_member(...)`` guards.
        """
        membership = set(self.ctx.config.membership_models)
        node: cst.BaseExpression = call
        has_user_lookup = False
        touches_membership = False
        while isinstance(node, cst.Call):
            for arg in node.args:
                key = arg.keyword.value if arg.keyword else ""
                value_text = dotted_name(arg.value)
                if is_userish(value_text) and (
                    not key or "user" in key or "member" in key or key in self.ctx.index.membership_attrs
                ):
                    has_user_lookup = True
            func = node.func
            if isinstance(func, cst.Attribute):
                text = dotted_name(func.value)
                if func.attr.value in membership or _short(text) in membership:
                    touches_membership = True
                if func.attr.value in self.ctx.index.membership_attrs and is_userish(dotted_name(func.value)):
                    return True
                node = func.value
            else:
                if isinstance(func, cst.Name) and self.ctx.resolve(func.value) in membership:
                    touches_membership = True
                break
        while isinstance(node, cst.Attribute):
            if node.attr.value in self.ctx.index.membership_attrs and is_userish(dotted_name(node.value)):
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

    def run(self, body: cst.BaseSuite) -> None:
        self._suite(body)

    def _suite(self, suite: cst.BaseSuite | None) -> None:
        if suite is None:
            return
        if isinstance(suite, cst.SimpleStatementSuite):
            self._record(suite)
            for small in suite.body:
                self._small(small)
            return
        assert isinstance(suite, cst.IndentedBlock)
        for stmt in suite.body:
            self._stmt(stmt)

    def _record(self, stmt: cst.CSTNode) -> None:
        self.flow.env_before[id(stmt)] = dict(self.env)

    def _stmt(self, stmt: cst.BaseStatement) -> None:
        self._record(stmt)
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self._small(small)
            self._guards(stmt)
            return
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            return
        if isinstance(stmt, cst.If):
            self._guards(stmt.test)
            self._suite(stmt.body)
            if refuses(stmt.body):
                self._owner_checks(stmt.test)
            orelse = stmt.orelse
            while orelse is not None:
                if isinstance(orelse, cst.If):
                    self._record(orelse)
                    self._guards(orelse.test)
                    self._suite(orelse.body)
                    orelse = orelse.orelse
                else:
                    self._suite(orelse.body)
                    orelse = None
            return
        if isinstance(stmt, cst.For):
            self._bind(stmt.target, self.flow._eval(stmt.iter, self.env))
            self._suite(stmt.body)
            if stmt.orelse:
                self._suite(stmt.orelse.body)
            return
        if isinstance(stmt, cst.While):
            self._guards(stmt.test)
            self._suite(stmt.body)
            return
        if isinstance(stmt, cst.With):
            for item in stmt.items:
                if item.asname is not None:
                    self._bind(item.asname.name, self.flow._eval(item.item, self.env))
            self._suite(stmt.body)
            return
        if isinstance(stmt, cst.Try):
            self._suite(stmt.body)
            for handler in stmt.handlers:
                self._suite(handler.body)
            if stmt.orelse:
                self._suite(stmt.orelse.body)
            if stmt.finalbody:
                self._suite(stmt.finalbody.body)
            return
        for child in walk.children(stmt):  # match, try*, ... : record nested statements at least
            if isinstance(child, cst.BaseSuite):
                self._suite(child)

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

    def _bind(self, target: cst.BaseExpression, value: Value) -> None:
        if isinstance(target, cst.Name):
            self.env[target.value] = value
        elif isinstance(target, (cst.Tuple, cst.List)):
            for el in target.elements:
                self._bind(el.value, value)
        elif isinstance(target, cst.StarredElement):
            self._bind(target.value, value)

    def _guards(self, node: cst.CSTNode) -> None:
        """Calls in ``node`` that verify membership mark the names they mention as trusted."""
        for call in _calls_in(node):
            if self._is_guard(call):
                self.flow.guard_calls.add(id(call))
                for name in names_in(call):
                    if (name in self.env and self.env[name].taints) or (name in self.env and self.env[name].resolved):
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
        return bool(text) and (is_signed_in_user(text) or self.flow.queries.is_trusted(expr))

    def _verify(self, names: set[str]) -> None:
        seen: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in self.env and (self.env[name].taints or self.env[name].resolved):
                self.env[name] = TRUSTED
            todo.extend(self.deps.get(name, ()))

    def _is_guard(self, call: cst.Call) -> bool:
        k = self.flow.ctx.knowledge
        name = _short(dotted_name(call.func))
        if name in k["guards.functions"] or name in k["trusted.resolvers"]:
            return True
        summary = self.flow.summary_for(call)
        if summary is not None and summary.verifies:
            return True
        return self.flow.is_membership_query(call, self.env)


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
                return any(w in text for w in ("Forbidden", "NotFound", "Denied", "403", "404", "redirect"))
            if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
                return dotted_name(small.value.func).rsplit(".", 1)[-1] in ("abort", "deny", "forbid")
    return False


def _calls_in(node: cst.CSTNode) -> Iterator[cst.Call]:
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (cst.FunctionDef, cst.ClassDef, cst.Lambda)) and current is not node:
            continue
        if isinstance(current, cst.Call):
            yield current
        stack.extend(walk.children(current))


def names_in(node: cst.CSTNode) -> set[str]:
    """Variable names an expression mentions (``org.id`` names ``org``, not ``id``)."""
    out: set[str] = set()
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Name):
            out.add(current.value)
        elif isinstance(current, cst.Attribute):
            stack.append(current.value)
            continue
        stack.extend(walk.children(current))
    return out


def build_flow(ctx: FileContext, queries: QueryModel, func: cst.FunctionDef, params: dict[str, Value]) -> FunctionFlow:
    flow = FunctionFlow(ctx, queries, func, params)
    _FlowBuilder(flow).run(func.body)
    return flow
