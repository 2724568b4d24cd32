"""ORG301 global-query-in-webhook: an unscoped query on tenant models inside a webhook or replay handler."""

from __future__ import annotations

from orgguard.checkers._surface import SurfaceQueryChecker
from orgguard.engine.facts import Surface


class WebhookQueryChecker(SurfaceQueryChecker):
    """A webhook has no session: every query must be scoped by what the verified event identifies."""

    codes = ("ORG301",)
    surface = Surface.WEBHOOK
    where = "in webhook handler"
    fix = (
        "resolve the billable from the verified event first "
        "(orgguard.runtime.stripe.resolve_billable_org) and filter by {field}"
    )

    def skip_source(self) -> bool:
        return True  # rows picked by an unverified payload: ORG303 reports the root cause
