"""FastAPI: an async dependency that returns the membership-verified active org.

Configure once, then depend on :data:`ActiveOrg`::

    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key=...)       # starlette sessions
    configure(app, membership=membership, user_loader=load_user)

    @app.get("/invoices")
    async def invoices(org: ActiveOrg, db: AsyncSession = Depends(get_db)):
        return (await db.scalars(select(Invoice))).all()          # scoped by the bound org

:func:`configure` stores an :class:`OrgGuardConfig` in ``app.state.orgguard``; that
keeps the dependency free of globals and lets tests build as many apps as they like
(``app.dependency_overrides[require_active_org]`` still works for unit tests of views).

``membership(user, org_id)`` and ``user_loader(request)`` may be sync or async.  The
dependency re-checks membership on every request, answers ``401`` without a user and
one uniform ``403`` for a missing org, a non-member or a nonexistent org, stores the
context in ``request.state.org_context`` and binds it for the rest of the request
(:func:`orgguard.runtime.current_org`, installed SQLAlchemy sessions...).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from orgguard.runtime._extras import missing_framework

try:
    from fastapi import Depends, FastAPI, HTTPException, Request
except ModuleNotFoundError as exc:
    raise missing_framework(__name__, "FastAPI", "fastapi", exc) from exc

from orgguard.runtime._context import OrgContext, set_for_current_context
from orgguard.runtime._resolve import SESSION_ORG_KEY, AsyncMembershipCheck, SessionLike, aresolve_active_org
from orgguard.runtime.errors import ActorRequired, NoActiveOrg, NotAMember

__all__ = [
    "FORBIDDEN_DETAIL",
    "ActiveOrg",
    "OrgGuardConfig",
    "configure",
    "require_active_org",
    "switch_org",
]

FORBIDDEN_DETAIL = "Forbidden"
"""``detail`` of every orgguard 403: identical for non-members and nonexistent orgs."""

UserLoader = Callable[[Request], "Awaitable[object] | object"]


def _starlette_session(request: Request) -> SessionLike:
    if "session" not in request.scope:
        raise RuntimeError("orgguard needs starlette's SessionMiddleware (or a custom session_getter)")
    return request.session


@dataclass(frozen=True)
class OrgGuardConfig:
    """How :func:`require_active_org` finds the user, the session and the membership check."""

    membership: AsyncMembershipCheck
    user_loader: UserLoader
    session_getter: Callable[[Request], SessionLike] = _starlette_session
    session_key: str = SESSION_ORG_KEY


def configure(
    app: FastAPI,
    *,
    membership: AsyncMembershipCheck,
    user_loader: UserLoader,
    session_getter: Callable[[Request], SessionLike] | None = None,
    session_key: str = SESSION_ORG_KEY,
) -> OrgGuardConfig:
    """Attach orgguard's configuration to ``app`` (``app.state.orgguard``) and return it."""
    if not callable(membership) or not callable(user_loader):
        raise TypeError("configure() needs membership and user_loader callables")
    config = OrgGuardConfig(
        membership=membership,
        user_loader=user_loader,
        session_getter=session_getter or _starlette_session,
        session_key=session_key,
    )
    app.state.orgguard = config
    return config


def _config(request: Request) -> OrgGuardConfig:
    config = getattr(request.app.state, "orgguard", None)
    if not isinstance(config, OrgGuardConfig):
        raise RuntimeError("call orgguard.runtime.fastapi.configure(app, ...) before using ActiveOrg")
    return config


async def _user(config: OrgGuardConfig, request: Request) -> Any:
    user = config.user_loader(request)
    if inspect.isawaitable(user):
        user = await user
    return user


async def _resolve(request: Request, switch_to: int | str | None) -> OrgContext:
    config = _config(request)
    user = await _user(config, request)
    try:
        ctx = await aresolve_active_org(
            config.session_getter(request),
            user,
            membership=config.membership,
            switch_to=switch_to,
            session_key=config.session_key,
        )
    except ActorRequired:
        raise HTTPException(status_code=401, detail="Not authenticated") from None
    except (NoActiveOrg, NotAMember):
        raise HTTPException(status_code=403, detail=FORBIDDEN_DETAIL) from None
    request.state.org_context = ctx
    # Each request runs in its own task (and sync endpoints in a copy of its context),
    # so this binding ends with the request.
    set_for_current_context(ctx)
    return ctx


async def require_active_org(request: Request) -> OrgContext:
    """FastAPI dependency: the request's membership-verified :class:`OrgContext`.

    Raises ``HTTPException(401)`` without a signed-in user and ``HTTPException(403,
    "Forbidden")`` when the session holds no org or the user is not (or no longer) a
    member, whether or not the org exists.
    """
    return await _resolve(request, None)


async def switch_org(request: Request, org_id: int | str) -> OrgContext:
    """Make ``org_id`` the session's active org after checking membership; return its context.

    Non-members and nonexistent orgs get the same ``HTTPException(403)``; the session is
    then unchanged.
    """
    return await _resolve(request, org_id)


ActiveOrg = Annotated[OrgContext, Depends(require_active_org)]
"""``org: ActiveOrg`` in an endpoint signature: the verified active org, or a 401/403."""
