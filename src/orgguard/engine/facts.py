"""Per-function facts, computed once per function on demand and shared by every checker.

A function's *surface* (request handler, ...) decides which path class, hence which rule, a finding in
it belongs to. Its *parameters* say which values arrive from the client (URL kwargs, FastAPI query and
header parameters) and which from a trusted resolver (``Depends(get_current_org)``). The variable facts
let a query built first and narrowed later, or an object fetched and then checked against the tenant,
count as scoped; a narrowing applied only under a condition on the org is remembered for ORG104.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import cast

import libcst as cst

from orgguard.engine import vocab, walk
from orgguard.engine.context import FileContext, dotted_name
from orgguard.engine.flow import (
    CLEAN,
    FunctionFlow,
    Value,
    build_flow,
    call_keys,
    names_in,
    refuses,
    value_of_origin,
    weak_checks,
)
from orgguard.engine.queries import QueryModel, Scoping
from orgguard.engine.records import FunctionInfo


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
    # of each of them, the condition its narrowing by the tenant's own field depends on (`if organization_id`,
    # where an earlier `if task_id` narrows by a parent on the path)
    conditional_tenant: dict[str, str] = field(default_factory=dict)
    info: FunctionInfo | None = None  # what the index knows of the function (its callers, its reach)
    checked_loops: frozenset[int] = frozenset()  # ids of iterated queries whose every row is checked in the loop
    # variables holding keys of a row's related rows (``[f"wiki:{i}" for i in project.pages.values_list("id")]``)
    descendant_keys: set[str] = field(default_factory=set)
    keys: dict[int, str] = field(default_factory=dict)  # id(call) -> its key in the index
    # ``q = Check.objects.select_related(...)`` used only as ``get_object_or_404(q, code=code)`` (and ``q =
    # q.select_related(...)``): the query runs at the shortcut, judged there; var -> (query, shortcut call)
    deferred: dict[str, tuple[cst.BaseExpression, cst.Call]] = field(default_factory=dict)
    # ids of queries handed to a project function that narrows them (``get_elements(page, base_queryset=
    # Element.objects.all())`` with ``base_queryset.filter(page=page)`` there): judged like ``qs.filter(page=page)``
    handed: frozenset[int] = frozenset()
    query_defs: dict[str, cst.BaseExpression] = field(default_factory=dict)  # var -> the query first assigned to it
    _flow: FunctionFlow | None = None

    def reached_from(self, ctx: FileContext, surface: Surface) -> bool:
        """Whether entry points of ``surface`` reach this function (it serves them though it is not one)."""
        return self.info is not None and any(r.surface == surface.value for r in ctx.index.reaches(self.info.qualname))

    def flow(self, ctx: FileContext, queries: QueryModel) -> FunctionFlow:
        if self._flow is None:
            self._flow = build_flow(ctx, queries, self.func, self.params, self.info, keys=self.keys)
        return self._flow


class _VarScan(cst.CSTVisitor):
    """Finds variables narrowed to the tenant after the fact, and whether only under a condition."""

    def __init__(
        self,
        ctx: FileContext,
        queries: QueryModel,
        info: FunctionInfo | None,
        keys: dict[int, str],
        membership: Callable[[cst.Call], bool],
        *,
        body: cst.CSTNode | None = None,
    ) -> None:
        self.ctx = ctx
        self.info_body = body
        self.membership = membership
        self.queries = queries
        self.info = info
        self.keys = keys
        self.seen: dict[str, int] = {}
        self.tenant_attrs = ctx.tenant_attrs
        self.scoped: set[str] = set()
        self.conditional: dict[str, str] = {}
        self.conditional_tenant: dict[str, str] = {}  # the condition of its narrowing by the tenant itself, if any
        self.conditions: list[set[str]] = []  # names tested by the enclosing ifs
        self.derived: dict[str, str] = {}  # project = view.project: checking project checks view
        self.loops: dict[int, str] = {}  # id(iterated expression) -> the loop variable
        self.loop_vars: dict[str, str] = {}  # `for speaker in speakers`: speakers -> speaker
        self.secret_of: dict[str, str] = {}  # a value computed from a row's own secret -> the row
        self.weak: set[int] = set()  # checks that a disjunct lets the request past (`is_admin or is_member`)
        self.descendant_keys: set[str] = set()  # keys of a row's related rows
        self.query_defs: dict[str, cst.BaseExpression] = {}  # var -> the query first assigned to it
        self.shortcut_args: dict[str, list[cst.Call]] = {}  # var -> the shortcut calls it is the queryset of
        self.rebuilt: dict[str, int] = {}  # var -> how many times `q = q.select_related(...)` rebuilds it
        # var -> the outermost calls of chains continued on it (`q.select_related(...).get(id=pk)`)
        self.continued: dict[str, list[cst.Call]] = {}
        self.inner_calls: set[int] = set()  # calls inside a continuation or a rebuild already seen
        self.handoffs: dict[str, list[cst.Call]] = {}  # var -> the calls handing it to a callee that narrows it
        # var -> (value, call) of what it holds through a callee that returns it: `v = filter_queryset(u, op, q)`
        self.through: dict[str, list[tuple[cst.BaseExpression, cst.Call]]] = {}
        # ids of query expressions handed to a callee that narrows them, or fetching the row a method that checks
        # its own row runs on
        self.handed: set[int] = set()
        self._all_keys: dict[int, str] | None = None

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return True

    def visit_If(self, node: cst.If) -> None:
        # `if org: qs = qs.where(...) else: raise`: the narrowing holds on every path that goes on
        orelse = node.orelse
        self.conditions.append(set() if isinstance(orelse, cst.Else) and refuses(orelse.body) else names_in(node.test))
        self.weak |= weak_checks(node.test, refusing=refuses(node.body, strict=True), verifies=self._verifies)

    def _verifies(self, expr: cst.BaseExpression) -> bool:
        """Whether a condition checks the tenant: a guard call, a membership query, a tenant comparison. Or the
        row's own public flag (``webapp.is_public or <visible to the user>``): its owners published it to
        everyone, which is no way around the check beside it."""
        if (
            isinstance(expr, cst.Attribute)
            and expr.attr.value in self.ctx.knowledge["models.public_flags"]
            and isinstance(expr.value, cst.Name)
            and expr.value.value not in ("self", "request", "settings", "user")
        ):
            return True
        for sub in walk.iter_tree(expr):
            if isinstance(sub, cst.Call) and (self._is_guard(sub) or self.membership(sub) or self._refound(sub)):
                return True
            if isinstance(sub, cst.Comparison) and (
                self._tenant_comparison(sub)
                or next(self._owned_rows([sub.left, *(c.comparator for c in sub.comparisons)]), None) is not None
            ):
                return True
        return False

    def _refound(self, node: cst.Call) -> str:
        """``row`` when ``node`` looks ``row`` up again by its key among the signed-in user's own rows
        (``Webapp.objects.filter_for_user(request.user).filter(pk=webapp.pk).exists()``), else ""."""
        func = node.func
        if not isinstance(func, cst.Attribute) or not (
            func.attr.value in vocab.AGGREGATES or func.attr.value in self.ctx.knowledge["queries.row_fetches"]
        ):
            return ""
        found = self.queries.chain(node)
        if found is None or not self.queries.own_rows(found):
            return ""
        for key, value in self.queries.lookups(found):
            owner, path = _root(value)
            if vocab.is_key_lookup(key) and set(path) <= {"pk", "id"}:
                return owner if owner not in ("self", "request") else ""
        return ""

    def _is_guard(self, node: cst.Call) -> bool:
        """``check_access(request, ticket)``: a declared guard, or a project function whose summary verifies."""
        text = dotted_name(node.func)
        if text and vocab.matches_any(self.ctx.qualified(text), self.ctx.knowledge["guards.functions"]):
            return True
        summary = self._summary(node)
        # self.retrieve(request, pk=page.pk): the handler fetches the row again and runs the view's object check
        return summary is not None and (summary.verifies or (summary.object_check and _on_self(node)))

    def _summary(self, node: cst.Call) -> FunctionInfo | None:
        """The index summary of the project function a call resolves to."""
        if self.info is None:
            return None
        key = self.keys.get(id(node))
        if key is None:
            if self._all_keys is None:
                self._all_keys = call_keys(self.info_body) if self.info_body is not None else {}
            key = self._all_keys.get(id(node))
        return self.ctx.index.callee(self.info.qualname, key) if key else None

    def _tenant_comparison(self, node: cst.Comparison) -> bool:
        if len(node.comparisons) == 1 and isinstance(node.comparisons[0].operator, (cst.In, cst.NotIn)):
            relations = self.ctx.index.membership_attrs
            right = node.comparisons[0].comparator
            return any(
                a.attr.value in relations and vocab.is_userish(dotted_name(a.value)) for a in _attribute_nodes(right)
            )
        operands = [node.left, *(c.comparator for c in node.comparisons)]
        return next(self._tenant_operands(operands), None) is not None

    def _owned_rows(self, operands: Sequence[cst.BaseExpression]) -> Iterator[str]:
        """The variables whose row the comparison ties to the signed-in user (see ``vocab.owned_row``)."""
        k = self.ctx.knowledge
        texts = [dotted_name(op) for op in operands]
        yield from vocab.owned_rows(texts, k["models.owner_fields"], k["models.login_fields"])

    def _tenant_operands(self, operands: Sequence[cst.BaseExpression]) -> Iterator[str]:
        """The names whose tenant attribute (``ticket.organization_id``) is compared with something else:
        ``us.space.created_by == us.user`` compares a row with itself, and verifies nothing. One operand: the
        argument of an object check (``user.has_perm(p, ticket.organization)``)."""
        roots = [_root(op)[0] for op in operands]
        for operand, root in zip(operands, roots, strict=True):
            attrs: list[str] = []
            base: cst.BaseExpression = operand
            while isinstance(base, cst.Attribute):
                attrs.append(base.attr.value)
                base = base.value
            if (
                isinstance(base, cst.Name)
                and len(attrs) <= 3
                and set(attrs[-2:]) & self.tenant_attrs
                and (len(roots) == 1 or any(other != root for other in roots))
            ):
                yield base.value

    def leave_If(self, original_node: cst.If) -> None:
        self.conditions.pop()

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self.conditions.append(names_in(node.test))

    def leave_IfExp(self, original_node: cst.IfExp) -> None:
        self.conditions.pop()

    def _tenantness(self, name: str) -> int:
        """0: a name of the tenant itself (``organization_id``), 1: of a parent on its path (``task_id``), 2: other."""
        if any(name in paths for paths in self.ctx.index.tenant_paths.values()):
            return 0  # a model's whole path to its tenant (`organization_id`), not a step on the way (`task`)
        return 1 if name in self.tenant_attrs else 2

    def _narrowed(self, var: str, values: list[cst.BaseExpression]) -> None:
        used = set().union(*(names_in(v) for v in values)) if values else set()
        tested = set().union(*self.conditions) if self.conditions else set()
        if used & tested:
            # `if org: qs = qs.filter(organization=org)`: skipped when the org is missing; the condition named is the
            # tenant's own when one is (`if organization_id`, not an earlier `if task_id` on a parent's path)
            self.conditional.setdefault(var, sorted(used & tested)[0])
            found = min(used & tested, key=lambda name: (self._tenantness(name), name))
            named = self.conditional_tenant.get(var)
            if named is None or self._tenantness(found) < self._tenantness(named):
                self.conditional_tenant[var] = found
        else:
            self.scoped.add(var)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        k = self.ctx.knowledge
        # the call's key, as the index scan numbered it: its text and its occurrence, in source order
        text = dotted_name(func) or "<expr>"
        n = self.seen.get(text, 0)
        self.seen[text] = n + 1
        self.keys[id(node)] = f"{text}#{n}"
        text = text if text != "<expr>" else ""
        if self.query_defs:
            self._queryset_arg(node)
            self._continuation(node)
        if id(node) in self.weak:
            return  # `if user.is_admin or can_edit(user, project)`: the other disjunct lets anyone past
        summary = self._summary(node)  # the project function called, if any
        # check_access(request, ticket): a guard, or a project function whose summary verifies, checks its arguments
        if self._is_guard(node):
            for arg in node.args:
                root: cst.BaseExpression = arg.value
                while isinstance(root, cst.Attribute):
                    root = root.value  # ensure_member(user, doc.organization_id): doc is checked
                if isinstance(root, cst.Name) and root.value not in ("self", "request", "user"):
                    self._check(root.value)
            # pipeline.delete_if_has_perm(principal=request.user): a method that checks the row it runs on
            if summary is not None and "self" in summary.verified_params and isinstance(func, cst.Attribute):
                if isinstance(func.value, cst.Name) and func.value.value not in ("self", "request", "user"):
                    self._check(func.value.value)
                elif isinstance(func.value, cst.Call) and self.queries.chain(func.value) is not None:
                    self.handed.add(id(func.value))  # `Version.objects.get(id=...).delete_if_has_perm(...)`
        # query = cls._apply_base_filter(query): a project function returning its parameter narrowed
        if not node.args:
            summary = None  # handed nothing it could narrow
        if summary is not None and summary.narrows:
            for var, param in bound_args(node, summary):
                if param in summary.narrows:
                    self._narrowed(var, [node])
        # get_elements(page, base_queryset=qs): the callee narrows what it is handed by a tenant-path lookup
        if summary is not None and summary.narrowed_in:
            narrowing = {
                param for param, heads in summary.narrowed_in if "*" in heads or not self.tenant_attrs.isdisjoint(heads)
            }
            for value, param in bound_values(node, summary):
                if param in narrowing:
                    self._hand(value, node)
        # Membership.objects.filter(user=request.user, organization=obj.organization).exists(): obj is checked
        if self.membership(node):
            for value in _lookup_values(node):
                owner, path = _root(value)
                if owner and set(path) & self.tenant_attrs:
                    self._check(owner)
            # ...and Membership.objects.filter(user=user, tenant=tenant): the tenant row (or its id) itself
            for key, value in _lookup_items(node):
                owner, path = _root(value)
                if owner and key.removesuffix("__exact") in self.tenant_attrs and set(path) <= {"pk", "id"}:
                    self._check(owner)
        # Webapp.objects.filter_for_user(request.user).filter(pk=webapp.pk).exists(): the row found again among the
        # signed-in user's own rows is checked
        refound = self._refound(node)
        if refound:
            self._check(refound)
        # qs.filter(organization=org) / qs = qs.filter(...) / qs.select_related(...).filter(...)
        holder = chain_root(func.value) if isinstance(func, cst.Attribute) else None
        if isinstance(func, cst.Attribute) and holder is not None:
            var = holder
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
                hits.extend(
                    arg.value
                    for arg in node.args
                    if arg.keyword and descendant_keys(self.ctx, arg.value, self.descendant_keys)
                )
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
            # `user.has_perm(p, invitation.workspace)`: the row's tenant checked is the row checked
            for arg in node.args:
                for row in self._tenant_operands([arg.value]):
                    if row not in ("self", "request"):
                        self._check(row)

    def _passed(self, value: cst.BaseExpression) -> list[tuple[cst.BaseExpression, cst.Call]] | None:
        """(argument, call) of what a call of a project function that returns its parameter passes through
        (``CoreHandler().filter_queryset(user, op, Element.objects.all())``); None for any other value."""
        if isinstance(value, cst.Await):
            value = value.expression
        summary = self._summary(value) if isinstance(value, cst.Call) else None
        if summary is None or not summary.passes:
            return None
        assert isinstance(value, cst.Call)
        return [(arg, value) for arg, param in bound_values(value, summary) if param in summary.passes]

    def _hand(self, value: cst.BaseExpression, call: cst.Call) -> None:
        """``value``, an argument of ``call``, is handed to a callee that narrows it."""
        if isinstance(value, cst.Name):
            self.handoffs.setdefault(value.value, []).append(call)
            return
        passed = self._passed(value)
        if passed is not None:
            for inner, through in passed:
                self._hand(inner, through)
        elif self.queries.chain(value) is not None:
            self.handed.add(id(value))

    def handed_off(self) -> frozenset[int]:
        """Settles the variables handed to callees that narrow them: one used nowhere else (bar its rebuilds)
        is narrowed, and so is what it holds through a callee returning it. Returns the queries so handed."""
        done: set[str] = set()
        while True:
            todo = [var for var in self.handoffs if var not in done]
            if not todo or self.info_body is None:
                break
            count: dict[str, int] = dict.fromkeys(todo, 0)
            for node in walk.iter_tree(self.info_body):
                if isinstance(node, cst.Name) and node.value in count:
                    count[node.value] += 1
            for var in todo:
                done.add(var)
                if count[var] != 1 + 2 * self.rebuilt.get(var, 0) + len(self.handoffs[var]):
                    continue  # used elsewhere too: what the callee narrows is not all it does
                self.scoped.add(var)
                for inner, through in self.through.get(var, ()):
                    self._hand(inner, through)
        return frozenset(self.handed)

    def _queryset_arg(self, node: cst.Call) -> None:
        """``get_object_or_404(q, ...)`` with ``q`` holding a query: where that query runs."""
        first = node.args[0].value if node.args and node.args[0].keyword is None and not node.args[0].star else None
        if (
            isinstance(first, cst.Name)
            and first.value in self.query_defs
            and self.queries.shortcut_over(node, self.query_defs[first.value]) is not None
        ):
            self.shortcut_args.setdefault(first.value, []).append(node)

    def _continuation(self, node: cst.Call) -> None:
        """``q.select_related(...).get(id=pk)`` with ``q`` holding a query: the query runs here, continued."""
        if id(node) in self.inner_calls:
            return
        current: cst.BaseExpression = node
        inner: list[int] = []
        while isinstance(current, cst.Call) and isinstance(current.func, cst.Attribute):
            inner.append(id(current))
            current = current.func.value
        if isinstance(current, cst.Name) and current.value in self.query_defs and inner:
            self.inner_calls.update(inner)
            if self.queries.continued(node, self.query_defs[current.value]) is not None:
                self.continued.setdefault(current.value, []).append(node)

    def deferred(self) -> dict[str, tuple[cst.BaseExpression, cst.Call]]:
        """Queries whose only use is one shortcut call, or one chain continued on them (and rebuilds of
        themselves): judged at that call."""
        out: dict[str, tuple[cst.BaseExpression, cst.Call]] = {}
        uses_of = {var: [*self.shortcut_args.get(var, ()), *self.continued.get(var, ())] for var in self.query_defs}
        uses_of = {var: calls for var, calls in uses_of.items() if calls}
        if not uses_of or self.info_body is None:
            return out
        count: dict[str, int] = dict.fromkeys(uses_of, 0)
        for node in walk.iter_tree(self.info_body):
            if isinstance(node, cst.Name) and node.value in count:
                count[node.value] += 1
            elif (
                # `if base_queryset is None: base_queryset = Model.objects.all()`: a parameter's default
                isinstance(node, cst.Comparison)
                and isinstance(node.left, cst.Name)
                and node.left.value in count
                and len(node.comparisons) == 1
                and isinstance(node.comparisons[0].operator, (cst.Is, cst.IsNot))
                and isinstance(node.comparisons[0].comparator, cst.Name)
                and node.comparisons[0].comparator.value == "None"
            ):
                count[node.left.value] -= 1
        for var, calls in uses_of.items():
            uses = 1 + 2 * self.rebuilt.get(var, 0) + len(calls)  # the assignment, each rebuild, the use
            if len(calls) == 1 and count[var] == uses:
                out[var] = (self.query_defs[var], calls[0])
        return out

    def visit_For(self, node: cst.For) -> None:
        # `for speaker in <query>: if user.has_perm(..., speaker)`: every row is checked before use
        if isinstance(node.target, cst.Name):
            self.loops[id(node.iter)] = node.target.value
            if isinstance(node.iter, cst.Name):
                self.loop_vars[node.iter.value] = node.target.value

    def leave_Assign(self, original_node: cst.Assign) -> None:
        # after the value's calls got their keys: `v = filter_queryset(user, op, Element.objects.all())`
        value = original_node.value
        if (
            len(original_node.targets) == 1
            and isinstance(original_node.targets[0].target, cst.Name)
            and isinstance(value, (cst.Call, cst.Await))
        ):
            passed = self._passed(value)
            if passed:
                self.through.setdefault(original_node.targets[0].target.value, []).extend(passed)

    def _scoped_keys(self, value: cst.BaseExpression) -> bool:
        """``qs.order_by("user_id").distinct("user_id").values("id")`` where ``qs`` holds a query scoped to the
        tenant (where it was built, or narrowed after): the keys of rows the tenant owns, so rows picked by
        them (``filter(id__in=...)``) are among those rows."""
        receiver = _id_projection(value)
        if receiver is None:
            return False
        root = chain_root(receiver)
        if root is not None and root in self.query_defs:
            if root in self.scoped:
                return True
            chain = self.queries.chain(self.query_defs[root])
        else:
            chain = self.queries.chain(receiver)
        return chain is not None and self.queries.scoping(chain) is Scoping.SCOPED

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
            var = node.targets[0].target.value
            base: cst.BaseExpression = value
            while isinstance(base, (cst.Call, cst.Attribute)):
                base = base.func if isinstance(base, cst.Call) else base.value
            if isinstance(base, cst.Name) and base.value == var and var in self.query_defs:
                self.rebuilt[var] = self.rebuilt.get(var, 0) + 1  # q = q.select_related(...)
                current: cst.BaseExpression = value
                while isinstance(current, (cst.Call, cst.Attribute)):
                    if isinstance(current, cst.Call):
                        self.inner_calls.add(id(current))  # a rebuild, not a use
                    current = current.func if isinstance(current, cst.Call) else current.value
            elif var not in self.query_defs and self.queries.chain(value) is not None:
                self.query_defs[var] = value
        if (
            len(node.targets) == 1
            and isinstance(node.targets[0].target, cst.Name)
            and (descendant_keys(self.ctx, value, self.descendant_keys) or self._scoped_keys(value))
        ):
            self.descendant_keys.add(node.targets[0].target.value)
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
            # calculated = sign(user.api_key, path): a value derived from the row's own secret
            markers = self.ctx.knowledge["models.secret_fields"]
            for attr in _attribute_nodes(value):
                if vocab.is_secret_field(attr.attr.value, markers):
                    owner, _path = _root(attr.value)
                    if owner and owner not in ("self", "request", "settings"):
                        self.secret_of[node.targets[0].target.value] = owner
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
        # obj.organization not in request.user.organizations.all() -> obj is checked against the user's tenants
        if id(node) in self.weak:
            return
        if len(node.comparisons) == 1 and isinstance(node.comparisons[0].operator, (cst.In, cst.NotIn)):
            right = node.comparisons[0].comparator
            relations = self.ctx.index.membership_attrs
            if any(
                a.attr.value in relations and vocab.is_userish(dotted_name(a.value)) for a in _attribute_nodes(right)
            ):
                owner, _path = _root(node.left)
                if owner:
                    self._check(owner)
            return
        if not all(isinstance(c.operator, (cst.Equal, cst.NotEqual, cst.Is, cst.IsNot)) for c in node.comparisons):
            return
        # `signature == sign(query.api_key, ...)`: the row's own secret checked against what the client holds
        markers = self.ctx.knowledge["models.secret_fields"]
        for attr in _attribute_nodes(node):
            if vocab.is_secret_field(attr.attr.value, markers):
                owner, _path = _root(attr.value)
                if owner and owner not in ("self", "request", "settings"):
                    self._check(owner)
        operands = [node.left, *(c.comparator for c in node.comparisons)]
        for operand in operands:
            if isinstance(operand, cst.Name) and operand.value in self.secret_of:
                self._check(self.secret_of[operand.value])  # signature == calculated (from user.api_key)
        for name in self._tenant_operands(operands):
            self._check(name)
        # `if note.created_by != request.user: raise`, `invitation.email != request.user.email`: the user's own row
        for name in self._owned_rows(operands):
            self._check(name)


def _root(expr: cst.BaseExpression) -> tuple[str, list[str]]:
    """``obj.project.organization`` -> ("obj", ["organization", "project"])."""
    attrs: list[str] = []
    while isinstance(expr, cst.Attribute):
        attrs.append(expr.attr.value)
        expr = expr.value
    return (expr.value if isinstance(expr, cst.Name) else ""), attrs


def descendant_keys(ctx: FileContext, expr: cst.BaseExpression, names: set[str]) -> bool:
    """Whether a value is the ids of a row's related rows: ``project.wiki_pages.values_list("id", flat=True)``,
    a comprehension formatting each (``[f"wiki:{i}" for i in ...]``), a sum of such lists, or a name holding
    one. The row itself is server-known, or its own lookup is judged where it happens: rows picked by these
    keys are that row's descendants. (Another field, a title, is no key: other tenants' rows share it.)"""
    if isinstance(expr, cst.Name):
        return expr.value in names
    if isinstance(expr, (cst.ListComp, cst.SetComp, cst.GeneratorExp)):
        return descendant_keys(ctx, expr.for_in.iter, names)
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Add, cst.BitOr)):
        return descendant_keys(ctx, expr.left, names) and descendant_keys(ctx, expr.right, names)
    manager = _id_projection(expr)
    if manager is not None:
        if not isinstance(manager, cst.Attribute) or not isinstance(manager.value, cst.Name):
            return False
        row, relation = manager.value.value, manager.attr.value
        return (
            row not in ("self", "request", "cls")
            and ctx.model_of(manager.value) is None
            and relation not in ctx.knowledge["models.managers"]
        )
    return False


def bound_args(call: cst.Call, summary: FunctionInfo) -> Iterator[tuple[str, str]]:
    """(variable, parameter) of the call's arguments that are plain names (see :func:`bound_values`)."""
    for value, param in bound_values(call, summary):
        if isinstance(value, cst.Name):
            yield value.value, param


