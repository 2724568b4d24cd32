"""Org-scoped Stripe billing: customers and subscriptions created *for an OrgContext*.

The helpers take an :class:`~orgguard.runtime.OrgContext`, never a raw org, customer or
subscription id from a request: the Stripe ids come from your own store, keyed by the
verified org.  Every object they create carries the org in its ``metadata`` (so
webhooks can be cross-checked, see :func:`orgguard.runtime.stripe.resolve_billable_org`),
and every request carries a deterministic idempotency key (so a retry cannot create a
second customer or subscription).  A :class:`BillingPolicy` decides who may subscribe
or cancel.

``client`` is a :class:`stripe.StripeClient`; no module-level ``stripe.api_key`` is used.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from orgguard.runtime._extras import missing_framework

try:
    import stripe
except ModuleNotFoundError as exc:
    raise missing_framework(__name__, "the stripe library", "stripe", exc) from exc

from orgguard.runtime._context import OrgContext, OrgId
from orgguard.runtime.errors import AmbiguousBillable, BillableUnresolved, CrossOrgAccess, PolicyDenied
from orgguard.runtime.stripe import DEFAULT_METADATA_KEY, idempotency_key, org_metadata

if TYPE_CHECKING:
    from stripe.params import CustomerCreateParams

__all__ = ["BillingPolicy", "BillingStore", "RolePolicy", "cancel", "customer_for", "subscribe"]


class BillingStore(Protocol):
    """Your persistence of each org's Stripe ids (a column on Organization, a table...)."""

    def customer_id(self, org_id: OrgId) -> str | None:
        """Return the org's Stripe customer id, or None if it has none yet."""

    def save_customer_id(self, org_id: OrgId, customer_id: str) -> None:
        """Remember ``customer_id`` as the org's Stripe customer."""

    def subscription_id(self, org_id: OrgId) -> str | None:
        """Return the org's current Stripe subscription id, or None."""

    def save_subscription_id(self, org_id: OrgId, subscription_id: str) -> None:
        """Remember ``subscription_id`` as the org's current subscription."""


class BillingPolicy(Protocol):
    """Decides who may change an org's billing."""

    def may_subscribe(self, ctx: OrgContext, price_id: str) -> bool:
        """Return True if ``ctx.actor`` may subscribe ``ctx``'s org to ``price_id``."""

    def may_cancel(self, ctx: OrgContext, subscription_id: str) -> bool:
        """Return True if ``ctx.actor`` may cancel ``ctx``'s org's subscription."""


class RolePolicy:
    """A :class:`BillingPolicy` that allows members holding one of ``roles``.

    The default allows ``"owner"`` and ``"billing_admin"``.  Staff overrides and system
    actors are refused unless their role is listed explicitly.
    """

    def __init__(self, roles: Collection[str] = ("owner", "billing_admin")) -> None:
        cleaned = frozenset(r.strip() for r in roles if isinstance(r, str) and r.strip())
        if not cleaned:
            raise ValueError("RolePolicy needs at least one role")
        self.roles = cleaned

    def may_subscribe(self, ctx: OrgContext, price_id: str) -> bool:
        """Allow if the actor's role is one of :attr:`roles`."""
        return ctx.role in self.roles

    def may_cancel(self, ctx: OrgContext, subscription_id: str) -> bool:
        """Allow if the actor's role is one of :attr:`roles`."""
        return ctx.role in self.roles


def _require_ctx(ctx: object, what: str) -> OrgContext:
    if not isinstance(ctx, OrgContext):
        raise TypeError(f"{what}() needs an OrgContext (never a raw org id), not {type(ctx).__name__}")
    return ctx


def _field(obj: object, key: str) -> object:
    """Read ``key`` from a StripeObject or a mapping; None when absent."""
    if isinstance(obj, Mapping):
        return obj.get(key)
    if isinstance(obj, stripe.StripeObject):
        try:
            return obj[key]
        except KeyError:
            return None
    return None


def _check_echo(obj: stripe.StripeObject, ctx: OrgContext, kind: str) -> None:
    """Refuse a Stripe object whose org metadata names another org."""
    claimed = _field(_field(obj, "metadata"), DEFAULT_METADATA_KEY)
    if claimed is not None and not ctx.same_org(claimed):
        raise AmbiguousBillable(
            f"Stripe {kind} {_field(obj, 'id')!r} is tagged for org {claimed!r}, not {ctx.org_id!r}"
        )


