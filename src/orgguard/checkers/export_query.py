"""ORG401 unscoped-export: export/report code reading tenant models without an org predicate."""

from __future__ import annotations

import libcst as cst

from orgguard.checkers._surface import SurfaceQueryChecker
from orgguard.checkers.org_from_request import sink_values
from orgguard.engine.facts import Surface


class ExportQueryChecker(SurfaceQueryChecker):
    """An export writes whatever its query returns into one tenant's file."""

    codes = ("ORG401",)
    surface = Surface.EXPORT

    def visit_Call(self, node: cst.Call) -> None:
        super().visit_Call(node)
        facts = self.analysis.current_facts()
        if facts is None or facts.surface is not Surface.EXPORT:
            return
        for sink in self.analysis.tenant_sinks(node):
            # the export's org comes from the request: the same leak, so the export rule reports it
            func = self.ctx.scope.outer_function
            self.ctx.report(
                "ORG401",
                sink.node,
                shape="org_from_request",
                source=sink.taint.source,
                where=self.phrase("where_own", function=func.name.value) if func is not None else "",
                fields=sink_values(self.ctx, "ORG401", sink),
            )