def _id_projection(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """What ``<x>.values_list("id", flat=True)`` or ``<x>.values("pk")`` projects the keys of: ``<x>``; else None."""
    if (
        isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Attribute)
        and expr.func.attr.value in ("values_list", "values")
        and bool(expr.args)
        and isinstance(expr.args[0].value, cst.SimpleString)
        and expr.args[0].value.evaluated_value in ("id", "pk")
    ):
        return expr.func.value
    return None


def chain_root(node: cst.BaseExpression) -> str | None:
    """The variable a chain of method calls starts at (``qs`` in ``qs.select_related("page").order_by("id")``)."""
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        node = node.func.value
    return node.value if isinstance(node, cst.Name) else None


def bound_values(call: cst.Call, summary: FunctionInfo) -> Iterator[tuple[cst.BaseExpression, str]]:
    """(argument, parameter) of the call's arguments: positional ones in order after ``self``/``cls`` of a
    method called on an object or class, keywords by name."""
    params = list(summary.params)
    if summary.klass and params and params[0] in ("self", "cls") and isinstance(call.func, cst.Attribute):
        params = params[1:]
    for i, arg in enumerate(call.args):
        if arg.star:
            continue
        if arg.keyword is not None:
            yield arg.value, arg.keyword.value
        elif i < len(params):
            yield arg.value, params[i]


