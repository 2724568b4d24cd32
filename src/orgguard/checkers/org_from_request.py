"""ORG102 org-id-from-request: the tenant picked by request input with no membership join."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

import libcst as cst

from orgguard.checkers.base import Checker
from orgguard.engine.context import FileContext
from orgguard.engine.facts import FunctionFacts, Surface
from orgguard.engine.flow import REQUEST
from orgguard.engine.records import ProjectIndex
from orgguard.engine.sinks import TenantSink
from orgguard.knowledge import Knowledge


def sink_values(ctx: FileContext, code: str, sink: TenantSink) -> dict[str, str]:
    """The ``sink`` field of a message: what the request's tenant reaches, in the rule's words."""
    text = ctx.phrase(code, f"sink_{sink.kind}", call=sink.call, key=sink.key, param=sink.key, tenant=sink.model)
    return {"sink": text}


def sink_triggers(index: ProjectIndex) -> list[str]:
    """Names that must occur for a tenant sink on a query to exist: tenant(-owned) models."""
    return [*index.tenant_models, *index.tenant_paths]


def resolver_triggers(index: ProjectIndex) -> dict[str, list[str]]:
    """The other tenant sink is a call of a project function that looks the tenant up unverified: only
    in the files whose functions call one (the index resolved their calls), where the name of one must
    occur (files by path)."""
    resolvers = {q for q, info in index.functions.items() if info.resolves_unverified}
    if not resolvers:
        return {}
    names = sorted({index.functions[q].name for q in resolvers})
    callers = {info.path for info in index.functions.values() if any(t in resolvers for _, t in info.callees)}
    return {path: names for path in callers}


class TenantSinkChecker(Checker):
    """A checker of the tenant's sinks (a query on the tenant or a tenant-owned model, a resolver call): the
    words a file, a statement and the resolvers' callers must hold for it to have anything to say."""

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


class OrgFromRequestChecker(TenantSinkChecker):
    """Request input (query, form, JSON, URL kwargs, headers, cookies, Host) that picks the tenant."""

    codes: ClassVar[tuple[str, ...]] = ("ORG102",)
    kind: ClassVar[str] = REQUEST

    def visit_Call(self, node: cst.Call) -> None:
        facts = self.analysis.current_facts()
        if facts is None:
            return
        if facts.surface is not Surface.REQUEST and not (
            # a helper handed the request (`documents_for_header(request, db)`): it reads the client's input for
            # the request handlers that reach it
            facts.surface is Surface.OTHER and facts.reached_from(self.ctx, Surface.REQUEST)
        ):
            return
        for sink in self.analysis.tenant_sinks(node):
            if sink.taint.kind == self.kind and not self._checked(node, facts):
                self.ctx.report(
                    self.codes[0],
                    sink.node,
                    source=sink.taint.source,
                    fields=sink_values(self.ctx, self.codes[0], sink),
                )

    def _checked(self, node: cst.Call, facts: FunctionFacts) -> bool:
        """A tenant verified right after it is looked up (``project = Project.objects.get(pk=...)`` then
        ``self.check_object_permissions(request, project)``), or by every caller of the resolver that returns
        it (``project = self._get_project(request)`` then ``if not self._validate_signature(project, request)``)."""
        var = self.analysis.assigned_name(node)
        if var is not None and var in facts.scoped_vars:
            return True
        if facts.info is None or not self.analysis.returned(node):
            return False
        reaches = self.ctx.index.reaches(facts.info.qualname)
        return bool(reaches) and all(r.fate == "checked" for r in reaches)
