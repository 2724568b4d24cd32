"""Stripe webhooks and billing identity, scoped to one organization.

* :func:`verify_event` — signature, replay window (tolerance > 0) and future-skew checks,
  built on ``stripe.Webhook.construct_event``; every failure is
  :class:`~orgguard.runtime.errors.WebhookVerificationFailed`.
* :func:`resolve_billable_org` — the event's Stripe customer, mapped through *your*
  ``customer -> org`` table, is the authority; metadata is only cross-checked.
* :func:`org_metadata` and :func:`idempotency_key` — what every Stripe object and
  request made on behalf of an org should carry.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from orgguard.runtime._extras import missing_framework

try:
    import stripe
except ModuleNotFoundError as exc:
    raise missing_framework(__name__, "the stripe library", "stripe", exc) from exc

from orgguard.runtime._context import OrgContext, OrgId, check_org_id
from orgguard.runtime.audit import system_actor
from orgguard.runtime.errors import (
    AmbiguousBillable,
    BillableUnresolved,
    NoActiveOrg,
    WebhookVerificationFailed,
)

__all__ = [
    "DEFAULT_METADATA_KEY",
    "EventLike",
    "customer_id_of",
    "idempotency_key",
    "org_metadata",
    "resolve_billable_org",
    "verify_event",
]

DEFAULT_METADATA_KEY = "org_id"
"""Metadata key under which orgguard stores the owning org on Stripe objects."""

_MAX_IDEMPOTENCY_KEY = 255


def _header_timestamp(sig_header: str) -> int:
    """Return the ``t=`` timestamp Stripe's verifier used (the first one in the header)."""
    for item in sig_header.split(","):
        name, sep, value = item.partition("=")
        if sep and name.strip() == "t":
            return int(value)
    raise ValueError("no timestamp in the Stripe-Signature header")


