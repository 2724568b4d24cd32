"""ORG201 admin-org-from-params: a staff-only surface that takes the org from params with no membership gate."""

from __future__ import annotations

import libcst as cst

from orgguard.checkers.org_from_request import TenantSinkChecker, sink_values
from orgguard.engine.facts import Surface


class AdminOrgChecker(TenantSinkChecker):
    """Staff tooling that acts on whichever org the URL or form names."""

    codes = ("ORG201",)

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
