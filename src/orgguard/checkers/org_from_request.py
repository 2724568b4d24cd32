"""ORG102 org-id-from-request: the tenant picked by request input with no membership join."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

import libcst as cst

from orgguard.checkers.base import Checker
from orgguard.engine import walk
from orgguard.engine.context import FileContext, dotted_name
from orgguard.engine.facts import FunctionFacts, Surface, chain_root
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
        if var is not None and self._only_narrows(var, facts):
            return True
        if facts.info is None or not self.analysis.returned(node):
            return False
        reaches = self.ctx.index.reaches(facts.info.qualname)
        return bool(reaches) and all(r.fate == "checked" for r in reaches)

    def _only_narrows(self, var: str, facts: FunctionFacts) -> bool:
        """The tenant the client picked is only tested (``if not workspace``) and handed as a lookup value
        (``workspace``, ``workspace.organization``, ``workspace.id``) to queries that read the signed-in user's
        own rows (``user_links.filter(dataset__workspace__organization=workspace.organization)`` with
        ``user_links = DatasetLink.objects.filter_for_user(request.user)``), or whose row is checked once
        fetched (``webapp = Webapp.objects.get(workspace=workspace, slug=slug)``, then ``webapp``'s tenant):
        it narrows what the user may read anyway, and nothing of it goes anywhere else."""
        parents: dict[int, cst.CSTNode] = {}
        uses: list[cst.Name] = []
        for node in walk.iter_tree(facts.func.body):
            for child in walk.children(node):
                parents[id(child)] = node
                if (
                    isinstance(child, cst.Name)
                    and child.value == var
                    and not (isinstance(node, cst.Attribute) and node.attr is child)  # org.workspace: an attribute
                    and not (isinstance(node, cst.Arg) and node.keyword is child)  # filter(workspace=...): a keyword
                ):
                    uses.append(child)
        assigned = 0
        for name in uses:
            use: cst.CSTNode = name
            parent = parents.get(id(use))
            if isinstance(parent, cst.AssignTarget) or (isinstance(parent, cst.AnnAssign) and parent.target is use):
                assigned += 1
                continue
            while isinstance(parent, cst.Attribute) and parent.value is use:
                use = parent
                parent = parents.get(id(use))  # workspace.organization
            # a test of the row itself says only that it exists (one of its fields, `if workspace.is_public:`, is data)
            if (use is name and self._tested(use, parents)) or self._narrowing(use, parent, parents, facts):
                continue
            return False
        return assigned == 1

    @staticmethod
    def _tested(use: cst.CSTNode, parents: dict[int, cst.CSTNode]) -> bool:
        """``if not workspace:``, ``if workspace is None:``: whether it exists, nothing of it."""
        node, parent = use, parents.get(id(use))
        while True:
            if isinstance(parent, (cst.If, cst.While)) and parent.test is node:
                return True
            negated = isinstance(parent, cst.UnaryOperation) and isinstance(parent.operator, cst.Not)
            none_test = (
                isinstance(parent, cst.Comparison)
                and len(parent.comparisons) == 1
                and isinstance(parent.comparisons[0].operator, (cst.Is, cst.IsNot))
                and dotted_name(parent.comparisons[0].comparator) == "None"
            )
            if parent is None or not (negated or none_test or isinstance(parent, cst.BooleanOperation)):
                return False
            node, parent = parent, parents.get(id(parent))

    def _narrowing(
        self, use: cst.CSTNode, parent: cst.CSTNode | None, parents: dict[int, cst.CSTNode], facts: FunctionFacts
    ) -> bool:
        """``use`` is a lookup value of a query that reads the user's own rows, or whose row is checked after."""
        if not isinstance(parent, cst.Arg) or parent.keyword is None or parent.value is not use:
            return False
        call = parents.get(id(parent))
        if not isinstance(call, cst.Call):
            return False
        top: cst.CSTNode = call
        while True:  # up to the outermost call of the chain: `user_links.filter(...).first()`
            attr = parents.get(id(top))
            outer = parents.get(id(attr)) if isinstance(attr, cst.Attribute) and attr.value is top else None
            if not isinstance(outer, cst.Call) or outer.func is not attr:
                break
            top = outer
        queries = self.analysis.queries
        chain = queries.chain(top) if isinstance(top, cst.BaseExpression) else None
        if chain is None:
            root = chain_root(call)
            base = facts.query_defs.get(root) if root is not None else None
            chain = queries.chain(base) if base is not None else None
            # a variable holding the user's own rows, narrowed further
            return chain is not None and queries.own_rows(chain)
        if queries.own_rows(chain):
            return True
        statement = parents.get(id(top))
        if not isinstance(statement, cst.Assign) or len(statement.targets) != 1:
            return False
        target = statement.targets[0].target
        return isinstance(target, cst.Name) and target.value in facts.scoped_vars
