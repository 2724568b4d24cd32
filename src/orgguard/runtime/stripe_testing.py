"""Signed Stripe webhook payloads for tests, produced by the stripe library's own signer.

No network, no Stripe CLI: :func:`signed_event` serializes an event and signs it with
``stripe.WebhookSignature`` exactly as Stripe does, so the result goes through
:func:`orgguard.runtime.stripe.verify_event` (and ``stripe.Webhook.construct_event``)
unchanged::

    payload, header = signed_event({"id": "evt_1", "object": "event", ...}, secret)
    client.post("/stripe/webhook", data=payload, headers={"Stripe-Signature": header})
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orgguard.runtime._extras import missing_framework

try:
    import stripe
except ModuleNotFoundError as exc:
    raise missing_framework(__name__, "the stripe library", "stripe", exc) from exc

__all__ = ["signed_event"]


def _timestamp(at: datetime | float | None) -> int:
    if at is None:
        return int(time.time())
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("signed_event(at=...) needs a timezone-aware datetime")
        return int(at.timestamp())
    if isinstance(at, bool) or not isinstance(at, (int, float)):
        raise TypeError(f"at must be a datetime, a Unix timestamp or None, not {type(at).__name__}")
    return int(at)


def signed_event(
    event: Mapping[str, Any] | str | bytes, secret: str, at: datetime | float | None = None
) -> tuple[bytes, str]:
    """Return ``(payload, header)``: the event's JSON body and a valid ``Stripe-Signature``.

    ``event`` is a mapping (serialized with :func:`json.dumps`) or an already serialized
    body.  ``at`` is the signing time (a timezone-aware datetime or a Unix timestamp;
    default now); sign in the past or future to test replay and skew handling.
    """
    if not secret:
        raise ValueError("a webhook signing secret is required")
    if isinstance(event, bytes):
        body = event.decode("utf-8")
    elif isinstance(event, str):
        body = event
    else:
        body = json.dumps(dict(event), separators=(",", ":"))
    timestamp = _timestamp(at)
    signer = stripe.WebhookSignature
    if hasattr(signer, "generate_signature_header"):
        header = str(signer.generate_signature_header(body, secret, timestamp=timestamp))
    else:  # stripe < 15: the same HMAC, assembled by hand
        signature = signer._compute_signature(f"{timestamp}.{body}", secret)
        header = f"t={timestamp},{signer.EXPECTED_SCHEME}={signature}"
    return body.encode("utf-8"), header
