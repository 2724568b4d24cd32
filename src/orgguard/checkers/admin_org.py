"""ORG201 admin-org-from-params: a staff-only surface that takes the org from params with no membership gate."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import libcst as cst

from orgguard.checkers.base import Checker
from orgguard.checkers.org_from_request import resolver_triggers, sink_triggers, sink_values
from orgguard.engine.facts import Surface
from orgguard.engine.records import ProjectIndex
from orgguard.knowledge import Knowledge


class AdminOrgChecker(Checker):
    """Staff tooling that acts on whichever org the URL or form names."""

    codes = ("ORG201",)

    @classmethod
    def triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        return sink_triggers(index)

    @classmethod
    def statement_triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        # a query on the tenant or a tenant-owned model; a resolver call keeps its function (the index)
        return sink_triggers(index)

    @classmethod
    def file_triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Mapping[str, Iterable[str]]:
        return resolver_triggers(index)

    def visit_Call(self, node: cst.Call) -> None:
        facts = self.analysis.current_facts()
        if facts is None or facts.surface is not Surface.ADMIN:
            return
        func = self.ctx.scope.outer_function
        for sink in self.analysis.tenant_sinks(node):
            self.ctx.report(
                "ORG201",
                sink.node,
                view=func.name.value if func is not None else "?",
                source=sink.taint.source,
                fields=sink_values(self.ctx, "ORG201", sink),
            )
