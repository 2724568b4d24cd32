"""ORG106 stripe-id-from-request: a Stripe customer/subscription id from request input sent to Stripe."""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from orgguard.checkers.base import Checker
from orgguard.engine.context import dotted_name
from orgguard.engine.facts import Surface
from orgguard.engine.records import ProjectIndex
from orgguard.knowledge import Knowledge


class StripeIdFromRequestChecker(Checker):
    """`stripe.Customer.retrieve(request.POST["customer"])` acts on whichever customer the client names."""

    codes = ("ORG106",)

    @classmethod
    def triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        return ["stripe", "Stripe"]

    @classmethod
    def statement_triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        # the call's dotted name starts with (or holds) one of the Stripe namespaces
        return ["stripe", *(ns.strip(".").split(".")[0] for ns in knowledge["stripe.namespaces"])]

    def visit_Call(self, node: cst.Call) -> None:
        facts = self.analysis.current_facts()
        if facts is None or facts.surface not in (Surface.REQUEST, Surface.ADMIN, Surface.EXPORT):
            return
        k = self.ctx.knowledge
        name = dotted_name(node.func)
        if not name:
            return
        stripe_call = any(name.startswith(ns) or f".{ns}" in f".{name}" for ns in k["stripe.namespaces"])
        if not stripe_call:
            return
        candidates: list[tuple[str, cst.BaseExpression]] = []
        if any(name == c or name.endswith("." + c) for c in k["stripe.id_calls"]) and node.args:
            first = node.args[0]
            if first.keyword is None and not first.star:
                candidates.append(("id", first.value))
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.value in k["stripe.id_kwargs"]:
                candidates.append((arg.keyword.value, arg.value))
        for what, expr in candidates:
            value = self.analysis.value(expr)
            taint = value.first() if value.tainted else None
            if taint is not None:
                self.ctx.report("ORG106", node, call=f"{name}()", what=what, source=taint.source)
                return
