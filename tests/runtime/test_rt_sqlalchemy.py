"""orgguard.runtime.sqlalchemy against a real PostgreSQL server (psycopg 3 driver)."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from rt_support import make_ctx
from sqlalchemy import ForeignKey, String, create_engine, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    aliased,
    mapped_column,
    relationship,
    sessionmaker,
)
from sqlalchemy.pool import QueuePool

from orgguard.runtime import CrossOrgAccess, UnscopedQuery, bind, current_org, run_with_org
from orgguard.runtime.audit import AUDIT_EVENT
from orgguard.runtime.sqlalchemy import (
    PG_SETTING,
    OrgScoped,
    bind_pg_org,
    install,
    org_session,
    rls_policy_ddl,
    session_org,
    unscoped,
)

pytestmark = pytest.mark.postgres

N_ORGS = 200
PER_ORG = 2


class Base(DeclarativeBase):
    pass


class Org(Base):
    __tablename__ = "sa_orgs"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    invoices: Mapped[list[Invoice]] = relationship(back_populates="org")


class Invoice(OrgScoped, Base):
    __tablename__ = "sa_invoices"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("sa_orgs.id"), index=True)
    number: Mapped[str] = mapped_column(String(30))
    amount: Mapped[int] = mapped_column(default=0)
    org: Mapped[Org] = relationship(back_populates="invoices")
    lines: Mapped[list[LineItem]] = relationship(back_populates="invoice")


class LineItem(OrgScoped, Base):
    __tablename__ = "sa_line_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("sa_orgs.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("sa_invoices.id"))
    invoice: Mapped[Invoice] = relationship(back_populates="lines")


@pytest.fixture(scope="module")
def engine(pg):
    eng = create_engine(pg.sqlalchemy_url(), pool_size=5, max_overflow=60, pool_timeout=60)
    Base.metadata.create_all(eng)
    with eng.begin() as conn:
        conn.execute(insert(Org), [{"id": i, "name": f"org-{i}"} for i in range(1, N_ORGS + 1)])
        conn.execute(
            insert(Invoice.__table__),
            [
                {"id": i * 10 + n, "org_id": i, "number": f"{i}-{n}", "amount": 10 * (n + 1)}
                for i in range(1, N_ORGS + 1)
                for n in range(PER_ORG)
            ],
        )
        conn.execute(
            insert(LineItem.__table__),
            [{"id": i * 10, "org_id": i, "invoice_id": i * 10} for i in range(1, N_ORGS + 1)],
        )
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def factory(engine):
    return install(sessionmaker(engine))


# --------------------------------------------------------------------------- fail closed


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(lambda: select(Invoice), id="entity"),
        pytest.param(lambda: select(Invoice.id), id="column"),
        pytest.param(lambda: select(func.count()).select_from(Invoice), id="count"),
        pytest.param(lambda: select(aliased(Invoice)), id="alias"),
        pytest.param(lambda: select(Org).join(Org.invoices), id="relationship-join"),
        pytest.param(lambda: select(Org).where(Org.id.in_(select(Invoice.org_id))), id="subquery"),
        pytest.param(lambda: select(Invoice.__table__), id="core-table"),
        pytest.param(lambda: update(Invoice).values(amount=0), id="update"),
        pytest.param(lambda: delete(Invoice).where(Invoice.amount < 0), id="delete"),
    ],
)
def test_statements_on_scoped_models_raise_without_an_org(factory, statement):
    with factory() as session, pytest.raises(UnscopedQuery):
        session.execute(statement())


def test_unscoped_models_and_lazy_loads(factory):
    with factory() as session:
        org = session.get(Org, 1)  # not org-scoped: fine
        assert org is not None and org.name == "org-1"
        with pytest.raises(UnscopedQuery):
            _ = org.invoices  # lazy load of scoped rows with no org
        with pytest.raises(UnscopedQuery):
            session.get(Invoice, 10)


def test_session_scoped_by_org_session(factory):
    with org_session(factory, make_ctx(3)) as session:
        assert session_org(session).org_id == 3
        invoices = session.scalars(select(Invoice).order_by(Invoice.id)).all()
        assert [i.number for i in invoices] == ["3-0", "3-1"]
        assert session.get(Invoice, 40) is None  # org 4's invoice is invisible
        assert session.scalar(select(func.count()).select_from(Invoice)) == PER_ORG
        orgs_with_invoices = session.scalars(select(Org).join(Org.invoices).distinct()).all()
        assert [o.id for o in orgs_with_invoices] == [3]
        assert session.scalars(select(Org.id).where(Org.id.in_(select(Invoice.org_id)))).all() == [3]
        other = session.get(Org, 4)
        assert other is not None and other.invoices == []  # relationship loads are scoped
        assert [line.id for line in invoices[0].lines] == [30]


def test_bound_context_scopes_plain_sessions(factory):
    with bind(make_ctx(5)), factory() as session:
        assert session.scalars(select(Invoice.org_id).distinct()).all() == [5]
        assert session.execute(update(Invoice).values(amount=Invoice.amount)).rowcount == PER_ORG


def test_a_transaction_serves_one_org(factory):
    with factory() as session:
        with bind(make_ctx(20)):
            own = session.get(Invoice, 200)
            assert own is not None and own.org_id == 20
        with bind(make_ctx(21)), pytest.raises(CrossOrgAccess):
            session.scalars(select(Invoice)).all()
        session.commit()  # ends the transaction: the session may now work for another org
        with bind(make_ctx(21)):
            assert session.scalars(select(Invoice.org_id)).all() == [21, 21]
            # org 20's object is still in the identity map (expired); refreshing it by
            # primary key for org 21 is refused
            with pytest.raises(CrossOrgAccess):
                session.get(Invoice, 200)


def test_loaded_rows_are_checked_even_when_criteria_cannot_apply(factory):
    with org_session(factory, make_ctx(22)) as session:
        raw = select(Invoice).from_statement(text("SELECT * FROM sa_invoices WHERE org_id IN (22, 23)"))
        with pytest.raises(CrossOrgAccess):
            session.scalars(raw).all()
        own = select(Invoice).from_statement(text("SELECT * FROM sa_invoices WHERE org_id = 22"))
        assert [i.org_id for i in session.scalars(own)] == [22, 22]


def test_objects_loaded_unscoped_stay_readable_after_commit(factory):
    with factory() as session:
        rows = session.scalars(
            select(Invoice).order_by(Invoice.id).limit(3), execution_options=unscoped("report")
        ).all()
        session.commit()  # expires them; the refresh keeps the audited bypass
        assert [r.org_id for r in rows] == [1, 1, 2]


def test_org_session_refuses_a_different_bound_org(factory):
    with bind(make_ctx(6)), org_session(factory, make_ctx(7)) as session, pytest.raises(CrossOrgAccess):
        session.scalars(select(Invoice)).all()


def test_flush_fills_and_checks_org(factory):
    with org_session(factory, make_ctx(8)) as session:
        fresh = Invoice(id=900_001, number="8-new")
        session.add(fresh)
        session.flush()
        assert fresh.org_id == 8
        session.add(Invoice(id=900_002, org_id=9, number="9-sneaky"))
        with pytest.raises(CrossOrgAccess):
            session.flush()
        session.rollback()
        own = session.get(Invoice, 80)
        assert own is not None
        own.org_id = 9
        with pytest.raises(CrossOrgAccess):
            session.flush()
        session.rollback()
    with factory() as session:
        foreign = session.scalars(select(Invoice).where(Invoice.id == 90), execution_options=unscoped("test")).one()
        with bind(make_ctx(8)):
            session.delete(foreign)
            with pytest.raises(CrossOrgAccess):
                session.flush()
        session.rollback()
    with factory() as session:
        session.add(Invoice(id=900_003, org_id=8, number="x"))
        with pytest.raises(UnscopedQuery):
            session.flush()


def test_dml_statement_values_are_checked(factory):
    with org_session(factory, make_ctx(10)) as session:
        with pytest.raises(CrossOrgAccess):
            session.execute(update(Invoice).values(org_id=11))
        with pytest.raises(CrossOrgAccess):
            session.execute(insert(Invoice), [{"id": 900_010, "org_id": 11, "number": "x"}])
        with pytest.raises(CrossOrgAccess):
            session.execute(insert(Invoice), [{"id": 900_011, "number": "x"}])
        with pytest.raises(UnscopedQuery):
            session.execute(update(Invoice), [{"id": 100, "amount": 1}])  # bulk by primary key
        session.execute(insert(Invoice), [{"id": 900_012, "org_id": 10, "number": "10-ok"}])
        assert session.scalar(select(func.count()).select_from(Invoice)) == PER_ORG + 1
        session.rollback()


def test_unscoped_needs_a_reason_and_is_audited(factory, caplog):
    seen: list[tuple[str, dict]] = []

    def hook(event, args):
        if event == AUDIT_EVENT:
            seen.append(args)

    sys.addaudithook(hook)  # audit hooks cannot be removed; this one only appends
    with pytest.raises(ValueError):
        unscoped("")
    with factory() as session, caplog.at_level(logging.WARNING, logger="orgguard.audit"):
        count = session.scalar(
            select(func.count()).select_from(Invoice), execution_options=unscoped("finance export SUP-7")
        )
    assert count >= N_ORGS * PER_ORG
    assert any(name == "orgguard.sqlalchemy.unscoped" and f["reason"] == "finance export SUP-7" for name, f in seen)
    assert any(getattr(r, "orgguard", {}).get("reason") == "finance export SUP-7" for r in caplog.records)


def test_install_rules(engine):
    plain = sessionmaker(engine)
    with pytest.raises(RuntimeError):
        org_session(plain, make_ctx(1))
    assert install(plain) is plain
    install(plain)  # idempotent
    with org_session(plain, make_ctx(1)) as session:
        assert len(session.scalars(select(Invoice)).all()) == PER_ORG
    with pytest.raises(ValueError):
        install(Session)
    with pytest.raises(TypeError):
        install(object())
    with pytest.raises(TypeError):
        org_session(plain, 1)


# --------------------------------------------------------------------------- concurrency


def test_50_threads_each_see_only_their_own_org(factory):
    barrier = threading.Barrier(50, timeout=60)

    def work(expected: int) -> tuple[int, list[int], int]:
        with factory() as session:
            barrier.wait()
            orgs = session.scalars(select(Invoice.org_id)).all()
            total = session.scalar(select(func.sum(Invoice.amount)))
            assert current_org().org_id == expected
            return expected, orgs, total

    with ThreadPoolExecutor(max_workers=50) as pool:
        futures = [pool.submit(run_with_org, make_ctx(org), work, org) for org in range(1, 51)]
        results = [f.result(timeout=120) for f in futures]
    for expected, orgs, total in results:
        assert orgs == [expected] * PER_ORG
        assert total == 30


def _require_greenlet() -> None:
    try:
        import greenlet  # noqa: F401
    except ImportError:
        pytest.fail(
            "SQLAlchemy's asyncio extension needs greenlet: install sqlalchemy[asyncio] "
            "(the `test` extra should pull it in)"
        )


def test_200_asyncio_tasks_each_see_only_their_own_org(pg):
    _require_greenlet()
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    async def main() -> list[tuple[int, list[int], list[int]]]:
        aengine = create_async_engine(pg.sqlalchemy_url(), pool_size=10, max_overflow=20, pool_timeout=60)
        afactory = install(async_sessionmaker(aengine))
        try:

            async def task(org: int) -> tuple[int, list[int], list[int]]:
                with bind(make_ctx(org)):
                    await asyncio.sleep(0)
                    async with afactory() as session:
                        via_bind = (await session.scalars(select(Invoice.org_id))).all()
                await asyncio.sleep(0)
                async with org_session(afactory, make_ctx(org)) as session:
                    via_session = (await session.scalars(select(Invoice.org_id))).all()
                return org, list(via_bind), list(via_session)

            results = await asyncio.gather(*(task(org) for org in range(1, N_ORGS + 1)))
            async with afactory() as session:
                with pytest.raises(UnscopedQuery):
                    await session.scalars(select(Invoice))
            return results
        finally:
            await aengine.dispose()

    results = asyncio.run(main())
    assert len(results) == N_ORGS
    for org, via_bind, via_session in results:
        assert via_bind == [org] * PER_ORG
        assert via_session == [org] * PER_ORG


# --------------------------------------------------------------------------- PostgreSQL RLS


def test_pooled_connection_carries_no_org_into_the_next_transaction(pg):
    engine = create_engine(pg.sqlalchemy_url(), poolclass=QueuePool, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            pid = conn.scalar(text("SELECT pg_backend_pid()"))
            bind_pg_org(conn, make_ctx(42))
            assert conn.scalar(text(f"SELECT current_setting('{PG_SETTING}', true)")) == "42"
            conn.commit()
            assert conn.scalar(text(f"SELECT current_setting('{PG_SETTING}', true)")) in ("", None)
            bind_pg_org(conn, make_ctx(43))
            conn.rollback()
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT pg_backend_pid()")) == pid  # the same pooled connection
            assert conn.scalar(text(f"SELECT current_setting('{PG_SETTING}', true)")) in ("", None)
        rls_factory = install(sessionmaker(engine), rls=True)
        with org_session(rls_factory, make_ctx(44)) as session:
            assert session.scalar(text(f"SELECT current_setting('{PG_SETTING}', true)")) == "44"
        with rls_factory() as session:
            assert session.scalar(text("SELECT pg_backend_pid()")) == pid
            assert session.scalar(text(f"SELECT current_setting('{PG_SETTING}', true)")) == ""
    finally:
        engine.dispose()


def test_bind_pg_org_refuses_autocommit(pg):
    engine = create_engine(pg.sqlalchemy_url(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn, pytest.raises(RuntimeError):
            bind_pg_org(conn, make_ctx(1))
    finally:
        engine.dispose()


class RlsBase(DeclarativeBase):
    pass


class RlsInvoice(OrgScoped, RlsBase):
    __tablename__ = "invoices"
    __table_args__ = ({"schema": "rls"},)
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(index=True)
    amount: Mapped[int] = mapped_column(default=0)


@pytest.fixture(scope="module")
def rls_owner_engine(pg):
    """A non-superuser role that owns rls.invoices (superusers always bypass RLS)."""
    admin = create_engine(pg.sqlalchemy_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE ROLE rls_owner LOGIN NOSUPERUSER NOBYPASSRLS"))
        conn.execute(text("CREATE SCHEMA rls AUTHORIZATION rls_owner"))
    admin.dispose()
    owner = create_engine(pg.sqlalchemy_url(user="rls_owner"), poolclass=QueuePool, pool_size=1, max_overflow=0)
    RlsBase.metadata.create_all(owner)
    with owner.begin() as conn:
        conn.execute(
            insert(RlsInvoice.__table__),
            [{"id": i, "org_id": 1 if i <= 3 else 2, "amount": i} for i in range(1, 6)],
        )
        conn.exec_driver_sql(rls_policy_ddl("rls.invoices", "org_id"))
    yield owner
    owner.dispose()


def test_forced_rls_confines_the_table_owner(rls_owner_engine):
    with rls_owner_engine.connect() as conn:
        assert conn.scalar(text("SELECT current_user")) == "rls_owner"
        assert conn.scalar(text("SELECT count(*) FROM rls.invoices")) == 0  # no org: nothing
        conn.rollback()
        bind_pg_org(conn, make_ctx(1))
        assert conn.scalars(text("SELECT org_id FROM rls.invoices")).all() == [1, 1, 1]
        with pytest.raises(DBAPIError, match="row-level security"):
            conn.execute(text("INSERT INTO rls.invoices (id, org_id) VALUES (99, 2)"))
        conn.rollback()
        bind_pg_org(conn, make_ctx(2))
        assert conn.scalar(text("SELECT count(*) FROM rls.invoices")) == 2
        conn.rollback()
        # the contrast: without FORCE the owner reads every org's rows
        conn.execute(text("ALTER TABLE rls.invoices NO FORCE ROW LEVEL SECURITY"))
        assert conn.scalar(text("SELECT count(*) FROM rls.invoices")) == 5
        conn.rollback()  # DDL is transactional: FORCE is back
        assert conn.scalar(text("SELECT count(*) FROM rls.invoices")) == 0


def test_rls_backs_up_raw_sql_in_installed_sessions(rls_owner_engine):
    owner_factory = install(sessionmaker(rls_owner_engine), rls=True)
    with org_session(owner_factory, make_ctx(2)) as session:
        # text() is out of reach of loader criteria; the database policy still confines it
        assert session.scalars(text("SELECT org_id FROM rls.invoices")).all() == [2, 2]
        assert [i.id for i in session.scalars(select(RlsInvoice).order_by(RlsInvoice.id))] == [4, 5]
    with owner_factory() as session:
        assert session.scalar(text("SELECT count(*) FROM rls.invoices")) == 0


def test_rls_policy_ddl_text():
    ddl = rls_policy_ddl("billing.invoices", "org_id", cast="uuid")
    assert 'ALTER TABLE "billing"."invoices" ENABLE ROW LEVEL SECURITY;' in ddl
    assert 'ALTER TABLE "billing"."invoices" FORCE ROW LEVEL SECURITY;' in ddl
    assert "NULLIF(current_setting('orgguard.org_id', true), '')::uuid" in ddl
    assert ddl.count('"org_id" = NULLIF') == 2  # USING and WITH CHECK
    assert 'ON "billing"."invoices"' in ddl
    assert '"we""ird"' in rls_policy_ddl('we"ird', "org_id")
    for bad in ("int; DROP TABLE x", "bigint)--", ""):
        with pytest.raises(ValueError):
            rls_policy_ddl("t", "org_id", cast=bad)
    with pytest.raises(ValueError):
        rls_policy_ddl("", "org_id")
