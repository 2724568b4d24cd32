"""Baselines through the real command line: round trip across line shifts, counts, stale entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orgguard.engine.baseline import enclosing_function, normalise

from .conftest import run_cli, write_tree

MODELS = (
    "from django.db import models\n\n"
    "class Organization(models.Model):\n    name = models.CharField(max_length=10)\n\n"
    "class Invoice(models.Model):\n"
    "    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)\n"
)
VIEWS = (
    "from app.models import Invoice\n\n"
    "def detail(request, pk):\n"
    "    return Invoice.objects.get(pk=pk)\n\n"
    "def listing(request):\n"
    "    return Invoice.objects.filter(number=request.GET['n'])\n"
)


def make_app(project: Path, views: str = VIEWS) -> Path:
    return write_tree(project, {"app/__init__.py": "", "app/models.py": MODELS, "app/views.py": views})


def findings(project: Path, *args: str) -> tuple[int, list[tuple[str, int, str]], dict[str, object], str]:
    proc = run_cli("check", "--format", "json", *args, cwd=project)
    doc = json.loads(proc.stdout)
    return proc.returncode, [(f["path"], f["line"], f["code"]) for f in doc["findings"]], doc, proc.stderr


def test_round_trip_survives_lines_inserted_above_findings(project: Path) -> None:
    make_app(project)
    write = run_cli("check", "--write-baseline", "baseline.json", cwd=project)
    assert write.returncode == 0 and write.stdout == ""
    assert "wrote 2 finding(s)" in write.stderr
    data = json.loads((project / "baseline.json").read_text())
    assert [(e["code"], e["function"], e["count"]) for e in data["findings"]] == [
        ("ORG101", "detail", 1),
        ("ORG101", "listing", 1),
    ]
    assert all("line" not in e for e in data["findings"])
    shifted = "import logging\n\nlog = logging.getLogger(__name__)\n\n\n" + VIEWS.replace(
        "def detail(request, pk):\n", "def detail(request, pk):\n    log.info('detail')\n    # look it up\n"
    )
    (project / "app/views.py").write_text(shifted)
    rc, found, doc, stderr = findings(project, "--baseline", "baseline.json")
    assert (rc, found) == (0, [])
    assert doc["baseline_stale"] == []
    assert "2 finding(s) recorded in baseline" in stderr
    # without the baseline they are all still there
    assert len(findings(project)[1]) == 2


def test_reformatting_and_comments_do_not_make_a_finding_new(project: Path) -> None:
    make_app(project)
    run_cli("check", "--write-baseline", "baseline.json", cwd=project, check=True)
    reformatted = VIEWS.replace(
        "    return Invoice.objects.get(pk=pk)\n",
        "    return Invoice.objects.get(  # the invoice\n        pk=pk,\n    )\n",
    )
    (project / "app/views.py").write_text(reformatted)
    assert findings(project, "--baseline", "baseline.json")[:2] == (0, [])


def test_a_second_identical_finding_in_the_same_function_is_new(project: Path) -> None:
    make_app(project)
    run_cli("check", "--write-baseline", "baseline.json", cwd=project, check=True)
    line = "    return Invoice.objects.get(pk=pk)\n"
    doubled = VIEWS.replace(line, line + line)  # the same statement twice in detail()
    (project / "app/views.py").write_text(doubled)
    rc, found, _doc, _ = findings(project, "--baseline", "baseline.json")
    assert rc == 1
    assert found == [("app/views.py", 5, "ORG101")]  # one of the two is new: the later one
    # the same statement in another function is new as well
    (project / "app/views.py").write_text(VIEWS + "\ndef other(request, pk):\n    return Invoice.objects.get(pk=pk)\n")
    rc, found, _doc, _ = findings(project, "--baseline", "baseline.json")
    assert (rc, found) == (1, [("app/views.py", 10, "ORG101")])


def test_stale_entries_are_reported_so_the_baseline_shrinks(project: Path) -> None:
    make_app(project)
    run_cli("check", "--write-baseline", "baseline.json", cwd=project, check=True)
    fixed = VIEWS.replace("get(pk=pk)", "get(pk=pk, organization=request.organization)")
    (project / "app/views.py").write_text(fixed)
    rc, found, doc, stderr = findings(project, "--baseline", "baseline.json")
    assert (rc, found) == (0, [])
    (stale,) = doc["baseline_stale"]
    assert (stale["path"], stale["code"], stale["function"], stale["count"]) == ("app/views.py", "ORG101", "detail", 1)
    assert "no longer occur" in stderr and "--write-baseline baseline.json" in stderr
    text = run_cli("check", "--baseline", "baseline.json", cwd=project)
    assert text.returncode == 0 and text.stdout == ""
    assert "stale: app/views.py: ORG101 in detail" in text.stderr
    # rewriting the baseline shrinks it
    run_cli("check", "--write-baseline", "baseline.json", cwd=project, check=True)
    assert len(json.loads((project / "baseline.json").read_text())["findings"]) == 1
    assert findings(project, "--baseline", "baseline.json")[2]["baseline_stale"] == []


def test_checking_some_files_does_not_make_other_entries_stale(project: Path) -> None:
    make_app(project)
    write_tree(
        project,
        {"app/more.py": "from app.models import Invoice\n\ndef m(request):\n    return Invoice.objects.all()\n"},
    )
    run_cli("check", "--write-baseline", "baseline.json", cwd=project, check=True)
    rc, found, doc, _ = findings(project, "--baseline", "baseline.json", "app/more.py")
    assert (rc, found, doc["baseline_stale"]) == (0, [], [])


def test_baseline_paths_do_not_depend_on_the_working_directory(project: Path) -> None:
    make_app(project)
    run_cli("check", "--write-baseline", "baseline.json", cwd=project, check=True)
    proc = run_cli("check", "--baseline", str(project / "baseline.json"), str(project / "app"), cwd=project.parent)
    assert (proc.returncode, proc.stdout) == (0, "")


def test_quiet_silences_the_summaries(project: Path) -> None:
    make_app(project)
    quiet = run_cli("check", "--quiet", "--write-baseline", "baseline.json", cwd=project)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    (project / "app/views.py").write_text(VIEWS + "\ndef other(request, pk):\n    return Invoice.objects.get(pk=pk)\n")
    proc = run_cli("check", "-q", "--baseline", "baseline.json", cwd=project)
    assert proc.returncode == 1 and proc.stderr == ""
    assert proc.stdout.startswith("app/views.py:10:12: ORG101")


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "not found"), ("{not json", "invalid JSON"), ('{"version": 99, "findings": []}', "version")],
)
def test_unusable_baseline_is_a_usage_error(project: Path, content: str | None, message: str) -> None:
    make_app(project)
    if content is not None:
        (project / "baseline.json").write_text(content)
    proc = run_cli("check", "--baseline", "baseline.json", cwd=project)
    assert proc.returncode == 2 and message in proc.stderr and proc.stdout == ""


def test_normalise_and_enclosing_function() -> None:
    assert normalise("x = f(  # c\n    a,\n    b,\n)") == "x = f(a, b)"
    assert normalise("x = '# not a comment'  # comment") == "x = '# not a comment'"
    lines = [
        "class V(View):",
        "    def get(self, request):",
        "        if request.user:",
        "            return Invoice.objects.all()",
        "",
        "def top():",
        "    return 1",
        "queryset = Invoice.objects.all()",
    ]
    assert enclosing_function(lines, 4) == "V.get"
    assert enclosing_function(lines, 7) == "top"
    assert enclosing_function(lines, 8) == "<module>"
