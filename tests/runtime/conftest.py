"""Fixtures for the orgguard.runtime tests: a throwaway PostgreSQL cluster and Django set-up.

The cluster is created once per test session in a temporary directory, listens only on
127.0.0.1 (plus a unix socket in that directory) with trust authentication, and is
stopped and deleted at session end, including after failures.  PostgreSQL binaries are
required: without them the tests that need the server fail with an explanation (they
are never skipped silently).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # makes rt_support and the rt_djapp test app importable in every import mode
    sys.path.insert(0, str(HERE))

from rt_support import make_ctx  # noqa: E402

PG_USER = "postgres"
PG_DB = "orgguard_test"


@pytest.fixture
def ctx_factory():
    return make_ctx


# --------------------------------------------------------------------------- PostgreSQL


def _version_key(path: str) -> tuple[int, ...]:
    match = re.search(r"/postgresql/([0-9.]+)/bin", path)
    return tuple(int(p) for p in match.group(1).split(".")) if match else (0,)


def find_pg_bindir() -> Path | None:
    """Directory holding initdb and pg_ctl: $ORGGUARD_PG_BINDIR if set (and only it), else PATH,
    else /usr/lib/postgresql/*/bin (newest first)."""
    candidates: list[str] = []
    explicit = os.environ.get("ORGGUARD_PG_BINDIR")
    if explicit:
        candidates.append(explicit)
    on_path = None if explicit else shutil.which("initdb")
    if on_path:
        candidates.append(os.path.dirname(os.path.realpath(on_path)))
    if not explicit:
        candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for directory in candidates:
        if all(os.access(os.path.join(directory, tool), os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(directory)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgCluster:
    bindir: Path
    root: Path
    port: int
    host: str = "127.0.0.1"
    dbname: str = PG_DB
    user: str = PG_USER

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def conninfo(self, *, user: str | None = None, dbname: str | None = None) -> str:
        return f"host={self.host} port={self.port} user={user or self.user} dbname={dbname or self.dbname}"

    def sqlalchemy_url(self, *, user: str | None = None, dbname: str | None = None) -> str:
        return f"postgresql+psycopg://{user or self.user}@{self.host}:{self.port}/{dbname or self.dbname}"


def _as_postgres(cmd: list[str]) -> list[str]:
    """Run as the postgres OS user when we are root (postgres refuses to run as root)."""
    if os.geteuid() != 0:
        return cmd
    if shutil.which("runuser"):
        return ["runuser", "-u", PG_USER, "--", *cmd]
    return ["su", PG_USER, "-s", "/bin/sh", "-c", subprocess.list2cmdline(cmd)]


def _run(cmd: list[str], *, what: str) -> None:
    result = subprocess.run(_as_postgres(cmd), capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def _start_cluster(bindir: Path) -> PgCluster:
    root = Path(tempfile.mkdtemp(prefix="orgguard-pg-"))
    cluster = PgCluster(bindir=bindir, root=root, port=0)
    if os.geteuid() == 0:
        entry = pwd.getpwnam(PG_USER)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    os.chmod(root, 0o700)
    _run(
        [
            str(bindir / "initdb"),
            "-D",
            str(cluster.datadir),
            "-U",
            PG_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ],
        what="initdb",
    )
    last_error: Exception | None = None
    for _attempt in range(3):
        cluster.port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {cluster.port} -k {root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=300 -c shared_buffers=32MB"
        )
        try:
            _run(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(cluster.datadir),
                    "-l",
                    str(root / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    options,
                    "start",
                ],
                what="pg_ctl start",
            )
            break
        except RuntimeError as exc:  # most likely the port was taken in between: try another
            last_error = exc
    else:
        log = (root / "server.log").read_text(errors="replace") if (root / "server.log").exists() else ""
        raise RuntimeError(f"could not start PostgreSQL: {last_error}\n{log}")
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(cluster.conninfo(dbname="postgres"), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{PG_DB}"')
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return cluster


def _stop_cluster(cluster: PgCluster) -> None:
    if cluster.datadir.exists():
        with contextlib.suppress(Exception):
            _run(
                [str(cluster.bindir / "pg_ctl"), "-D", str(cluster.datadir), "-m", "immediate", "-w", "stop"],
                what="pg_ctl stop",
            )
    shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg() -> Iterator[PgCluster]:
    """A running throwaway PostgreSQL cluster with an empty database ``orgguard_test``."""
    bindir = find_pg_bindir()
    if bindir is None:
        pytest.fail(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found "
            + (
                f"in ORGGUARD_PG_BINDIR={os.environ['ORGGUARD_PG_BINDIR']}. "
                if os.environ.get("ORGGUARD_PG_BINDIR")
                else "on PATH or in /usr/lib/postgresql/*/bin. "
            )
            + "Install Debian's `postgresql` package "
            "(apt-get install -y postgresql) to run the orgguard.runtime database tests."
        )
    try:
        cluster = _start_cluster(bindir)
    except Exception as exc:
        pytest.fail(f"could not start the throwaway PostgreSQL cluster: {exc}")
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            _stop_cluster(cluster)

    atexit.register(stop)  # also on an interpreter exit that skips fixture finalization
    try:
        yield cluster
    finally:
        stop()


# --------------------------------------------------------------------------- Django


@pytest.fixture(scope="session")
def django_db(pg: PgCluster) -> Iterator[None]:
    """Configure Django in-process against the throwaway cluster and create the tables."""
    import django
    from django.conf import settings

    if settings.configured:
        pytest.fail("Django settings were configured before the orgguard.runtime Django fixture ran")
    settings.configure(
        DEBUG=False,
        SECRET_KEY="orgguard-runtime-tests",
        ALLOWED_HOSTS=["testserver", "localhost"],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": pg.dbname,
                "USER": pg.user,
                "HOST": pg.host,
                "PORT": str(pg.port),
                "CONN_MAX_AGE": 0,
            }
        },
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
            "rt_djapp",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "orgguard.runtime.django.ActiveOrgMiddleware",
        ],
        ROOT_URLCONF="rt_djapp.urls",
        ORGGUARD_MEMBERSHIP="rt_djapp.tenancy.membership",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        LOGGING_CONFIG=None,
    )
    django.setup()
    from django.apps import apps
    from django.core.management import call_command
    from django.db import connection, connections

    # contrib apps through their migrations; the test app (no migrations) with the schema editor
    call_command("migrate", verbosity=0, interactive=False)
    with connection.schema_editor() as editor:
        for model in apps.get_app_config("rt_djapp").get_models():
            editor.create_model(model)
    try:
        yield
    finally:
        connections.close_all()
