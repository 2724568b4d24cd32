"""ORG105 unverified-session-org: an org id from the session used without re-checking membership."""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from orgguard.checkers.base import Checker
from orgguard.checkers.org_from_request import sink_triggers
from orgguard.engine.facts import Surface
from orgguard.engine.flow import SESSION
from orgguard.engine.index import ProjectIndex
from orgguard.knowledge import Knowledge

FIX = "re-check membership on every request with orgguard.runtime.resolve_active_org(session, user, membership=...)"


class SessionOrgChecker(Checker):
    """The session remembers which org was active, not whether the user still belongs to it."""

    codes = ("ORG105",)

    @classmethod
    def triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        return sink_triggers(index)

    def visit_Call(self, node: cst.Call) -> None:
        facts = self.analysis.current_facts()
        if facts is None or facts.surface is not Surface.REQUEST:
            return
        for sink in self.analysis.tenant_sinks(node):
            if sink.taint.kind == SESSION:
                self.ctx.report("ORG105", sink.node, source=sink.taint.source, sink=sink.sink, fix=FIX)
