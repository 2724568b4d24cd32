"""The shared query model: what a query chain is, which model it reads, and whether it is scoped.

Framework-neutral: the method names, managers and shortcuts come from the knowledge packs; the
tenant paths from the project index. Checkers ask :class:`QueryModel` and only decide which code a
finding gets (the path class picks the code).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import libcst as cst

from orgguard.engine.context import FileContext, dotted_name
from orgguard.engine.index import is_trusted_expr


class Scoping(enum.Enum):
    SCOPED = "scoped"
    UNSCOPED = "unscoped"
    UNKNOWN = "unknown"  # opaque arguments (**kwargs, a prebuilt filter): never reported


@dataclass(frozen=True)
class Link:
    name: str
    call: cst.Call | None  # None for subscripts (qs[0])


@dataclass(frozen=True)
class QueryChain:
    """``Invoice.objects.filter(...).first()`` or ``get_object_or_404(Invoice, ...)``."""

    top: cst.BaseExpression
    model: str
    links: tuple[Link, ...]
    via: str  # "manager", "shortcut"
    shortcut: str = ""
    shortcut_call: cst.Call | None = None

    @property
    def display(self) -> str:
        if self.via == "shortcut":
            return f"{self.shortcut}({self.model}, ...)"
        tail = next((link.name for link in reversed(self.links) if link.call is not None), "all")
        return f"{self.model}.objects.{tail}()"


def lookup_key_scopes(key: str, paths: Sequence[str]) -> bool:
    """Whether a lookup keyword (``organization_id``, ``invoice__organization__in``) hits a tenant path."""
    for path in paths:
        if key in (path, f"{path}_id") or key.startswith(f"{path}__"):
            return True
        if path.endswith("_id") and key.startswith(path[:-3] + "__"):
            return True
    return False


class QueryModel:
    """Recognises query chains in one file and judges their scoping."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.k = ctx.knowledge
        self._tops: dict[int, QueryChain] = {}
        self._inner: set[int] = set()

    # -- recognition --------------------------------------------------------------------------
    def _split(self, expr: cst.BaseExpression) -> tuple[cst.BaseExpression, list[Link]]:
        links: list[Link] = []
        while True:
            if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
                links.append(Link(expr.func.attr.value, expr))
                expr = expr.func.value
            elif isinstance(expr, cst.Subscript):
                links.append(Link("__getitem__", None))
                expr = expr.value
            else:
                break
        links.reverse()
        return expr, links

    def chain(self, node: cst.BaseExpression) -> QueryChain | None:
        """The query chain whose outermost expression is ``node``; None for the inner links of a chain.

        Every checker asking about the same node gets the same answer, whatever the order they ask in.
        """
        key = id(node)
        if key in self._tops:
            return self._tops[key]
        if key in self._inner:
            return None
        found = self.recognize(node)
        if found is not None:
            self._tops[key] = found
            self._inner.update(id(link.call) for link in found.links if link.call is not None and link.call is not node)
        return found

    def recognize(self, node: cst.BaseExpression) -> QueryChain | None:
        """The query chain ``node`` is the outermost expression of (no state; may be asked repeatedly)."""
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
            return self._shortcut(node)
        base, links = self._split(node)
        if not links or not isinstance(base, cst.Attribute):
            return None
        if base.attr.value not in self.k["models.managers"]:
            return None
        model = self.ctx.model_of(base.value)
        if model is None:
            return None
        custom = not all(link.name in self.k["queries.methods"] or link.call is None for link in links)
        if custom and not any(link.name in self.k["queries.scoping_methods"] for link in links):
            # a custom manager/queryset method: it may scope by itself; not ours to judge
            return None
        return QueryChain(top=node, model=model, links=tuple(links), via="manager")

    def _shortcut(self, call: cst.Call) -> QueryChain | None:
        assert isinstance(call.func, cst.Name)
        name = self.ctx.resolve(call.func.value)
        if name not in self.k["queries.shortcuts"] or not call.args:
            return None
        first = call.args[0].value
        model = self.ctx.model_of(first)
        links: tuple[Link, ...] = ()
        if model is None:
            inner = self.recognize(first)
            if inner is None:
                return None
            model, links = inner.model, inner.links
        return QueryChain(
            top=call,
            model=model,
            links=(*links, Link("get", call)),
            via="shortcut",
            shortcut=name,
            shortcut_call=call,
        )

    # -- judgement ----------------------------------------------------------------------------
    def lookup_args(self, chain: QueryChain) -> Iterator[tuple[cst.Call, Sequence[cst.Arg]]]:
        for link in chain.links:
            if link.call is None:
                continue
            if link.name in self.k["queries.lookup_methods"] or link.call is chain.shortcut_call:
                args = link.call.args[1:] if link.call is chain.shortcut_call else link.call.args
                yield link.call, args

    def scoping(self, chain: QueryChain) -> Scoping:
        """Whether the chain narrows to one tenant by itself."""
        if chain.model in self.ctx.index.tenant_models:
            return Scoping.UNKNOWN  # queries on the tenant itself are judged by the org rules
        paths = self.ctx.index.tenant_paths.get(chain.model, ())
        unknown = False
        for link in chain.links:
            if link.name in self.k["queries.scoping_methods"] or link.name == "none":
                return Scoping.SCOPED
        for _call, args in self.lookup_args(chain):
            for arg in args:
                verdict = self._arg_scoping(arg, paths)
                if verdict is Scoping.SCOPED:
                    return Scoping.SCOPED
                if verdict is Scoping.UNKNOWN:
                    unknown = True
        return Scoping.UNKNOWN if unknown else Scoping.UNSCOPED

    def _arg_scoping(self, arg: cst.Arg, paths: Sequence[str]) -> Scoping:
        if arg.star == "**":
            return Scoping.UNKNOWN
        if arg.keyword is not None:
            if lookup_key_scopes(arg.keyword.value, paths):
                return Scoping.SCOPED
            if self.is_trusted(arg.value):
                return Scoping.SCOPED  # the signed-in user's own rows
            return Scoping.UNSCOPED
        return self._predicate_scoping(arg.value, paths)

    def _predicate_scoping(self, expr: cst.BaseExpression, paths: Sequence[str]) -> Scoping:
        if isinstance(expr, cst.BinaryOperation):
            left = self._predicate_scoping(expr.left, paths)
            right = self._predicate_scoping(expr.right, paths)
            if isinstance(expr.operator, cst.BitAnd):
                if Scoping.SCOPED in (left, right):
                    return Scoping.SCOPED
            elif left is right:
                return left
            return Scoping.UNKNOWN if Scoping.UNKNOWN in (left, right) else Scoping.UNSCOPED
        if (
            isinstance(expr, cst.Call)
            and self.ctx.resolve(dotted_name(expr.func)) in self.k["queries.predicate_builders"]
        ):
            verdicts = [self._arg_scoping(a, paths) for a in expr.args]
            if Scoping.SCOPED in verdicts:
                return Scoping.SCOPED
            return Scoping.UNKNOWN if Scoping.UNKNOWN in verdicts else Scoping.UNSCOPED
        if isinstance(expr, cst.UnaryOperation):
            return Scoping.UNSCOPED
        return Scoping.UNKNOWN

    def tenant_lookups(self, chain: QueryChain) -> list[cst.Arg]:
        """The lookups that pick the tenant: every lookup on the tenant model itself, and the lookups
        on a tenant path of a tenant-owned model (``organization=...``, ``invoice__organization_id=...``)."""
        on_tenant = chain.model in self.ctx.index.tenant_models
        paths = self.ctx.index.tenant_paths.get(chain.model, ())
        out: list[cst.Arg] = []
        for _call, args in self.lookup_args(chain):
            for arg in args:
                if arg.star:
                    continue
                if arg.keyword is None:
                    out.extend(self._predicate_args(arg.value, paths, on_tenant))
                elif on_tenant or lookup_key_scopes(arg.keyword.value, paths):
                    out.append(arg)
        return out

    def _predicate_args(self, expr: cst.BaseExpression, paths: Sequence[str], on_tenant: bool) -> list[cst.Arg]:
        if isinstance(expr, cst.BinaryOperation):
            return self._predicate_args(expr.left, paths, on_tenant) + self._predicate_args(
                expr.right, paths, on_tenant
            )
        if (
            isinstance(expr, cst.Call)
            and self.ctx.resolve(dotted_name(expr.func)) in self.k["queries.predicate_builders"]
        ):
            return [
                a
                for a in expr.args
                if a.keyword is not None and (on_tenant or lookup_key_scopes(a.keyword.value, paths))
            ]
        return []

    def is_trusted(self, expr: cst.BaseExpression) -> bool:
        """Whether ``expr`` is a membership-verified org or the signed-in user (or reached from one)."""
        text = dotted_name(expr)
        return is_trusted_expr(text, self.k["trusted.org_sources"])
