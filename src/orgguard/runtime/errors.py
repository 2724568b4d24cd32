"""Exceptions raised by :mod:`orgguard.runtime`.

Every helper in the runtime library fails closed: when it cannot prove that an
operation is scoped to one membership-verified organization, it raises one of
these instead of widening the operation.  All of them derive from
:class:`OrgGuardError`, so a host app can map the whole family to one response.
"""

from __future__ import annotations

__all__ = [
    "ActorRequired",
    "AmbiguousBillable",
    "BillableUnresolved",
    "CrossOrgAccess",
    "NoActiveOrg",
    "NotAMember",
    "OrgGuardError",
    "PolicyDenied",
    "UnscopedQuery",
    "WebhookVerificationFailed",
]


class OrgGuardError(Exception):
    """Base class of every error raised by :mod:`orgguard.runtime`."""


class NoActiveOrg(OrgGuardError):
    """No organization is bound, or the value offered as an organization is empty.

    Raised by :func:`orgguard.runtime.current_org` outside :func:`orgguard.runtime.bind`,
    by :func:`orgguard.runtime.require_org` for ``None``/``""``/``0``/``[]``/``False``,
    and by :func:`orgguard.runtime.resolve_active_org` when the session holds no org.
    """


class NotAMember(OrgGuardError, PermissionError):
    """The principal is not (or is no longer) a member of the requested organization.

    Deliberately says nothing about whether the organization exists: callers must
    answer a non-member and a nonexistent organization identically.
    """


class CrossOrgAccess(OrgGuardError):
    """An object, row, write or event belongs to another organization than the bound one."""


class UnscopedQuery(OrgGuardError):
    """A query on a tenant-owned model would run without an organization predicate."""


class ActorRequired(OrgGuardError):
    """An audited operation has no real principal (anonymous user, ``None``, or a placeholder name)."""


class WebhookVerificationFailed(OrgGuardError):
    """A webhook failed signature, timestamp or mode verification and must not be processed."""


class BillableUnresolved(OrgGuardError):
    """A billing event cannot be attributed to a local organization."""


class AmbiguousBillable(OrgGuardError):
    """A billing event names conflicting organizations (local mapping and metadata disagree)."""


class PolicyDenied(OrgGuardError, PermissionError):
    """A billing policy hook refused the operation for this organization context."""
