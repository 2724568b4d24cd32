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
