"""ORG101 unscoped-tenant-query: a query on a tenant-owned model with no tenant predicate."""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from orgguard.checkers.base import Checker
from orgguard.engine.facts import Surface, is_list_view, is_view_class, object_permission_guard
from orgguard.engine.index import ProjectIndex
from orgguard.engine.queries import QueryChain, Scoping
from orgguard.knowledge import Knowledge

FIX = "filter by the verified org (e.g. organization=request.organization) or use .for_org(current_org())"


class UnscopedQueryChecker(Checker):
    """Flags queries in request handlers that reach tenant-owned rows without narrowing to one tenant."""

    codes = ("ORG101",)

    @classmethod
    def triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        return [*index.tenant_paths, *knowledge["queries.shortcuts"]]

    def visit_Subscript(self, node: cst.Subscript) -> None:
        self._check(node)

    def visit_Call(self, node: cst.Call) -> None:
        self._check(node)

    def _check(self, node: cst.BaseExpression) -> None:
        facts = self.analysis.current_facts()
        if facts is None or facts.surface is not Surface.REQUEST:
            return
        chain = self.analysis.queries.chain(node)
        if chain is None or not self.ctx.index.is_tenant_owned(chain.model):
            return
        unscoped, source = self.analysis.unscoped(chain)
        if not unscoped:
            return
        var = self.analysis.assigned_name(node)
        if var is not None and (var in facts.scoped_vars or var in facts.conditional_vars):
            return  # narrowed later (conditionally narrowed queries are ORG104's)
        func = self.ctx.scope.outer_function
        where = f"in request handler {func.name.value}()" if func is not None else ""
        self._report(chain.anchor, chain, where, f" (rows picked by {source.source})" if source else "")

    def _report(self, node: cst.CSTNode, chain: QueryChain, where: str, by: str) -> None:
        field = self.ctx.index.primary_path(chain.model)
        self.ctx.report(
            "ORG101",
            node,
            query=chain.display,
            model=chain.model,
            field=field,
            by=by,
            where=where,
            fix=FIX.replace("organization=", f"{field}=") if field else FIX,
        )

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if not is_view_class(self.ctx, node):
            return
        attrs = self.ctx.knowledge["requests.class_query_attrs"]
        hooks = self.ctx.knowledge["requests.queryset_hooks"]
        infos = list(self.ctx.index.ancestors(node.name.value))
        defined = {m for info in infos for m in info.methods if m in hooks}
        defined |= {s.name.value for s in node.body.body if isinstance(s, cst.FunctionDef) and s.name.value in hooks}
        scoping = {h for info in infos for h in info.scoping_hooks}
        inheriting = {h for info in infos for h in info.inheriting_hooks}
        if any(info.narrows_queryset for info in infos):
            return  # a mixin narrows self.queryset before any handler runs (restrict(user), for_org(...))
        if defined & scoping or (defined and not defined & inheriting):
            # a hook narrows it, or replaces the class queryset altogether (judged on its own)
            return
        if not is_list_view(self.ctx, node) and object_permission_guard(self.ctx, node):
            # a detail view: get_object() runs a permission class that checks the tenant of the object
            return
        for stmt in node.body.body:
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            for small in stmt.body:
                if not isinstance(small, cst.Assign) or len(small.targets) != 1:
                    continue
                target = small.targets[0].target
                if not isinstance(target, cst.Name) or target.value not in attrs:
                    continue
                self._class_attr(node, stmt, small.value, target.value, bool(defined))

    def _class_attr(
        self, klass: cst.ClassDef, stmt: cst.SimpleStatementLine, value: cst.BaseExpression, attr: str, hooked: bool
    ) -> None:
        queries = self.analysis.queries
        chain = queries.chain(value)
        if chain is not None:
            if not self.ctx.index.is_tenant_owned(chain.model) or queries.scoping(chain) is not Scoping.UNSCOPED:
                return
            query, model = chain.display, chain.model
        else:
            model_name = self.ctx.model_of(value) if attr == "model" else None
            if model_name is None or not self.ctx.index.is_tenant_owned(model_name):
                return
            query, model = f"model = {model_name}", model_name
        reason = "its get_queryset() does not narrow it" if hooked else "no get_queryset() narrows it"
        field = self.ctx.index.primary_path(model)
        self.ctx.report(
            "ORG101",
            value if chain is not None else stmt,
            statement=stmt,
            query=query,
            model=model,
            field=field,
            by="",
            where=f"on view {klass.name.value} ({reason})",
            fix=f"override get_queryset() to filter {field}=self.request.organization",
        )