def _lookup_items(call: cst.Call) -> list[tuple[str, cst.BaseExpression]]:
    """The keyword lookups along a query chain (``filter(a=x).filter(b=y).exists()``: (a, x), (b, y))."""
    out: list[tuple[str, cst.BaseExpression]] = []
    node: cst.BaseExpression = call
    while isinstance(node, cst.Call):
        out.extend((a.keyword.value, a.value) for a in node.args if a.keyword is not None)
        node = node.func.value if isinstance(node.func, cst.Attribute) else node.func
    return out


def _lookup_values(call: cst.Call) -> list[cst.BaseExpression]:
    """The argument values along a query chain (``filter(a=x).filter(b=y).exists()``: x, y)."""
    out: list[cst.BaseExpression] = []
    node: cst.BaseExpression = call
    while isinstance(node, cst.Call):
        out.extend(a.value for a in node.args)
        node = node.func.value if isinstance(node.func, cst.Attribute) else node.func
    return out


_ATTRIBUTE = walk.Kinds(cst.Attribute)


def _attribute_nodes(node: cst.CSTNode) -> list[cst.Attribute]:
    out: list[cst.Attribute] = []
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        if _ATTRIBUTE[type(current)]:
            out.append(cast("cst.Attribute", current))
        stack.extend(walk.children(current))
    return out


