"""SQLAlchemy 2.x: org-scoped ORM sessions that fail closed, plus PostgreSQL row-level security.

Mark tenant-owned models with :class:`OrgScoped` and :func:`install` the hooks on your
session factory::

    class Invoice(OrgScoped, Base):
        __tablename__ = "invoices"
        id: Mapped[int] = mapped_column(primary_key=True)
        org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"), index=True)

    SessionLocal = install(sessionmaker(engine))

    with org_session(SessionLocal, ctx) as session:          # or: with bind(ctx): SessionLocal()
        session.scalars(select(Invoice)).all()               # WHERE invoices.org_id = :org

* ``do_orm_execute`` adds ``with_loader_criteria(OrgScoped, lambda cls: cls.org_id == org,
  include_aliases=True)`` to every ORM SELECT, UPDATE and DELETE (and so to joins,
  subqueries, relationship and refresh loads); with no org bound, any statement that
  involves an :class:`OrgScoped` entity or table raises :class:`UnscopedQuery` instead of
  running unfiltered.
* ``before_flush`` refuses unit-of-work writes of rows belonging to another org
  (:class:`CrossOrgAccess`) and fills ``org_id`` on new rows.
* A session's transaction serves one org: once it has worked for the org bound in the
  ContextVar, using it for another org before commit/rollback/close raises
  :class:`CrossOrgAccess` (its identity map still holds the first org's objects).
* ``unscoped(reason)`` is the audited escape hatch (an execution option).

ORM loader criteria cannot reach raw SQL (``text()``) or Core statements on bound
tables; for those, and as defense in depth, use PostgreSQL row-level security:
:func:`rls_policy_ddl` in a migration and ``install(..., rls=True)`` (or
:func:`bind_pg_org` per transaction).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from orgguard.runtime._extras import missing_framework

try:
    from sqlalchemy import Boolean, Integer, event, text
    from sqlalchemy import inspect as sa_inspect
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.compiler import compiles
    from sqlalchemy.orm import (
        Mapped,
        ORMExecuteState,
        QueryContext,
        Session,
        SessionTransaction,
        UOWTransaction,
        mapped_column,
        scoped_session,
        sessionmaker,
        with_loader_criteria,
    )
    from sqlalchemy.sql import visitors
    from sqlalchemy.sql.compiler import SQLCompiler
    from sqlalchemy.sql.elements import ColumnElement
    from sqlalchemy.sql.schema import Table
    from sqlalchemy.sql.visitors import InternalTraversal
except ModuleNotFoundError as exc:
    raise missing_framework(__name__, "SQLAlchemy", "sqlalchemy", exc) from exc

from orgguard.runtime import audit
from orgguard.runtime._context import OrgContext, bound_or_none
from orgguard.runtime.errors import CrossOrgAccess, UnscopedQuery

if TYPE_CHECKING:
    # sqlalchemy.ext.asyncio needs greenlet; it is imported only by apps that use it.
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

__all__ = [
    "ORG_INFO_KEY",
    "PG_SETTING",
    "UNSCOPED_OPTION",
    "OrgScoped",
    "bind_pg_org",
    "install",
    "org_session",
    "rls_policy_ddl",
    "session_org",
    "unscoped",
]

ORG_INFO_KEY = "orgguard.org_context"
"""``Session.info`` key holding the session's own :class:`OrgContext` (see :func:`org_session`)."""

UNSCOPED_OPTION = "orgguard_unscoped_reason"
"""Execution option carrying the reason of an audited unscoped statement (see :func:`unscoped`)."""

PG_SETTING = "orgguard.org_id"
"""The PostgreSQL run-time setting read by the policies of :func:`rls_policy_ddl`."""

_ORG_KEY = "org_id"
_PIN_KEY = "orgguard.transaction_org"
_MISSING = object()
_S = TypeVar("_S", bound=Session)
_AS = TypeVar("_AS", bound="AsyncSession")


