"""ORG401 unscoped-export: export/report code reading tenant models without an org predicate."""

from __future__ import annotations

import libcst as cst

from orgguard.checkers._surface import SurfaceQueryChecker
from orgguard.engine.facts import Surface
from orgguard.engine.findings import TraceStep
from orgguard.engine.queries import QueryChain


class ExportQueryChecker(SurfaceQueryChecker):
    """An export writes whatever its query returns into one tenant's file."""

    codes = ("ORG401",)
    surface = Surface.EXPORT
    where = "in export"
    fix = (
        "filter by the verified org ({field}=...) and write rows through "
        "orgguard.runtime.exports.export_rows(rows, org=...)"
    )

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
                query=sink.sink,
                problem=f"takes the org from {sink.taint.source} with no membership check",
                where=f"in export {func.name.value}()" if func is not None else "",
                fix="take the org from the verified context (orgguard.runtime.current_org())",
            )

    def report_query(self, chain: QueryChain, where: str, by: str, trace: tuple[TraceStep, ...] = ()) -> None:
        field = self.ctx.index.primary_path(chain.model) or "organization"
        self.ctx.report(
            "ORG401",
            chain.anchor,
            trace=trace,
            query=chain.display,
            problem=f"reads tenant-owned {chain.model} with no {field} predicate{by}",
            where=where,
            fix=self.fix.replace("{field}", field),
        )