def class_bases(ctx: FileContext, klass: cst.ClassDef) -> set[str]:
    """Short names of a class's bases, transitively through project classes."""
    bases: set[str] = set()
    for b in klass.bases:
        text = dotted_name(b.value)
        bases.add(text.rsplit(".", 1)[-1])
        bases.add(ctx.qualified(text).rsplit(".", 1)[-1])  # `Resource as RestxResource` is a Resource
    bases.discard("")
    for base in list(bases):
        bases |= ctx.index.base_names(base)
    return bases


def is_view_class(ctx: FileContext, klass: cst.ClassDef) -> bool:
    """A view, or a project mixin that views are built from (not a class no request is routed to)."""
    if klass.name.value in ctx.index.unroutable:
        return False
    if klass.name.value in ctx.index.view_mixins:
        return True
    return bool(class_bases(ctx, klass) & ctx.knowledge["requests.view_bases"])


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
    """A permission class that checks every object get_object() returns against the user's tenant: a declared one,
    one whose ``has_object_permission`` verifies, or one whose ``has_permission`` verifies the URL kwarg the view
    looks its object up by (or kwargs it does not say). One that verifies only another kwarg (the URL's
    ``project_id``, the object found by ``label_id``) says nothing about the object."""
    lookup = _lookup_kwarg(klass)
    for name in sorted(permission_classes(ctx, klass)):
        if name in ctx.knowledge["guards.permission_classes"] or _verifying_permission(ctx, name, lookup):
            return name
    return ""


