"""ORG104 optional-org-widening: a tenant filter applied only when an org happens to be given."""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from orgguard.checkers.base import Checker
from orgguard.engine.facts import Surface
from orgguard.engine.records import ProjectIndex
from orgguard.knowledge import Knowledge


def _none_default_params(func: cst.FunctionDef) -> set[str]:
    out = set()
    p = func.params
    for param in (*p.posonly_params, *p.params, *p.kwonly_params):
        if isinstance(param.default, cst.Name) and param.default.value == "None":
            out.add(param.name.value)
        elif param.annotation is not None:
            text = cst.Module([]).code_for_node(param.annotation.annotation)
            if "Optional" in text or "None" in text:
                out.add(param.name.value)
    return out


class OptionalOrgChecker(Checker):
    """`qs = Invoice.objects.all(); if org: qs = qs.filter(organization=org)` widens when org is None."""

    codes = ("ORG104",)

    @classmethod
    def triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        return index.tenant_paths

    @classmethod
    def statement_triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        return index.tenant_paths

    def visit_Call(self, node: cst.Call) -> None:
        facts = self.analysis.current_facts()
        if facts is None or not facts.conditional_vars:
            return
        chain = self.analysis.queries.chain(node)
        if chain is None or not self.ctx.index.is_tenant_owned(chain.model):
            return
        if self.analysis.unscoped(chain) is None:
            return
        var = self.analysis.assigned_name(node)
        if var is None or var not in facts.conditional_vars:
            return
        org_var = facts.conditional_vars[var]
        optional = _none_default_params(facts.func)
        if facts.surface is Surface.ADMIN:
            return  # a staff console's optional tenant filter lists every tenant's rows by design
        if facts.surface is not Surface.REQUEST and org_var not in optional:
            return
        named = facts.conditional_tenant.get(var, org_var)  # the condition of the tenant's own filter, if one
        if facts.info is not None and named in facts.info.given_params:
            return  # every call of it in the project gives the org: the widening branch is reached by none
        field = self.ctx.index.primary_path(chain.model)
        self.ctx.report(
            "ORG104",
            chain.anchor,
            query=chain.display,
            model=chain.model,
            field=field,
            org=named,
        )
