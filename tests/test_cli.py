"""The command line, run for real: exit codes, formats, selection, suppressions, config errors."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from orgguard.reporters.text import colour_wanted

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
        "trace",
    }
    assert finding["trace"] == []  # the query is in the handler itself: no path to show
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


# ---------------------------------------------------------------------------------------------------
# a command line like the tools users know (Ruff, flake8)

ANSI = "\033["


def cli_env(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`orgguard` in a subprocess with these environment variables (colour ones cleared unless given)."""
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")}
    return subprocess.run(
        [sys.executable, "-m", "orgguard", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        env={**base, **env},
    )


def test_a_missing_path_is_a_usage_error_with_no_side_effects(project: Path) -> None:
    app(project, UNSCOPED)
    for fmt in ("text", "json", "sarif", "github"):
        proc = run_cli("check", "--format", fmt, "app", "nowhere.py", cwd=project)
        assert (proc.returncode, proc.stdout) == (2, "")
        assert proc.stderr == "orgguard: error: nowhere.py: no such file or directory\n"
    assert not (project / ".orgguard_cache").exists()  # nothing read, nothing written
    both = run_cli("check", "gone/", "nowhere.py", cwd=project)
    assert (
        both.returncode == 2 and both.stderr.count("\n") == 1 and "gone" in both.stderr and "nowhere.py" in both.stderr
    )
    assert not (project / ".orgguard_cache").exists()


def test_a_directory_without_python_files_says_so(project: Path) -> None:
    write_tree(project, {"docs/index.md": "# docs\n"})
    proc = run_cli("check", "docs", cwd=project)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "orgguard: warning: no Python files found\n")
    as_json = run_cli("check", "--format", "json", "docs", cwd=project)
    assert json.loads(as_json.stdout)["findings"] == [] and "no Python files found" in as_json.stderr
    assert run_cli("check", "-q", "docs", cwd=project).stderr == ""


def test_a_text_run_ends_with_a_summary_line(project: Path) -> None:
    app(project, UNSCOPED + "\ndef quiet(request, pk):\n    return Invoice.objects.get(pk=pk)  # noqa: ORG101\n")
    write_tree(project, {"app/other.py": UNSCOPED, "app/clean.py": "x = 1\n"})
    proc = run_cli("check", cwd=project)
    assert proc.returncode == 1 and proc.stdout.count("ORG101") == 2
    assert proc.stderr.splitlines()[-1] == "Found 2 findings in 2 files; 1 suppressed."
    one = run_cli("check", "app/views.py", cwd=project)
    assert one.stderr.splitlines()[-1] == "Found 1 finding in 1 file; 1 suppressed."
    clean = run_cli("check", "app/clean.py", cwd=project)
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, "", "All checks passed.\n")
    assert run_cli("check", "-q", cwd=project).stderr == ""
    # the machine-readable formats stay pure: the whole of stdout is the document, stderr says nothing
    for fmt in ("json", "sarif"):
        machine = run_cli("check", "--format", fmt, cwd=project)
        assert json.loads(machine.stdout) and machine.stderr == ""
    github = run_cli("check", "--format", "github", cwd=project)
    assert all(line.startswith("::error ") for line in github.stdout.splitlines()) and github.stderr == ""


def test_colour_on_a_terminal_only_honouring_no_color_and_force_color(project: Path) -> None:
    app(project, UNSCOPED)
    assert ANSI not in cli_env(project, "check").stdout  # a pipe: no colour
    forced = cli_env(project, "check", FORCE_COLOR="1").stdout
    assert forced.startswith("\033[1mapp/views.py\033[0m") and "\033[31mORG101\033[0m" in forced
    assert ANSI not in cli_env(project, "check", FORCE_COLOR="1", NO_COLOR="1").stdout
    assert ANSI not in cli_env(project, "check", FORCE_COLOR="").stdout  # empty means unset
    for fmt in ("json", "sarif", "github"):
        assert ANSI not in cli_env(project, "check", "--format", fmt, FORCE_COLOR="1").stdout
    cli_env(project, "check", "--output", "report.txt", FORCE_COLOR="1")
    assert ANSI not in (project / "report.txt").read_text()
    # a real terminal
    assert "\033[31mORG101" in _on_a_terminal(project, {})
    assert ANSI not in _on_a_terminal(project, {"NO_COLOR": "1"})
    assert ANSI not in _on_a_terminal(project, {"TERM": "dumb"})


