"""ORG301 global-query-in-webhook: an unscoped query on tenant models inside a webhook or replay handler."""

from __future__ import annotations

from orgguard.checkers._surface import SurfaceQueryChecker
from orgguard.engine.facts import FunctionFacts, Surface
from orgguard.engine.records import FunctionInfo, Reach


def _names_stripe(*texts: str) -> bool:
    return any("stripe" in text.lower() for text in texts)


class WebhookQueryChecker(SurfaceQueryChecker):
    """A webhook has no session: every query must be scoped by what the verified event identifies."""

    codes = ("ORG301",)
    surface = Surface.WEBHOOK

    def skip_source(self) -> bool:
        return True  # rows picked by an unverified payload: ORG303 reports the root cause

    def own_traits(self, facts: FunctionFacts) -> set[str]:
        """``stripe`` when the handler's name or route names Stripe (a file importing stripe has it already)."""
        info = facts.info
        named = _names_stripe(facts.func.name.value, info.route if info is not None else "")
        return {"stripe"} if named else set()

    def reach_traits(self, reach: Reach, entry: FunctionInfo | None) -> set[str]:
        named = entry is not None and _names_stripe(entry.name, entry.route, entry.path)
        return {"stripe"} if named else set()
