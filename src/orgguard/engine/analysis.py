"""The shared per-file models every checker reads: query chains, function facts, data flow, sinks."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import cast

import libcst as cst

from orgguard.engine import vocab, walk
from orgguard.engine.context import FileContext, dotted_name
from orgguard.engine.facts import FactsCache, FunctionFacts, descendant_keys
from orgguard.engine.flow import CLEAN, FunctionFlow, Taint, Value, call_keys, names_in
from orgguard.engine.queries import QueryChain, QueryModel, Scoping
from orgguard.engine.sinks import TenantSink, find_tenant_sinks


@dataclass(frozen=True)
class Unscoped:
    """How a query reaches other tenants' rows: by client input read here (``taint``), by values its
    callers pass in (``params``), or by reading rows without picking any (``identity`` false)."""

    taint: Taint | None
    params: frozenset[str]
    identity: bool
    groups: tuple[frozenset[str], ...] = ()  # per identity lookup picked by parameters: the parameters


_RETURN = walk.Kinds(cst.Return)
_CALL = walk.Kinds(cst.Call)
_STATEMENTS = walk.Kinds(cst.SimpleStatementLine, cst.BaseCompoundStatement)


def _returned_names(func: cst.FunctionDef) -> set[str]:
    out: set[str] = set()
    returns, children = _RETURN, walk.children
    stack: list[cst.CSTNode] = [func.body]
    while stack:
        node = stack.pop()
        if returns[type(node)]:
            value = cast("cst.Return", node).value
            if value is not None:
                out |= names_in(value)
                continue
        stack.extend(children(node))
    return out


CORRELATED = frozenset({"F", "OuterRef", "Subquery", "scalar_subquery", "correlate"})


def _correlated(expr: cst.BaseExpression) -> bool:
    """An expression built from the updated row itself (``F("project__organization")``, a correlated subquery)."""
    stack: list[cst.CSTNode] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call) and vocab.short(dotted_name(node.func)) in CORRELATED:
            return True
        stack.extend(walk.children(node))
    return False


def _outer_reference(expr: cst.BaseExpression, references: Collection[str]) -> str | None:
    """The field of the enclosing query's row a lookup value names (``OuterRef("pk")``: "pk"), else None.
    ``F()`` names the row's own field, which picks nothing."""
    if not isinstance(expr, cst.Call) or vocab.short(dotted_name(expr.func)) not in references:
        return None
    if len(expr.args) != 1 or not isinstance(expr.args[0].value, cst.SimpleString):
        return None
    value = expr.args[0].value.evaluated_value
    return value if isinstance(value, str) else None


def _identity_field(path: str) -> bool:
    """A lookup path that ends at a row's identity: ``pk``, ``id``, a foreign key column (``module_id``)."""
    last = path.rsplit("__", 1)[-1]
    return last in ("pk", "id") or last.endswith("_id")


@dataclass
class _Fetches:
    """A function's raising fetches by key (top-level statement index, key name, query), and the top-level
    statement index of each of its statements."""

    by_name: list[tuple[int, str, QueryChain | None]] = field(default_factory=list)  # None: a project call
    tops: dict[int, int] = field(default_factory=dict)


ALL: frozenset[int] = frozenset({-1})  # every statement of the function


def _disabled_statements(func: cst.FunctionDef, disablers: frozenset[str]) -> frozenset[int]:
    """Ids of the statements that run inside ``with scopes_disabled():`` (all, for a decorated function)."""
    for dec in func.decorators:
        expr = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
        if vocab.short(dotted_name(expr)) in disablers:
            return ALL
    out: set[int] = set()
    stack: list[tuple[cst.CSTNode, bool]] = [(func.body, False)]
    while stack:
        node, inside = stack.pop()
        if isinstance(node, cst.With):
            inside = inside or any(
                isinstance(item.item, cst.Call) and vocab.short(dotted_name(item.item.func)) in disablers
                for item in node.items
            )
        if inside and isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            out.add(id(node))
        stack.extend((child, inside) for child in walk.children(node))
    return frozenset(out)


