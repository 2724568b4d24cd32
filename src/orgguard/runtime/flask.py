"""Flask: resolve and bind the active org before every request, and guard views.

::

    app = Flask(__name__)
    guard = OrgGuard(app, membership=membership, user_loader=lambda: flask_login.current_user)

    @app.get("/invoices")
    @org_required
    def invoices():
        return [i.number for i in Invoice.query.filter_by(org_id=current_org.org_id)]

``OrgGuard`` re-checks membership on every request (``membership(user, org_id)``), sets
``g.org_context`` (an :class:`~orgguard.runtime.OrgContext` or ``None``) and binds it for
:func:`orgguard.runtime.current_org`, SQLAlchemy sessions installed with
:func:`orgguard.runtime.sqlalchemy.install` (e.g. Flask-SQLAlchemy's ``db.session``) and
everything else that reads the ContextVar.  Membership failures answer one uniform 403,
whether or not the org exists.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import Token
from typing import Any, TypeVar, cast

from orgguard.runtime._extras import missing_framework

try:
    from flask import Flask, Response, g, session
    from werkzeug.local import LocalProxy
except ModuleNotFoundError as exc:
    raise missing_framework(__name__, "Flask", "flask", exc) from exc

from orgguard.runtime._context import OrgContext, bind, bound_or_none, pop_bound, push_bound
from orgguard.runtime._context import current_org as _current_org
from orgguard.runtime._resolve import SESSION_ORG_KEY, MembershipCheck, resolve_active_org
from orgguard.runtime.errors import ActorRequired, NoActiveOrg, NotAMember

__all__ = ["FORBIDDEN_BODY", "OrgGuard", "current_org", "forbidden", "org_required"]

FORBIDDEN_BODY = "Forbidden"
"""Body of every orgguard 403: identical for non-members and for nonexistent orgs."""

_EXTENSION = "orgguard"
_TOKEN_ATTR = "_orgguard_token"
_V = TypeVar("_V", bound=Callable[..., Any])


def forbidden() -> Response:
    """Return the 403 response used for every membership failure."""
    return Response(FORBIDDEN_BODY, status=403, mimetype="text/plain")


def _forbidden_handler(error: Exception) -> Response:
    return forbidden()


def _default_user_loader() -> object:
    return g.get("user")


class OrgGuard:
    """Flask extension binding the membership-verified active org for each request.

    ``membership(user, org_id)`` returns the user's role in the org, or ``None``
    (also for orgs that do not exist).  ``user_loader()`` returns the signed-in user;
    by default ``g.user`` (set it in an earlier ``before_request`` hook), e.g.
    ``user_loader=lambda: flask_login.current_user``.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        membership: MembershipCheck,
        user_loader: Callable[[], object] | None = None,
        session_key: str = SESSION_ORG_KEY,
    ) -> None:
        if not callable(membership):
            raise TypeError("OrgGuard needs a membership(user, org_id) callable")
        self.membership = membership
        self.user_loader = user_loader or _default_user_loader
        self.session_key = session_key
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register the request hooks and the 403 error handlers on ``app``."""
        app.extensions[_EXTENSION] = self
        app.before_request(self._before_request)
        app.teardown_request(self._teardown_request)
        app.register_error_handler(NotAMember, _forbidden_handler)
        app.register_error_handler(NoActiveOrg, _forbidden_handler)

    def _resolve(self, switch_to: int | str | None = None) -> OrgContext:
        return resolve_active_org(
            session,
            self.user_loader(),
            membership=self.membership,
            switch_to=switch_to,
            session_key=self.session_key,
        )

    def _before_request(self) -> None:
        try:
            ctx: OrgContext | None = self._resolve()
        except (NoActiveOrg, NotAMember, ActorRequired):
            ctx = None
        g.org_context = ctx
        # Always push, even None: nothing bound earlier in this thread can leak into the request.
        setattr(g, _TOKEN_ATTR, push_bound(ctx))

    def _teardown_request(self, exc: BaseException | None) -> None:
        token = cast("Token[OrgContext | None] | None", g.pop(_TOKEN_ATTR, None))
        if token is not None:
            pop_bound(token)

    def switch_org(self, org_id: int | str) -> OrgContext:
        """Make ``org_id`` the active org after checking membership, and bind it for this request.

        Raises :class:`NotAMember` (answered with the uniform 403) for non-members and
        nonexistent orgs alike; the session is then unchanged.
        """
        ctx = self._resolve(switch_to=org_id)
        g.org_context = ctx
        push_bound(ctx)  # the request's own token, reset at teardown, restores the outer state
        return ctx


def _proxied_org() -> OrgContext:
    return _current_org()


current_org: OrgContext = cast(OrgContext, LocalProxy(_proxied_org))
"""Proxy to the request's :class:`OrgContext`; raises :class:`NoActiveOrg` when none is bound."""


def org_required(view: _V) -> _V:
    """Decorate a view so it runs only with a verified active org; otherwise answer the 403."""
    if inspect.iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            ctx = bound_or_none()
            if ctx is None:
                return forbidden()
            with bind(ctx):
                return await view(*args, **kwargs)

        return cast(_V, async_wrapper)

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if bound_or_none() is None:
            return forbidden()
        return view(*args, **kwargs)

    return cast(_V, wrapper)
