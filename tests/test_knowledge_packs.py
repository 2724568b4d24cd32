"""Users teach orgguard their own guards and resolvers as data (extend-rules), without Python."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import run_cli, write_tree

MODELS = (
    "from django.db import models\n\n"
    "class Organization(models.Model):\n    name = models.CharField(max_length=10)\n\n"
    "class Invoice(models.Model):\n"
    "    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)\n"
)
VIEWS = (
    "from acme.security import acme_resolve, assert_can_access\n"
    "from app.models import Invoice, Organization\n\n"
    "def org_invoices(request, org_id):\n"
    "    assert_can_access(request.user, org_id)\n"
    "    org = Organization.objects.get(pk=org_id)\n"
    "    return Invoice.objects.filter(organization=org)\n\n"
    "def session_invoices(request):\n"
    "    org = acme_resolve(request, request.session['org_id'])\n"
    "    return Invoice.objects.filter(organization=org)\n"
)


def codes(project: Path) -> list[tuple[int, str]]:
    proc = run_cli("check", "--format", "json", cwd=project)
    assert proc.returncode in (0, 1), proc.stderr
    return sorted((f["line"], f["code"]) for f in json.loads(proc.stdout)["findings"])


def test_user_pack_declares_guard_and_trusted_source(project: Path) -> None:
    write_tree(project, {"app/__init__.py": "", "app/models.py": MODELS, "app/views.py": VIEWS})
    # without the pack: the helper is unknown (it lives in an installed package, not the project)
    assert codes(project) == [(6, "ORG102"), (11, "ORG105")]
    (project / "orgguard-pack.toml").write_text(
        'name = "acme"\n\n[guards]\nfunctions = ["assert_can_access"]\n\n[trusted]\nresolvers = ["acme_resolve"]\n'
    )
    (project / "pyproject.toml").write_text(
        "[project]\nname='x'\nversion='0'\n\n[tool.orgguard]\nextend-rules = ['orgguard-pack.toml']\n"
    )
    assert codes(project) == []


def test_bad_pack_is_a_config_error_naming_the_key(project: Path) -> None:
    write_tree(project, {"app/views.py": "x = 1\n"})
    (project / "pack.toml").write_text('[guards]\nfunctoins = ["x"]\n')
    (project / "pyproject.toml").write_text(
        "[project]\nname='x'\nversion='0'\n\n[tool.orgguard]\nextend-rules = ['pack.toml']\n"
    )
    proc = run_cli("check", cwd=project)
    assert proc.returncode == 2
    assert "guards.functoins" in proc.stderr and "guards.functions" in proc.stderr


SA_MODELS = (
    "from acme.tenancy import TenantRow\n"
    "from sqlalchemy import ForeignKey\n"
    "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker\n\n"
    "from acme.tenancy import scope_sessions\n\n"
    "class Base(DeclarativeBase):\n    pass\n\n"
    "class Organization(Base):\n    __tablename__ = 'organizations'\n"
    "    id: Mapped[int] = mapped_column(primary_key=True)\n\n"
    "class Invoice(TenantRow, Base):\n    __tablename__ = 'invoices'\n"
    "    id: Mapped[int] = mapped_column(primary_key=True)\n"
    "    organization_id: Mapped[int] = mapped_column(ForeignKey('organizations.id'))\n\n"
    "Session = sessionmaker()\n"
    "scope_sessions(Session)\n"
)
SA_VIEWS = (
    "from flask import Flask\n"
    "from sqlalchemy import select\n\n"
    "from app.models import Invoice, Session\n"
    "from acme.tenancy import cross_tenant\n\n"
    "app = Flask(__name__)\n\n"
    "@app.get('/invoices')\n"
    "def invoices():\n"
    "    with Session() as session:\n"
    "        return [i.id for i in session.scalars(select(Invoice))]\n\n"
    "@app.get('/all-invoices')\n"
    "def all_invoices():\n"
    "    with Session() as session:\n"
    "        return [i.id for i in session.scalars(select(Invoice), execution_options=cross_tenant('SUP-1'))]\n"
)


def test_user_pack_declares_a_run_time_scoping_of_their_own(project: Path) -> None:
    """An app's own OrgScoped/install()/unscoped() equivalents are data too: a scoped base, an installer
    and an audited bypass named in a pack make the same queries clean."""
    write_tree(project, {"app/__init__.py": "", "app/models.py": SA_MODELS, "app/views.py": SA_VIEWS})
    assert codes(project) == [(12, "ORG101"), (17, "ORG101")]
    (project / "orgguard-pack.toml").write_text(
        'name = "acme"\n\n[models]\nscoped_bases = ["acme.tenancy.TenantRow"]\n\n'
        '[queries]\nsession_installers = ["acme.tenancy.scope_sessions"]\naudited_bypasses = ["cross_tenant"]\n'
    )
    (project / "pyproject.toml").write_text(
        "[project]\nname='x'\nversion='0'\n\n[tool.orgguard]\nextend-rules = ['orgguard-pack.toml']\n"
    )
    assert codes(project) == []
    # the installer alone is not enough for the bypass: without a reason it is reported again
    (project / "app/views.py").write_text(SA_VIEWS.replace("cross_tenant('SUP-1')", "cross_tenant('')"))
    assert codes(project) == [(17, "ORG101")]


ADMIN_MODELS = (
    "from sqlalchemy import ForeignKey\n"
    "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n\n"
    "class Base(DeclarativeBase):\n    pass\n\n"
    "class Organization(Base):\n    __tablename__ = 'organizations'\n"
    "    id: Mapped[int] = mapped_column(primary_key=True)\n\n"
    "class Client(Base):\n    __tablename__ = 'clients'\n"
    "    id: Mapped[int] = mapped_column(primary_key=True)\n"
    "    organization_id: Mapped[int] = mapped_column(ForeignKey('organizations.id'))\n"
)
ADMIN_ROUTES = (
    "from fastapi import APIRouter, Depends, HTTPException, Query\n"
    "from sqlalchemy import select\n\n"
    "from app.models import Client\n"
    "from app.security import admin_key\n\n\n"
    "async def is_admin(key=Depends(admin_key)):\n"
    "    if key is None:\n"
    "        raise HTTPException(status_code=401)\n\n\n"
    "def clients_of(org_id: int | None = Query(None)):\n"
    "    statement = select(Client)\n"
    "    if org_id is not None:\n"
    "        statement = statement.where(Client.organization_id == org_id)\n"
    "    return statement\n\n\n"
    "admin = APIRouter(dependencies=[Depends(is_admin)])\n\n\n"
    "@admin.get('/clients')\n"
    "def list_clients(statement=Depends(clients_of)):\n"
    "    return statement\n\n\n"
    "@admin.get('/clients/{client_id}')\n"
    "def get_client(client_id: int, db=Depends(admin_key)):\n"
    "    return db.get(Client, client_id)\n"
)


def test_user_pack_declares_an_admin_dependency(project: Path) -> None:
    """An admin router's gate that orgguard cannot read (an admin API key) is declared as data: its routes, and
    the providers only they inject, are a staff surface, where the tenant rules do not apply."""
    files = {"app/__init__.py": "", "app/models.py": ADMIN_MODELS, "app/routes.py": ADMIN_ROUTES}
    write_tree(project, {**files, "app/security.py": "def admin_key():\n    return None\n"})
    (project / "pyproject.toml").write_text("[project]\nname='x'\nversion='0'\n\n[tool.orgguard]\n")
    assert codes(project) == [(14, "ORG104"), (30, "ORG101")]
    (project / "orgguard-pack.toml").write_text('name = "acme"\n\n[admin]\ndependencies = ["is_admin"]\n')
    (project / "pyproject.toml").write_text(
        "[project]\nname='x'\nversion='0'\n\n[tool.orgguard]\nextend-rules = ['orgguard-pack.toml']\n"
    )
    assert codes(project) == []
