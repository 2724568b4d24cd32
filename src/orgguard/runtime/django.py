# Django is typed through django-stubs when installed and is ``Any`` otherwise; these two
# options keep ``mypy --strict`` meaningful (and passing) in both set-ups.
# mypy: allow-subclassing-any, disable-error-code="unused-ignore"
"""Django: an active-org middleware, view guards and an org-scoped manager that fails closed.

Settings::

    MIDDLEWARE = [
        ...,
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "orgguard.runtime.django.ActiveOrgMiddleware",          # after both
    ]
    ORGGUARD_MEMBERSHIP = "myapp.tenancy.membership"            # membership(user, org_id) -> role | None

Models::

    class Invoice(models.Model):
        organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
        objects = OrgScopedManager()                            # org field: "organization"

Inside a request (or :func:`orgguard.runtime.bind`, ``run_with_org``, ``org_job``) every
``Invoice.objects...`` query is filtered by the active org; outside one, evaluating it
raises :class:`~orgguard.runtime.errors.UnscopedQuery`, whatever the terminal
(iteration, ``get``, ``count``, ``exists``, ``values``, ``aggregate``, ``explain``,
``raw``, ``create``, ``bulk_create``, ``update``, ``delete``, subqueries, unions...).
Django's ``_base_manager`` (used for deletion cascades and ``refresh_from_db``) stays
Django's own.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

from orgguard.runtime._extras import missing_framework

try:
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.db import models
    from django.db.models import Q
    from django.db.models.query import RawQuerySet
    from django.db.models.sql import Query
    from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
    from django.utils.module_loading import import_string
except ModuleNotFoundError as exc:
    raise missing_framework(__name__, "Django", "django", exc) from exc

from orgguard.runtime import audit
from orgguard.runtime._context import OrgContext, bind, bound_or_none
from orgguard.runtime._resolve import MembershipCheck, resolve_active_org
from orgguard.runtime.errors import (
    ActorRequired,
    CrossOrgAccess,
    NoActiveOrg,
    NotAMember,
    UnscopedQuery,
)

__all__ = [
    "FORBIDDEN_BODY",
    "ActiveOrgMiddleware",
    "OrgRequiredMixin",
    "OrgScopedManager",
    "OrgScopedQuery",
    "OrgScopedQuerySet",
    "forbidden",
    "org_required",
    "switch_org",
]

FORBIDDEN_BODY = "Forbidden"
"""Body of every orgguard 403: identical for non-members and for nonexistent orgs."""

_M = TypeVar("_M", bound=models.Model)
_V = TypeVar("_V", bound=Callable[..., Any])

_UNSET = ("unset", None)
_SCOPED = "scoped"
_UNSCOPED = "unscoped"

_ADOPTION_SUPPRESSED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "orgguard.runtime.django.adoption_suppressed", default=False
)


@contextlib.contextmanager
def _no_adoption() -> Iterator[None]:
    token = _ADOPTION_SUPPRESSED.set(True)
    try:
        yield
    finally:
        _ADOPTION_SUPPRESSED.reset(token)


def forbidden() -> HttpResponse:
    """Return the 403 response used for every membership failure."""
    return HttpResponseForbidden(FORBIDDEN_BODY, content_type="text/plain; charset=utf-8")


def _membership() -> MembershipCheck:
    configured = getattr(settings, "ORGGUARD_MEMBERSHIP", None)
    if configured is None:
        raise ImproperlyConfigured("set ORGGUARD_MEMBERSHIP to membership(user, org_id) -> role | None")
    check = import_string(configured) if isinstance(configured, str) else configured
    if not callable(check):
        raise ImproperlyConfigured("ORGGUARD_MEMBERSHIP must be a callable or its dotted path")
    return cast(MembershipCheck, check)


def _session_and_user(request: HttpRequest) -> tuple[Any, Any]:
    session = getattr(request, "session", None)
    if session is None or not hasattr(request, "user"):
        raise ImproperlyConfigured("ActiveOrgMiddleware must come after SessionMiddleware and AuthenticationMiddleware")
    return session, request.user


class ActiveOrgMiddleware:
    """Resolve the active org from the session on every request and bind it.

    Sets ``request.org_context`` to the verified :class:`OrgContext` (membership is
    re-checked with ``ORGGUARD_MEMBERSHIP`` on every request) or to ``None`` for
    anonymous users, users without an active org and users whose membership was revoked.
    While the view runs, the context is bound (:func:`orgguard.runtime.current_org`).
    :class:`NotAMember` and :class:`NoActiveOrg` escaping a view become the same 403.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.membership = _membership()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """Resolve, store and bind the request's org, then call the rest of the chain."""
        session, user = _session_and_user(request)
        try:
            ctx: OrgContext | None = resolve_active_org(session, user, membership=self.membership)
        except (NoActiveOrg, NotAMember, ActorRequired):
            ctx = None
        request.org_context = ctx  # type: ignore[attr-defined]
        if ctx is None:
            return self.get_response(request)
        with bind(ctx):
            return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """Turn membership failures raised by views into the uniform 403."""
        if isinstance(exception, (NotAMember, NoActiveOrg)):
            return forbidden()
        return None


