"""Suppression comments, for real: reasons enforced (ORG001), unused ones reported (ORG002), whole statements."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from orgguard.engine.suppressions import parse_line

from .conftest import run_cli, write_tree

MODELS = (
    "from django.db import models\n\n"
    "class Organization(models.Model):\n    name = models.CharField(max_length=10)\n\n"
    "class Invoice(models.Model):\n"
    "    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)\n"
)
HEAD = "from app.models import Invoice\n\n"


def make_app(project: Path, views: str, settings: str = "") -> Path:
    if settings:
        (project / "pyproject.toml").write_text("[project]\nname='x'\nversion='0'\n\n[tool.orgguard]\n" + settings)
    return write_tree(project, {"app/__init__.py": "", "app/models.py": MODELS, "app/views.py": HEAD + views})


def found(project: Path, *args: str) -> list[tuple[int, str]]:
    proc = run_cli("check", "--format", "json", *args, cwd=project)
    assert proc.returncode in (0, 1), proc.stderr
    return [(f["line"], f["code"]) for f in json.loads(proc.stdout)["findings"]]


def messages(project: Path) -> dict[int, str]:
    proc = run_cli("check", "--format", "json", cwd=project)
    return {f["line"]: f["message"] for f in json.loads(proc.stdout)["findings"]}


def test_a_reason_is_required_and_a_reasonless_comment_still_suppresses(project: Path) -> None:
    make_app(
        project,
        "def a(request, pk):\n    return Invoice.objects.get(pk=pk)  # orgguard: ignore[ORG101] -- pk is signed\n\n"
        "def b(request, pk):\n    return Invoice.objects.get(pk=pk)  # orgguard: ignore[ORG101]\n\n"
        "def c(request, pk):\n    return Invoice.objects.get(pk=pk)  # orgguard: ignore[ORG101] --   \n",
    )
    assert found(project) == [(7, "ORG001"), (10, "ORG001")]
    msg = messages(project)[7]
    assert "ignore[ORG101]" in msg and "reason" in msg
    proc = run_cli("check", cwd=project)
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[0].startswith("app/views.py:7:40: ORG001 ")


def test_reasons_can_be_made_optional(project: Path) -> None:
    make_app(
        project,
        "def b(request, pk):\n    return Invoice.objects.get(pk=pk)  # orgguard: ignore[ORG101]\n",
        "require-suppression-reason = false\n",
    )
    assert found(project) == []
    assert run_cli("check", cwd=project).returncode == 0


def test_a_suppression_covers_every_line_of_its_statement(project: Path) -> None:
    make_app(
        project,
        "def first(request, pk):\n    return Invoice.objects.get(  # orgguard: ignore[ORG101] -- a\n        pk=pk,\n    )\n\n"
        "def middle(request, pk):\n    return Invoice.objects.get(\n        pk=pk,  # orgguard: ignore[ORG101] -- b\n    )\n\n"
        "def closing(request, pk):\n    return Invoice.objects.get(\n        pk=pk,\n    )  # orgguard: ignore[ORG101] -- c\n\n"
        "def next_statement(request, pk):\n    x = Invoice.objects.get(pk=pk)\n    return x  # orgguard: ignore[ORG101] -- d\n",
    )
    # the last comment is on another statement: the finding stays and the comment is unused
    assert found(project) == [(19, "ORG101"), (20, "ORG002")]


def test_unused_suppressions_are_reported(project: Path) -> None:
    make_app(
        project,
        "def scoped(request, pk):\n"
        "    return Invoice.objects.get(pk=pk, organization=request.organization)  # orgguard: ignore[ORG101] -- old\n\n"
        "def noqa_specific(request, pk):\n"
        "    return Invoice.objects.get(pk=pk, organization=request.organization)  # noqa: ORG101\n\n"
        "def noqa_bare(request, pk):\n"
        "    return Invoice.objects.get(pk=pk, organization=request.organization)  # noqa\n\n"
        "def noqa_other_tools(request, pk):\n"
        "    return Invoice.objects.get(pk=pk, organization=request.organization)  # noqa: E501\n\n"
        "def in_a_string(request, pk):\n"
        "    text = '# orgguard: ignore[ORG101] -- not a comment'\n"
        "    return text\n\n"
        "def partly_used(request, pk):\n"
        "    return Invoice.objects.get(pk=pk)  # orgguard: ignore[ORG101, ORG999] -- x\n",
    )
    assert found(project) == [(4, "ORG002"), (7, "ORG002"), (20, "ORG002")]
    msgs = messages(project)
    assert "no ORG101 finding on this statement" in msgs[4] and "remove it" in msgs[4]
    assert "`# noqa: ORG101`" in msgs[7]
    assert "ORG999 is not an orgguard rule" in msgs[20] and "remove ORG999 from it" in msgs[20]


def test_suppressions_of_rules_not_enabled_are_unused(project: Path) -> None:
    make_app(project, "def a(request, pk):\n    return Invoice.objects.get(pk=pk)  # orgguard: ignore[ORG101] -- ok\n")
    assert found(project) == []
    assert found(project, "--select", "ORG002") == [(4, "ORG002")]
    assert (
        "rule ORG101 is not enabled"
        in json.loads(run_cli("check", "--format", "json", "--select", "ORG002", cwd=project).stdout)["findings"][0][
            "message"
        ]
    )
    assert found(project, "--select", "ORG1") == []  # ORG002 itself not enabled
    assert found(project, "--ignore", "ORG002,ORG101") == []


def test_audit_findings_obey_noqa_per_file_ignores_and_exempt_files(project: Path) -> None:
    views = "def a(request, pk):\n    return Invoice.objects.get(pk=pk)  # orgguard: ignore[ORG101]  # noqa: ORG001\n"
    make_app(project, views)
    assert found(project) == []
    make_app(project, views.replace("  # noqa: ORG001", ""), 'per-file-ignores = { "app/views.py" = ["ORG001"] }\n')
    assert found(project) == []
    write_tree(project, {"tests/test_views.py": HEAD + views.replace("  # noqa: ORG001", "")})
    (project / "pyproject.toml").write_text("[project]\nname='x'\nversion='0'\n")
    assert found(project) == [(4, "ORG001")]  # the test file is exempt; views.py is not


def test_flake8_reports_the_same_audit_findings(project: Path) -> None:
    make_app(
        project,
        "def a(request, pk):\n    return Invoice.objects.get(pk=pk)  # orgguard: ignore[ORG101]\n\n"
        "def b(request, pk):\n    return Invoice.objects.get(pk=pk, organization=request.organization)  # noqa: ORG101\n\n"
        "def c(request, pk):\n    return Invoice.objects.get(pk=pk)  # noqa: ORG101\n",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "flake8", "--select", "ORG", "."],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    got = sorted(
        (int(line.split(":")[1]), line.split(": ", 1)[1].split()[0]) for line in proc.stdout.splitlines() if line
    )
    assert got == found(project) == [(4, "ORG001"), (7, "ORG002")]


def test_parse_line() -> None:
    (sup,) = parse_line(3, "x = 1  # orgguard: ignore[ORG101, org2] -- because  # expect: ORG002", noqa=True)
    assert (sup.line, sup.codes, sup.kind, sup.column) == (3, ("ORG101", "ORG2"), "orgguard", 8)
    assert sup.reason == "because  # expect: ORG002"
    assert sup.text == "# orgguard: ignore[ORG101, org2]"
    (bare,) = parse_line(1, "x = 1  # orgguard: ignore[ORG101]  # expect: ORG001", noqa=True)
    assert bare.reason == ""
    (noqa,) = parse_line(1, "x = 1  # NOQA:ORG101,E501", noqa=True)
    assert (noqa.kind, noqa.codes) == ("noqa", ("ORG101", "E501"))
    assert parse_line(1, "x = 1  # noqa: ORG101", noqa=False) == []
