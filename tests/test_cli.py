"""The command line, run for real: exit codes, formats, selection, suppressions, config errors."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import REPO, run_cli, write_tree

MODELS = (
    "from django.db import models\n\n"
    "class Organization(models.Model):\n    name = models.CharField(max_length=10)\n\n"
    "class Invoice(models.Model):\n"
    "    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)\n"
)


def app(project: Path, views: str, pyproject_extra: str = "") -> Path:
    if pyproject_extra:
        (project / "pyproject.toml").write_text(
            "[project]\nname = 'x'\nversion = '0'\n\n[tool.orgguard]\n" + pyproject_extra
        )
    return write_tree(project, {"app/__init__.py": "", "app/models.py": MODELS, "app/views.py": views})


UNSCOPED = "from app.models import Invoice\n\ndef detail(request, pk):\n    return Invoice.objects.get(pk=pk)\n"


def test_exit_codes_and_text_format(project: Path) -> None:
    app(project, UNSCOPED)
    proc = run_cli("check", "app", cwd=project)
    assert proc.returncode == 1
    assert proc.stdout.startswith("app/views.py:4:12: ORG101 Invoice.objects.get() reads tenant-owned Invoice")
    (project / "app/views.py").write_text(UNSCOPED.replace("pk=pk", "pk=pk, organization=request.organization"))
    clean = run_cli("check", "app", cwd=project)
    assert (clean.returncode, clean.stdout) == (0, "")


def test_json_format_is_the_documented_shape(project: Path) -> None:
    app(project, UNSCOPED)
    proc = run_cli("check", "--format", "json", cwd=project)
    doc = json.loads(proc.stdout)
    assert set(doc) == {"version", "findings", "errors"}
    (finding,) = doc["findings"]
    assert set(finding) == {
        "path",
        "line",
        "column",
        "end_line",
        "end_column",
        "code",
        "name",
        "message",
        "severity",
        "path_class",
    }
    assert finding["path"] == "app/views.py"
    assert (finding["line"], finding["column"], finding["end_line"]) == (4, 12, 4)
    assert (finding["code"], finding["name"], finding["path_class"]) == ("ORG101", "unscoped-tenant-query", "public")


def test_paths_are_relative_to_the_working_directory(project: Path) -> None:
    app(project, UNSCOPED)
    proc = run_cli("check", "--format", "json", str(project / "app"), cwd=project.parent)
    (finding,) = json.loads(proc.stdout)["findings"]
    assert finding["path"] == f"{project.name}/app/views.py"


def test_select_and_ignore(project: Path) -> None:
    app(project, UNSCOPED)
    assert run_cli("check", "--ignore", "ORG101", cwd=project).returncode == 0
    assert run_cli("check", "--select", "ORG1", cwd=project).returncode == 1
    assert run_cli("check", "--select", "ORG0", cwd=project).returncode == 0
    bad = run_cli("check", "--select", "ORG999", cwd=project)
    assert bad.returncode == 2 and "ORG999" in bad.stderr


def test_noqa_and_orgguard_ignore_in_the_cli(project: Path) -> None:
    views = (
        "from app.models import Invoice\n\n"
        "def a(request, pk):\n    return Invoice.objects.get(pk=pk)  # noqa: ORG101\n\n"
        "def b(request, pk):\n    return Invoice.objects.get(pk=pk)  # orgguard: ignore[ORG101] -- pk is signed\n\n"
        "def c(request, pk):\n    return Invoice.objects.get(\n        pk=pk,\n    )  # orgguard: ignore[ORG101] -- ok\n\n"
        "def d(request, pk):\n    return Invoice.objects.get(pk=pk)  # noqa: E501\n"
    )
    app(project, views)
    proc = run_cli("check", "--format", "json", cwd=project)
    lines = [f["line"] for f in json.loads(proc.stdout)["findings"]]
    assert lines == [15]


def test_per_file_ignores_and_exclude(project: Path) -> None:
    app(project, UNSCOPED, 'per-file-ignores = { "app/views.py" = ["ORG101"] }\n')
    assert run_cli("check", cwd=project).returncode == 0
    app(project, UNSCOPED, 'extend-exclude = ["app/views.py"]\n')
    # excluded even when passed explicitly (pre-commit passes every changed file)
    assert run_cli("check", "app/views.py", cwd=project).returncode == 0


def test_tests_and_seed_scripts_are_not_reported(project: Path) -> None:
    app(project, UNSCOPED)
    write_tree(project, {"tests/test_views.py": UNSCOPED, "app/seed_data.py": UNSCOPED})
    proc = run_cli("check", "--format", "json", cwd=project)
    assert [f["path"] for f in json.loads(proc.stdout)["findings"]] == ["app/views.py"]


def test_config_errors_exit_2_naming_file_and_key(project: Path) -> None:
    app(project, UNSCOPED, 'tenant-modle = "Team"\n')
    proc = run_cli("check", cwd=project)
    assert proc.returncode == 2
    assert "pyproject.toml" in proc.stderr and "'tenant-modle'" in proc.stderr and "tenant-model" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    app(project, UNSCOPED, "select = 3\n")
    proc = run_cli("check", cwd=project)
    assert proc.returncode == 2 and "'select'" in proc.stderr and "list of strings" in proc.stderr
    (project / "pyproject.toml").write_text("[tool.orgguard\n")
    proc = run_cli("check", cwd=project)
    assert proc.returncode == 2 and "invalid TOML" in proc.stderr


def test_parse_error_is_a_finding_and_the_run_goes_on(project: Path) -> None:
    app(project, UNSCOPED)
    write_tree(project, {"app/broken.py": "def broken(:\n    pass\n"})
    proc = run_cli("check", "--format", "json", cwd=project)
    codes = sorted((f["path"], f["code"]) for f in json.loads(proc.stdout)["findings"])
    assert codes == [("app/broken.py", "ORG000"), ("app/views.py", "ORG101")]
    assert proc.returncode == 1


def test_migrations_and_virtualenvs_are_skipped(project: Path) -> None:
    app(project, UNSCOPED)
    write_tree(project, {"app/migrations/0001_initial.py": UNSCOPED, ".venv/lib/x.py": UNSCOPED})
    proc = run_cli("check", "--format", "json", cwd=project)
    assert [f["path"] for f in json.loads(proc.stdout)["findings"]] == ["app/views.py"]


def test_usage_error_exits_2() -> None:
    assert run_cli("check", "--format", "yaml", cwd=REPO).returncode == 2
    assert run_cli(cwd=REPO).returncode == 2


def test_parallel_output_equals_serial(project: Path) -> None:
    files = {f"app/v{i}.py": UNSCOPED for i in range(20)}
    app(project, UNSCOPED)
    write_tree(project, files)
    one = run_cli("check", "-j", "1", "--format", "json", cwd=project).stdout
    two = run_cli("check", "-j", "2", "--format", "json", cwd=project).stdout
    assert one == two and len(json.loads(one)["findings"]) == 21
