"""ORG101 unscoped-tenant-query: a query on a tenant-owned model with no tenant predicate."""

from __future__ import annotations

import libcst as cst

from orgguard.checkers._surface import SurfaceQueryChecker, query_fields, query_traits
from orgguard.engine import vocab
from orgguard.engine.context import FileContext
from orgguard.engine.facts import Surface, class_bases, is_list_view, is_view_class, object_permission_guard
from orgguard.engine.queries import Scoping


class UnscopedQueryChecker(SurfaceQueryChecker):
    """Flags queries in request handlers that reach tenant-owned rows without narrowing to one tenant."""

    codes = ("ORG101",)
    surface = Surface.REQUEST

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
        if class_bases(self.ctx, node) & self.ctx.knowledge["requests.scoping_mixins"]:
            return  # a declared mixin's get_queryset narrows it to the user's tenants
        if any(info.staff for info in infos):
            return  # a staff-only view: listing every tenant's rows is what it is for
        if self._capability_lookup(node):
            return  # get_object() finds rows by a bearer secret (`lookup_field = "token"`)
        if any(info.filtered for info in infos) or (
            self.ctx.index.default_filtered and not any(info.sets_filters for info in infos)
        ):
            return  # its filter backends narrow every list it serves to the user's tenants
        if defined & scoping or (defined and not defined & inheriting):
            # a hook narrows it, or replaces the class queryset altogether (judged on its own)
            return
        if _create_only(self.ctx, node):
            return  # the class queryset of a create-only view is never read
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

    def _capability_lookup(self, klass: cst.ClassDef) -> bool:
        markers = self.ctx.knowledge["models.secret_fields"]
        for stmt in klass.body.body:
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            for small in stmt.body:
                if (
                    isinstance(small, cst.Assign)
                    and any(isinstance(t.target, cst.Name) and t.target.value == "lookup_field" for t in small.targets)
                    and isinstance(small.value, cst.SimpleString)
                    and isinstance(small.value.evaluated_value, str)
                    and vocab.is_secret_field(small.value.evaluated_value, markers)
                ):
                    return True
        return False

    def _class_attr(
        self, klass: cst.ClassDef, stmt: cst.SimpleStatementLine, value: cst.BaseExpression, attr: str, hooked: bool
    ) -> None:
        queries = self.analysis.queries
        chain = queries.chain(value)
        if chain is not None:
            if not self.ctx.index.is_tenant_owned(chain.model) or queries.scoping(chain) is not Scoping.UNSCOPED:
                return
            if self.analysis.unscoped(chain) is None:
                return  # a manager that scopes at run time
            query, model = chain.display, chain.model
        else:
            # `model = X` is read as X._default_manager.all() by Django's generic views (DRF ignores it)
            reads_model = bool(class_bases(self.ctx, klass) & self.ctx.knowledge["requests.model_views"])
            model_name = self.ctx.model_of(value) if attr == "model" and reads_model else None
            info = self.ctx.index.models.get(model_name or "")
            if info is not None and info.default_manager in info.scoped_managers:
                return
            if model_name is None or not self.ctx.index.is_tenant_owned(model_name):
                return
            query, model = f"model = {model_name}", model_name
        fields = query_fields(self.ctx, model)
        indirect = {"indirect"} if "__" in fields["field"] else set()
        self.ctx.report(
            "ORG101",
            value if chain is not None else stmt,
            statement=stmt,
            shape="class_queryset",
            # a queryset's own ORM; `model = X` is read by Django's generic views
            traits=query_traits(self.ctx, chain) if chain is not None else {"django", *indirect},
            query=query,
            view=klass.name.value,
            reason=self.phrase("reason_hooked" if hooked else "reason_unhooked"),
            fields=fields,
        )


READERS = frozenset({"get", "list", "retrieve", "get_object", "get_context_data", "head"})


def _create_only(ctx: FileContext, klass: cst.ClassDef) -> bool:
    bases = class_bases(ctx, klass)
    if not bases & ctx.knowledge["requests.create_only_bases"] or is_list_view(ctx, klass):
        return False
    readers = {
        "RetrieveAPIView",
        "UpdateAPIView",
        "DestroyAPIView",
        "RetrieveModelMixin",
        "UpdateModelMixin",
        "DestroyModelMixin",
        "DetailView",
        "UpdateView",
        "DeleteView",
        "ModelViewSet",
        "GenericViewSet",
    }
    if bases & readers:
        return False
    methods = {s.name.value for s in klass.body.body if isinstance(s, cst.FunctionDef)}
    for info in ctx.index.ancestors(klass.name.value):
        methods.update(info.methods)
    return not methods & READERS