def verify_event(
    payload: bytes | str,
    sig_header: str | None,
    secret: str,
    *,
    tolerance: int = 300,
    max_future_skew: int = 60,
) -> stripe.Event:
    """Verify a Stripe webhook and return the :class:`stripe.Event`; raise otherwise.

    ``payload`` must be the raw request body (bytes or str, exactly as received) and
    ``sig_header`` the ``Stripe-Signature`` header.  The signature is checked with
    ``stripe.Webhook.construct_event``; events older than ``tolerance`` seconds (replays)
    and events dated more than ``max_future_skew`` seconds in the future are refused.

    ``tolerance`` must be positive: ``0`` or a negative value would disable Stripe's
    replay protection, so it raises :class:`ValueError` (as does an empty ``secret``,
    a configuration error).  Every verification failure, including a missing header or
    a malformed body, raises :class:`WebhookVerificationFailed`.
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance <= 0:
        raise ValueError(f"tolerance must be a positive number of seconds, not {tolerance!r}")
    if isinstance(max_future_skew, bool) or not isinstance(max_future_skew, int) or max_future_skew < 0:
        raise ValueError(f"max_future_skew must be a non-negative number of seconds, not {max_future_skew!r}")
    if not isinstance(secret, str) or not secret.strip():
        raise ValueError("a webhook signing secret is required")
    if not sig_header:
        raise WebhookVerificationFailed("missing Stripe-Signature header")
    if not isinstance(payload, (bytes, str)):
        raise WebhookVerificationFailed(f"the raw body must be bytes or str, not {type(payload).__name__}")
    try:
        event = stripe.Webhook.construct_event(payload, sig_header, secret, tolerance=tolerance)
        signed_at = _header_timestamp(sig_header)
    except stripe.SignatureVerificationError as exc:
        raise WebhookVerificationFailed(f"invalid Stripe signature: {exc.user_message or exc}") from None
    except Exception as exc:  # any other failure to build the event: malformed, never accepted
        raise WebhookVerificationFailed(f"malformed Stripe webhook: {type(exc).__name__}: {exc}") from None
    if signed_at > time.time() + max_future_skew:
        raise WebhookVerificationFailed(f"Stripe event is dated in the future (t={signed_at})")
    if not isinstance(event, stripe.Event) or _as_mapping(event).get("object") != "event":
        raise WebhookVerificationFailed("the payload is not a Stripe event")
    return event


EventLike = Mapping[str, Any] | stripe.StripeObject
"""A verified :class:`stripe.Event`, or the same event as a plain mapping."""


def _as_mapping(event: EventLike) -> Mapping[str, Any]:
    if isinstance(event, Mapping):
        return event
    if isinstance(event, stripe.StripeObject):
        return event.to_dict()
    raise TypeError(f"expected a Stripe event, not {type(event).__name__}")


def _data_object(event: Mapping[str, Any]) -> Mapping[str, Any]:
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        raise BillableUnresolved("the event has no data.object")
    return obj


def customer_id_of(event: EventLike) -> str:
    """Return the Stripe customer id an event is about, or raise :class:`BillableUnresolved`.

    For ``customer.*`` events that is the object's own id; for invoices, subscriptions,
    checkout sessions, payment intents... it is their ``customer`` field (a string or an
    expanded customer object).
    """
    data = _as_mapping(event)
    obj = _data_object(data)
    if obj.get("object") == "customer":
        customer: object = obj.get("id")
    else:
        customer = obj.get("customer")
        if isinstance(customer, Mapping):
            customer = customer.get("id")
    if not isinstance(customer, str) or not customer.startswith("cus_"):
        raise BillableUnresolved(f"event {data.get('id')!r} does not name a Stripe customer")
    return customer


def resolve_billable_org(
    event: EventLike,
    *,
    lookup: Callable[[str], OrgId | None],
    metadata_key: str = DEFAULT_METADATA_KEY,
    expect_livemode: bool,
) -> OrgContext:
    """Return the :class:`OrgContext` that owns a verified Stripe event.

    The org comes from ``lookup(customer_id)`` — your own stored ``customer -> org``
    mapping, queried by the event's customer id only (never a global query, never
    "the first org").  If the event's object also carries ``metadata[metadata_key]``, it
    must agree, else :class:`AmbiguousBillable`; metadata alone is never trusted, since
    anyone with API access can write it.

    Raises :class:`WebhookVerificationFailed` when ``event.livemode`` differs from
    ``expect_livemode`` (test events reaching production, or the reverse) and
    :class:`BillableUnresolved` when the customer is unknown.  The context's actor is a
    system actor ``stripe-webhook:<event id>``, its source ``"stripe_webhook"``.
    """
    if not isinstance(expect_livemode, bool):
        raise TypeError("expect_livemode must be True or False")
    data = _as_mapping(event)
    livemode = data.get("livemode")
    if livemode is not expect_livemode:
        raise WebhookVerificationFailed(f"event livemode={livemode!r}, expected {expect_livemode!r}")
    event_id = data.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise BillableUnresolved("the event has no id")
    customer = customer_id_of(data)
    found = lookup(customer)
    try:
        org_id = check_org_id(found)
    except (NoActiveOrg, TypeError):
        raise BillableUnresolved(f"Stripe customer {customer} is not mapped to any organization") from None
    metadata = _data_object(data).get("metadata")
    if isinstance(metadata, Mapping) and metadata_key in metadata:
        claimed = metadata[metadata_key]
        if claimed is None or isinstance(claimed, bool) or str(claimed) != str(org_id):
            raise AmbiguousBillable(
                f"Stripe customer {customer} belongs to org {org_id!r} but the event's "
                f"metadata[{metadata_key!r}] says {claimed!r}"
            )
    actor = system_actor(f"stripe-webhook:{event_id}")
    return OrgContext(org_id, actor, "system", "stripe_webhook")


def org_metadata(org_id: OrgId | OrgContext, *, key: str = DEFAULT_METADATA_KEY) -> dict[str, str]:
    """Return the Stripe ``metadata`` dict that marks an object as belonging to ``org_id``."""
    value = org_id.org_id if isinstance(org_id, OrgContext) else check_org_id(org_id)
    if not key:
        raise ValueError("a metadata key is required")
    return {key: str(value)}


def idempotency_key(org_id: OrgId | OrgContext, operation: str, *parts: str | int) -> str:
    """Return a deterministic Stripe ``Idempotency-Key`` for ``operation`` on behalf of an org.

    The same org, operation and parts always give the same key (across processes and
    machines), so a retried request cannot create a second customer or subscription;
    a different org never shares a key.  Parts must be strings or integers (``None``
    would silently collapse distinct requests, so it is refused).
    """
    value = org_id.org_id if isinstance(org_id, OrgContext) else check_org_id(org_id)
    if not isinstance(operation, str) or not operation.strip():
        raise ValueError("an idempotency key needs a non-empty operation name")
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, (str, int)):
            raise TypeError(f"idempotency key parts must be str or int, not {type(part).__name__}")
    material = json.dumps([str(value), operation, *(str(p) for p in parts)], separators=(",", ":"))
    digest = hashlib.sha256(material.encode("utf-8")).hexdigest()
    safe_op = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in operation)[:64]
    key = f"orgguard-{safe_op}-{digest}"
    return key[:_MAX_IDEMPOTENCY_KEY]