def _bindings(func: cst.FunctionDef, name: str) -> int:
    """How many times ``name`` is assigned in a function (its targets are Name nodes too)."""
    count = 0
    for node in walk.iter_tree(func.body):
        if isinstance(node, cst.Assign):
            count += sum(1 for t in node.targets if isinstance(t.target, cst.Name) and t.target.value == name)
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign)) and isinstance(node.target, cst.Name):
            count += node.target.value == name
    return count


@dataclass(frozen=True)
class Analysis:
    """The shared per-file models checkers read (built once per file, before the traversal)."""

    ctx: FileContext
    queries: QueryModel
    facts: FactsCache
    _sinks: dict[int, list[TenantSink]] = field(default_factory=dict)
    _disabled: dict[int, frozenset[int]] = field(default_factory=dict)
    _row_checks: dict[int, list[cst.Call]] = field(default_factory=dict)
    # memos, by node id: several rules ask about the same query and the same function
    _unscoped: dict[int, Unscoped | None] = field(default_factory=dict)
    _returns: dict[int, set[str]] = field(default_factory=dict)
    _fetches: dict[int, _Fetches] = field(default_factory=dict)  # by function id: see vouched()
    # by statement: its calls in source order, the call each `queryset=` argument is given to, whether every
    # call was asked for its chain
    _querysets: dict[int, tuple[list[cst.Call], dict[int, cst.Call], list[bool]]] = field(default_factory=dict)

    @classmethod
    def for_file(cls, ctx: FileContext) -> Analysis:
        queries = QueryModel(ctx)
        return cls(ctx, queries, FactsCache(ctx, queries))

    def unscoped(self, chain: QueryChain) -> Unscoped | None:
        """How a query on a tenant-owned model can reach other tenants' rows (None: it cannot); memoised (the
        rules of every path class ask about the same query)."""
        key = id(chain.top)
        if key not in self._unscoped:
            self._unscoped[key] = self._judge(chain)
        return self._unscoped[key]

    def _judge(self, chain: QueryChain) -> Unscoped | None:
        """How a query on a tenant-owned model can reach other tenants' rows (None: it cannot).

        A query with a tenant predicate, a scoping method or opaque arguments is not reported. A query
        that picks rows by identity (``pk=``, a parent on the tenant path such as ``project=project``) is
        safe when the identity is server-known — the parent object's own lookup is judged where it
        happens — and unsafe when it comes from the request (an IDOR: reported with that source). When
        the identity is one of the function's own parameters, the callers decide (the index's reach).
        """
        if self.queries.scoping(chain) is not Scoping.UNSCOPED:
            return None
        bypass = self.queries.bypass(chain)
        if bypass is not None and self.queries.sessions.reasoned(bypass):
            return None  # a deliberate cross-tenant read, with its reason in the audit log
        if self.queries.runtime_scoped(chain) and not self.scopes_disabled():
            return None  # the manager or session refuses to run outside the active tenant's scope
        if self.rows_checked(chain.top):
            return None  # every row goes through export_rows(rows, org=...), which raises at a foreign one
        if self.capability(chain) or self.keeps_tenant(chain) or self.account_lookup(chain):
            return None
        if self.purges_expired(chain):
            return None
        if self.queries.ownerless(chain):
            return None  # `user__isnull=True`: rows no tenant owns
        if self._correlated_select(chain) or self._restricts_outer(chain):
            return None  # a subquery tied to, or only restricting, the enclosing query: judged with it
        if any(link.name in self.ctx.knowledge["queries.statement_replacers"] for link in chain.links):
            return None  # `select(Event).from_statement(stmt)`: the rows are stmt's, judged where it is built
        facts = self.current_facts()
        for key, expr in self.queries.lookups(chain):
            if self._outer_identity(chain, key, expr):
                # a correlated subquery (`filter(module_id=OuterRef("pk"))`): its rows are each outer row's
                # own, and the outer query is judged where it is built
                return None
            if facts is not None and descendant_keys(self.ctx, expr, facts.descendant_keys):
                return None  # keys of a row's related rows: that row's descendants
            value = self.value(expr)
            if value.event:
                # picked by what a verified webhook event says: scoped by its processor ids, and a
                # lookup by a forgeable field of the event is ORG304's root cause, not an unscoped query
                return None
            if value.trusted:
                # narrowed to a verified value: rows under the URL's parent that a guard verified
                # (`filter(devicelocation__location_id=self.kwargs["pk"])` behind FilterByParentManaged)
                return None
        identities = self.queries.identity_lookups(chain)
        if not identities:
            return Unscoped(None, frozenset(), identity=False)
        taint: Taint | None = None
        groups: list[frozenset[str]] = []
        for _key, expr in identities:
            value = self.value(expr)
            if (value.tainted or value.params) and self.vouched(expr, chain):
                return None  # the id was looked up, scoped, by a fetch that raises for a foreign one
            if value.tainted:
                taint = taint or value.first()
            elif value.params and not value.trusted:
                groups.append(value.params)
            else:
                return None  # a server-known identity
        params = frozenset(p for g in groups for p in g)
        return Unscoped(taint, params, identity=True, groups=tuple(groups))

    def choice_set(self, node: cst.BaseExpression) -> bool:
        """``ModelChoiceField(queryset=Device.objects.all())``: ``node`` is the ``queryset=`` argument of a call of
        the current statement that is no query (a form field's choice set).

        As the question was asked before (each call of the statement asked for its chain in source order up to
        the one given ``node``, every call when none is): the first answer of the query model on a node is the
        one it keeps."""
        stmt = self.ctx.scope.statement
        if stmt is None:
            return False
        entry = self._querysets.get(id(stmt))
        if entry is None:
            calls = [cast("cst.Call", n) for n in walk.iter_tree(stmt) if _CALL[type(n)]]
            given = {
                id(arg.value): call
                for call in calls
                for arg in call.args
                if arg.keyword is not None and arg.keyword.value == "queryset"
            }
            entry = self._querysets[id(stmt)] = (calls, given, [False])
        calls, given, asked = entry
        call = given.get(id(node))
        if call is not None and self.queries.chain(call) is None:
            return True  # the calls before it in the statement were asked already, by the traversal
        if not asked[0]:
            for call in calls:
                self.queries.chain(call)
            asked[0] = True
        return False

    def rows_checked(self, node: cst.BaseExpression) -> bool:
        """Whether every use of a query's rows is a row check with a tenant not taken from the client
        (``export_rows(<query>, org=ctx)``, or ``rows = <query>`` used only in ``export_rows(rows, org=ctx)``)."""
        func = self.ctx.scope.outer_function
        if func is None:
            return False
        if id(func) not in self._row_checks:
            checks = self.ctx.knowledge["guards.row_checks"]
            calls = _CALL
            self._row_checks[id(func)] = [
                cast("cst.Call", call)
                for call in walk.iter_tree(func.body)
                if calls[type(call)]
                and vocab.matches_any(self.ctx.qualified(dotted_name(cast("cst.Call", call).func)), checks)
            ]
        name = self.queries.held_in(node)
        checked = 0
        for call in self._row_checks[id(func)]:
            rows = next((a.value for a in call.args if a.keyword is None and not a.star), None)
            rows = next((a.value for a in call.args if a.keyword and a.keyword.value == "rows"), rows)
            org = next((a.value for a in call.args if a.keyword and a.keyword.value == "org"), None)
            if org is None or (isinstance(org, cst.Name) and org.value == "None") or self.value(org).tainted:
                continue
            if rows is node:
                return True
            if name and isinstance(rows, cst.Name) and rows.value == name:
                checked += 1
        if not checked:
            return False
        uses = sum(1 for n in walk.iter_tree(func.body) if isinstance(n, cst.Name) and n.value == name)
        return uses - _bindings(func, name) == checked  # the rows are used nowhere else

    def capability(self, chain: QueryChain) -> bool:
        """Whether the row is looked up by a bearer secret (an invitation token, an API key, a share link's
        random key): holding it is the authorization. Primary keys never are, UUID ones included."""
        for key, _expr in self.queries.lookups(chain):
            field, _, transform = key.partition("__")
            if self._secret_lookup(chain.model, field, transform):
                return True
            related = self._related_model(chain.model, field)
            if related and transform:
                # `Project.objects.filter(id=project_id, projectkey__public_key=key)`: a related row's secret (the
                # project's ingest key) finds the rows it was issued for, and holding it is the authorization
                inner, _, rest = transform.partition("__")
                if self._secret_lookup(related, inner, rest):
                    return True
        return False

    def _secret_lookup(self, model: str, field: str, transform: str) -> bool:
        """Whether ``<field>[__<transform>]`` on ``model`` matches a bearer secret exactly."""
        if transform not in ("", "exact", "iexact"):
            return False
        info = self.ctx.index.models.get(model)
        if info is not None and (field in info.primary_keys or field in ("pk", "id")):
            return False
        markers = self.ctx.knowledge["models.secret_fields"]
        return (info is not None and field in info.secret_fields) or vocab.is_secret_field(field, markers)

    def _related_model(self, model: str, field: str) -> str:
        """The model a lookup's first step reaches: a relation of ``model``, or a model relating to it under its
        default reverse name (``projectkey`` for ``ProjectKey.project``); "" when neither."""
        models = self.ctx.index.models
        info = models.get(model)
        if info is None:
            return ""
        for name, target in info.relations:
            if name == field and target in models:
                return target
        for other in models.values():
            if other.name.lower() == field and any(target == model for _name, target in other.relations):
                return other.name
        return ""

    def account_lookup(self, chain: QueryChain) -> bool:
        """Whether a user account is found by its login identity (``username``, ``email``): sign-up, sign-in
        and password reset find accounts before any tenant is known, so such a lookup is global by design."""
        return self.queries.account_lookup(chain)

    def purges_expired(self, chain: QueryChain) -> bool:
        """A retention purge: a delete bounded by time (``expires_on <= now``, ``created__lt=cutoff``) that
        picks no row by identity. It removes what is dead in every tenant and hands nothing to anyone."""
        deletes = chain.base_name == "delete" or any(link.name == "delete" for link in chain.links)
        return deletes and self.retention_window(chain)

    def retention_window(self, chain: QueryChain) -> bool:
        """A query bounded by time (``retrieved_at < cutoff``) that picks no row by identity: the rows a
        retention job selects in every tenant."""
        if self.queries.identity_lookups(chain):
            return False
        ordering = (cst.LessThan, cst.LessThanEqual, cst.GreaterThan, cst.GreaterThanEqual)
        markers = self.ctx.knowledge["models.time_fields"]

        def timely(name: str) -> bool:
            return vocab.matches_field(name, markers)

        for pred in self.queries.predicates(chain):
            if pred.kind == "kw":
                field, _, transform = pred.key.rpartition("__")
                if transform in ("lt", "lte", "gt", "gte", "range") and any(timely(p) for p in field.split("__")):
                    return True
            if pred.kind == "expr" and pred.value is not None:
                for node in walk.iter_tree(pred.value):
                    if not isinstance(node, cst.Comparison):
                        continue
                    if not any(isinstance(c.operator, ordering) for c in node.comparisons):
                        continue
                    operands = [node.left, *(c.comparator for c in node.comparisons)]
                    if any(isinstance(op, cst.Attribute) and timely(op.attr.value) for op in operands):
                        return True
        return False

    def _restricts_outer(self, chain: QueryChain) -> bool:
        """``Case.dispute_id.in_(select(Dispute.id).where(...))``: a select whose rows only restrict the
        enclosing query (which is judged on its own); the rows read are the enclosing query's."""
        stmt = self.ctx.scope.statement
        if stmt is None or chain.via != "statement":
            return False
        for node in walk.iter_tree(stmt):
            if (
                isinstance(node, cst.Call)
                and isinstance(node.func, cst.Attribute)
                and node.func.attr.value in self.ctx.knowledge["queries.in_operators"]
                and any(sub is chain.top for arg in node.args for sub in walk.iter_tree(arg.value))
            ):
                return True
        return False

    def _correlated_select(self, chain: QueryChain) -> bool:
        """``select(Price.id).correlate(Product).where(Price.product_id == Product.id).scalar_subquery()``: a
        select made a subquery whose predicate ties one of its keys to a key of another model's row (the
        enclosing query's). Alone, the same select would join every row of both: it must be a subquery."""
        methods = self.ctx.knowledge["queries.subquery_methods"]
        if chain.via != "statement" or not any(link.name in methods for link in chain.links):
            return False
        for pred in self.queries.predicates(chain):
            value = pred.value
            if pred.kind != "expr" or not isinstance(value, cst.Comparison) or len(value.comparisons) != 1:
                continue
            if not isinstance(value.comparisons[0].operator, cst.Equal):
                continue
            sides = (value.left, value.comparisons[0].comparator)
            for own, other in (sides, sides[::-1]):
                if not (isinstance(own, cst.Attribute) and isinstance(other, cst.Attribute)):
                    continue
                mine, theirs = self.ctx.model_of(own.value), self.ctx.model_of(other.value)
                if (
                    mine == chain.model
                    and theirs is not None
                    and theirs != chain.model
                    and _identity_field(own.attr.value)
                    and _identity_field(other.attr.value)
                ):
                    return True
        return False

    def _outer_identity(self, chain: QueryChain, key: str, expr: cst.BaseExpression) -> bool:
        """``filter(issue_module__module_id=OuterRef("pk"))``, ``filter(ticket=OuterRef("pk"))``: rows tied by a
        relation to the outer row's identity (a key or foreign key), not rows that merely share a value with it
        (``filter(title=OuterRef("title"))`` matches every tenant's rows of that title)."""
        outer = _outer_reference(expr, self.ctx.knowledge["queries.outer_references"])
        if outer is None or not _identity_field(outer):
            return False
        path = key.removesuffix("__exact")
        if _identity_field(path):
            return True
        info = self.ctx.index.models.get(chain.model)
        return info is not None and path.split("__", 1)[0] in {field for field, _ in info.relations}

    def vouched(self, expr: cst.BaseExpression, chain: QueryChain) -> bool:
        """``state = State.objects.get(pk=state_id, project_id=project_id)`` earlier in the function, unconditionally
        and not itself unscoped: the fetch raises for an id outside the tenant, so ``state_id`` is the tenant's
        wherever it is used after (``Issue.objects.filter(state=state_id)``)."""
        func = self.ctx.scope.outer_function
        stmt = self.ctx.scope.statement
        if not isinstance(expr, cst.Name) or func is None or stmt is None:
            return False
        fetches = self._fetches.get(id(func))
        if fetches is None:
            fetches = self._fetches[id(func)] = self._raising_fetches(func)
        here = fetches.tops.get(id(stmt))
        if here is None:
            return False
        for index, name, fetch in fetches.by_name:
            if name != expr.value or index >= here:
                continue
            if fetch is None or (fetch.top is not chain.top and self.unscoped(fetch) is None):
                return True
        return False

    def _raising_fetches(self, func: cst.FunctionDef) -> _Fetches:
        """The function's top-level fetches of one row by its key that raise when nothing matches (Django's
        ``.get()``, ``get_object_or_404``, SQLAlchemy's ``.one()``), and where every statement sits among the
        top-level ones."""
        body = func.body.body if isinstance(func.body, cst.IndentedBlock) else ()
        found = _Fetches()
        info = self.ctx.function_info(func)
        facts = self.current_facts() if info is not None and body else None
        # the calls' keys the facts scan numbered (the same numbering), else numbered here when one is missing
        keys = facts.keys if facts is not None and facts.func is func else {}
        numbered = False
        statements, calls = _STATEMENTS, _CALL
        for index, top in enumerate(body):
            simple = isinstance(top, cst.SimpleStatementLine)
            found_calls: list[cst.Call] = []
            for node in walk.iter_tree(top):
                kind = type(node)
                if statements[kind]:
                    found.tops[id(node)] = index
                elif simple and calls[kind]:
                    found_calls.append(cast("cst.Call", node))
            # a fetch under a condition or in a try may not run, or may not stop the request: only simple ones
            for node in found_calls:
                chain = self.queries.chain(node)
                if chain is None and info is not None:
                    if id(node) not in keys and not numbered:
                        keys, numbered = call_keys(func.body), True
                    # `await self._get_case(case_id)`: a project function that fetches the row with its tenant
                    found.by_name.extend(
                        (index, name, None) for name in self._vouched_args(node, info.qualname, keys, top)
                    )
                if chain is None or not self._raises_when_missing(chain):
                    continue
                for key, value in self.queries.lookups(chain):
                    if vocab.is_key_lookup(key) and isinstance(value, cst.Name):
                        found.by_name.append((index, value.value, chain))
        return found

    def _vouched_args(self, call: cst.Call, caller: str, keys: dict[int, str], stmt: cst.CSTNode) -> list[str]:
        """The names handed to a project function in parameters it vouches for (``FunctionInfo.vouches``), or
        vouches for together with the verified tenant handed in beside them (``FunctionInfo.vouches_given``:
        ``run = get_run(org.id, run_id)``)."""
        key = keys.get(id(call))
        callee = self.ctx.index.callee(caller, key) if key else None
        if callee is None or not (callee.vouches or callee.vouches_given):
            return []
        params = callee.params
        offset = 1 if params[:1] in (("self",), ("cls",)) and isinstance(call.func, cst.Attribute) else 0
        bound: dict[str, cst.BaseExpression] = {}
        for i, arg in enumerate(call.args):
            if arg.star:
                continue
            name = (
                arg.keyword.value
                if arg.keyword is not None
                else (params[i + offset] if i + offset < len(params) else "")
            )
            if name:
                bound[name] = arg.value
        out = [v.value for n, v in bound.items() if n in callee.vouches and isinstance(v, cst.Name)]
        if callee.vouches_given:
            flow = self.flow()
            for param, tenant in callee.vouches_given:
                value, given = bound.get(param), bound.get(tenant)
                if (
                    isinstance(value, cst.Name)
                    and given is not None
                    and flow is not None
                    and flow.value(given, stmt).trusted
                ):
                    out.append(value.value)
        return out

    def _raises_when_missing(self, chain: QueryChain) -> bool:
        last = next((link.name for link in reversed(chain.links) if link.call is not None), "")
        if chain.via == "shortcut":
            return chain.base_name in self.ctx.knowledge["queries.shortcuts"] and "list" not in chain.base_name
        if chain.via == "manager" and last == "get":
            return True  # Django: DoesNotExist
        return last in self.ctx.knowledge["queries.raising_fetches"]

    def keeps_tenant(self, chain: QueryChain) -> bool:
        """A write that sets only the row's tenant, from the row's own relations (``update(organization=
        F("project__organization"))``, a correlated subquery): every row stays in its own tenant."""
        writes = self.ctx.knowledge["queries.write_methods"]
        paths = self.ctx.index.tenant_paths.get(chain.model, ())
        found = False
        for link in chain.links:
            if link.call is None or link.name not in writes:
                continue
            for arg in link.call.args:
                if arg.keyword is None or not vocab.lookup_key_scopes(arg.keyword.value, paths):
                    return False
                if not _correlated(arg.value):
                    return False
                found = True
        return found

    def scopes_disabled(self) -> bool:
        """Whether the current statement runs with the run-time scoping switched off (``with scopes_disabled():``,
        ``@scopes_disabled()``)."""
        func = self.ctx.scope.outer_function
        stmt = self.ctx.scope.statement
        if func is None:
            return False
        key = id(func)
        if key not in self._disabled:
            self._disabled[key] = _disabled_statements(func, self.ctx.knowledge["models.scope_disablers"])
        found = self._disabled[key]
        return found is ALL or (stmt is not None and id(stmt) in found)

    def returned(self, node: cst.BaseExpression) -> bool:
        """Whether the value of ``node`` (at the current statement) is what the function returns."""
        stmt = self.ctx.scope.statement
        if isinstance(stmt, cst.SimpleStatementLine) and any(isinstance(s, cst.Return) for s in stmt.body):
            return True
        var = self.assigned_name(node)
        func = self.ctx.scope.outer_function
        if var is None or func is None:
            return False
        names = self._returns.get(id(func))
        if names is None:
            names = self._returns[id(func)] = _returned_names(func)
        return var in names

    def tenant_sinks(self, call: cst.Call) -> list[TenantSink]:
        """Untrusted values reaching a tenant sink at ``call`` (memoised: several rules ask)."""
        key = id(call)
        if key not in self._sinks:
            self._sinks[key] = find_tenant_sinks(self.ctx, self.queries, self.current_facts(), call)
        return self._sinks[key]

    def current_facts(self) -> FunctionFacts | None:
        """Facts of the outermost function around the traversal point (None at module/class level)."""
        outer = self.ctx.scope.outer_function
        return self.facts.of(outer) if outer is not None else None

    def flow(self) -> FunctionFlow | None:
        """Data flow of the outermost function around the traversal point."""
        facts = self.current_facts()
        return facts.flow(self.ctx, self.queries) if facts is not None else None

    def value(self, expr: cst.BaseExpression) -> Value:
        """Where ``expr`` (at the current statement) came from."""
        flow = self.flow()
        if flow is None:
            return CLEAN
        return flow.value(expr, self.ctx.scope.statement)

    def assigned_name(self, node: cst.BaseExpression) -> str | None:
        """``x`` (or ``self._x``) when the current statement is ``x = <node>`` (or ``x: T = <node>``)."""
        stmt = self.ctx.scope.statement
        if not isinstance(stmt, cst.SimpleStatementLine) or not stmt.body:
            return None
        small = stmt.body[0]
        value = small.value if isinstance(small, (cst.Assign, cst.AnnAssign)) else None
        if isinstance(value, cst.Await):
            value = value.expression  # `x = await session.get(...)`: await is transparent
        while isinstance(value, cst.Attribute) and value is not node:
            value = value.value  # `group = Device.objects.get(...).group`: what the row leads to
        if isinstance(value, cst.IfExp) and node in (value.body, value.orelse):
            value = node  # `q = base_queryset if base_queryset is not None else Element.objects.all()`
        elif isinstance(value, cst.BooleanOperation) and isinstance(value.operator, cst.Or) and node is value.right:
            value = node  # `q = base_queryset or Token.objects`
        if isinstance(small, cst.Assign) and value is node and len(small.targets) == 1:
            target = small.targets[0].target
        elif isinstance(small, cst.AnnAssign) and value is node:
            target = small.target
        else:
            return None
        if isinstance(target, (cst.Name, cst.Attribute)):
            return dotted_name(target) or None
        return None