def _on_a_terminal(project: Path, env: dict[str, str]) -> str:
    """What `orgguard check` prints to stdout when stdout is a pseudo-terminal."""
    leader, follower = pty.openpty()
    try:
        base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM", "CI")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "orgguard", "check", "--no-cache", "app"],
            cwd=project,
            stdout=follower,
            stderr=subprocess.DEVNULL,
            env={**base, "TERM": "xterm", **env},
        )
        os.close(follower)
        out = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            out += chunk
        proc.wait(timeout=300)
    finally:
        os.close(leader)
    return out.decode()


def test_colour_wanted() -> None:
    class TTY(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert colour_wanted(TTY(), {}) and not colour_wanted(io.StringIO(), {})
    assert not colour_wanted(TTY(), {"NO_COLOR": "1"}) and colour_wanted(TTY(), {"NO_COLOR": ""})
    assert colour_wanted(io.StringIO(), {"FORCE_COLOR": "1"}) and colour_wanted(io.StringIO(), {"FORCE_COLOR": "0"})
    assert not colour_wanted(io.StringIO(), {"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert not colour_wanted(TTY(), {"TERM": "dumb"})


def test_exit_zero(project: Path) -> None:
    app(project, UNSCOPED)
    proc = run_cli("check", "--exit-zero", cwd=project)
    assert proc.returncode == 0 and proc.stdout.startswith("app/views.py:4:12: ORG101")
    assert run_cli("check", "--exit-zero", "--format", "json", cwd=project).returncode == 0
    assert run_cli("check", "--exit-zero", "nowhere.py", cwd=project).returncode == 2  # usage errors stay 2
    assert run_cli("check", "--exit-zero", "--select", "ORG999", cwd=project).returncode == 2


def test_statistics(project: Path) -> None:
    views = UNSCOPED + "\ndef b(request, pk):\n    return Invoice.objects.get(pk=pk)\n"
    views += "\ndef c(request):\n    return Invoice.objects.filter(organization_id=request.GET['org'])\n"
    app(project, views)
    proc = run_cli("check", "--statistics", cwd=project)
    assert proc.returncode == 1
    assert proc.stdout == "2\tORG101\tunscoped-tenant-query\n1\tORG102\torg-id-from-request\n"
    assert proc.stderr == "Found 3 findings in 1 file.\n"
    as_json = run_cli("check", "--statistics", "--format", "json", cwd=project)
    assert json.loads(as_json.stdout) == [
        {"code": "ORG101", "name": "unscoped-tenant-query", "count": 2},
        {"code": "ORG102", "name": "org-id-from-request", "count": 1},
    ]
    sarif = run_cli("check", "--statistics", "--format", "sarif", cwd=project)
    assert (sarif.returncode, sarif.stdout) == (2, "") and "--statistics" in sarif.stderr
    assert run_cli("check", "--statistics", "--exit-zero", cwd=project).returncode == 0


def test_jobs_zero_is_documented() -> None:
    help_text = run_cli("check", "--help").stdout
    assert "-j N, --jobs N" in help_text and "0 (the default): one per core" in " ".join(help_text.split())
    assert "-j 0" in (REPO / "README.md").read_text(encoding="utf-8")


def test_a_reader_that_leaves_early_is_no_internal_error(project: Path) -> None:
    """`orgguard check . | head -1`: the pipe closes before the report is written; the run stops quietly with
    the status a shell gives a tool that SIGPIPE stopped (141), no "internal error" and no traceback."""
    app(project, UNSCOPED)
    reader, writer = os.pipe()
    os.close(reader)  # nobody will read: the first write fails with EPIPE
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "orgguard", "check", "--no-cache", "app"],
            cwd=project,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    finally:
        os.close(writer)
    assert (proc.returncode, proc.stderr) == (141, "")
