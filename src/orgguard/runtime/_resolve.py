"""Resolving the active organization from the session, and audited staff overrides."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeAlias

from orgguard.runtime import audit
from orgguard.runtime._context import Actor, OrgContext, OrgId, bind, check_org_id
from orgguard.runtime.errors import ActorRequired, NoActiveOrg, NotAMember

__all__ = [
    "SESSION_ORG_KEY",
    "AsyncMembershipCheck",
    "MembershipCheck",
    "MembershipResult",
    "SessionLike",
    "aresolve_active_org",
    "resolve_active_org",
    "staff_override",
]

SESSION_ORG_KEY = "orgguard.active_org_id"
"""Session key under which the active organization's id is stored."""

MembershipResult: TypeAlias = str | bool | None
"""What a membership check returns: the role name (or ``True`` for a plain member) when
``user`` belongs to the org; ``None``/``False``/``""`` when not, or when the org does not exist."""

MembershipCheck: TypeAlias = Callable[[Any, OrgId], MembershipResult]
"""``membership(user, org_id)``: look up the user's membership in the org, *every time*.

It must answer the same way (``None``) for "not a member" and "no such org"."""

AsyncMembershipCheck: TypeAlias = Callable[[Any, OrgId], Awaitable[MembershipResult] | MembershipResult]
"""Like :data:`MembershipCheck`, but may return an awaitable (for async database drivers)."""


class SessionLike(Protocol):
    """The part of a session mapping used here (Django, Flask and Starlette sessions all fit)."""

    def get(self, key: str, /) -> Any:
        """Return the value stored under ``key``, or None."""

    def __setitem__(self, key: str, value: Any, /) -> None:
        """Store ``value`` under ``key``."""


def _role_from(result: object) -> str:
    if result is True:
        return "member"
    if isinstance(result, str) and result.strip():
        return result.strip()
    if result is None or result is False or isinstance(result, str):
        raise NotAMember("not a member of the requested organization")
    raise TypeError(f"a membership check must return a role (str), True, False or None, not {type(result).__name__}")


def _org_from_session(session: SessionLike, key: str) -> OrgId:
    raw = session.get(key)
    if raw is None:
        raise NoActiveOrg("the session holds no active organization")
    try:
        return check_org_id(raw)
    except TypeError as exc:
        raise NoActiveOrg(f"the session's active organization is not an org id: {exc}") from None


def _switch_target(switch_to: object) -> OrgId:
    try:
        return check_org_id(switch_to)
    except TypeError:
        # An unusable id from the request is answered like any other non-membership.
        raise NotAMember("not a member of the requested organization") from None


def resolve_active_org(
    session: SessionLike,
    user: object,
    *,
    membership: MembershipCheck,
    switch_to: OrgId | None = None,
    session_key: str = SESSION_ORG_KEY,
) -> OrgContext:
    """Return the membership-verified :class:`OrgContext` for this request.

    The organization id is read from ``session`` only (never from query parameters,
    headers or the URL), and ``membership(user, org_id)`` is called on *every* call, so a
    revoked membership takes effect on the next request instead of living on in the
    session.

    With ``switch_to``, membership in that org is checked first; only then is the
    session updated and the new context returned.  A failed switch leaves the
    session untouched.

    Raises :class:`ActorRequired` for ``None``/anonymous users, :class:`NoActiveOrg` when
    the session holds no org, and :class:`NotAMember` when the check fails, whether the
    org exists or not.
    """
    actor = audit.actor_for(user)
    if switch_to is not None:
        org_id = _switch_target(switch_to)
        role = _role_from(membership(user, org_id))
        session[session_key] = org_id
        return OrgContext(org_id, actor, role, "session")
    org_id = _org_from_session(session, session_key)
    role = _role_from(membership(user, org_id))
    return OrgContext(org_id, actor, role, "session")


async def aresolve_active_org(
    session: SessionLike,
    user: object,
    *,
    membership: AsyncMembershipCheck,
    switch_to: OrgId | None = None,
    session_key: str = SESSION_ORG_KEY,
) -> OrgContext:
    """Async twin of :func:`resolve_active_org`; ``membership`` may return an awaitable."""
    actor = audit.actor_for(user)

    async def check(org_id: OrgId) -> str:
        result = membership(user, org_id)
        if inspect.isawaitable(result):
            result = await result
        return _role_from(result)

    if switch_to is not None:
        org_id = _switch_target(switch_to)
        role = await check(org_id)
        session[session_key] = org_id
        return OrgContext(org_id, actor, role, "session")
    org_id = _org_from_session(session, session_key)
    role = await check(org_id)
    return OrgContext(org_id, actor, role, "session")


@contextmanager
def staff_override(ctx: OrgContext, *, actor: Actor, reason: str) -> Iterator[OrgContext]:
    """Act in ``ctx``'s organization as a staff ``actor`` who is not a member of it.

    This is the only sanctioned way around the membership requirement.  It needs the
    real staff principal and a human-readable ``reason`` (a ticket, an incident); an
    empty reason raises :class:`ValueError`, a missing actor :class:`ActorRequired`.
    Entering and leaving are both recorded through :func:`orgguard.runtime.audit.emit`
    (the ``orgguard.audit`` logger and the ``"orgguard.audit"`` :func:`sys.audit` event).

    The overriding context (same org, ``actor``, role and source ``"staff_override"``)
    is bound for the block and yielded::

        with staff_override(target, actor=actor_for(request.user), reason="SUP-1234") as ctx:
            refund_last_invoice(ctx)
    """
    if not isinstance(ctx, OrgContext):
        raise TypeError(f"staff_override() needs an OrgContext, not {type(ctx).__name__}")
    if not isinstance(actor, Actor):
        raise ActorRequired("staff_override() needs the real staff Actor (see audit.actor_for)")
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("staff_override() needs a non-empty reason")
    override = OrgContext(ctx.org_id, actor, "staff_override", "staff_override")
    audit.emit(
        "orgguard.staff_override",
        phase="begin",
        org_id=ctx.org_id,
        actor=str(actor),
        on_behalf_of=str(ctx.actor),
        reason=reason.strip(),
    )
    try:
        with bind(override):
            yield override
    finally:
        audit.emit(
            "orgguard.staff_override",
            phase="end",
            org_id=ctx.org_id,
            actor=str(actor),
            reason=reason.strip(),
        )
