"""orgguard.runtime.stripe / stripe_testing / billing, with the real stripe library and no network."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st
from rt_support import make_ctx

from orgguard.runtime import (
    Actor,
    AmbiguousBillable,
    BillableUnresolved,
    CrossOrgAccess,
    NoActiveOrg,
    OrgContext,
    PolicyDenied,
    WebhookVerificationFailed,
)
from orgguard.runtime.billing import RolePolicy, cancel, customer_for, subscribe
from orgguard.runtime.stripe import (
    customer_id_of,
    idempotency_key,
    org_metadata,
    resolve_billable_org,
    verify_event,
)
from orgguard.runtime.stripe_testing import signed_event

SECRET = "whsec_test_0123456789abcdef"


def invoice_event(
    *, customer: Any = "cus_A", metadata: dict | None = None, livemode: bool = False, event_id: str = "evt_1"
):
    obj: dict[str, Any] = {"id": "in_1", "object": "invoice", "customer": customer, "amount_due": 1000}
    if metadata is not None:
        obj["metadata"] = metadata
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": livemode,
        "type": "invoice.paid",
        "data": {"object": obj},
    }


# --------------------------------------------------------------------------- verify_event


def test_valid_event_is_accepted():
    payload, header = signed_event(invoice_event(), SECRET)
    event = verify_event(payload, header, SECRET)
    assert isinstance(event, stripe.Event)
    assert event.id == "evt_1" and event.type == "invoice.paid"
    assert verify_event(payload.decode(), header, SECRET).id == "evt_1"  # str bodies too


def test_signed_event_is_accepted_by_stripe_itself():
    payload, header = signed_event(invoice_event(), SECRET)
    assert stripe.Webhook.construct_event(payload, header, SECRET).id == "evt_1"
    assert stripe.WebhookSignature.verify_header(payload.decode(), header, SECRET, tolerance=300)


def test_tampered_body_is_rejected():
    payload, header = signed_event(invoice_event(), SECRET)
    tampered = payload.replace(b'"amount_due":1000', b'"amount_due":1')
    assert tampered != payload
    with pytest.raises(WebhookVerificationFailed):
        verify_event(tampered, header, SECRET)
    swapped = payload.replace(b"cus_A", b"cus_B")
    with pytest.raises(WebhookVerificationFailed):
        verify_event(swapped, header, SECRET)


def test_wrong_secret_is_rejected():
    payload, header = signed_event(invoice_event(), "whsec_other")
    with pytest.raises(WebhookVerificationFailed):
        verify_event(payload, header, SECRET)


@pytest.mark.parametrize("header", [None, "", "garbage", "t=notanumber,v1=abc", "t=1,v0=abc"])
def test_missing_or_malformed_header_is_rejected(header):
    payload, _ = signed_event(invoice_event(), SECRET)
    with pytest.raises(WebhookVerificationFailed):
        verify_event(payload, header, SECRET)


def test_replayed_event_is_rejected():
    now = time.time()
    old_payload, old_header = signed_event(invoice_event(), SECRET, at=now - 301)
    with pytest.raises(WebhookVerificationFailed):
        verify_event(old_payload, old_header, SECRET)
    with pytest.raises(WebhookVerificationFailed):
        verify_event(old_payload, old_header, SECRET, tolerance=60)
    recent_payload, recent_header = signed_event(invoice_event(), SECRET, at=now - 200)
    assert verify_event(recent_payload, recent_header, SECRET).id == "evt_1"
    dated = datetime.now(timezone.utc) - timedelta(hours=1)
    with pytest.raises(WebhookVerificationFailed):
        verify_event(*signed_event(invoice_event(), SECRET, at=dated), SECRET)


def test_future_dated_event_is_rejected():
    now = time.time()
    with pytest.raises(WebhookVerificationFailed):
        verify_event(*signed_event(invoice_event(), SECRET, at=now + 120), SECRET)
    with pytest.raises(WebhookVerificationFailed):
        verify_event(*signed_event(invoice_event(), SECRET, at=now + 30), SECRET, max_future_skew=0)
    assert verify_event(*signed_event(invoice_event(), SECRET, at=now + 30), SECRET).id == "evt_1"


@pytest.mark.parametrize("tolerance", [0, -1, -300, True, 1.5, None])
def test_non_positive_tolerance_is_a_value_error(tolerance):
    payload, header = signed_event(invoice_event(), SECRET)
    with pytest.raises(ValueError):
        verify_event(payload, header, SECRET, tolerance=tolerance)


def test_bad_configuration_is_a_value_error():
    payload, header = signed_event(invoice_event(), SECRET)
    with pytest.raises(ValueError):
        verify_event(payload, header, "")
    with pytest.raises(ValueError):
        verify_event(payload, header, SECRET, max_future_skew=-1)


def test_non_event_payloads_are_rejected():
    for body in ("not json", json.dumps({"object": "v2.core.event", "id": "evt_x"}), json.dumps([1, 2])):
        payload, header = signed_event(body, SECRET)
        with pytest.raises(WebhookVerificationFailed):
            verify_event(payload, header, SECRET)


# --------------------------------------------------------------------------- billable resolution


def test_billable_org_comes_from_the_local_customer_mapping():
    calls: list[str] = []

    def lookup(customer_id):
        calls.append(customer_id)
        return {"cus_A": 10}.get(customer_id)

    event = verify_event(*signed_event(invoice_event(metadata={"org_id": "10"}), SECRET), SECRET)
    ctx = resolve_billable_org(event, lookup=lookup, expect_livemode=False)
    assert ctx == OrgContext(10, Actor("system", "stripe-webhook:evt_1"), "system", "stripe_webhook")
    assert calls == ["cus_A"]  # one lookup, by the event's customer id only
    assert resolve_billable_org(invoice_event(), lookup=lookup, expect_livemode=False).org_id == 10


def test_metadata_is_only_cross_checked():
    lookup = {"cus_A": 10}.get
    with pytest.raises(AmbiguousBillable):
        resolve_billable_org(invoice_event(metadata={"org_id": "11"}), lookup=lookup, expect_livemode=False)
    with pytest.raises(AmbiguousBillable):
        resolve_billable_org(
            invoice_event(metadata={"tenant": "11"}), lookup=lookup, metadata_key="tenant", expect_livemode=False
        )
    ctx = resolve_billable_org(invoice_event(metadata={"plan": "pro"}), lookup=lookup, expect_livemode=False)
    assert ctx.org_id == 10
    # metadata alone never resolves an org
    with pytest.raises(BillableUnresolved):
        resolve_billable_org(invoice_event(metadata={"org_id": "10"}), lookup={}.get, expect_livemode=False)


@pytest.mark.parametrize("found", [None, "", 0, False])
def test_unknown_customer_is_unresolved(found):
    with pytest.raises(BillableUnresolved):
        resolve_billable_org(invoice_event(), lookup=lambda _c: found, expect_livemode=False)


def test_livemode_mismatch_is_rejected():
    lookup = {"cus_A": 10}.get
    with pytest.raises(WebhookVerificationFailed):
        resolve_billable_org(invoice_event(livemode=True), lookup=lookup, expect_livemode=False)
    with pytest.raises(WebhookVerificationFailed):
        resolve_billable_org(invoice_event(livemode=False), lookup=lookup, expect_livemode=True)
    event = invoice_event()
    del event["livemode"]
    with pytest.raises(WebhookVerificationFailed):
        resolve_billable_org(event, lookup=lookup, expect_livemode=False)
    with pytest.raises(TypeError):
        resolve_billable_org(invoice_event(), lookup=lookup, expect_livemode="no")


def test_customer_id_of_variants():
    assert customer_id_of(invoice_event()) == "cus_A"
    assert customer_id_of(invoice_event(customer={"id": "cus_X", "object": "customer"})) == "cus_X"
    customer_event = invoice_event()
    customer_event["data"]["object"] = {"id": "cus_Z", "object": "customer"}
    assert customer_id_of(customer_event) == "cus_Z"
    for bad in (None, "", "acct_1", 5):
        with pytest.raises(BillableUnresolved):
            customer_id_of(invoice_event(customer=bad))
    with pytest.raises(BillableUnresolved):
        customer_id_of({"id": "evt", "object": "event", "data": {}})


# --------------------------------------------------------------------------- keys and metadata


def test_org_metadata():
    assert org_metadata(10) == {"org_id": "10"}
    assert org_metadata(make_ctx("org_abc")) == {"org_id": "org_abc"}
    assert org_metadata(10, key="tenant") == {"tenant": "10"}
    for bad in (None, "", 0, False):
        with pytest.raises(NoActiveOrg):
            org_metadata(bad)


def test_idempotency_key_is_deterministic_and_org_specific():
    key = idempotency_key(10, "subscription.create", "price_1")
    assert key == idempotency_key(make_ctx(10), "subscription.create", "price_1")
    assert key != idempotency_key(11, "subscription.create", "price_1")
    assert key != idempotency_key(10, "subscription.cancel", "price_1")
    assert key != idempotency_key(10, "subscription.create", "price_2")
    assert idempotency_key(10, "op", "a|b", "c") != idempotency_key(10, "op", "a", "b|c")
    assert len(key) <= 255 and key.startswith("orgguard-subscription.create-")
    code = "from orgguard.runtime.stripe import idempotency_key as k; print(k(10, 'subscription.create', 'price_1'))"
    other_process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other_process.stdout.strip() == key  # no per-process hashing
    with pytest.raises(TypeError):
        idempotency_key(10, "op", None)
    with pytest.raises(ValueError):
        idempotency_key(10, " ")
    with pytest.raises(NoActiveOrg):
        idempotency_key(None, "op")


parts = st.lists(st.one_of(st.text(max_size=8), st.integers()), max_size=3)
orgs = st.one_of(st.integers(min_value=1), st.text(min_size=1, max_size=8).filter(str.strip))


@settings(database=None)  # leave no .hypothesis/ directory behind
@given(org_a=orgs, org_b=orgs, parts_a=parts, parts_b=parts)
def test_idempotency_keys_collide_only_for_equal_inputs(org_a, org_b, parts_a, parts_b):
    key_a = idempotency_key(org_a, "op", *parts_a)
    key_b = idempotency_key(org_b, "op", *parts_b)
    same = str(org_a) == str(org_b) and [str(p) for p in parts_a] == [str(p) for p in parts_b]
    assert (key_a == key_b) == same


# --------------------------------------------------------------------------- billing through a real StripeClient


class RecordingHTTPClient(stripe.HTTPClient):
    """A stripe.HTTPClient that answers locally and records every request (no network)."""

    name = "orgguard-test"

    def __init__(self, **overrides: Any) -> None:
        super().__init__()
        self.requests: list[dict[str, Any]] = []
        self.overrides = overrides

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        if isinstance(post_data, bytes):
            post_data = post_data.decode()
        form = {k: v[0] for k, v in parse_qs(post_data or "").items()}
        self.requests.append({"method": method, "url": url, "headers": dict(headers or {}), "form": form})
        path = urlsplit(url).path
        if method == "post" and path == "/v1/customers":
            body = {"id": "cus_NEW", "object": "customer", "metadata": _metadata(form)}
            body.update(self.overrides.get("customer", {}))
        elif method == "post" and path == "/v1/subscriptions":
            body = {
                "id": "sub_1",
                "object": "subscription",
                "customer": form.get("customer"),
                "status": "active",
                "metadata": _metadata(form),
            }
            body.update(self.overrides.get("subscription", {}))
        elif method == "delete" and path.startswith("/v1/subscriptions/"):
            body = {"id": path.rsplit("/", 1)[-1], "object": "subscription", "status": "canceled", "metadata": {}}
        else:
            return json.dumps({"error": {"message": f"unexpected {method} {path}"}}), 404, {}
        return json.dumps(body), 200, {"Request-Id": "req_test"}

    def request_stream(self, method, url, headers, post_data=None, *, _usage=None):
        raise AssertionError("no streaming requests expected")

    def close(self):
        pass


def _metadata(form: dict[str, str]) -> dict[str, str]:
    return {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")}


class MemoryStore:
    def __init__(self) -> None:
        self.customers: dict[object, str] = {}
        self.subscriptions: dict[object, str] = {}

    def customer_id(self, org_id):
        return self.customers.get(org_id)

    def save_customer_id(self, org_id, customer_id):
        self.customers[org_id] = customer_id

    def subscription_id(self, org_id):
        return self.subscriptions.get(org_id)

    def save_subscription_id(self, org_id, subscription_id):
        self.subscriptions[org_id] = subscription_id


def make_client(**overrides: Any) -> tuple[stripe.StripeClient, RecordingHTTPClient]:
    http = RecordingHTTPClient(**overrides)
    return stripe.StripeClient("sk_test_orgguard", http_client=http, max_network_retries=0), http


def test_customer_for_creates_once_with_org_metadata_and_idempotency_key():
    client, http = make_client()
    store = MemoryStore()
    ctx = make_ctx(10, role="owner")
    assert customer_for(ctx, client=client, store=store) == "cus_NEW"
    assert customer_for(ctx, client=client, store=store) == "cus_NEW"  # from the store
    assert len(http.requests) == 1
    sent = http.requests[0]
    assert sent["method"] == "post" and urlsplit(sent["url"]).netloc == "api.stripe.com"
    assert sent["form"]["metadata[org_id]"] == "10"
    assert sent["headers"]["Idempotency-Key"] == idempotency_key(10, "customer.create")
    assert store.customers == {10: "cus_NEW"}


def test_customer_params_cannot_override_the_org():
    client, http = make_client()
    ctx = make_ctx(10)
    with pytest.raises(CrossOrgAccess):
        customer_for(ctx, client=client, store=MemoryStore(), params={"metadata": {"org_id": "11"}})
    customer_for(ctx, client=client, store=MemoryStore(), params={"email": "a@b.c", "metadata": {"plan": "pro"}})
    form = http.requests[-1]["form"]
    assert form["email"] == "a@b.c" and form["metadata[plan]"] == "pro" and form["metadata[org_id]"] == "10"


def test_subscribe_requires_policy_and_tags_everything():
    client, http = make_client()
    store = MemoryStore()
    policy = RolePolicy()
    with pytest.raises(PolicyDenied):
        subscribe(make_ctx(10, role="member"), "price_pro", client=client, store=store, policy=policy)
    assert http.requests == []  # denied before any Stripe call
    owner = make_ctx(10, role="owner")
    subscription = subscribe(owner, "price_pro", client=client, store=store, policy=policy)
    assert subscription.id == "sub_1" and store.subscriptions == {10: "sub_1"}
    create_customer, create_subscription = http.requests
    assert create_customer["form"]["metadata[org_id]"] == "10"
    assert create_subscription["form"]["customer"] == "cus_NEW"
    assert create_subscription["form"]["items[0][price]"] == "price_pro"
    assert create_subscription["form"]["metadata[org_id]"] == "10"
    expected_key = idempotency_key(10, "subscription.create", "price_pro")
    assert create_subscription["headers"]["Idempotency-Key"] == expected_key
    subscribe(owner, "price_pro", client=client, store=store, policy=policy)  # a retry
    assert http.requests[-1]["headers"]["Idempotency-Key"] == expected_key
    subscribe(owner, "price_pro", client=client, store=store, policy=policy, key_parts=[2])
    assert http.requests[-1]["headers"]["Idempotency-Key"] != expected_key


def test_cancel_uses_the_stored_subscription():
    client, http = make_client()
    store = MemoryStore()
    policy = RolePolicy(roles={"owner"})
    with pytest.raises(BillableUnresolved):
        cancel(make_ctx(10, role="owner"), client=client, store=store, policy=policy)
    store.save_subscription_id(10, "sub_1")
    with pytest.raises(PolicyDenied):
        cancel(make_ctx(10, role="billing_admin"), client=client, store=store, policy=policy)
    assert cancel(make_ctx(10, role="owner"), client=client, store=store, policy=policy).status == "canceled"
    (request,) = http.requests
    assert request["method"] == "delete" and urlsplit(request["url"]).path == "/v1/subscriptions/sub_1"
    assert request["headers"]["Idempotency-Key"] == idempotency_key(10, "subscription.cancel", "sub_1")


def test_billing_refuses_raw_ids_and_foreign_echoes():
    client, _ = make_client()
    with pytest.raises(TypeError):
        customer_for(10, client=client, store=MemoryStore())
    with pytest.raises(TypeError):
        subscribe("10", "price_pro", client=client, store=MemoryStore(), policy=RolePolicy())
    tagged_elsewhere, _ = make_client(customer={"metadata": {"org_id": "99"}})
    with pytest.raises(AmbiguousBillable):
        customer_for(make_ctx(10), client=tagged_elsewhere, store=MemoryStore())
    other_customer, _ = make_client(subscription={"customer": "cus_OTHER"})
    with pytest.raises(CrossOrgAccess):
        subscribe(
            make_ctx(10, role="owner"), "price_pro", client=other_customer, store=MemoryStore(), policy=RolePolicy()
        )
