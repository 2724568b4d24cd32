"""The framework-agnostic core of orgguard.runtime: contexts, binding, resolution, audit."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rt_support import make_ctx

import orgguard.runtime as runtime
from orgguard.runtime import (
    SESSION_ORG_KEY,
    Actor,
    ActorRequired,
    CrossOrgAccess,
    NoActiveOrg,
    NotAMember,
    OrgContext,
    OrgGuardError,
    UnscopedQuery,
    aresolve_active_org,
    bind,
    current_org,
    require_org,
    resolve_active_org,
    run_with_org,
    staff_override,
)
from orgguard.runtime import errors as errors_module
from orgguard.runtime.audit import AUDIT_EVENT, actor_for, system_actor

# --------------------------------------------------------------------------- import hygiene


def test_importing_the_core_pulls_in_no_framework_and_no_libcst():
    src = Path(runtime.__file__).resolve().parents[2]
    code = (
        "import sys, orgguard.runtime, orgguard.runtime.audit, orgguard.runtime.exports, "
        "orgguard.runtime.jobs, orgguard.runtime.errors\n"
        "bad = [m for m in ('libcst', 'django', 'flask', 'fastapi', 'starlette', 'sqlalchemy', 'stripe',"
        " 'psycopg', 'werkzeug') if m in sys.modules]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "[]"


def test_public_api_names():
    for name in (
        "OrgContext", "Actor", "resolve_active_org", "bind", "current_org", "require_org",
        "run_with_org", "staff_override",
    ):  # fmt: skip
        assert name in runtime.__all__ and callable(getattr(runtime, name))
    for name in (
        "NoActiveOrg", "NotAMember", "CrossOrgAccess", "UnscopedQuery", "ActorRequired",
        "WebhookVerificationFailed", "BillableUnresolved", "AmbiguousBillable",
    ):  # fmt: skip
        assert issubclass(getattr(errors_module, name), errors_module.OrgGuardError)
    assert issubclass(NotAMember, PermissionError)


# --------------------------------------------------------------------------- OrgContext / Actor / require_org


def test_org_context_is_frozen_and_validated():
    ctx = make_ctx(7)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.org_id = 8  # type: ignore[misc]
    for bad in (None, "", "  ", 0, False, True):
        with pytest.raises(NoActiveOrg):
            OrgContext(bad, Actor("user", 1), "member", "test")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        OrgContext(1.5, Actor("user", 1), "member", "test")  # type: ignore[arg-type]
    with pytest.raises(ActorRequired):
        OrgContext(1, None, "member", "test")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        OrgContext(1, Actor("user", 1), "", "test")
    with pytest.raises(ValueError):
        OrgContext(1, Actor("user", 1), "member", " ")
    assert ctx.same_org(7) and ctx.same_org("7") and not ctx.same_org(8)
    assert not ctx.same_org(None) and not make_ctx(1).same_org(True)


def test_actor_is_validated():
    assert str(Actor("user", 5)) == "user:5"
    for kind, ident in (("", 1), ("user", ""), ("user", "  "), ("user", None), ("user", True), ("user", 1.0)):
        with pytest.raises(ActorRequired):
            Actor(kind, ident)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [None, "", "   ", [], (), {}, set(), 0, 0.0, False, True, b""])
def test_require_org_rejects_empty_values(value):
    with pytest.raises(NoActiveOrg):
        require_org(value)


@settings(database=None)  # leave no .hypothesis/ directory behind
@given(st.one_of(st.integers().filter(bool), st.text().filter(str.strip), st.lists(st.integers(), min_size=1)))
def test_require_org_returns_usable_values_unchanged(value):
    assert require_org(value) is value


# --------------------------------------------------------------------------- binding


def test_bind_and_current_org():
    with pytest.raises(NoActiveOrg):
        current_org()
    a, b = make_ctx(1), make_ctx(2)
    with bind(a) as bound:
        assert bound is a and current_org() is a
        with bind(b):
            assert current_org() is b
        assert current_org() is a
        with pytest.raises(RuntimeError), bind(b):
            raise RuntimeError("boom")
        assert current_org() is a
    with pytest.raises(NoActiveOrg):
        current_org()
    with pytest.raises(TypeError), bind(1):  # type: ignore[arg-type]
        pass


def test_threads_do_not_inherit_the_binding_but_run_with_org_passes_it():
    seen: list[object] = []

    def probe() -> None:
        try:
            seen.append(current_org().org_id)
        except NoActiveOrg as exc:
            seen.append(exc)

    with bind(make_ctx(1)):
        thread = threading.Thread(target=probe)
        thread.start()
        thread.join()
    assert isinstance(seen[0], NoActiveOrg)  # the problem run_with_org solves

    def job(tag: str, *, scale: int) -> tuple[object, str, int]:
        return current_org().org_id, tag, scale

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(run_with_org, make_ctx(i), job, f"t{i}", scale=i) for i in range(1, 41)]
        assert [f.result() for f in futures] == [(i, f"t{i}", i) for i in range(1, 41)]
    with pytest.raises(NoActiveOrg):
        current_org()  # nothing leaked into the caller
    with bind(make_ctx(9)):
        assert run_with_org(make_ctx(3), lambda: current_org().org_id) == 3
        assert current_org().org_id == 9
    with pytest.raises(TypeError):
        run_with_org(3, lambda: None)  # type: ignore[arg-type]


def test_asyncio_tasks_are_isolated():
    async def task(org: int) -> list[object]:
        with bind(make_ctx(org)):
            seen = []
            for _ in range(5):
                await asyncio.sleep(0)
                seen.append(current_org().org_id)
            return seen

    async def main() -> list[list[object]]:
        return await asyncio.gather(*(task(org) for org in range(1, 201)))

    assert asyncio.run(main()) == [[org] * 5 for org in range(1, 201)]


# --------------------------------------------------------------------------- resolve_active_org


class User:
    def __init__(self, pk: int, *, authenticated: bool = True) -> None:
        self.pk = pk
        self.is_authenticated = authenticated
        self.is_anonymous = not authenticated


class Memberships:
    def __init__(self, table: dict[tuple[int, object], object]) -> None:
        self.table = table
        self.calls: list[tuple[int, object]] = []

    def __call__(self, user: User, org_id: object) -> object:
        self.calls.append((user.pk, org_id))
        return self.table.get((user.pk, org_id))


def test_resolve_reads_the_session_and_rechecks_every_time():
    membership = Memberships({(1, 10): "owner"})
    session = {SESSION_ORG_KEY: 10}
    user = User(1)
    for _ in range(3):
        ctx = resolve_active_org(session, user, membership=membership)
        assert ctx == OrgContext(10, Actor("user", 1), "owner", "session")
    assert membership.calls == [(1, 10)] * 3
    del membership.table[(1, 10)]  # revoked
    with pytest.raises(NotAMember) as excinfo:
        resolve_active_org(session, user, membership=membership)
    assert isinstance(excinfo.value, PermissionError)


def test_resolve_failure_modes():
    membership = Memberships({(1, 10): "member"})
    with pytest.raises(NoActiveOrg):
        resolve_active_org({}, User(1), membership=membership)
    for garbage in ("", 0, [10], {"id": 10}):
        with pytest.raises(NoActiveOrg):
            resolve_active_org({SESSION_ORG_KEY: garbage}, User(1), membership=membership)
    for user in (None, User(1, authenticated=False)):
        with pytest.raises(ActorRequired):
            resolve_active_org({SESSION_ORG_KEY: 10}, user, membership=membership)
    assert membership.calls == []  # nothing was looked up for those
    with pytest.raises(NotAMember):
        resolve_active_org({SESSION_ORG_KEY: 11}, User(1), membership=membership)


@pytest.mark.parametrize(("result", "role"), [(True, "member"), ("admin", "admin"), (" owner ", "owner")])
def test_membership_results_that_grant(result, role):
    ctx = resolve_active_org({SESSION_ORG_KEY: 1}, User(1), membership=lambda u, o: result)
    assert ctx.role == role


@pytest.mark.parametrize("result", [None, False, "", "  "])
def test_membership_results_that_deny(result):
    with pytest.raises(NotAMember):
        resolve_active_org({SESSION_ORG_KEY: 1}, User(1), membership=lambda u, o: result)


@pytest.mark.parametrize("result", [1, 0, ["member"], object()])
def test_membership_results_that_are_bugs(result):
    with pytest.raises(TypeError):
        resolve_active_org({SESSION_ORG_KEY: 1}, User(1), membership=lambda u, o: result)


def test_switch_checks_before_writing_the_session():
    membership = Memberships({(1, 10): "member", (1, 11): "owner", (2, 12): "member"})
    session: dict[str, object] = {SESSION_ORG_KEY: 10}
    ctx = resolve_active_org(session, User(1), membership=membership, switch_to=11)
    assert ctx.org_id == 11 and ctx.role == "owner" and session[SESSION_ORG_KEY] == 11
    errors = []
    for target in (12, 999, "x", 1.5):  # another user's org, no such org, junk
        with pytest.raises(NotAMember) as excinfo:
            resolve_active_org(session, User(1), membership=membership, switch_to=target)
        errors.append(str(excinfo.value))
    assert len(set(errors)) == 1  # indistinguishable
    assert session[SESSION_ORG_KEY] == 11
    custom: dict[str, object] = {}
    resolve_active_org(custom, User(1), membership=membership, switch_to=10, session_key="org")
    assert custom == {"org": 10}


def test_async_resolution_with_async_and_sync_membership():
    async def async_membership(user, org_id):
        await asyncio.sleep(0)
        return "owner" if (user.pk, org_id) == (1, 10) else None

    async def main():
        ctx = await aresolve_active_org({SESSION_ORG_KEY: 10}, User(1), membership=async_membership)
        with pytest.raises(NotAMember):
            await aresolve_active_org({SESSION_ORG_KEY: 11}, User(1), membership=async_membership)
        session: dict[str, object] = {}
        switched = await aresolve_active_org(session, User(1), membership=lambda u, o: True, switch_to=5)
        return ctx, switched, session

    ctx, switched, session = asyncio.run(main())
    assert ctx.role == "owner" and switched.org_id == 5 and session == {SESSION_ORG_KEY: 5}


# --------------------------------------------------------------------------- staff_override and audit


@pytest.fixture(scope="module")
def audit_events():
    events: list[tuple[str, dict]] = []

    def hook(event: str, args: tuple) -> None:
        if event == AUDIT_EVENT:
            events.append(args)

    sys.addaudithook(hook)  # cannot be removed; it only appends to this module's list
    return events


def test_staff_override_requires_reason_and_actor(audit_events):
    target = make_ctx(10)
    staff = Actor("user", 99)
    before = len(audit_events)
    for reason in ("", "   "):
        with pytest.raises(ValueError), staff_override(target, actor=staff, reason=reason):
            pass
    with pytest.raises(TypeError):
        staff_override(target, actor=staff)  # type: ignore[call-arg]
    with pytest.raises(ActorRequired), staff_override(target, actor=None, reason="x"):  # type: ignore[arg-type]
        pass
    with pytest.raises(TypeError), staff_override(10, actor=staff, reason="x"):  # type: ignore[arg-type]
        pass
    assert len(audit_events) == before  # refused overrides leave nothing half-done


def test_staff_override_is_bound_and_audited(audit_events, caplog):
    target = make_ctx(10)
    staff = actor_for(User(99))
    before = len(audit_events)
    with caplog.at_level(logging.WARNING, logger="orgguard.audit"):
        with staff_override(target, actor=staff, reason="SUP-1234 refund") as ctx:
            assert current_org() is ctx
            assert (ctx.org_id, ctx.actor, ctx.role, ctx.source) == (10, staff, "staff_override", "staff_override")
        with pytest.raises(NoActiveOrg):
            current_org()
    events = audit_events[before:]
    assert [(name, fields["phase"]) for name, fields in events] == [
        ("orgguard.staff_override", "begin"),
        ("orgguard.staff_override", "end"),
    ]
    assert events[0][1]["reason"] == "SUP-1234 refund" and events[0][1]["actor"] == "user:99"
    assert events[0][1]["org_id"] == 10 and events[0][1]["on_behalf_of"] == "user:1"
    records = [r for r in caplog.records if r.name == "orgguard.audit"]
    assert len(records) == 2 and records[0].orgguard["reason"] == "SUP-1234 refund"
    assert "SUP-1234 refund" in records[0].getMessage()


class DjangoishAnonymous:
    pk = None
    id = None
    is_authenticated = False
    is_anonymous = True


def test_actor_for():
    assert actor_for(User(5)) == Actor("user", 5)
    assert actor_for({"id": "u_9"}) == Actor("user", "u_9")

    class FlaskUser:
        id = 3
        is_authenticated = True

    assert actor_for(FlaskUser()) == Actor("user", 3)
    for bad in (None, DjangoishAnonymous(), User(5, authenticated=False), {"id": None}, {"id": ""}, object()):
        with pytest.raises(ActorRequired):
            actor_for(bad)

    class BoolPk:
        pk = True

    with pytest.raises(ActorRequired):
        actor_for(BoolPk())


@pytest.mark.parametrize(
    "name", ["", "   ", "system", "SYSTEM", " Admin ", "superuser", "SuperUser", "root", "root\n", "administrator"]
)
def test_system_actor_rejects_placeholders(name):
    with pytest.raises(ActorRequired):
        system_actor(name)


def test_system_actor_accepts_real_job_names():
    assert system_actor(" billing.sync_invoices ") == Actor("system", "billing.sync_invoices")
    assert system_actor("stripe-webhook:evt_1").id == "stripe-webhook:evt_1"
    with pytest.raises(ActorRequired):
        system_actor(None)  # type: ignore[arg-type]


def test_every_error_is_an_orgguard_error():
    for exc in (NoActiveOrg, NotAMember, CrossOrgAccess, UnscopedQuery, ActorRequired):
        assert issubclass(exc, OrgGuardError)


_VETO: contextvars.ContextVar[bool] = contextvars.ContextVar("rt_test_veto", default=False)


def _veto_hook(event: str, args: tuple) -> None:
    if event == AUDIT_EVENT and _VETO.get():
        raise PermissionError(f"vetoed {args[0]}")


def test_an_audit_hook_can_veto_a_bypass():
    sys.addaudithook(_veto_hook)  # permanent, but inert unless _VETO is set in this context
    token = _VETO.set(True)
    try:
        with pytest.raises(PermissionError), staff_override(make_ctx(1), actor=Actor("user", 2), reason="r"):
            raise AssertionError("the override must not start")
    finally:
        _VETO.reset(token)
    with pytest.raises(NoActiveOrg):
        current_org()
