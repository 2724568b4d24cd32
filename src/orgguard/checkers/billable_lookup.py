"""ORG304 billable-not-from-event: a webhook finds the billing rows it mutates by something forgeable.

A verified Stripe event identifies its billable by processor ids (customer, subscription, the object's
id) and by the org metadata the app wrote. Finding the org or subscription by an email, a name or a
description taken from the event matches whichever tenant happens to share it.
"""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from orgguard.checkers.base import Analysis, Checker
from orgguard.engine import walk
from orgguard.engine.facts import Surface
from orgguard.engine.queries import Scoping
from orgguard.engine.records import ProjectIndex
from orgguard.knowledge import Knowledge

WRITES = frozenset(
    {"save", "update", "delete", "create", "bulk_update", "update_or_create", "get_or_create", "add", "commit"}
)


class BillableLookupChecker(Checker):
    """``Organization.objects.get(billing_email=event.data.object.customer_email)`` in a webhook."""

    codes = ("ORG304",)

    def __init__(self, analysis: Analysis) -> None:
        super().__init__(analysis)
        self._mutating: dict[int, bool] = {}

    @classmethod
    def triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        return [*index.tenant_models, *index.tenant_paths]

    @classmethod
    def statement_triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        return [*index.tenant_models, *index.tenant_paths]

    def visit_Call(self, node: cst.Call) -> None:
        facts = self.analysis.current_facts()
        if facts is None or (
            facts.surface is not Surface.WEBHOOK and not facts.reached_from(self.ctx, Surface.WEBHOOK)
        ):
            return
        chain = self.analysis.queries.chain(node)
        if chain is None:
            return
        index = self.ctx.index
        if chain.model not in index.tenant_models and not index.is_tenant_owned(chain.model):
            return
        if not self._writes() or self.analysis.queries.scoping(chain) is Scoping.SCOPED:
            return
        ids = self.ctx.knowledge["stripe.event_id_attrs"]
        for key, expr in self.analysis.queries.lookups(chain):
            value = self.analysis.value(expr)
            if not value.event or value.taints:
                continue
            parts = value.event.split(".")[1:]
            if parts and not set(parts) & ids:
                self.ctx.report(
                    "ORG304",
                    chain.anchor,
                    query=chain.display,
                    key=key,
                    path=value.event,
                    ids=", ".join(sorted(ids & {"customer", "subscription", "id", "metadata"})),
                )
                return

    def _writes(self) -> bool:
        """Whether the handler writes (memoised per function: one extra walk per webhook handler)."""
        func = self.ctx.scope.outer_function
        if func is None:
            return False
        key = id(func)
        if key not in self._mutating:
            finder = _WriteFinder()
            walk.visit(func.body, finder)
            self._mutating[key] = finder.found
        return self._mutating[key]


class _WriteFinder(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in WRITES:
            self.found = True
