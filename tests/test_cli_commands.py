"""`orgguard explain`, `orgguard rules`, `orgguard init`, progress and --quiet, through the real CLI."""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from orgguard.cli import Progress, progress_wanted
from orgguard.docs import rule_text
from orgguard.registry import all_rules

from .conftest import REPO, run_cli, write_tree

# --------------------------------------------------------------------------------------------------
# explain and rules


def test_explain_prints_the_rule_docs() -> None:
    proc = run_cli("explain", "ORG101")
    assert proc.returncode == 0
    assert proc.stdout == rule_text(all_rules()["ORG101"])
    for section in ("What it does", "Why is this bad?", "Example", "Use instead", "Options", "References"):
        assert f"## {section}" in proc.stdout
    assert run_cli("explain", "org101").stdout == proc.stdout
    assert run_cli("explain", "unscoped-tenant-query").stdout == proc.stdout


def test_explain_unknown_code_exits_2_with_the_closest_code() -> None:
    proc = run_cli("explain", "ORG10")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "unknown rule 'ORG10'" in proc.stderr and "did you mean 'ORG10" in proc.stderr
    proc = run_cli("explain", "ORG1011")
    assert proc.returncode == 2 and "did you mean 'ORG101'?" in proc.stderr
    proc = run_cli("explain", "unscoped-tenant-qeury")
    assert proc.returncode == 2 and "did you mean 'ORG101'?" in proc.stderr


def test_rules_lists_the_catalog() -> None:
    proc = run_cli("rules")
    assert proc.returncode == 0
    header, *rows = proc.stdout.splitlines()
    assert header.split()[:4] == ["CODE", "NAME", "PATH", "CLASS"]
    rules = all_rules()
    assert [row.split()[0] for row in rows] == sorted(rules)
    org101 = next(row for row in rows if row.startswith("ORG101"))
    assert "unscoped-tenant-query" in org101 and "public" in org101 and "error" in org101
    doc = json.loads(run_cli("rules", "--format", "json").stdout)
    assert [r["code"] for r in doc] == sorted(rules)
    first = next(r for r in doc if r["code"] == "ORG101")
    assert first["name"] == "unscoped-tenant-query" and first["path_class"] == "public"
    assert first["severity"] == "error" and first["cwe"] == "CWE-639"


# --------------------------------------------------------------------------------------------------
# init

DJANGO_MODELS = (
    "from django.conf import settings\nfrom django.db import models\n\n"
    "class Team(models.Model):\n    name = models.CharField(max_length=10)\n\n"
    "class Project(models.Model):\n    team = models.ForeignKey(Team, on_delete=models.CASCADE)\n\n"
    "class Board(models.Model):\n    team = models.ForeignKey(Team, on_delete=models.CASCADE)\n"
    "    project = models.ForeignKey(Project, on_delete=models.CASCADE)\n\n"
    "class TeamMember(models.Model):\n    team = models.ForeignKey(Team, on_delete=models.CASCADE)\n"
    "    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)\n"
)
DRF_VIEWS = "from rest_framework import viewsets\n\nfrom app.models import Board\n"


