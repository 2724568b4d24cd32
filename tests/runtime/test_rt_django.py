"""orgguard.runtime.django against a real PostgreSQL database and Django's test client."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from rt_support import make_ctx

from orgguard.runtime import (
    CrossOrgAccess,
    NotAMember,
    UnscopedQuery,
    bind,
    current_org,
    run_with_org,
)

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("django_db")]

N_ORGS = 200
INVOICES_PER_ORG = 2


@pytest.fixture(scope="module")
def world(django_db):
    """200 orgs with two invoices each, a project and a task each; two users with memberships."""
    from django.contrib.auth.models import User
    from django.db import connections
    from rt_djapp.models import Invoice, Membership, Organization, Project, Task

    orgs = Organization.objects.bulk_create([Organization(name=f"org-{i}") for i in range(N_ORGS)])
    for org in orgs:
        ctx = make_ctx(org.pk)
        Invoice.objects.for_org(ctx).bulk_create(
            [Invoice(number=f"{org.pk}-{n}", amount=10 * (n + 1)) for n in range(INVOICES_PER_ORG)]
        )
        Project.objects.for_org(ctx).create(name=f"p-{org.pk}")
        Task.objects.for_org(ctx).create(title=f"t-{org.pk}")
    alice = User.objects.create_user("alice", password="pw")
    bob = User.objects.create_user("bob", password="pw")
    Membership.objects.create(user=alice, organization=orgs[0], role="owner")
    Membership.objects.create(user=alice, organization=orgs[1], role="member")
    Membership.objects.create(user=bob, organization=orgs[2], role="member")
    yield {"orgs": orgs, "alice": alice, "bob": bob}
    connections.close_all()


def _invoice_model():
    from rt_djapp.models import Invoice

    return Invoice


# --------------------------------------------------------------------------- fail-closed terminals


def _terminals() -> dict[str, Callable[[Any], Any]]:
    from django.db.models import Sum
    from rt_djapp.models import Invoice, Organization

    def make(org):
        return Invoice(organization=org, number="x")

    return {
        "iteration": lambda w: list(Invoice.objects.all()),
        "len": lambda w: len(Invoice.objects.filter(amount__gt=0)),
        "bool": lambda w: bool(Invoice.objects.all()),
        "index": lambda w: Invoice.objects.all()[0],
        "get": lambda w: Invoice.objects.get(number=f"{w['orgs'][0].pk}-0"),
        "count": lambda w: Invoice.objects.count(),
        "exists": lambda w: Invoice.objects.exists(),
        "explain": lambda w: Invoice.objects.explain(),
        "raw": lambda w: list(Invoice.objects.raw("SELECT * FROM rt_djapp_invoice")),
        "create": lambda w: Invoice.objects.create(organization=w["orgs"][0], number="new"),
        "bulk_create": lambda w: Invoice.objects.bulk_create([make(w["orgs"][0])]),
        "bulk_update": lambda w: Invoice.objects.bulk_update([make(w["orgs"][0])], ["amount"]),
        "get_or_create": lambda w: Invoice.objects.get_or_create(organization=w["orgs"][0], number="g"),
        "update_or_create": lambda w: Invoice.objects.update_or_create(organization=w["orgs"][0], number="u"),
        "update": lambda w: Invoice.objects.update(amount=0),
        "filtered update": lambda w: Invoice.objects.filter(amount=10).update(amount=0),
        "delete": lambda w: Invoice.objects.all().delete(),
        "values": lambda w: list(Invoice.objects.values("number")),
        "values_list": lambda w: list(Invoice.objects.values_list("number", flat=True)),
        "aggregate": lambda w: Invoice.objects.aggregate(total=Sum("amount")),
        "annotate": lambda w: list(Invoice.objects.annotate(total=Sum("amount"))),
        "first": lambda w: Invoice.objects.first(),
        "last": lambda w: Invoice.objects.last(),
        "latest": lambda w: Invoice.objects.latest("id"),
        "earliest": lambda w: Invoice.objects.earliest("id"),
        "in_bulk": lambda w: Invoice.objects.in_bulk([1, 2]),
        "iterator": lambda w: list(Invoice.objects.iterator()),
        "dates": lambda w: list(Invoice.objects.dates("issued", "year")),
        "contains": lambda w: Invoice.objects.all().contains(Invoice(pk=1)),
        "union": lambda w: list(Invoice.objects.none().union(Invoice.objects.none())),
        "select_for_update": lambda w: list(Invoice.objects.select_for_update()),
        "subquery": lambda w: list(Organization.objects.filter(pk__in=Invoice.objects.values("organization_id"))),
        "related manager": lambda w: list(w["orgs"][0].invoices.all()),
        "related count": lambda w: w["orgs"][0].invoices.count(),
        "acount": lambda w: asyncio.run(Invoice.objects.acount()),
        "aget": lambda w: asyncio.run(Invoice.objects.aget(pk=1)),
    }


TERMINALS = sorted(
    [
        "iteration", "len", "bool", "index", "get", "count", "exists", "explain", "raw", "create",
        "bulk_create", "bulk_update", "get_or_create", "update_or_create", "update", "filtered update",
        "delete", "values", "values_list", "aggregate", "annotate", "first", "last", "latest", "earliest",
        "in_bulk", "iterator", "dates", "contains", "union", "select_for_update", "subquery",
        "related manager", "related count", "acount", "aget",
    ]
)  # fmt: skip


def test_terminal_list_is_complete():
    assert sorted(_terminals()) == TERMINALS


@pytest.mark.parametrize("terminal", TERMINALS)
def test_every_terminal_raises_without_an_org(world, terminal):
    from rt_djapp.models import Invoice

    before = Invoice.objects.unscoped(reason="test bookkeeping").count()
    with pytest.raises(UnscopedQuery):
        _terminals()[terminal](world)
    assert Invoice.objects.unscoped(reason="test bookkeeping").count() == before


def test_building_a_queryset_is_fine_evaluating_it_is_not(world):
    qs = _invoice_model().objects.filter(amount__gt=0).order_by("number")[:5]
    with pytest.raises(UnscopedQuery):
        list(qs)


def test_querysets_are_scoped_to_the_bound_org(world):
    from rt_djapp.models import Invoice

    org = world["orgs"][3]
    with bind(make_ctx(org.pk)):
        assert Invoice.objects.count() == INVOICES_PER_ORG
        assert {i.organization_id for i in Invoice.objects.all()} == {org.pk}
        assert sorted(Invoice.objects.values_list("number", flat=True)) == [f"{org.pk}-0", f"{org.pk}-1"]
        assert Invoice.objects.exists()
        assert Invoice.objects.get(number=f"{org.pk}-0").organization_id == org.pk
        with pytest.raises(Invoice.DoesNotExist):
            Invoice.objects.get(number=f"{world['orgs'][4].pk}-0")  # another org's row is invisible
        assert list(org.invoices.order_by("number").values_list("number", flat=True)) == [
            f"{org.pk}-0",
            f"{org.pk}-1",
        ]
        assert list(world["orgs"][4].invoices.all()) == []  # related manager is org-scoped too
        explain = Invoice.objects.explain()
        assert "organization_id" in explain


def test_custom_org_field_via_manager_argument_and_as_manager(world):
    from rt_djapp.models import Project, Task

    org = world["orgs"][5]
    with bind(make_ctx(org.pk)):
        assert [p.workspace_id for p in Project.objects.active()] == [org.pk]
        assert [t.team_id for t in Task.objects.all()] == [org.pk]
    with pytest.raises(UnscopedQuery):
        Project.objects.active().count()
    with pytest.raises(UnscopedQuery):
        Task.objects.count()


def test_queryset_built_unbound_adopts_the_org_when_chained(world):
    """DRF-style: `queryset = Invoice.objects.all()` at import time, `.all()` per request."""
    from rt_djapp.models import Invoice

    class_level = Invoice.objects.all()
    org = world["orgs"][6]
    with bind(make_ctx(org.pk)):
        assert {i.organization_id for i in class_level.all()} == {org.pk}
        with pytest.raises(UnscopedQuery):
            list(class_level)  # the unscoped queryset itself still refuses


def test_for_org(world):
    from rt_djapp.models import Invoice

    a, b = world["orgs"][7], world["orgs"][8]
    assert {i.organization_id for i in Invoice.objects.for_org(make_ctx(a.pk))} == {a.pk}
    with bind(make_ctx(b.pk)):
        # explicit scoping wins over the ambient org, and is not mixed with it
        assert Invoice.objects.for_org(make_ctx(a.pk)).count() == INVOICES_PER_ORG
        scoped_b = Invoice.objects.filter(amount__gt=0)
        with pytest.raises(CrossOrgAccess):
            scoped_b.for_org(make_ctx(a.pk))
        assert scoped_b.for_org(make_ctx(b.pk)).count() == INVOICES_PER_ORG
    assert a.invoices.for_org(make_ctx(a.pk)).count() == INVOICES_PER_ORG
    assert b.invoices.for_org(make_ctx(a.pk)).count() == 0  # relation filter kept
    with pytest.raises(TypeError):
        Invoice.objects.for_org(a.pk)


def test_unscoped_requires_a_reason_and_is_audited(world, caplog):
    from rt_djapp.models import Invoice

    with pytest.raises(TypeError):
        Invoice.objects.unscoped()
    for reason in ("", "   "):
        with pytest.raises(ValueError):
            Invoice.objects.unscoped(reason=reason)
    with caplog.at_level(logging.WARNING, logger="orgguard.audit"):
        assert Invoice.objects.unscoped(reason="SUP-42 revenue report").count() >= N_ORGS * INVOICES_PER_ORG
    records = [r for r in caplog.records if r.name == "orgguard.audit"]
    assert records and records[-1].orgguard["reason"] == "SUP-42 revenue report"
    assert records[-1].orgguard["model"] == "rt_djapp.Invoice"
    with bind(make_ctx(world["orgs"][0].pk)):
        assert Invoice.objects.unscoped(reason="staff report").count() >= N_ORGS * INVOICES_PER_ORG
        with pytest.raises(ValueError):
            Invoice.objects.all().unscoped(reason="already scoped")


def test_scoped_writes_fill_and_check_the_org(world):
    from django.db.models import F
    from rt_djapp.models import Invoice, Organization

    org = Organization.objects.create(name="writes")
    other = world["orgs"][9]
    with bind(make_ctx(org.pk)):
        created = Invoice.objects.create(number="w-1", amount=5)
        assert created.organization_id == org.pk
        Invoice.objects.bulk_create([Invoice(number="w-2"), Invoice(number="w-3", organization=org)])
        assert Invoice.objects.count() == 3
        with pytest.raises(CrossOrgAccess):
            Invoice.objects.create(number="x", organization=other)
        with pytest.raises(CrossOrgAccess):
            Invoice.objects.create(number="x", organization_id=other.pk)
        with pytest.raises(CrossOrgAccess):
            Invoice.objects.bulk_create([Invoice(number="x", organization=other)])
        with pytest.raises(CrossOrgAccess):
            Invoice.objects.update(organization=other)
        with pytest.raises(CrossOrgAccess):
            Invoice.objects.update(organization_id=F("organization_id") + 1)
        foreign = Invoice.objects.for_org(make_ctx(other.pk)).first()
        with pytest.raises(CrossOrgAccess):
            Invoice.objects.bulk_update([foreign], ["amount"])
        obj, made = Invoice.objects.get_or_create(number="w-4")
        assert made and obj.organization_id == org.pk
        assert Invoice.objects.update(amount=7) == 4
        assert Invoice.objects.filter(number="w-1").delete()[0] == 1
        assert Invoice.objects.count() == 3
    # the other org's rows were untouched by all of this
    other_rows = Invoice.objects.for_org(make_ctx(other.pk))
    assert other_rows.count() == INVOICES_PER_ORG
    assert sorted(other_rows.values_list("amount", flat=True)) == [10, 20]
    org.delete()  # cascades through Django's own base manager


def test_raw_rows_are_checked_against_the_org(world):
    from rt_djapp.models import Invoice

    org = world["orgs"][10]
    with bind(make_ctx(org.pk)):
        own = list(Invoice.objects.raw("SELECT * FROM rt_djapp_invoice WHERE organization_id = %s", [org.pk]))
        assert len(own) == INVOICES_PER_ORG
        with pytest.raises(CrossOrgAccess):
            list(Invoice.objects.raw("SELECT * FROM rt_djapp_invoice ORDER BY id"))
    rows = list(Invoice.objects.unscoped(reason="migration check").raw("SELECT * FROM rt_djapp_invoice"))
    assert len(rows) >= N_ORGS * INVOICES_PER_ORG


# --------------------------------------------------------------------------- concurrency


def test_50_threads_each_see_only_their_own_org(world):
    from django.db import connections
    from django.db.models import Sum
    from rt_djapp.models import Invoice

    orgs = world["orgs"][:50]
    barrier = threading.Barrier(len(orgs), timeout=60)

    def work(expected: int) -> tuple[int, set[int], int, int]:
        try:
            barrier.wait()
            seen = {i.organization_id for i in Invoice.objects.all()}
            count = Invoice.objects.count()
            total = Invoice.objects.aggregate(total=Sum("amount"))["total"]
            assert current_org().org_id == expected
            return expected, seen, count, total
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(orgs)) as pool:
        futures = [pool.submit(run_with_org, make_ctx(org.pk), work, org.pk) for org in orgs]
        results = [f.result(timeout=120) for f in futures]
    for expected, seen, count, total in results:
        assert seen == {expected}
        assert count == INVOICES_PER_ORG
        assert total == 30
    with pytest.raises(UnscopedQuery):  # nothing leaked back into this thread
        Invoice.objects.count()


def test_200_asyncio_tasks_each_see_only_their_own_org(world):
    from asgiref.sync import sync_to_async
    from django.db import connections
    from rt_djapp.models import Invoice

    orgs = world["orgs"][:N_ORGS]

    async def task(org_pk: int) -> tuple[int, set[int], int, list[str]]:
        with bind(make_ctx(org_pk)):
            await asyncio.sleep(0)
            seen = {i.organization_id async for i in Invoice.objects.all()}
            await asyncio.sleep(0)
            count = await Invoice.objects.acount()
            # the ContextVar also travels into sync code run by asgiref's thread
            numbers = await sync_to_async(lambda: sorted(Invoice.objects.values_list("number", flat=True)))()
            return org_pk, seen, count, numbers

    async def main() -> list[tuple[int, set[int], int, list[str]]]:
        try:
            return await asyncio.gather(*(task(org.pk) for org in orgs))
        finally:
            await sync_to_async(connections.close_all)()

    results = asyncio.run(main())
    assert len(results) == N_ORGS
    for org_pk, seen, count, numbers in results:
        assert seen == {org_pk}
        assert count == INVOICES_PER_ORG
        assert numbers == [f"{org_pk}-0", f"{org_pk}-1"]


# --------------------------------------------------------------------------- HTTP: middleware and views


@pytest.fixture
def client(world):
    from django.test import Client

    return Client()


def _login(client, user, org=None):
    client.force_login(user)
    if org is not None:
        _set_session_org(client, org.pk)


def _set_session_org(client, org_pk):
    session = client.session
    session["orgguard.active_org_id"] = org_pk
    session.save()


def test_view_sees_only_the_session_org_after_membership_check(client, world):
    alice, orgs = world["alice"], world["orgs"]
    _login(client, alice, orgs[0])
    body = client.get("/invoices/").json()
    assert body == {"org": orgs[0].pk, "role": "owner", "numbers": [f"{orgs[0].pk}-0", f"{orgs[0].pk}-1"]}
    assert client.get("/invoices/count/").json() == {"org": orgs[0].pk, "count": INVOICES_PER_ORG}
    assert client.get("/invoices/total/").json() == {"total": 30}


def test_switch_org_rechecks_membership(client, world):
    alice, orgs = world["alice"], world["orgs"]
    _login(client, alice)
    assert client.get("/invoices/").status_code == 403  # no active org yet
    assert client.get(f"/switch/{orgs[1].pk}/").json() == {"org": orgs[1].pk}
    assert client.get("/invoices/").json()["role"] == "member"
    denied = client.get(f"/switch/{orgs[2].pk}/")  # bob's org
    missing = client.get("/switch/99999999/")
    garbage = client.get("/switch-raw/not-an-id/")
    for response in (denied, missing, garbage):
        assert response.status_code == 403
        assert response.content == denied.content
        assert response["Content-Type"] == denied["Content-Type"]
    assert client.get("/invoices/").json()["org"] == orgs[1].pk  # failed switches changed nothing


def test_revoked_membership_takes_effect_on_the_next_request(client, world):
    from django.contrib.auth.models import User
    from rt_djapp.models import Membership

    carol = User.objects.create_user("carol", password="pw")
    org = world["orgs"][11]
    membership = Membership.objects.create(user=carol, organization=org, role="member")
    _login(client, carol, org)
    assert client.get("/invoices/").status_code == 200
    membership.delete()
    stale = client.get("/invoices/")
    assert stale.status_code == 403
    assert stale.content == b"Forbidden"
    assert client.get("/invoices/total/").status_code == 403


def test_session_org_of_another_tenant_is_refused(client, world):
    bob, orgs = world["bob"], world["orgs"]
    _login(client, bob, orgs[0])  # tampered/stale session pointing at alice's org
    forbidden_existing = client.get("/invoices/")
    _set_session_org(client, 987654321)
    forbidden_missing = client.get("/invoices/")
    assert forbidden_existing.status_code == forbidden_missing.status_code == 403
    assert forbidden_existing.content == forbidden_missing.content


def test_anonymous_requests_are_refused(client, world):
    assert client.get("/invoices/").status_code == 403


def test_unguarded_view_cannot_query_without_an_org(client, world):
    from django.test import Client

    raising = Client(raise_request_exception=True)
    with pytest.raises(UnscopedQuery):
        raising.get("/unguarded/")
    _login(client, world["alice"], world["orgs"][0])
    assert client.get("/unguarded/").json() == {"count": INVOICES_PER_ORG}


def test_not_a_member_raised_by_a_view_becomes_the_uniform_403(world):
    from django.test import RequestFactory

    from orgguard.runtime.django import ActiveOrgMiddleware

    def view(request):
        raise NotAMember("nope")

    middleware = ActiveOrgMiddleware(view)
    request = RequestFactory().get("/")
    response = middleware.process_exception(request, NotAMember("nope"))
    assert response is not None and response.status_code == 403 and response.content == b"Forbidden"
    assert middleware.process_exception(request, ValueError("x")) is None