def switch_org(request: HttpRequest, org_id: int | str) -> OrgContext:
    """Make ``org_id`` the session's active org after checking membership; return its context.

    Raises :class:`NotAMember` (rendered as the uniform 403 by the middleware) when the
    user is not a member, whether or not the org exists; the session is then unchanged.
    """
    session, user = _session_and_user(request)
    ctx = resolve_active_org(session, user, membership=_membership(), switch_to=org_id)
    request.org_context = ctx  # type: ignore[attr-defined]
    return ctx


def _request_ctx(request: HttpRequest) -> OrgContext | None:
    if not hasattr(request, "org_context"):
        raise ImproperlyConfigured("org_required needs orgguard.runtime.django.ActiveOrgMiddleware")
    ctx = request.org_context
    return ctx if isinstance(ctx, OrgContext) else None


def org_required(view: _V) -> _V:
    """Decorate a function view (sync or async) so it runs only with a verified active org.

    Without one the view is not called and the uniform 403 is returned; with one, the
    context is bound for the view's duration.
    """
    if inspect.iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            ctx = _request_ctx(request)
            if ctx is None:
                return forbidden()
            with bind(ctx):
                return await view(request, *args, **kwargs)

        return cast(_V, async_wrapper)

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        ctx = _request_ctx(request)
        if ctx is None:
            return forbidden()
        with bind(ctx):
            return view(request, *args, **kwargs)

    return cast(_V, wrapper)


