"""The framework-agnostic core: the organization context and its ContextVar binding."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ParamSpec, TypeAlias, TypeVar

from orgguard.runtime.errors import ActorRequired, NoActiveOrg

__all__ = [
    "Actor",
    "OrgContext",
    "OrgId",
    "bind",
    "current_org",
    "require_org",
    "run_with_org",
]

OrgId: TypeAlias = int | str
"""An organization primary key: an integer or a non-empty string (UUID, slug-free key...)."""

_T = TypeVar("_T")
_R = TypeVar("_R")
_P = ParamSpec("_P")

_CURRENT: contextvars.ContextVar[OrgContext | None] = contextvars.ContextVar(
    "orgguard.runtime.current_org", default=None
)


def require_org(value: _T | None) -> _T:
    """Return ``value`` if it can identify an organization, else raise :class:`NoActiveOrg`.

    Rejects ``None``, booleans (``False`` and ``True``), ``0``, empty or whitespace-only
    strings and every other falsy value (``[]``, ``{}``, ``b""``...).  Use it wherever an
    org id could otherwise silently become "no filter"::

        Invoice.objects.filter(organization_id=require_org(org_id))
    """
    if value is None:
        raise NoActiveOrg("no organization: got None")
    if isinstance(value, bool):
        raise NoActiveOrg(f"no organization: got the boolean {value!r}")
    if isinstance(value, str) and not value.strip():
        raise NoActiveOrg("no organization: got an empty string")
    if not value:
        raise NoActiveOrg(f"no organization: got the empty value {value!r}")
    return value


def check_org_id(value: object) -> OrgId:
    """Validate that ``value`` is a usable org id (int or non-empty str) and return it."""
    checked = require_org(value)
    if not isinstance(checked, (int, str)):
        raise TypeError(f"an organization id must be an int or a str, not {type(checked).__name__}")
    return checked


@dataclass(frozen=True)
class Actor:
    """The principal responsible for an operation, recorded in audit logs.

    ``kind`` is a short category (``"user"``, ``"system"``, ``"staff"``, ``"webhook"``...),
    ``id`` the principal's stable identifier.  Build one with
    :func:`orgguard.runtime.audit.actor_for` or :func:`orgguard.runtime.audit.system_actor`
    rather than by hand, so that anonymous users and placeholder names are rejected.
    """

    kind: str
    id: int | str

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind.strip():
            raise ActorRequired("an actor needs a non-empty kind")
        if isinstance(self.id, bool) or not isinstance(self.id, (int, str)):
            raise ActorRequired(f"an actor id must be an int or a str, not {type(self.id).__name__}")
        if isinstance(self.id, str) and not self.id.strip():
            raise ActorRequired("an actor needs a non-empty id")

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class OrgContext:
    """One membership-verified active organization, and who is acting in it.

    ``org_id``
        the organization's primary key;
    ``actor``
        the :class:`Actor` performing the operation;
    ``role``
        the actor's role in that organization, as reported by the membership check
        (``"member"``, ``"owner"``, ``"billing_admin"``, ``"system"``...);
    ``source``
        how the organization was established (``"session"``, ``"job"``,
        ``"stripe_webhook"``, ``"staff_override"``...), kept for audit trails.

    Instances are immutable and validated: an empty org id raises :class:`NoActiveOrg`,
    a missing actor raises :class:`ActorRequired`.  Obtain one from
    :func:`orgguard.runtime.resolve_active_org` (requests), from
    :func:`orgguard.runtime.stripe.resolve_billable_org` (webhooks) or from
    :func:`orgguard.runtime.jobs.org_job` (background jobs).
    """

    org_id: OrgId
    actor: Actor
    role: str
    source: str

    def __post_init__(self) -> None:
        check_org_id(self.org_id)
        if not isinstance(self.actor, Actor):
            raise ActorRequired(f"an OrgContext needs an Actor, not {type(self.actor).__name__}")
        if not isinstance(self.role, str) or not self.role.strip():
            raise ValueError("an OrgContext needs a non-empty role")
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError("an OrgContext needs a non-empty source")

    def same_org(self, org_id: object) -> bool:
        """Return True if ``org_id`` names this context's organization.

        Integers and their decimal string forms compare equal (``5 == "5"``), since
        org ids routinely round-trip through URLs, sessions and JSON; booleans and
        ``None`` never match.
        """
        if org_id is None or isinstance(org_id, bool):
            return False
        pk = getattr(org_id, "pk", org_id)
        if pk is None or isinstance(pk, bool):
            return False
        return str(pk) == str(self.org_id)


@contextmanager
def bind(ctx: OrgContext) -> Iterator[OrgContext]:
    """Bind ``ctx`` as the active organization for the enclosed block.

    The binding lives in a :class:`contextvars.ContextVar`, so it is private to the
    current thread or asyncio task and is restored on exit, even on error::

        with bind(ctx):
            invoices = Invoice.objects.all()   # scoped to ctx.org_id
    """
    if not isinstance(ctx, OrgContext):
        raise TypeError(f"bind() needs an OrgContext, not {type(ctx).__name__}")
    token = _CURRENT.set(ctx)
    try:
        yield ctx
    finally:
        _CURRENT.reset(token)


def current_org() -> OrgContext:
    """Return the bound :class:`OrgContext`; raise :class:`NoActiveOrg` if none is bound."""
    ctx = _CURRENT.get()
    if ctx is None:
        raise NoActiveOrg("no organization is bound to this context (use bind(), a middleware or org_job)")
    return ctx


def bound_or_none() -> OrgContext | None:
    """Return the bound context or None (internal: adapters decide how to fail)."""
    return _CURRENT.get()


def set_for_current_context(ctx: OrgContext) -> None:
    """Bind ``ctx`` for the rest of the current context (internal: per-request task contexts)."""
    _CURRENT.set(ctx)


def push_bound(ctx: OrgContext | None) -> contextvars.Token[OrgContext | None]:
    """Bind ``ctx`` (or explicitly nothing) until :func:`pop_bound` (internal: framework hooks)."""
    return _CURRENT.set(ctx)


def pop_bound(token: contextvars.Token[OrgContext | None]) -> None:
    """Undo :func:`push_bound`; if the hook runs in another context, just clear the binding there."""
    try:
        _CURRENT.reset(token)
    except ValueError:
        _CURRENT.set(None)


def _call_bound(ctx: OrgContext, fn: Callable[..., _R], args: tuple[object, ...], kwargs: dict[str, object]) -> _R:
    _CURRENT.set(ctx)
    return fn(*args, **kwargs)


def run_with_org(ctx: OrgContext, fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """Call ``fn(*args, **kwargs)`` in a copy of the current context with ``ctx`` bound.

    Threads, executors and job runners do not inherit ContextVars; pass the context
    explicitly instead of hoping it is there::

        executor.submit(run_with_org, ctx, rebuild_report, report_id)

    The binding never leaks back into the caller's context.
    """
    if not isinstance(ctx, OrgContext):
        raise TypeError(f"run_with_org() needs an OrgContext, not {type(ctx).__name__}")
    context = contextvars.copy_context()
    return context.run(_call_bound, ctx, fn, args, dict(kwargs))
