"""Mistakes are loud: settings and project packs that name nothing in the project are errors (exit 2),
one line naming the key and the closest names that exist; pack keys the engine does not read are errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orgguard.engine.names import NAMING_KEYS, OTHER_KEYS, named
from orgguard.knowledge import pack_schema

from .conftest import REPO, run_cli, write_tree

MODELS = (
    "from django.db import models\n\n"
    "class Organization(models.Model):\n    name = models.CharField(max_length=10)\n\n"
    "class Membership(models.Model):\n"
    "    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)\n"
    "    user = models.ForeignKey('auth.User', on_delete=models.CASCADE)\n\n"
    "class Invoice(models.Model):\n"
    "    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)\n"
)
VIEWS = (
    "from acme.security import assert_can_access\n"
    "from app.models import Invoice, Organization\n\n"
    "def detail(request, pk):\n    return Invoice.objects.get(pk=pk)\n\n"
    "def org_invoices(request, org_id):\n"
    "    assert_can_access(request.user, org_id)\n"
    "    org = Organization.objects.get(pk=org_id)\n"
    "    return Invoice.objects.filter(organization=org)\n"
)


def _app(root: Path, table: str, files: dict[str, str] | None = None) -> Path:
    (root / "pyproject.toml").write_text(f"[project]\nname = 'x'\nversion = '0'\n\n[tool.orgguard]\n{table}")
    return write_tree(root, {"app/__init__.py": "", "app/models.py": MODELS, "app/views.py": VIEWS, **(files or {})})


def _error(root: Path) -> str:
    proc = run_cli("check", cwd=root)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_a_misspelt_tenant_model_is_an_error_with_the_closest_model(project: Path) -> None:
    _app(project, 'tenant-model = "Organisation"\n')
    line = _error(project)
    assert line.startswith("orgguard: error: ")
    assert 'tenant-model "Organisation" names no class in the project; did you mean "Organization"?' in line
    assert "pyproject.toml" in line


def test_a_tenant_model_with_no_close_name_lists_the_candidates(project: Path) -> None:
    _app(project, 'tenant-model = "Workspace"\n')
    line = _error(project)
    assert 'tenant-model "Workspace" names no class in the project; the project has "Organization"' in line


def test_a_misspelt_membership_model_is_an_error(project: Path) -> None:
    _app(project, 'membership-model = ["Membership", "Membrship"]\n')
    line = _error(project)
    assert 'membership-model "Membrship" names no class in the project; did you mean "Membership"?' in line


def test_a_misspelt_shared_model_is_an_error_naming_the_tenant_owned_models(project: Path) -> None:
    _app(project, 'shared-models = ["Invoices"]\n')
    line = _error(project)
    assert 'shared-models "Invoices" names no class in the project; did you mean "Invoice"?' in line


def test_a_shared_model_is_read_by_every_tenant(project: Path) -> None:
    # Invoice is tenant-owned (detail() is reported) until the settings declare it shared
    _app(project, "")
    before = run_cli("check", "--no-cache", "--format", "json", cwd=project)
    assert any(f["code"] == "ORG101" for f in json.loads(before.stdout)["findings"]), before.stdout
    _app(project, 'shared-models = ["Invoice"]\n')
    after = run_cli("check", "--no-cache", "--format", "json", cwd=project)
    assert not [f for f in json.loads(after.stdout)["findings"] if f["code"] == "ORG101"], after.stdout


def test_the_error_stays_on_a_cached_run_and_goes_when_fixed(project: Path) -> None:
    _app(project, 'tenant-model = "Organisation"\n')
    _error(project)
    _error(project)  # no cached state hides it
    _app(project, 'tenant-model = "Organization"\n')
    assert run_cli("check", cwd=project).returncode == 1


@pytest.mark.parametrize(
    ("table", "files"),
    [
        # the defaults name models a project need not have
        ("", {"app/models.py": "from django.db import models\n\nclass Team(models.Model):\n    pass\n"}),
        ('tenant-model = "Team"\nmembership-model = []\n', {"app/models.py": "class Team:\n    pass\n"}),
        # per-user ownership: the user model is the framework's, maybe never named
        ('tenant-model = "User"\nmembership-model = []\n', {}),
        # a tenant model from an installed package, named by a relation, a swappable loader or an import
        (
            'tenant-model = "Organization"\nmembership-model = "OrganizationUser"\n',
            {
                "app/models.py": "from django.db import models\n\n"
                "class Device(models.Model):\n"
                "    organization = models.ForeignKey('openwisp_users.Organization', on_delete=models.CASCADE)\n",
                "app/views.py": "from swapper import load_model\n\n"
                "OrganizationUser = load_model('openwisp_users', 'OrganizationUser')\n",
            },
        ),
        (
            'tenant-model = "Organization"\n',
            {"app/models.py": "from openwisp_users.models import Organization\n", "app/views.py": "x = 1\n"},
        ),
    ],
    ids=["defaults", "plain-class", "user", "installed-by-reference", "installed-by-import"],
)
def test_names_the_project_has_are_not_errors(project: Path, table: str, files: dict[str, str]) -> None:
    _app(project, table, files)
    proc = run_cli("check", cwd=project)
    assert proc.returncode in (0, 1), proc.stderr


def _pack(root: Path, body: str, files: dict[str, str] | None = None) -> None:
    (root / "orgguard-pack.toml").write_text(f'name = "acme"\n\n{body}')
    _app(root, 'extend-rules = ["orgguard-pack.toml"]\n', files)


def test_a_pack_entry_naming_nothing_is_an_error(project: Path) -> None:
    _pack(project, '[guards]\nfunctions = ["assert_can_acess"]\n')
    line = _error(project)
    assert "orgguard-pack.toml" in line
    assert 'guards.functions "assert_can_acess" names no class or function in the project' in line
    assert 'did you mean "assert_can_access"' in line


def test_a_pack_entry_is_looked_for_in_the_code_not_in_comments(project: Path) -> None:
    urls = "from acme import acme_guard\nfrom app import views\n\nurlpatterns = [acme_guard(views.detail)]\n"
    _pack(project, '[guards]\ndecorators = ["acme.acme_guard"]\n', {"app/urls.py": urls})
    assert run_cli("check", cwd=project).returncode == 1
    _pack(project, '[guards]\ndecorators = ["acme_guard"]\n', {"app/urls.py": "# acme_guard comes later\n"})
    assert 'guards.decorators "acme_guard" names no class' in _error(project)


def test_pack_entries_that_are_not_names_are_not_looked_for(project: Path) -> None:
    _pack(project, '[trusted]\norg_sources = ["request.tenant"]\n\n[models]\nsecret_fields = ["*apikey*"]\n')
    assert run_cli("check", cwd=project).returncode == 1


@pytest.mark.parametrize(
    "key", ["sources.org_keys", "sources.host_attrs", "sources.stripe_keys", "audit.actor_helpers"]
)
def test_a_pack_key_the_engine_does_not_read_is_an_error(project: Path, key: str) -> None:
    section, name = key.split(".")
    _pack(project, f'[{section}]\n{name} = ["workspace_slug"]\n')
    line = _error(project)
    assert f"unknown key '{key}'" in line


def test_every_pack_key_is_read_by_the_engine() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "src" / "orgguard").rglob("*.py"))
    read = set(re.findall(r'"([a-z_]+\.[a-z_]+)"', source))
    declared = {f"{section}.{key}" for section, keys in pack_schema().items() for key in keys}
    assert declared - read == set(), "declared in rules/frameworks/_schema.toml but never read"


def test_every_pack_key_is_known_to_name_things_or_not() -> None:
    declared = {f"{section}.{key}" for section, keys in pack_schema().items() for key in keys}
    assert declared == NAMING_KEYS | OTHER_KEYS
    assert not NAMING_KEYS & OTHER_KEYS


@pytest.mark.parametrize(
    ("entry", "name"),
    [
        ("guards.require_member", "require_member"),
        ("current_org()", "current_org"),
        (".delay", "delay"),
        ("stripe.Webhook.construct_event", "construct_event"),
        ("*token*", None),
        ("/admin", None),
    ],
)
def test_what_an_entry_names(entry: str, name: str | None) -> None:
    assert named(entry) == name


def test_flake8_reports_the_error_on_each_file(project: Path) -> None:
    _app(project, 'tenant-model = "Organisation"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "flake8", "--select", "ORG", "app/views.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stderr
    (line,) = proc.stdout.splitlines()
    assert line.startswith("app/views.py:1:1: ORG000 orgguard configuration error: ")
    assert 'tenant-model "Organisation" names no class in the project; did you mean "Organization"?' in line


def test_the_fixture_apps_settings_name_what_the_apps_have() -> None:
    # every fixture app is checked by tests/test_fixtures.py; this one asks for the JSON errors only
    app = REPO / "fixtures" / "realworld_django"
    proc = run_cli("check", "--no-cache", "--format", "json", ".", cwd=app)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["errors"] == []