def customer_for(
    ctx: OrgContext,
    *,
    client: stripe.StripeClient,
    store: BillingStore,
    params: Mapping[str, Any] | None = None,
) -> str:
    """Return ``ctx``'s org's Stripe customer id, creating the customer on first use.

    The stored id is authoritative.  A new customer is created with
    ``metadata={"org_id": <org>}`` (merged over ``params["metadata"]``; a conflicting
    ``org_id`` raises :class:`CrossOrgAccess`) and the idempotency key
    ``idempotency_key(org, "customer.create")``, then saved with
    ``store.save_customer_id``.
    """
    ctx = _require_ctx(ctx, "customer_for")
    existing = store.customer_id(ctx.org_id)
    if existing:
        if not existing.startswith("cus_"):
            raise BillableUnresolved(f"the stored customer id for org {ctx.org_id!r} is not a Stripe customer")
        return existing
    extra = dict(params or {})
    metadata = dict(extra.pop("metadata", None) or {})
    if DEFAULT_METADATA_KEY in metadata and not ctx.same_org(metadata[DEFAULT_METADATA_KEY]):
        raise CrossOrgAccess(f"customer metadata names org {metadata[DEFAULT_METADATA_KEY]!r}, not {ctx.org_id!r}")
    metadata.update(org_metadata(ctx))
    customer = client.v1.customers.create(
        params=cast("CustomerCreateParams", {**extra, "metadata": metadata}),
        options={"idempotency_key": idempotency_key(ctx, "customer.create")},
    )
    _check_echo(customer, ctx, "customer")
    if not customer.id:
        raise BillableUnresolved("Stripe returned a customer without an id")
    store.save_customer_id(ctx.org_id, customer.id)
    return customer.id


def subscribe(
    ctx: OrgContext,
    price_id: str,
    *,
    client: stripe.StripeClient,
    store: BillingStore,
    policy: BillingPolicy,
    key_parts: Sequence[str | int] = (),
) -> stripe.Subscription:
    """Subscribe ``ctx``'s org to ``price_id`` and return the :class:`stripe.Subscription`.

    ``policy.may_subscribe(ctx, price_id)`` must allow it (else :class:`PolicyDenied`).
    The customer comes from :func:`customer_for`; the subscription is created with org
    metadata and the idempotency key ``idempotency_key(org, "subscription.create",
    price_id, *key_parts)`` (add ``key_parts`` such as an attempt number to allow a
    deliberate second subscription), and saved with ``store.save_subscription_id``.
    A subscription returned for another customer raises :class:`CrossOrgAccess`.
    """
    ctx = _require_ctx(ctx, "subscribe")
    if not isinstance(price_id, str) or not price_id.strip():
        raise ValueError("subscribe() needs a price id")
    if not policy.may_subscribe(ctx, price_id):
        raise PolicyDenied(f"{ctx.actor} ({ctx.role}) may not subscribe org {ctx.org_id!r}")
    customer = customer_for(ctx, client=client, store=store)
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer,
            "items": [{"price": price_id}],
            "metadata": org_metadata(ctx),
        },
        options={"idempotency_key": idempotency_key(ctx, "subscription.create", price_id, *key_parts)},
    )
    _check_echo(subscription, ctx, "subscription")
    returned_customer = _field(subscription, "customer")
    if isinstance(returned_customer, str) and returned_customer != customer:
        raise CrossOrgAccess(f"Stripe returned a subscription for {returned_customer}, not {customer}")
    store.save_subscription_id(ctx.org_id, subscription.id)
    return subscription


def cancel(
    ctx: OrgContext,
    *,
    client: stripe.StripeClient,
    store: BillingStore,
    policy: BillingPolicy,
) -> stripe.Subscription:
    """Cancel ``ctx``'s org's current subscription (the one in ``store``, never a request id).

    ``policy.may_cancel(ctx, subscription_id)`` must allow it (else
    :class:`PolicyDenied`); an org without a subscription raises
    :class:`BillableUnresolved`.  The request carries the idempotency key
    ``idempotency_key(org, "subscription.cancel", subscription_id)``.
    """
    ctx = _require_ctx(ctx, "cancel")
    subscription_id = store.subscription_id(ctx.org_id)
    if not subscription_id:
        raise BillableUnresolved(f"org {ctx.org_id!r} has no subscription to cancel")
    if not policy.may_cancel(ctx, subscription_id):
        raise PolicyDenied(f"{ctx.actor} ({ctx.role}) may not cancel org {ctx.org_id!r}'s subscription")
    subscription = client.v1.subscriptions.cancel(
        subscription_id,
        options={"idempotency_key": idempotency_key(ctx, "subscription.cancel", subscription_id)},
    )
    _check_echo(subscription, ctx, "subscription")
    return subscription