def test_init_writes_a_detected_section_and_never_clobbers(project: Path) -> None:
    write_tree(project, {"app/__init__.py": "", "app/models.py": DJANGO_MODELS, "app/views.py": DRF_VIEWS})
    before = (project / "pyproject.toml").read_text()
    proc = run_cli("init", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "wrote a [tool.orgguard] section" in proc.stderr
    text = (project / "pyproject.toml").read_text()
    assert text.startswith(before)  # appended, the rest untouched
    table = tomllib.loads(text)["tool"]["orgguard"]
    assert table["tenant-model"] == "Team"  # three models relate to Team, one to Project
    assert table["membership-model"] == ["TeamMember"]
    assert "Detected frameworks: Django, Django REST framework." in text
    assert "Team (3 models relate to it), Project (1 model relates to it)" in text
    # the written configuration is accepted by the linter
    assert run_cli("check", cwd=project).returncode in (0, 1)
    assert "error" not in run_cli("check", cwd=project).stderr
    # a second run refuses, and changes nothing
    again = run_cli("init", cwd=project)
    assert again.returncode == 2 and "already has a [tool.orgguard] section" in again.stderr
    assert (project / "pyproject.toml").read_text() == text


def test_init_stdout_prints_without_writing(project: Path) -> None:
    write_tree(
        project,
        {
            "requirements.txt": "flask>=3\nflask-sqlalchemy\n",
            "app/__init__.py": "",
            "app/models.py": "from app.extensions import db\n\n"
            "class Workspace(db.Model):\n    id = db.Column(db.Integer, primary_key=True)\n\n"
            "class Page(db.Model):\n    workspace_id = db.Column(db.ForeignKey('workspace.id'))\n",
        },
    )
    before = (project / "pyproject.toml").read_text()
    proc = run_cli("init", "--stdout", cwd=project)
    assert proc.returncode == 0
    assert proc.stdout.startswith("[tool.orgguard]\n")
    assert "Flask" in proc.stdout and "Flask-SQLAlchemy" in proc.stdout
    assert tomllib.loads(proc.stdout)["tool"]["orgguard"]["tenant-model"] == "Workspace"
    assert (project / "pyproject.toml").read_text() == before


def test_init_creates_pyproject_and_defaults_without_a_tenant(tmp_path: Path) -> None:
    write_tree(tmp_path, {"main.py": "print('hi')\n"})
    proc = run_cli("init", str(tmp_path), cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "pyproject.toml").read_text()
    assert "No tenant model detected" in text
    assert tomllib.loads(text)["tool"]["orgguard"]["tenant-model"] == "Organization"


def test_init_refuses_an_invalid_pyproject(project: Path) -> None:
    (project / "pyproject.toml").write_text("[project\n")
    proc = run_cli("init", cwd=project)
    assert proc.returncode == 2 and "invalid TOML" in proc.stderr
    assert (project / "pyproject.toml").read_text() == "[project\n"


# --------------------------------------------------------------------------------------------------
# progress and --quiet


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal_outside_ci() -> None:
    assert progress_wanted(FakeTTY(), {}, quiet=False)
    assert not progress_wanted(FakeTTY(), {"CI": "true"}, quiet=False)
    assert progress_wanted(FakeTTY(), {"CI": "false"}, quiet=False)
    assert not progress_wanted(FakeTTY(), {}, quiet=True)
    assert not progress_wanted(io.StringIO(), {}, quiet=False)


def test_progress_appears_only_once_the_run_is_long() -> None:
    short = FakeTTY()
    with Progress(short, 3, delay=5.0):
        pass
    assert short.getvalue() == ""
    long = FakeTTY()
    with Progress(long, 3, delay=0.0, interval=0.01):
        time.sleep(0.1)
    out = long.getvalue()
    assert "orgguard: checking 3 files..." in out and out.endswith("\r\033[K")
    many = FakeTTY()
    with Progress(many, 100_000, delay=60.0, interval=0.01):  # many files: at once
        time.sleep(0.1)
    assert "checking 100000 files" in many.getvalue()


def test_no_progress_in_pipes(project: Path) -> None:
    write_tree(project, {"app/__init__.py": "", "app/views.py": "x = 1\n"})
    proc = run_cli("check", cwd=project)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "All checks passed.\n")  # the summary, no progress


def test_quiet_keeps_findings(project: Path) -> None:
    write_tree(project, {"app/__init__.py": "", "app/broken.py": "def broken(:\n"})
    proc = run_cli("check", "--quiet", cwd=project)
    assert proc.returncode == 1 and "ORG000" in proc.stdout and proc.stderr == ""


def test_report_can_be_written_to_a_file(project: Path) -> None:
    write_tree(project, {"app/__init__.py": "", "app/broken.py": "def broken(:\n"})
    proc = run_cli("check", "--format", "sarif", "--output", "out.sarif", cwd=project)
    assert proc.returncode == 1 and proc.stdout == ""
    assert json.loads((project / "out.sarif").read_text())["version"] == "2.1.0"
