"""ORG302 global-query-in-job: an unscoped query on tenant models inside a background job or command."""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from orgguard.checkers._surface import SurfaceQueryChecker
from orgguard.engine import vocab, walk
from orgguard.engine.analysis import Unscoped
from orgguard.engine.context import dotted_name
from orgguard.engine.facts import Surface
from orgguard.engine.findings import TraceStep
from orgguard.engine.queries import QueryChain, Scoping
from orgguard.engine.records import Reach

WRITES = frozenset({"update", "delete", "create", "bulk_update", "bulk_create", "update_or_create", "values"})


def _writes(chain: QueryChain) -> bool:
    return any(link.name in WRITES for link in chain.links) or chain.base_name in ("update", "delete")


def _maintenance(chain: QueryChain) -> bool:
    """A count across tenants (operator statistics), or a write of values computed from each row itself
    (``update(search_vector=SearchVector("title"))``): no row moves to another tenant's context."""
    if chain.links and chain.links[-1].name in vocab.AGGREGATES:
        return True
    written = [
        arg.value
        for link in chain.links
        if link.call is not None and link.name in WRITES and link.name not in ("delete",)
        for arg in link.call.args
        if arg.keyword is not None
    ]
    return bool(written) and all(_row_derived(value) for value in written)


def _row_derived(expr: cst.BaseExpression) -> bool:
    """An expression over the row's own columns (``F("a") + F("b")``, ``SearchVector("title")``)."""
    calls = [n for n in _nodes(expr) if isinstance(n, cst.Call)]
    return bool(calls) and any(
        vocab.short(dotted_name(c.func)) in ("F", "SearchVector", "Concat", "Lower", "Upper", "Coalesce") for c in calls
    )


def _nodes(node: cst.CSTNode) -> list[cst.CSTNode]:
    out: list[cst.CSTNode] = []
    stack = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(walk.children(current))
    return out


class JobQueryChecker(SurfaceQueryChecker):
    """A job runs for whoever enqueued it: it must receive the org and scope every query by it."""

    codes = ("ORG302",)
    surface = Surface.JOB

    def accepts(self, reach: Reach, chain: QueryChain) -> bool:
        # an operator command reading across tenants (a status report) is by design; writing is not
        if not super().accepts(reach, chain):
            return False
        if not reach.command:
            return True
        func = self.ctx.scope.outer_function
        return func is not None and self._command_leak(chain, func)

    def report_query(
        self,
        chain: QueryChain,
        verdict: Unscoped,
        where: str,
        by: str,
        *,
        trace: tuple[TraceStep, ...] = (),
        traits: Iterable[str] = (),
    ) -> None:
        if _maintenance(chain) or self.analysis.retention_window(chain):
            return  # statistics, rows rebuilt from themselves, or a retention window (every tenant's old rows)
        facts = self.analysis.current_facts()
        if not trace and facts is not None and facts.command and not self._command_leak(chain, facts.func):
            return
        super().report_query(chain, verdict, where, by, trace=trace, traits=traits)

    def _command_leak(self, chain: QueryChain, func: cst.FunctionDef) -> bool:
        """Whether an operator command's query crosses tenants against its own purpose.

        An operator command reading across tenants (a status report), purging or rebuilding every tenant's
        rows, or changing the rows its operator named (``delete --email x``) does what the operator asked.
        It leaks when it moves rows into another tenant (sets their tenant to a value that is not their
        own), or when the command works for one tenant (another of its queries is narrowed to a tenant on
        every path) and this write forgets it.
        """
        if not _writes(chain):
            return False
        if self._moves_tenant(chain):
            return True
        if self._operator_picked(chain):
            return False
        return self._tenant_command(func)

    def _moves_tenant(self, chain: QueryChain) -> bool:
        """A write that sets the rows' tenant to something other than their own relations."""
        paths = self.ctx.index.tenant_paths.get(chain.model, ())
        for link in chain.links:
            if link.call is None or link.name not in WRITES:
                continue
            for arg in link.call.args:
                pairs: list[tuple[str, cst.BaseExpression]] = []
                if arg.keyword is not None:
                    pairs.append((arg.keyword.value, arg.value))
                elif isinstance(arg.value, cst.Dict):  # SQLAlchemy: .update({"org_id": target})
                    pairs.extend(
                        (el.key.evaluated_value, el.value)
                        for el in arg.value.elements
                        if isinstance(el, cst.DictElement)
                        and isinstance(el.key, cst.SimpleString)
                        and isinstance(el.key.evaluated_value, str)
                    )
                if any(vocab.lookup_key_scopes(key, paths) and not _row_derived(value) for key, value in pairs):
                    return True
        return False

    def _tenant_command(self, func: cst.FunctionDef) -> bool:
        """Another query of the command is narrowed to a tenant outside any condition."""
        queries = self.analysis.queries
        stack: list[tuple[cst.CSTNode, bool]] = [(func.body, False)]
        while stack:
            node, conditional = stack.pop()
            if isinstance(node, (cst.If, cst.IfExp, cst.For, cst.While)):
                conditional = True
            if isinstance(node, cst.Call):
                chain = queries.recognize(node)
                if (
                    chain is not None
                    and self.ctx.index.is_tenant_owned(chain.model)
                    and not conditional
                    and queries.scoping(chain) is Scoping.SCOPED
                ):
                    return True
            stack.extend((child, conditional) for child in walk.children(node))
        return False

    def _operator_picked(self, chain: QueryChain) -> bool:
        """The rows are picked by a value the command was given (``User.email == email``), not by constants."""
        for pred in self.analysis.queries.predicates(chain):
            if pred.value is None:
                continue
            if pred.kind == "kw":
                candidates: list[cst.BaseExpression] = [pred.value]
            elif isinstance(pred.value, cst.Comparison):
                candidates = [pred.value.left, *(c.comparator for c in pred.value.comparisons)]
            else:
                continue
            if any(isinstance(c, cst.Name) and c.value not in ("None", "True", "False") for c in candidates):
                return True
        return False
