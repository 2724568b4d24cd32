"""Explicit organization propagation into background jobs (Celery, RQ, Dramatiq, executors).

ContextVars do not cross a queue.  A job must receive its organization as an argument
and bind it itself; a job that runs without one must fail, not run "for everyone"::

    @celery_app.task
    @org_job
    def send_dunning_emails(*, days: int) -> None:
        ctx = current_org()                       # bound by org_job
        for invoice in Invoice.objects.filter(overdue_days__gte=days):   # scoped
            ...

    send_dunning_emails.delay(days=7, **job_kwargs(current_org()))

The serialized context is plain JSON (ints and strings), so it survives every broker.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, overload

from orgguard.runtime import audit
from orgguard.runtime._context import Actor, OrgContext, bind, bound_or_none, check_org_id, run_with_org
from orgguard.runtime.errors import CrossOrgAccess, NoActiveOrg, NotAMember, OrgGuardError

__all__ = ["JOB_CTX_KWARG", "context_from_job", "job_kwargs", "org_job"]

JOB_CTX_KWARG = "orgguard_ctx"
"""Keyword argument carrying the serialized :class:`OrgContext` of a job."""

_R = TypeVar("_R")


def job_kwargs(ctx: OrgContext) -> dict[str, dict[str, object]]:
    """Serialize ``ctx`` into keyword arguments for a job call (``f.delay(**job_kwargs(ctx))``).

    The payload holds the org id, the actor (kind and id), the role and the source,
    all JSON-safe; :func:`org_job` turns it back into an :class:`OrgContext`.
    """
    if not isinstance(ctx, OrgContext):
        raise TypeError(f"job_kwargs() needs an OrgContext, not {type(ctx).__name__}")
    return {
        JOB_CTX_KWARG: {
            "org_id": ctx.org_id,
            "actor": {"kind": ctx.actor.kind, "id": ctx.actor.id},
            "role": ctx.role,
            "source": ctx.source,
        }
    }


def context_from_job(payload: object) -> OrgContext:
    """Rebuild the :class:`OrgContext` serialized by :func:`job_kwargs`.

    Anything malformed (missing keys, wrong types, empty org id) raises
    :class:`NoActiveOrg`: a job never falls back to running unscoped.
    """
    if not isinstance(payload, Mapping):
        raise NoActiveOrg(f"job organization context must be a mapping, not {type(payload).__name__}")
    actor = payload.get("actor")
    if not isinstance(actor, Mapping):
        raise NoActiveOrg("job organization context has no actor")
    try:
        return OrgContext(
            payload.get("org_id"),  # type: ignore[arg-type]  # validated by OrgContext
            Actor(actor.get("kind"), actor.get("id")),  # type: ignore[arg-type]  # validated by Actor
            payload.get("role"),  # type: ignore[arg-type]  # validated by OrgContext
            "job",
        )
    except (OrgGuardError, TypeError, ValueError) as exc:
        raise NoActiveOrg(f"job organization context is invalid: {exc}") from exc


def _job_name(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


class _JobBinder:
    """Turns a job's keyword arguments into a verified OrgContext (shared by sync and async jobs)."""

    def __init__(
        self, fn: Callable[..., Any], org_id_kwarg: str | None, verify: Callable[[OrgContext], object] | None
    ) -> None:
        self.name = _job_name(fn)
        self.org_id_kwarg = org_id_kwarg
        self.keep_org_id = org_id_kwarg is not None and _accepts(fn, org_id_kwarg)
        self.verify = verify

    def context(self, kwargs: dict[str, Any]) -> OrgContext:
        payload = kwargs.pop(JOB_CTX_KWARG, None)
        key = self.org_id_kwarg
        org_id_given = key is not None and key in kwargs
        org_id: object = None
        if key is not None and org_id_given:
            org_id = kwargs[key] if self.keep_org_id else kwargs.pop(key)
        if payload is not None:
            ctx = context_from_job(payload)
            if org_id_given and not ctx.same_org(org_id):
                raise CrossOrgAccess(f"job {self.name}: {key}={org_id!r} contradicts its context")
        elif org_id_given:
            try:
                checked = check_org_id(org_id)
            except TypeError as exc:
                raise NoActiveOrg(f"job {self.name}: {exc}") from None
            ctx = OrgContext(checked, audit.system_actor(self.name), "system", "job")
        else:
            raise NoActiveOrg(
                f"job {self.name} was called without an organization: pass **job_kwargs(ctx)"
                + (f" or {key}=..." if key else "")
            )
        bound = bound_or_none()
        if bound is not None and not bound.same_org(ctx.org_id):
            raise CrossOrgAccess(f"job {self.name} (org {ctx.org_id!r} ) started in org {bound.org_id!r}")
        if self.verify is not None and not self.verify(ctx):
            raise NotAMember(f"job {self.name}: the context no longer passes verification")
        return ctx