def _is_async_sessionmaker(obj: object) -> bool:
    """True for an async_sessionmaker, without importing sqlalchemy.ext.asyncio (greenlet)."""
    module = sys.modules.get("sqlalchemy.ext.asyncio")
    return module is not None and isinstance(obj, module.async_sessionmaker)


class OrgScoped:
    """Mixin for tenant-owned mapped classes: rows carry ``org_id`` and are always org-filtered.

    The mixin declares ``org_id: Mapped[int]`` (NOT NULL, indexed); redeclare it in the
    model to add the foreign key or to use another type (UUID, str), keeping the
    attribute name ``org_id``.
    """

    org_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)


class _UnscopedCriterion(ColumnElement[bool]):
    """A loader criterion that refuses to compile: an OrgScoped entity was reached with no org."""

    __visit_name__ = "orgguard_unscoped_criterion"
    inherit_cache = True
    type = Boolean()
    _traverse_internals: list[tuple[str, InternalTraversal]] = [  # noqa: RUF012  # SQLAlchemy's protocol
        ("entity_name", InternalTraversal.dp_string)
    ]

    def __init__(self, entity: object) -> None:
        self.entity_name = str(getattr(entity, "__name__", entity))


@compiles(_UnscopedCriterion)
def _refuse_unscoped(element: _UnscopedCriterion, compiler: SQLCompiler, **kw: Any) -> str:
    raise UnscopedQuery(
        f"query on org-scoped {element.entity_name} with no organization bound "
        "(use org_session(), bind(), or unscoped(reason=...))"
    )