def class_strings(klass: cst.ClassDef) -> dict[str, str]:
    """The class's own attributes assigned a string literal (``lookup_field = "token"``)."""
    found: dict[str, str] = {}
    for stmt in klass.body.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign) and isinstance(small.value, cst.SimpleString):
                    value = small.value.evaluated_value
                    for t in small.targets:
                        if isinstance(t.target, cst.Name) and isinstance(value, str):
                            found[t.target.value] = value
    return found


def _lookup_kwarg(klass: cst.ClassDef) -> str:
    """The URL kwarg a DRF view finds its object by: ``lookup_url_kwarg``, else ``lookup_field``, else ``pk``."""
    found = class_strings(klass)
    return found.get("lookup_url_kwarg") or found.get("lookup_field") or "pk"


DETAIL_HANDLERS = ("retrieve", "update", "partial_update", "destroy")


def _on_self(call: cst.Call) -> bool:
    func = call.func
    return isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self"


def detail_handlers_check_objects(ctx: FileContext, klass: cst.ClassDef) -> bool:
    """A view that serves no list, whose detail handlers (its own or inherited) each run the view's object
    check on the row they fetched (``self.check_permissions(request, "retrieve", obj)``): its queryset hook
    only feeds lookups that are checked one object at a time."""
    if is_list_view(ctx, klass):
        return False
    found = False
    for info in ctx.index.ancestors(klass.name.value):
        if "list" in info.methods:
            return False
        for name in DETAIL_HANDLERS:
            if name not in info.methods:
                continue
            handler = ctx.index.function(f"{info.qualname}.{name}")
            if handler is None or not handler.object_check:
                return False
            found = True
    return found


