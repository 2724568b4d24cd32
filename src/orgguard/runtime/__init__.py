"""orgguard.runtime: fail-closed helpers for tenant isolation in multi-tenant apps.

The core (this package) is framework-agnostic and imports nothing beyond the standard
library; every framework adapter imports its framework only in its own submodule:

==================================  ==========================================
:mod:`orgguard.runtime.django`      middleware, view guards, org-scoped manager
:mod:`orgguard.runtime.flask`       ``OrgGuard`` extension, ``current_org`` proxy
:mod:`orgguard.runtime.fastapi`     ``require_active_org`` / ``ActiveOrg`` dependency
:mod:`orgguard.runtime.sqlalchemy`  ``OrgScoped`` mixin, session hooks, PostgreSQL RLS
:mod:`orgguard.runtime.stripe`      webhook verification, billable resolution
:mod:`orgguard.runtime.billing`     org-scoped Stripe customers and subscriptions
:mod:`orgguard.runtime.jobs`        explicit org propagation into Celery/RQ jobs
:mod:`orgguard.runtime.exports`     per-row org checks for exports
:mod:`orgguard.runtime.audit`       real principals and the audit channel
==================================  ==========================================

Every helper raises (see :mod:`orgguard.runtime.errors`) instead of widening a query,
and every bypass needs a reason and leaves an audit record.
"""

from __future__ import annotations

from orgguard.runtime._context import (
    Actor,
    OrgContext,
    OrgId,
    bind,
    current_org,
    require_org,
    run_with_org,
)
from orgguard.runtime._resolve import (
    SESSION_ORG_KEY,
    AsyncMembershipCheck,
    MembershipCheck,
    MembershipResult,
    SessionLike,
    aresolve_active_org,
    resolve_active_org,
    staff_override,
)
from orgguard.runtime.errors import (
    ActorRequired,
    AmbiguousBillable,
    BillableUnresolved,
    CrossOrgAccess,
    NoActiveOrg,
    NotAMember,
    OrgGuardError,
    PolicyDenied,
    UnscopedQuery,
    WebhookVerificationFailed,
)

__all__ = [
    "SESSION_ORG_KEY",
    "Actor",
    "ActorRequired",
    "AmbiguousBillable",
    "AsyncMembershipCheck",
    "BillableUnresolved",
    "CrossOrgAccess",
    "MembershipCheck",
    "MembershipResult",
    "NoActiveOrg",
    "NotAMember",
    "OrgContext",
    "OrgGuardError",
    "OrgId",
    "PolicyDenied",
    "SessionLike",
    "UnscopedQuery",
    "WebhookVerificationFailed",
    "aresolve_active_org",
    "bind",
    "current_org",
    "require_org",
    "resolve_active_org",
    "run_with_org",
    "staff_override",
]