def unscoped(reason: str) -> dict[str, str]:
    """Return execution options for one deliberate cross-org statement, recorded in the audit log.

    ``reason`` is mandatory (``ValueError`` when empty)::

        session.execute(select(Invoice), execution_options=unscoped("nightly revenue report"))
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("unscoped() needs a non-empty reason")
    return {UNSCOPED_OPTION: reason.strip()}


def session_org(session: Session) -> OrgContext | None:
    """Return the organization a session operates in, or None.

    That is the context given to :func:`org_session`, else the one bound with
    :func:`orgguard.runtime.bind`.  If both exist and name different orgs,
    :class:`CrossOrgAccess` is raised: a session never silently serves two orgs.
    """
    own = session.info.get(ORG_INFO_KEY)
    if own is not None and not isinstance(own, OrgContext):
        raise TypeError(f"session.info[{ORG_INFO_KEY!r}] must be an OrgContext")
    ambient = bound_or_none()
    if own is not None and ambient is not None and not own.same_org(ambient.org_id):
        raise CrossOrgAccess(f"session is scoped to org {own.org_id!r} but org {ambient.org_id!r} is bound")
    return own if own is not None else ambient


def _effective_org(session: Session) -> OrgContext | None:
    """:func:`session_org`, pinned for the session's transaction when it comes from the ContextVar.

    Objects loaded for one org stay in the identity map until the transaction ends, so
    the same transaction must not go on to serve another org.
    """
    ctx = session_org(session)
    if ctx is not None and ORG_INFO_KEY not in session.info:
        pinned = session.info.get(_PIN_KEY)
        if isinstance(pinned, OrgContext) and not pinned.same_org(ctx.org_id):
            raise CrossOrgAccess(
                f"this session's transaction already serves org {pinned.org_id!r}; commit, roll back or "
                f"close it before working for org {ctx.org_id!r}"
            )
        session.info[_PIN_KEY] = ctx
    return ctx


def _on_after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PIN_KEY, None)


def _subclasses(cls: type) -> Iterator[type]:
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        yield sub
        yield from _subclasses(sub)


def _scoped_tables() -> dict[int, Table]:
    """Tables of every mapped OrgScoped subclass, keyed by identity."""
    tables: dict[int, Table] = {}
    for cls in _subclasses(OrgScoped):
        table = cls.__dict__.get("__table__")
        if isinstance(table, Table):
            tables[id(table)] = table
    return tables


def _plain(element: Any) -> Any:
    deannotate = getattr(element, "_deannotate", None)
    return deannotate() if callable(deannotate) else element


def _statement_scoped_tables(statement: Any) -> list[Table]:
    scoped = _scoped_tables()
    found: list[Table] = []
    for element in visitors.iterate(statement):
        if isinstance(element, Table):
            plain = _plain(element)
            if id(plain) in scoped:
                found.append(plain)
    return found


def _involves_scoped(state: ORMExecuteState) -> bool:
    if any(issubclass(m.class_, OrgScoped) for m in state.all_mappers):
        return True
    return bool(_statement_scoped_tables(state.statement))


def _parameter_rows(state: ORMExecuteState) -> list[Mapping[str, Any]]:
    params = state.parameters
    if params is None:
        return []
    if isinstance(params, Mapping):
        return [params] if params else []
    return [row for row in params if isinstance(row, Mapping)]


def _statement_org_values(statement: Any) -> list[object] | None:
    """Values assigned to org_id by ``.values(...)`` on an INSERT/UPDATE (None if none)."""
    # SQLAlchemy keeps .values() in the private ``_values`` mapping (keys: column name,
    # Column or ORM attribute); read it defensively.
    values = getattr(statement, "_values", None)
    if not values:
        return None
    found: list[object] = []
    for key, value in values.items():
        name = key if isinstance(key, str) else getattr(key, "key", None)
        if name == _ORG_KEY:
            found.append(getattr(value, "value", value))
    return found


def _check_org_value(value: object, ctx: OrgContext, what: str) -> None:
    if not ctx.same_org(value):
        raise CrossOrgAccess(f"{what} sets org_id={value!r} while org {ctx.org_id!r} is bound")


def _check_dml_values(state: ORMExecuteState, ctx: OrgContext) -> None:
    rows = _parameter_rows(state)
    assigned = _statement_org_values(state.statement)
    if state.is_insert:
        if not rows and assigned is None:
            raise UnscopedQuery("an ORM INSERT into an org-scoped table must pass its rows as parameters")
        for row in rows:
            if _ORG_KEY not in row and not assigned:
                raise CrossOrgAccess("an INSERT row into an org-scoped table has no org_id")
    elif state.is_update and rows and isinstance(state.parameters, list):
        raise UnscopedQuery(
            "bulk UPDATE by primary key cannot be org-scoped; use update().where(...) or the unit of work"
        )
    for row in rows:
        if _ORG_KEY in row:
            _check_org_value(row[_ORG_KEY], ctx, "a statement")
    for value in assigned or ():
        _check_org_value(value, ctx, "a statement")


def _on_do_orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete or state.is_insert):
        return  # text(), DDL...: not reachable by loader criteria (see RLS helpers)
    if state.is_column_load:
        return  # refresh of an identity already loaded: loader criteria do not apply; _check_loaded does
    reason = state.execution_options.get(UNSCOPED_OPTION)
    if reason:
        if _involves_scoped(state):
            audit.emit(
                "orgguard.sqlalchemy.unscoped",
                reason=str(reason),
                statement=type(state.statement).__name__,
                mappers=[m.class_.__name__ for m in state.all_mappers],
            )
        return
    ctx = _effective_org(state.session)
    if ctx is None:
        if _involves_scoped(state):
            names = ", ".join(m.class_.__name__ for m in state.all_mappers) or "an org-scoped table"
            raise UnscopedQuery(
                f"query on {names} with no organization bound (use org_session(), bind(), or unscoped(reason=...))"
            )
        if not state.is_insert:
            # Entities reached only through joins, subqueries or relationships refuse to compile.
            state.statement = state.statement.options(
                with_loader_criteria(
                    OrgScoped,
                    lambda cls: _UnscopedCriterion(cls),  # noqa: PLW0108  # SQLAlchemy needs a lambda
                    include_aliases=True,
                )
            )
        return
    if state.is_insert or state.is_update:
        if _involves_scoped(state):
            _check_dml_values(state, ctx)
        if state.is_insert:
            return
    org_id = ctx.org_id
    state.statement = state.statement.options(
        with_loader_criteria(OrgScoped, lambda cls: cls.org_id == org_id, include_aliases=True)
    )


def _org_id_history(obj: OrgScoped) -> tuple[list[object], list[object]]:
    history = sa_inspect(obj).attrs[_ORG_KEY].history
    return list(history.added or ()), list(history.deleted or ())


def _on_before_flush(session: Session, flush_context: UOWTransaction, instances: object) -> None:
    scoped_new = [o for o in session.new if isinstance(o, OrgScoped)]
    scoped_dirty = [o for o in session.dirty if isinstance(o, OrgScoped)]
    scoped_deleted = [o for o in session.deleted if isinstance(o, OrgScoped)]
    if not (scoped_new or scoped_dirty or scoped_deleted):
        return
    ctx = _effective_org(session)
    if ctx is None:
        raise UnscopedQuery("flushing org-scoped rows with no organization bound")
    for obj in scoped_new:
        if getattr(obj, _ORG_KEY, None) is None:
            obj.org_id = ctx.org_id  # type: ignore[assignment]  # int or str, per the model's column
        else:
            _check_org_value(obj.org_id, ctx, f"new {type(obj).__name__}")
    for obj in scoped_dirty:
        added, deleted = _org_id_history(obj)
        for value in [*added, *deleted]:
            _check_org_value(value, ctx, f"update of {type(obj).__name__}")
        if not added:
            _check_org_value(obj.org_id, ctx, f"update of {type(obj).__name__}")
    for obj in scoped_deleted:
        _check_org_value(obj.org_id, ctx, f"delete of {type(obj).__name__}")


def _check_loaded(target: object, context: QueryContext) -> None:
    """Check each OrgScoped instance loaded or refreshed by an installed session.

    Loader criteria do not reach every load (refreshing an expired object goes by primary
    key alone), so the loaded row itself is verified as well.
    """
    session = context.session
    if session is None or not _session_installed(session):
        return
    state = sa_inspect(target)
    reason = context.execution_options.get(UNSCOPED_OPTION)
    if reason:
        state.info[UNSCOPED_OPTION] = reason  # later refreshes of this object stay unscoped
        return
    if state.info.get(UNSCOPED_OPTION):
        return
    ctx = _effective_org(session)
    if ctx is None:
        raise UnscopedQuery(f"loading org-scoped {type(target).__name__} with no organization bound")
    value = state.dict.get(_ORG_KEY, _MISSING)
    if value is not _MISSING and not ctx.same_org(value):
        raise CrossOrgAccess(f"{type(target).__name__} of org {value!r} loaded while org {ctx.org_id!r} is bound")


def _on_load(target: object, context: QueryContext) -> None:
    _check_loaded(target, context)


def _on_refresh(target: object, context: QueryContext, attrs: object) -> None:
    _check_loaded(target, context)


def _on_after_begin(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    ctx = _effective_org(session)
    _set_pg_setting(connection, "" if ctx is None else str(ctx.org_id))


_HOOKS = (
    ("do_orm_execute", _on_do_orm_execute),
    ("before_flush", _on_before_flush),
    ("after_transaction_end", _on_after_transaction_end),
)


_INSTALLED_ATTR = "_orgguard_installed"


def _event_target(session_factory: object) -> tuple[Any, type[Session]]:
    """Return (event target, session class whose sessions get the hooks)."""
    if _is_async_sessionmaker(session_factory):
        factory = cast("async_sessionmaker[Any]", session_factory)
        sync_cls: type[Session] = factory.kw.get("sync_session_class") or factory.class_.sync_session_class
        if not sync_cls.__dict__.get(_INSTALLED_ATTR, False):
            sync_cls = type(f"OrgGuard{sync_cls.__name__}", (sync_cls,), {})
            factory.configure(sync_session_class=sync_cls)
        return sync_cls, sync_cls
    if isinstance(session_factory, scoped_session):
        inner = session_factory.session_factory
        if isinstance(inner, sessionmaker):
            return session_factory, inner.class_
        raise TypeError("install() needs a scoped_session built on a sessionmaker")
    if isinstance(session_factory, sessionmaker):
        return session_factory, session_factory.class_
    if isinstance(session_factory, type) and issubclass(session_factory, Session):
        if session_factory is Session:
            raise ValueError("install() on sqlalchemy.orm.Session itself would scope every session in the process")
        return session_factory, session_factory
    raise TypeError(
        "install() needs a sessionmaker, async_sessionmaker, scoped_session or Session subclass, "
        f"not {type(session_factory).__name__}"
    )


def _session_installed(session: Session) -> bool:
    return bool(getattr(type(session), _INSTALLED_ATTR, False))


_F = TypeVar("_F")


def install(session_factory: _F, *, rls: bool = False) -> _F:
    """Install the org-scoping hooks on ``session_factory`` and return it.

    Accepts a :class:`~sqlalchemy.orm.sessionmaker`, an
    :class:`~sqlalchemy.ext.asyncio.async_sessionmaker` (hooks go on a dedicated
    sync-session subclass), a :class:`~sqlalchemy.orm.scoped_session` (e.g. Flask-SQLAlchemy's
    ``db.session``) or a :class:`~sqlalchemy.orm.Session` subclass.  Idempotent.

    With ``rls=True`` every transaction also starts with
    ``set_config('orgguard.org_id', <org>, true)`` (``''`` when no org is bound), for
    the PostgreSQL policies of :func:`rls_policy_ddl`.
    """
    target, session_class = _event_target(session_factory)
    for identifier, fn in (("load", _on_load), ("refresh", _on_refresh)):
        # Instance events on the mixin reach every OrgScoped model; they act only for
        # sessions from installed factories.
        if not event.contains(OrgScoped, identifier, fn):
            event.listen(OrgScoped, identifier, fn, propagate=True)
    hooks: list[tuple[str, Any]] = list(_HOOKS)
    if rls:
        hooks.append(("after_begin", _on_after_begin))
    for identifier, fn in hooks:
        if not event.contains(target, identifier, fn):
            event.listen(target, identifier, fn)
    setattr(session_class, _INSTALLED_ATTR, True)
    return session_factory


def _installed(session_factory: object) -> bool:
    if _is_async_sessionmaker(session_factory):
        sync_cls = cast("async_sessionmaker[Any]", session_factory).kw.get("sync_session_class")
        return bool(getattr(sync_cls, _INSTALLED_ATTR, False))
    if isinstance(session_factory, sessionmaker):
        return bool(getattr(session_factory.class_, _INSTALLED_ATTR, False))
    return False


@overload
def org_session(session_factory: async_sessionmaker[_AS], ctx: OrgContext) -> _AS: ...


@overload
def org_session(session_factory: sessionmaker[_S], ctx: OrgContext) -> _S: ...


def org_session(session_factory: sessionmaker[Any] | async_sessionmaker[Any], ctx: OrgContext) -> Any:
    """Open a session from an :func:`install`-ed factory, scoped to ``ctx`` for its whole life.

    The context is stored in ``session.info`` and applies regardless of what is bound in
    the calling context (a different bound org raises :class:`CrossOrgAccess`)::

        with org_session(SessionLocal, ctx) as session, session.begin():
            session.add(Invoice(total=10))        # org_id filled from ctx

    A factory without the hooks raises :class:`RuntimeError`: an org session must not
    silently run unscoped.
    """
    if not isinstance(ctx, OrgContext):
        raise TypeError(f"org_session() needs an OrgContext, not {type(ctx).__name__}")
    if not (isinstance(session_factory, sessionmaker) or _is_async_sessionmaker(session_factory)):
        raise TypeError("org_session() needs a sessionmaker or async_sessionmaker")
    if not _installed(session_factory):
        raise RuntimeError("org_session(): call orgguard.runtime.sqlalchemy.install(factory) first")
    return session_factory(info={ORG_INFO_KEY: ctx})


def _set_pg_setting(connection: Connection, value: str) -> None:
    if connection.dialect.name != "postgresql":
        raise RuntimeError(f"row-level security settings need PostgreSQL, not {connection.dialect.name}")
    dbapi_connection = connection.connection.dbapi_connection
    if (
        connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        or getattr(dbapi_connection, "autocommit", False) is True
    ):
        raise RuntimeError("a transaction-local org setting is lost immediately under AUTOCOMMIT")
    connection.execute(text("SELECT set_config(:name, :value, true)"), {"name": PG_SETTING, "value": value})


def bind_pg_org(connection: Connection | Session, ctx: OrgContext) -> None:
    """Set ``orgguard.org_id`` for the current PostgreSQL transaction (``set_config(..., true)``).

    The setting is transaction-local: it disappears at COMMIT/ROLLBACK, so a pooled
    connection never carries an org into its next transaction.  Call it again in every
    transaction (``install(factory, rls=True)`` does so automatically).
    """
    if not isinstance(ctx, OrgContext):
        raise TypeError(f"bind_pg_org() needs an OrgContext, not {type(ctx).__name__}")
    if isinstance(connection, Session):
        connection = connection.connection()
    _set_pg_setting(connection, str(ctx.org_id))


_TYPE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ]*(\([0-9, ]+\))?$")


def _quote_ident(name: str) -> str:
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"invalid SQL identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def _quote_qualified(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError("a table name is required")
    parts = name.split(".")
    return ".".join(_quote_ident(p) for p in parts)


def rls_policy_ddl(
    table: str,
    column: str = _ORG_KEY,
    *,
    cast: str = "bigint",
    policy: str | None = None,
) -> str:
    """Return PostgreSQL DDL that confines ``table`` to the org in ``orgguard.org_id``.

    The DDL enables **and forces** row-level security (so the table owner is confined
    too; only superusers and ``BYPASSRLS`` roles are not) and creates one policy for all
    commands whose ``USING`` and ``WITH CHECK`` clauses are::

        "<column>" = NULLIF(current_setting('orgguard.org_id', true), '')::<cast>

    With no org set, ``current_setting`` yields NULL or ``''``, ``NULLIF`` turns both into
    NULL and no row matches: reads see nothing and writes fail.  ``table`` may be
    schema-qualified (``"billing.invoices"``); ``cast`` is the column's type
    (``bigint``, ``integer``, ``uuid``, ``text``...).
    """
    if not _TYPE_RE.match(cast):
        raise ValueError(f"invalid SQL type {cast!r}")
    qualified = _quote_qualified(table)
    base = table.rsplit(".", maxsplit=1)[-1]
    policy_name = _quote_ident(policy or f"orgguard_{base}_org_isolation")
    predicate = f"{_quote_ident(column)} = NULLIF(current_setting('{PG_SETTING}', true), '')::{cast}"
    return (
        f"ALTER TABLE {qualified} ENABLE ROW LEVEL SECURITY;\n"
        f"ALTER TABLE {qualified} FORCE ROW LEVEL SECURITY;\n"
        f"CREATE POLICY {policy_name} ON {qualified} AS PERMISSIVE FOR ALL\n"
        f"    USING ({predicate})\n"
        f"    WITH CHECK ({predicate});\n"
    )