def detail_branch_checked(ctx: FileContext, klass: cst.ClassDef) -> bool:
    """A DRF view whose every object read goes through DRF's own ``get_object()``, which runs the view's
    permission classes' ``has_object_permission`` on the row, and one of them verifies it: no ``get_object``
    of the project's (it may skip the check), and no other method of the view reading the queryset hook itself
    (``@action(detail=False)`` returning ``self.filter_queryset(self.get_queryset())`` lists it). The part of
    its queryset hook that lists never reach serves those object reads only. Read from the index: blanking
    may have left the other methods as stubs."""
    hooks = ctx.knowledge["requests.queryset_hooks"]
    for info in ctx.index.ancestors(klass.name.value):
        if "get_object" in info.methods:
            return False
        for method in info.methods:
            if method in hooks:
                continue
            summary = ctx.index.function(f"{info.qualname}.{method}")
            if summary is not None and any(callee.rsplit(".", 1)[-1] in hooks for _key, callee in summary.callees):
                return False
    return any(_verifying_object_check(ctx, name) for name in permission_classes(ctx, klass))


def _verifying_object_check(ctx: FileContext, name: str) -> bool:
    """A permission class whose ``has_object_permission`` verifies the object's tenant."""
    for info in ctx.index.ancestors(name):
        if "has_object_permission" in info.methods:
            summary = ctx.index.function(f"{info.qualname}.has_object_permission")
            return summary is not None and summary.verifies
    return False


