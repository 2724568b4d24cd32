"""Accountability helpers: real principals for audit records, and the audit channel itself.

Every bypass in :mod:`orgguard.runtime` (``staff_override``, ``unscoped(reason=...)``)
is reported through :func:`emit`, which writes to two places:

* the ``orgguard.audit`` logger, at WARNING level, with the structured fields in
  ``record.orgguard`` (a dict);
* Python's audit hooks (:pep:`578`) as the event ``"orgguard.audit"`` with the
  arguments ``(event_name, fields)``; install a collector with :func:`sys.addaudithook`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping

from orgguard.runtime._context import Actor
from orgguard.runtime.errors import ActorRequired

__all__ = ["AUDIT_EVENT", "AUDIT_LOGGER", "PLACEHOLDER_ACTOR_NAMES", "actor_for", "emit", "system_actor"]

AUDIT_LOGGER = "orgguard.audit"
"""Name of the logger that receives audit records."""

AUDIT_EVENT = "orgguard.audit"
"""Name of the :func:`sys.audit` event raised for every audit record."""

PLACEHOLDER_ACTOR_NAMES = frozenset(
    {"", "system", "admin", "administrator", "superuser", "root", "none", "null", "anonymous"}
)
"""Job names refused by :func:`system_actor` (compared stripped and case-insensitively)."""

_logger = logging.getLogger(AUDIT_LOGGER)


def emit(event: str, **fields: object) -> None:
    """Write one audit record to the ``orgguard.audit`` logger and to :func:`sys.audit`.

    ``event`` is a dotted name such as ``"orgguard.staff_override"``; ``fields`` are
    its structured details (org id, actor, reason...).  Values are passed through
    unchanged to audit hooks and rendered with :func:`repr` in the log message.
    """
    if not event:
        raise ValueError("an audit event needs a name")
    payload: dict[str, object] = {"event": event, **fields}
    sys.audit(AUDIT_EVENT, event, dict(fields))
    details = " ".join(f"{key}={value!r}" for key, value in fields.items())
    _logger.warning("%s %s", event, details, extra={"orgguard": payload})


def _attr(user: object, name: str) -> object:
    value = getattr(user, name, None)
    # Django exposes is_authenticated / is_anonymous as properties; very old code as methods.
    if callable(value):
        value = value()
    return value


def actor_for(user: object) -> Actor:
    """Return the :class:`Actor` for a signed-in user; raise :class:`ActorRequired` otherwise.

    Accepts Django users (``pk``), Flask-Login / SQLAlchemy users (``id``) and mappings
    with an ``"id"`` key.  ``None``, anonymous users (``is_anonymous`` true or
    ``is_authenticated`` false) and users without a primary key are refused, so an
    audit record can never be attributed to nobody.
    """
    if user is None:
        raise ActorRequired("no user: an audited operation needs a signed-in principal")
    if _attr(user, "is_anonymous") is True or _attr(user, "is_authenticated") is False:
        raise ActorRequired("anonymous users cannot act on an organization")
    if isinstance(user, Mapping):
        pk = user.get("id")
    else:
        pk = getattr(user, "pk", None)
        if pk is None:
            pk = getattr(user, "id", None)
    if pk is None or isinstance(pk, bool) or not isinstance(pk, (int, str)):
        raise ActorRequired(f"user {user!r} has no usable primary key")
    if isinstance(pk, str) and not pk.strip():
        raise ActorRequired(f"user {user!r} has an empty primary key")
    return Actor("user", pk)


def system_actor(job: str) -> Actor:
    """Return an :class:`Actor` of kind ``"system"`` named after the job or process acting.

    The name must say *which* automated principal acts (``"billing.sync_invoices"``,
    ``"stripe-webhook"``); placeholders such as ``""``, ``"system"``, ``"admin"``,
    ``"superuser"`` and ``"root"`` (any case, surrounding whitespace ignored) raise
    :class:`ActorRequired`.
    """
    if not isinstance(job, str):
        raise ActorRequired(f"a system actor needs a job name (str), not {type(job).__name__}")
    name = job.strip()
    if name.casefold() in PLACEHOLDER_ACTOR_NAMES:
        raise ActorRequired(f"{job!r} is a placeholder, not a principal: name the job or process that acts")
    return Actor("system", name)
