"""Per-function facts, computed once per function on demand and shared by every checker.

A function's *surface* (request handler, ...) decides which path class, hence which rule, a finding
in it belongs to. The variable facts let a query built first and narrowed later, or an object fetched
and then checked against the tenant, count as scoped.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import libcst as cst

from orgguard.engine.context import FileContext, dotted_name
from orgguard.engine.queries import QueryModel, Scoping


class Surface(enum.Enum):
    REQUEST = "public"
    OTHER = "none"


@dataclass
class FunctionFacts:
    surface: Surface
    # variables that get a tenant predicate, or a post-fetch tenant check, somewhere in the function
    scoped_vars: set[str] = field(default_factory=set)


def _decorator_names(func: cst.FunctionDef) -> set[str]:
    names = set()
    for dec in func.decorators:
        expr = dec.decorator
        if isinstance(expr, cst.Call):
            expr = expr.func
        text = dotted_name(expr)
        if text:
            names.add(text.rsplit(".", 1)[-1])
    return names


def _param_names(func: cst.FunctionDef) -> list[str]:
    params = func.params
    return [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]


class _VarScan(cst.CSTVisitor):
    """Finds variables narrowed to the tenant after the fact."""

    def __init__(self, ctx: FileContext, queries: QueryModel) -> None:
        self.ctx = ctx
        self.queries = queries
        self.tenant_attrs = self._tenant_attrs()
        self.scoped: set[str] = set()

    def _tenant_attrs(self) -> set[str]:
        attrs: set[str] = set(self.ctx.config.tenant_fields)
        for paths in self.ctx.index.tenant_paths.values():
            for path in paths:
                head = path.split("__", 1)[0]
                attrs.update((head, f"{head}_id"))
        return attrs

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return True

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        # qs.filter(organization=org) / qs = qs.filter(...)
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            var = func.value.value
            if func.attr.value in self.ctx.knowledge["queries.scoping_methods"]:
                self.scoped.add(var)
            elif func.attr.value in self.ctx.knowledge["queries.lookup_methods"]:
                for arg in node.args:
                    if arg.keyword and (
                        arg.keyword.value in self.tenant_attrs
                        or any(arg.keyword.value.startswith(a + "__") for a in self.tenant_attrs)
                        or self.queries.is_trusted(arg.value)
                    ):
                        self.scoped.add(var)
        # DRF: self.check_object_permissions(request, obj)
        if dotted_name(func).endswith("check_object_permissions") and len(node.args) >= 2:
            target = node.args[1].value
            if isinstance(target, cst.Name):
                self.scoped.add(target.value)

    def visit_Comparison(self, node: cst.Comparison) -> None:
        # obj.organization_id != request.organization.id  -> obj is checked against the tenant
        operands = [node.left, *(c.comparator for c in node.comparisons)]
        for operand in operands:
            if isinstance(operand, cst.Attribute) and operand.attr.value in self.tenant_attrs:
                base = operand.value
                while isinstance(base, cst.Attribute):
                    base = base.value
                if isinstance(base, cst.Name):
                    self.scoped.add(base.value)


def compute_facts(ctx: FileContext, queries: QueryModel, func: cst.FunctionDef) -> FunctionFacts:
    surface = classify(ctx, func)
    scan = _VarScan(ctx, queries)
    func.body.visit(scan)
    return FunctionFacts(surface=surface, scoped_vars=scan.scoped)


def is_view_class(ctx: FileContext, klass: cst.ClassDef) -> bool:
    bases = {dotted_name(b.value).rsplit(".", 1)[-1] for b in klass.bases}
    for base in list(bases):
        bases |= ctx.index.base_names(base)
    return bool(bases & ctx.knowledge["requests.view_bases"])


def classify(ctx: FileContext, func: cst.FunctionDef) -> Surface:
    """Which surface a function is (its outermost enclosing function decides for nested ones)."""
    outer = ctx.scope.outer_function or func
    klass = ctx.scope.class_of(outer)
    if klass is not None and is_view_class(ctx, klass):
        return Surface.REQUEST
    if _decorator_names(outer) & ctx.knowledge["requests.view_decorators"]:
        return Surface.REQUEST
    params = _param_names(outer)
    if klass is None and params and set(params[:2]) & ctx.knowledge["requests.handler_params"]:
        return Surface.REQUEST
    return Surface.OTHER


class FactsCache:
    """Memoises :func:`compute_facts` per function node for one file."""

    def __init__(self, ctx: FileContext, queries: QueryModel) -> None:
        self.ctx = ctx
        self.queries = queries
        self._facts: dict[int, FunctionFacts] = {}

    def of(self, func: cst.FunctionDef) -> FunctionFacts:
        key = id(func)
        if key not in self._facts:
            self._facts[key] = compute_facts(self.ctx, self.queries, func)
        return self._facts[key]


__all__ = ["FactsCache", "FunctionFacts", "Scoping", "Surface", "classify", "is_view_class"]
