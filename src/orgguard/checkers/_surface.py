"""Shared shape of the "unscoped query on a surface" rules: ORG101, ORG301, ORG302, ORG401.

The query model and the unscoped judgement are the engine's; a subclass only names its surface, its code
and its fix. The path class of the enclosing function picks which one reports (DESIGN: "the path class
picks the code"), so a query is never reported twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import libcst as cst

from orgguard.checkers.base import Checker
from orgguard.engine.facts import Surface
from orgguard.engine.index import ProjectIndex
from orgguard.engine.queries import QueryChain
from orgguard.knowledge import Knowledge


class SurfaceQueryChecker(Checker):
    """Reports a query on a tenant-owned model that can reach other tenants' rows, on one surface."""

    surface: ClassVar[Surface] = Surface.REQUEST
    where: ClassVar[str] = "in request handler"
    fix: ClassVar[str] = ""

    @classmethod
    def triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        return [*index.tenant_paths, *knowledge["queries.shortcuts"]]

    def visit_Subscript(self, node: cst.Subscript) -> None:
        self._check(node)

    def visit_Call(self, node: cst.Call) -> None:
        self._check(node)

    def skip_source(self) -> bool:
        """Whether a query picked by request input is another rule's (ORG303 on webhooks)."""
        return False

    def _check(self, node: cst.BaseExpression) -> None:
        facts = self.analysis.current_facts()
        if facts is None or facts.surface is not self.surface:
            return
        chain = self.analysis.queries.chain(node)
        if chain is None or not self.ctx.index.is_tenant_owned(chain.model):
            return
        unscoped, source = self.analysis.unscoped(chain)
        if not unscoped or (source is not None and self.skip_source()):
            return
        var = self.analysis.assigned_name(node)
        if var is not None and (var in facts.scoped_vars or var in facts.conditional_vars):
            return  # narrowed later (conditionally narrowed queries are ORG104's)
        func = self.ctx.scope.outer_function
        where = f"{self.where} {func.name.value}()" if func is not None else ""
        self.report_query(chain, where, f" (rows picked by {source.source})" if source else "")

    def report_query(self, chain: QueryChain, where: str, by: str) -> None:
        field = self.ctx.index.primary_path(chain.model)
        self.ctx.report(
            self.codes[0],
            chain.anchor,
            query=chain.display,
            model=chain.model,
            field=field,
            by=by,
            where=where,
            fix=self.fix.replace("{field}", field or "organization"),
        )
