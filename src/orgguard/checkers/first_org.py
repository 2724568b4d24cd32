"""ORG103 first-org-fallback: "the first organization in the database" used as the request's tenant."""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from orgguard.checkers._surface import reached_where
from orgguard.checkers.base import Checker
from orgguard.engine.facts import Surface
from orgguard.engine.records import ProjectIndex
from orgguard.knowledge import Knowledge

PICKS = frozenset({"first", "last", "earliest", "latest", "__getitem__"})


class FirstOrgChecker(Checker):
    """`Organization.objects.first()`, `.all()[0]`, `session.query(Org).first()` in request code."""

    codes = ("ORG103",)

    @classmethod
    def triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        return index.tenant_models

    @classmethod
    def statement_triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        return index.tenant_models

    def visit_Call(self, node: cst.Call) -> None:
        self._check(node)

    def visit_Subscript(self, node: cst.Subscript) -> None:
        self._check(node)

    def _check(self, node: cst.BaseExpression) -> None:
        facts = self.analysis.current_facts()
        if facts is None:
            return
        reached = (
            [r for r in self.ctx.index.reaches(facts.info.qualname) if r.surface == Surface.REQUEST.value]
            if facts.surface is not Surface.REQUEST and facts.info is not None
            else []
        )
        if facts.surface is not Surface.REQUEST and not reached:
            return  # request code only: a helper counts when request handlers reach it
        chain = self.analysis.queries.chain(node)
        if chain is None or chain.model not in self.ctx.index.tenant_models or chain.via == "shortcut":
            return
        if not chain.links or chain.links[-1].name not in PICKS:
            return
        if isinstance(node, cst.Call) and self._membership_joined(node):
            return
        for _call, args in self.analysis.queries.lookup_args(chain):
            if args:
                return  # a specific org was asked for (by input: ORG102), or the user's own first org
        func = self.ctx.scope.outer_function
        where = self.ctx.phrase("ORG103", "where_own", function=func.name.value) if func is not None else ""
        if reached and func is not None:
            where = reached_where(self.ctx, "ORG103", reached, func.name.value)
        self.ctx.report(
            "ORG103",
            chain.anchor,
            query=chain.display if chain.links[-1].name != "__getitem__" else f"{chain.model}.objects...[0]",
            model=chain.model,
            where=where,
        )

    def _membership_joined(self, node: cst.Call) -> bool:
        flow = self.analysis.flow()
        return flow is not None and flow.is_membership_query(node)