class OrgRequiredMixin:
    """Class-based-view mixin: :func:`org_required` for ``dispatch``. List it first."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """Return the uniform 403 without a verified org; else dispatch with it bound."""
        ctx = _request_ctx(request)
        if ctx is None:
            return forbidden()
        with bind(ctx):
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


class OrgScopedQuery(Query):
    """A SQL query that refuses to compile until its queryset is scoped (or explicitly unscoped)."""

    orgguard_state: tuple[str, object] = _UNSET
    orgguard_field: str = "organization"

    def get_compiler(self, using: Any = None, connection: Any = None, elide_empty: bool = True) -> Any:
        """Raise :class:`UnscopedQuery` for an unscoped query; compile normally otherwise."""
        if self.orgguard_state[0] not in (_SCOPED, _UNSCOPED):
            model = self.model.__name__ if self.model is not None else "an org-scoped model"
            raise UnscopedQuery(
                f"{model} query evaluated without an organization: bind one (ActiveOrgMiddleware, "
                "bind(), run_with_org(), org_job) or use .for_org(ctx) / .unscoped(reason=...)"
            )
        return super().get_compiler(using, connection, elide_empty)


if TYPE_CHECKING:

    class _RawQuerySetBase(RawQuerySet[Any]):
        pass

else:  # RawQuerySet is not subscriptable at run time
    _RawQuerySetBase = RawQuerySet


class _OrgCheckedRawQuerySet(_RawQuerySetBase):
    """A raw queryset whose every row must belong to the scoped org (raw SQL cannot be filtered)."""

    orgguard_attname: str = ""
    orgguard_org: object = None

    def iterator(self) -> Iterator[Any]:
        """Yield rows, raising :class:`CrossOrgAccess` at the first row of another org."""
        expected = str(self.orgguard_org)
        for obj in super().iterator():
            value = getattr(obj, self.orgguard_attname, None)
            if value is None or str(value) != expected:
                raise CrossOrgAccess(
                    f"raw query on {type(obj).__name__} returned a row of org {value!r}, not {self.orgguard_org!r}"
                )
            yield obj

    def _clone(self) -> _OrgCheckedRawQuerySet:
        clone = cast(_OrgCheckedRawQuerySet, super()._clone())  # type: ignore[misc]
        clone.orgguard_attname = self.orgguard_attname
        clone.orgguard_org = self.orgguard_org
        return clone


class OrgScopedQuerySet(models.QuerySet[_M], Generic[_M]):
    """A queryset that is either scoped to one org, explicitly unscoped with a reason, or unusable.

    Querysets from :class:`OrgScopedManager` are scoped to the bound org when created
    (and a queryset built while no org was bound adopts the bound org when it is next
    chained, e.g. DRF's ``queryset.all()``).  Otherwise any evaluation raises
    :class:`UnscopedQuery`.  Subclass and set :attr:`org_field`, or pass ``org_field`` to
    :class:`OrgScopedManager`.
    """

    org_field: ClassVar[str] = "organization"
    """Name of the field (usually a ForeignKey) holding the owning org."""

    def __init__(self, model: Any = None, query: Any = None, using: Any = None, hints: Any = None) -> None:
        if query is None:
            query = OrgScopedQuery(model)
            query.orgguard_field = self.org_field
        elif not isinstance(query, OrgScopedQuery):
            query.__class__ = OrgScopedQuery
            query.orgguard_state = _UNSET
            query.orgguard_field = self.org_field
        super().__init__(model=model, query=query, using=using, hints=hints)

    # --- scope bookkeeping -------------------------------------------------------------

    @property
    def _og_query(self) -> OrgScopedQuery:
        return cast(OrgScopedQuery, self.query)

    def _og_field(self) -> Any:
        return self.model._meta.get_field(self._og_query.orgguard_field)

    def _og_apply(self, ctx: OrgContext) -> None:
        """Filter this (fresh) queryset by ``ctx``'s org, in place, and mark it scoped."""
        query = self._og_query
        query.add_q(Q(**{query.orgguard_field: ctx.org_id}))
        query.orgguard_state = (_SCOPED, ctx.org_id)

    def _og_chain(self) -> OrgScopedQuerySet[_M]:
        with _no_adoption():
            return cast("OrgScopedQuerySet[_M]", self._chain())  # type: ignore[attr-defined]

    def _clone(self) -> OrgScopedQuerySet[_M]:
        clone = cast("OrgScopedQuerySet[_M]", super()._clone())  # type: ignore[misc]
        if clone._og_query.orgguard_state[0] not in (_SCOPED, _UNSCOPED) and not _ADOPTION_SUPPRESSED.get():
            ctx = bound_or_none()
            if ctx is not None:
                clone._og_apply(ctx)
        return clone

    def _og_require(self, operation: str) -> tuple[str, object]:
        state = self._og_query.orgguard_state
        if state[0] not in (_SCOPED, _UNSCOPED):
            raise UnscopedQuery(
                f"{operation}() on {self.model.__name__} without an organization: bind one or use "
                ".for_org(ctx) / .unscoped(reason=...)"
            )
        return state

    def _og_check_value(self, value: Any, org_id: object, operation: str) -> None:
        if hasattr(value, "resolve_expression"):
            raise CrossOrgAccess(f"{operation}() cannot set the org field of {self.model.__name__} to an expression")
        pk = getattr(value, "pk", value)
        if pk is None or isinstance(pk, bool) or str(pk) != str(org_id):
            raise CrossOrgAccess(f"{operation}() on {self.model.__name__} for org {org_id!r} names org {pk!r}")

    def _og_fill_kwargs(self, kwargs: dict[str, Any], operation: str) -> dict[str, Any]:
        state = self._og_require(operation)
        if state[0] != _SCOPED:
            return kwargs
        field = self._og_field()
        names = {field.name, field.attname}
        present = [name for name in names if name in kwargs]
        if not present:
            return {**kwargs, field.attname: state[1]}
        for name in present:
            self._og_check_value(kwargs[name], state[1], operation)
        return kwargs

    def _og_check_objs(self, objs: Iterable[Any], operation: str, *, fill: bool) -> list[Any]:
        state = self._og_require(operation)
        objs = list(objs)
        if state[0] != _SCOPED:
            return objs
        attname = self._og_field().attname
        for obj in objs:
            value = getattr(obj, attname, None)
            if value is None and fill:
                setattr(obj, attname, state[1])
            else:
                self._og_check_value(value, state[1], operation)
        return objs

    # --- explicit scoping ----------------------------------------------------------------

    def for_org(self, ctx: OrgContext) -> OrgScopedQuerySet[_M]:
        """Return this queryset scoped to ``ctx``'s org (explicit scoping, e.g. in jobs).

        A queryset already scoped to another org raises :class:`CrossOrgAccess`.
        """
        if not isinstance(ctx, OrgContext):
            raise TypeError(f"for_org() needs an OrgContext, not {type(ctx).__name__}")
        state = self._og_query.orgguard_state
        if state[0] == _SCOPED:
            if not ctx.same_org(state[1]):
                raise CrossOrgAccess(f"queryset is scoped to org {state[1]!r}; for_org() asked for {ctx.org_id!r}")
            return self._og_chain()
        clone = self._og_chain()
        clone._og_apply(ctx)
        return clone

    def unscoped(self, *, reason: str) -> OrgScopedQuerySet[_M]:
        """Return a queryset that may read across orgs; ``reason`` is required and audited.

        Call it on the manager (``Invoice.objects.unscoped(reason="...")``): a queryset
        already scoped to an org keeps its org filter, so calling it there raises
        :class:`ValueError`.
        """
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("unscoped() needs a non-empty reason")
        state = self._og_query.orgguard_state
        if state[0] == _SCOPED:
            raise ValueError(f"queryset is already scoped to org {state[1]!r}; call unscoped() on the manager")
        bound = bound_or_none()
        audit.emit(
            "orgguard.django.unscoped",
            model=f"{self.model._meta.label}",
            reason=reason.strip(),
            actor=str(bound.actor) if bound is not None else None,
            org_id=bound.org_id if bound is not None else None,
        )
        clone = self._og_chain()
        clone._og_query.orgguard_state = (_UNSCOPED, reason.strip())
        return clone

    # --- writes and other terminals that do not go through the SQL compiler check -------

    def create(self, **kwargs: Any) -> _M:
        """Create a row in the scoped org (org field filled in, or checked if given)."""
        created: _M = super().create(**self._og_fill_kwargs(kwargs, "create"))
        return created

    def bulk_create(self, objs: Iterable[_M], *args: Any, **kwargs: Any) -> list[_M]:
        """Bulk-create rows in the scoped org; a row of another org raises :class:`CrossOrgAccess`."""
        checked = self._og_check_objs(objs, "bulk_create", fill=True)
        created: list[_M] = super().bulk_create(checked, *args, **kwargs)
        return created

    def bulk_update(self, objs: Iterable[_M], fields: Any, *args: Any, **kwargs: Any) -> int:
        """Bulk-update rows of the scoped org only."""
        checked = self._og_check_objs(objs, "bulk_update", fill=False)
        count: int = super().bulk_update(checked, fields, *args, **kwargs)
        return count

    def update(self, **kwargs: Any) -> int:
        """Update rows of the scoped org; moving rows to another org raises :class:`CrossOrgAccess`."""
        state = self._og_require("update")
        if state[0] == _SCOPED:
            field = self._og_field()
            for name in {field.name, field.attname} & set(kwargs):
                self._og_check_value(kwargs[name], state[1], "update")
        count: int = super().update(**kwargs)
        return count

    def _update(self, values: Any) -> Any:
        self._og_require("update")
        return super()._update(values)  # type: ignore[misc]

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete rows of the scoped org."""
        self._og_require("delete")
        deleted: tuple[int, dict[str, int]] = super().delete()
        return deleted

    def _raw_delete(self, using: Any) -> Any:
        self._og_require("delete")
        return super()._raw_delete(using)

    def raw(self, raw_query: Any, params: Any = (), translations: Any = None, using: Any = None) -> Any:
        """Run raw SQL; in a scoped queryset every returned row is checked against the org."""
        state = self._og_require("raw")
        result = super().raw(raw_query, params=params, translations=translations, using=using)
        if state[0] != _SCOPED:
            return result
        checked = cast(_OrgCheckedRawQuerySet, result)
        checked.__class__ = _OrgCheckedRawQuerySet
        checked.orgguard_attname = self._og_field().attname
        checked.orgguard_org = state[1]
        return checked

    @classmethod
    def as_manager(cls) -> Any:
        """Return an :class:`OrgScopedManager` for this queryset class."""
        manager = OrgScopedManager.from_queryset(cls)()
        manager._built_with_as_manager = True
        return manager

    as_manager.queryset_only = True  # type: ignore[attr-defined]


class OrgScopedManager(models.Manager[_M], Generic[_M]):
    """Default manager for tenant-owned models: querysets scoped to the bound org, or unusable.

    ``org_field`` names the field holding the owning org (default: the queryset class's
    :attr:`OrgScopedQuerySet.org_field`, ``"organization"``)::

        objects = OrgScopedManager(org_field="workspace")

    ``Invoice.objects.for_org(ctx)`` scopes explicitly (jobs, scripts);
    ``Invoice.objects.unscoped(reason="...")`` reads across orgs, audited.
    """

    _queryset_class = OrgScopedQuerySet

    def __init__(self, org_field: str | None = None) -> None:
        super().__init__()
        if org_field is not None and (not isinstance(org_field, str) or not org_field):
            raise ValueError("org_field must be a field name")
        self.org_field = org_field

    def get_queryset(self) -> OrgScopedQuerySet[_M]:
        """Return a queryset scoped to the bound org, or an unscoped one that refuses to run."""
        qs = super().get_queryset()
        if not isinstance(qs, OrgScopedQuerySet):
            raise ImproperlyConfigured("OrgScopedManager needs an OrgScopedQuerySet subclass")
        if self.org_field is not None:
            qs._og_query.orgguard_field = self.org_field
        ctx = bound_or_none()
        if ctx is not None and not _ADOPTION_SUPPRESSED.get():
            qs._og_apply(ctx)
        return qs

    def for_org(self, ctx: OrgContext) -> OrgScopedQuerySet[_M]:
        """Return a queryset scoped to ``ctx``'s org, whatever org is bound."""
        with _no_adoption():
            qs = self.get_queryset()
        return qs.for_org(ctx)

    def unscoped(self, *, reason: str) -> OrgScopedQuerySet[_M]:
        """Return a cross-org queryset; ``reason`` is required and recorded in the audit log."""
        with _no_adoption():
            qs = self.get_queryset()
        return qs.unscoped(reason=reason)
