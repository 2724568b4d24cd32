"""The shared per-file models every checker reads: query chains, function facts, data flow, sinks."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from orgguard.engine import walk
from orgguard.engine.context import FileContext, dotted_name
from orgguard.engine.facts import FactsCache, FunctionFacts
from orgguard.engine.flow import CLEAN, FunctionFlow, Taint, Value, names_in
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


def _returned_names(func: cst.FunctionDef) -> set[str]:
    out: set[str] = set()
    stack: list[cst.CSTNode] = [func.body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Return) and node.value is not None:
            out |= names_in(node.value)
            continue
        stack.extend(walk.children(node))
    return out


@dataclass(frozen=True)
class Analysis:
    """The shared per-file models checkers read (built once per file, before the traversal)."""

    ctx: FileContext
    queries: QueryModel
    facts: FactsCache
    _sinks: dict[int, list[TenantSink]] = field(default_factory=dict)

    @classmethod
    def for_file(cls, ctx: FileContext) -> Analysis:
        queries = QueryModel(ctx)
        return cls(ctx, queries, FactsCache(ctx, queries))

    def unscoped(self, chain: QueryChain) -> Unscoped | None:
        """How a query on a tenant-owned model can reach other tenants' rows (None: it cannot).

        A query with a tenant predicate, a scoping method or opaque arguments is not reported. A query
        that picks rows by identity (``pk=``, a parent on the tenant path such as ``project=project``) is
        safe when the identity is server-known — the parent object's own lookup is judged where it
        happens — and unsafe when it comes from the request (an IDOR: reported with that source). When
        the identity is one of the function's own parameters, the callers decide (the index's reach).
        """
        if self.queries.scoping(chain) is not Scoping.UNSCOPED:
            return None
        for _key, expr in self.queries.lookups(chain):
            if self.value(expr).event:
                # picked by what a verified webhook event says: scoped by its processor ids, and a
                # lookup by a forgeable field of the event is ORG304's root cause, not an unscoped query
                return None
        identities = self.queries.identity_lookups(chain)
        if not identities:
            return Unscoped(None, frozenset(), identity=False)
        taint: Taint | None = None
        groups: list[frozenset[str]] = []
        for _key, expr in identities:
            value = self.value(expr)
            if value.tainted:
                taint = taint or value.first()
            elif value.params and not value.trusted:
                groups.append(value.params)
            else:
                return None  # a server-known identity
        params = frozenset(p for g in groups for p in g)
        return Unscoped(taint, params, identity=True, groups=tuple(groups))

    def returned(self, node: cst.BaseExpression) -> bool:
        """Whether the value of ``node`` (at the current statement) is what the function returns."""
        stmt = self.ctx.scope.statement
        if isinstance(stmt, cst.SimpleStatementLine) and any(isinstance(s, cst.Return) for s in stmt.body):
            return True
        var = self.assigned_name(node)
        func = self.ctx.scope.outer_function
        if var is None or func is None:
            return False
        return var in _returned_names(func)

    def tenant_sinks(self, call: cst.Call) -> list[TenantSink]:
        """Untrusted values reaching a tenant sink at ``call`` (memoised: several rules ask)."""
        key = id(call)
        if key not in self._sinks:
            self._sinks[key] = find_tenant_sinks(self, call)
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
        if isinstance(small, cst.Assign) and value is node and len(small.targets) == 1:
            target = small.targets[0].target
        elif isinstance(small, cst.AnnAssign) and value is node:
            target = small.target
        else:
            return None
        if isinstance(target, (cst.Name, cst.Attribute)):
            return dotted_name(target) or None
        return None