@overload
def org_job(fn: Callable[..., _R], /) -> Callable[..., _R]: ...


@overload
def org_job(
    *, org_id_kwarg: str | None = "org_id", verify: Callable[[OrgContext], object] | None = None
) -> Callable[[Callable[..., _R]], Callable[..., _R]]: ...


def org_job(
    fn: Callable[..., _R] | None = None,
    /,
    *,
    org_id_kwarg: str | None = "org_id",
    verify: Callable[[OrgContext], object] | None = None,
) -> Callable[..., _R] | Callable[[Callable[..., _R]], Callable[..., _R]]:
    """Decorate a job so it runs with its organization bound, or not at all.

    The job is called with either ``**job_kwargs(ctx)`` (the full context, including the
    user who enqueued it) or, for scheduled jobs fanned out per org, ``org_id=...``
    (bound with a system actor named after the job).  Without either it raises
    :class:`NoActiveOrg` before the body runs.  The ``org_id`` keyword is still passed
    to the job if its signature accepts it.

    ``verify(ctx)`` may re-check the context at run time (e.g. that the enqueuing
    user is still a member); a falsy result raises :class:`NotAMember`.  A job run
    eagerly inside another org's binding raises :class:`CrossOrgAccess`.

    Works for plain and ``async def`` jobs; place it *under* the queue's decorator
    (``@app.task`` / ``@actor``) so the queue sees the wrapped function.
    """

    def decorate(func: Callable[..., _R]) -> Callable[..., _R]:
        binder = _JobBinder(func, org_id_kwarg, verify)
        wrapped = _decorate(func, binder)
        signature = _job_signature(func, org_id_kwarg)
        if signature is not None:
            # Queues that validate call arguments against inspect.signature() see the extra keywords.
            setattr(wrapped, "__signature__", signature)  # noqa: B010
        return wrapped

    if fn is not None:
        return decorate(fn)
    return decorate


def _job_signature(func: Callable[..., Any], org_id_kwarg: str | None) -> inspect.Signature | None:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())
    extra = [inspect.Parameter(JOB_CTX_KWARG, inspect.Parameter.KEYWORD_ONLY, default=None)]
    if org_id_kwarg is not None and org_id_kwarg not in signature.parameters:
        extra.append(inspect.Parameter(org_id_kwarg, inspect.Parameter.KEYWORD_ONLY, default=None))
    head = [p for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD]
    tail = [p for p in params if p.kind is inspect.Parameter.VAR_KEYWORD]
    try:
        return signature.replace(parameters=[*head, *extra, *tail])
    except ValueError:  # e.g. a parameter already named like ours: keep the plain signature
        return None


def _decorate(func: Callable[..., _R], binder: _JobBinder) -> Callable[..., _R]:
    if inspect.iscoroutinefunction(func):
        async_func: Callable[..., Awaitable[Any]] = func

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            ctx = binder.context(kwargs)
            with bind(ctx):
                return await async_func(*args, **kwargs)

        return async_wrapper  # type: ignore[return-value]  # same awaitable result type

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> _R:
        ctx = binder.context(kwargs)
        return run_with_org(ctx, func, *args, **kwargs)

    return wrapper