def detail_only_branch(func: cst.FunctionDef, node: cst.CSTNode) -> bool:
    """Whether lists never reach ``node`` in a queryset hook: it follows, at the top of the body, an
    ``if self.action == "list": ... return ...``, or it lies in the body of an ``if`` that only detail routes
    enter (``if not self.action == "list":``, ``if self.action != "list":``, ``if self.action in ("retrieve",
    "update"):``, ``if "pk" in self.kwargs:``)."""
    seen_branch = False
    for stmt in func.body.body:
        if seen_branch and any(sub is node for sub in walk.iter_tree(stmt)):
            return True
        if isinstance(stmt, cst.If) and _tests_action(stmt.test) is True and _always_leaves(stmt.body):
            seen_branch = True
    for sub in walk.iter_tree(func.body):
        if (
            isinstance(sub, cst.If)
            and _tests_action(sub.test) is False
            and any(inner is node for inner in walk.iter_tree(sub.body))
        ):
            return True
    return False


def _tests_action(test: cst.BaseExpression) -> bool | None:
    """True: the test holds on lists (``self.action == "list"``); False: only detail routes pass it (its
    negation, an ``in`` of detail actions, ``"pk" in self.kwargs``); None: neither."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        inner = _tests_action(test.expression)
        return None if inner is None else not inner
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    target = test.comparisons[0]
    if (
        isinstance(test.left, cst.SimpleString)
        and test.left.evaluated_value == "pk"
        and isinstance(target.operator, cst.In)
        and dotted_name(target.comparator) == "self.kwargs"
    ):
        return False
    if dotted_name(test.left) != "self.action":
        return None
    if isinstance(target.operator, (cst.Equal, cst.NotEqual)) and isinstance(target.comparator, cst.SimpleString):
        if target.comparator.evaluated_value != "list":
            return None
        return isinstance(target.operator, cst.Equal)
    if isinstance(target.operator, cst.In) and isinstance(target.comparator, (cst.Tuple, cst.List, cst.Set)):
        values = [el.value for el in target.comparator.elements]
        if not all(isinstance(v, cst.SimpleString) for v in values):
            return None
        names = {v.evaluated_value for v in values if isinstance(v, cst.SimpleString)}
        return "list" in names
    return None


def _always_leaves(body: cst.BaseSuite) -> bool:
    """The block ends in ``return`` or ``raise``."""
    stmts = body.body if isinstance(body, cst.IndentedBlock) else [body]
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
        return any(isinstance(small, (cst.Return, cst.Raise)) for small in last.body)
    return False


def is_list_view(ctx: FileContext, klass: cst.ClassDef) -> bool:
    """Whether the view lists its queryset (object permissions are not checked on lists)."""
    return bool(class_bases(ctx, klass) & ctx.knowledge["requests.list_bases"])


def _verifying_permission(ctx: FileContext, name: str, lookup: str = "") -> bool:
    """Whether a permission class's hooks verify membership; with ``lookup`` (the URL kwarg a detail view finds its
    object by), a ``has_permission`` that verifies only other URL kwargs does not count."""
    for info in ctx.index.ancestors(name):
        for method in ctx.knowledge["guards.permission_hooks"]:
            if method in info.methods:
                summary = ctx.index.function(f"{info.qualname}.{method}")
                if summary is None or not summary.verifies:
                    continue
                if (
                    lookup
                    and method == "has_permission"
                    and summary.verified_kwargs
                    and lookup not in summary.verified_kwargs
                ):
                    continue  # it checks the URL's project, not the object looked up by another kwarg
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
    """A function's facts: its surface, guard and parameters from the index (computed once for the whole
    project, from the same facts every pass reads), its after-the-fact narrowings from its own body."""
    info = ctx.function_info(func)
    probe = FunctionFlow(ctx, queries, func, {}, info)  # asks only what a call is, builds no flow
    scan = _VarScan(ctx, queries, info, {}, probe.is_membership_query, body=func.body)
    walk.visit(func.body, scan)
    if info is None:
        # not a module function or method the index knows (a class inside a function): nothing to say
        surface, params, guarded, route, command = Surface.OTHER, _param_values(func, ()), "", "", False
    else:
        surface = SURFACES.get(info.surface, Surface.OTHER)
        # webhook code: a webhook handler, or a function one dispatches to (its `event` is the verified event)
        webhook = surface is Surface.WEBHOOK or any(r.surface == "webhook" for r in ctx.index.reaches(info.qualname))
        params = _param_values(func, info.initial, webhook=webhook)
        guarded, route, command = info.guard, info.route, info.command
    facts = FunctionFacts(
        func=func,
        surface=surface,
        params=params,
        guarded=guarded,
        route=route,
        command=command,
        info=info,
    )
    facts.handed = scan.handed_off()
    for iterated, item in scan.loop_vars.items():
        if item in scan.scoped:
            scan.scoped.add(iterated)  # each row of `speakers` is checked in the loop
    facts.keys = scan.keys
    facts.scoped_vars = scan.scoped
    facts.conditional_vars = {v: c for v, c in scan.conditional.items() if v not in scan.scoped}
    facts.conditional_tenant = {v: scan.conditional_tenant.get(v, c) for v, c in facts.conditional_vars.items()}
    facts.checked_loops = frozenset(node for node, var in scan.loops.items() if var in scan.scoped)
    facts.descendant_keys = scan.descendant_keys
    facts.query_defs = scan.query_defs
    facts.deferred = scan.deferred()
    return facts


SURFACES = {s.value: s for s in Surface}


def _all_params(func: cst.FunctionDef) -> list[cst.Param]:
    p = func.params
    out = [*p.posonly_params, *p.params, *p.kwonly_params]
    if isinstance(p.star_arg, cst.Param):
        out.append(p.star_arg)
    if p.star_kwarg is not None:
        out.append(p.star_kwarg)
    return out


def _param_values(
    func: cst.FunctionDef, initial: tuple[tuple[str, str], ...], *, webhook: bool = False
) -> dict[str, Value]:
    """Each parameter's value: what the index says arrives there (client input, a verified tenant), else
    "derived from this parameter" (the callers decide what it is)."""
    known = dict(initial)
    out: dict[str, Value] = {}
    for index, param in enumerate(_all_params(func)):
        name = param.name.value
        if webhook and "event" in name.lower() and not known.get(name, "").startswith(("request:", "session:")):
            # a handler dispatched an event (`def handle_invoice_paid(event)`): its fields identify the billable
            out[name] = Value(event=name)
        elif name in known:
            out[name] = value_of_origin(known[name])
        elif index == 0 and name in ("self", "cls"):
            out[name] = CLEAN
        else:
            out[name] = Value(params=frozenset({name}))
    return out


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


__all__ = ["FactsCache", "FunctionFacts", "Surface", "detail_handlers_check_objects", "is_view_class"]
