"""The flake8 plugin reports exactly what `orgguard check` reports (real flake8, in a subprocess)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, fixture_apps, run_cli, write_tree

LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<code>ORG\d{3}|E999) (?P<msg>.*)$")


def flake8(app: Path, *extra: str) -> set[tuple[str, int, int, str, str]]:
    proc = subprocess.run(
        [sys.executable, "-m", "flake8", "--select", "ORG,E999", *extra, "."],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stderr
    out = set()
    for line in proc.stdout.splitlines():
        m = LINE.match(line)
        assert m, f"unexpected flake8 output: {line!r}"
        path = m["path"][2:] if m["path"].startswith("./") else m["path"]
        out.add((path, int(m["line"]), int(m["col"]), m["code"], m["msg"]))
    return out


def cli(app: Path) -> set[tuple[str, int, int, str, str]]:
    proc = run_cli("check", "--format", "json", ".", cwd=app)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    return {(f["path"], f["line"], f["column"], f["code"], f["message"]) for f in doc["findings"]}


@pytest.mark.parametrize("app", fixture_apps(), ids=lambda p: p.name)
def test_flake8_and_cli_agree_on_every_fixture(app: Path) -> None:
    from_cli = cli(app)
    from_flake8 = flake8(app)
    assert from_cli, "the fixture app should have findings"
    # flake8 never runs plugins on a file it cannot parse: its E999 stands for our ORG000 there
    assert {f[0] for f in from_flake8 if f[3] == "E999"} == {f[0] for f in from_cli if f[3] == "ORG000"}
    assert {f for f in from_flake8 if f[3] != "E999"} == {f for f in from_cli if f[3] != "ORG000"}


def test_flake8_noqa_applies(project: Path) -> None:
    write_tree(
        project,
        {
            "app/models.py": "from django.db import models\n\n"
            "class Organization(models.Model):\n    pass\n\n"
            "class Invoice(models.Model):\n"
            "    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)\n",
            "app/views.py": "from app.models import Invoice\n\n"
            "def a(request, pk):\n    return Invoice.objects.get(pk=pk)  # noqa: ORG101\n\n"
            "def b(request, pk):\n    return Invoice.objects.get(pk=pk)\n",
        },
    )
    found = flake8(project)
    assert {(p, line, code) for p, line, _, code, _ in found} == {("app/views.py", 7, "ORG101")}
    # and flake8's own --disable-noqa brings the suppressed one back
    assert len(flake8(project, "--disable-noqa")) == 2


def test_flake8_plugin_survives_a_file_that_does_not_parse(project: Path) -> None:
    write_tree(project, {"bad.py": "def broken(:\n    pass\n", "good.py": "x = 1\n"})
    proc = subprocess.run(
        [sys.executable, "-m", "flake8", "--select", "ORG,E999", "."],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 1


def _flake8_run(project: Path, select: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flake8", "--select", select, "."],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_select_e999_beside_org_to_see_a_broken_file(project: Path) -> None:
    write_tree(project, {"app/bad.py": "def broken(:\n    pass\n", "app/good.py": "x = 1\n"})
    # flake8 never runs plugins on a file it cannot parse: `--select ORG` alone passes it silently ...
    silent = _flake8_run(project, "ORG")
    assert (silent.returncode, silent.stdout) == (0, "")
    # ... `--select ORG,E999` reports it, where `orgguard check` reports ORG000 on the same line
    loud = _flake8_run(project, "ORG,E999")
    assert loud.returncode == 1
    assert [line.split(": ", 1)[1].split()[0] for line in loud.stdout.splitlines()] == ["E999"]
    assert loud.stdout.startswith("./app/bad.py:1:")
    ours = json.loads(run_cli("check", "--format", "json", cwd=project).stdout)["findings"]
    assert [(f["path"], f["line"], f["code"]) for f in ours] == [("app/bad.py", 1, "ORG000")]


FLAKE8_DOCS = [
    "README.md",
    "docs/ci.md",
    "docs/index.md",
    *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs" / "getting-started").glob("*.md")),
]


@pytest.mark.parametrize("page", FLAKE8_DOCS)
def test_docs_select_e999_beside_org(page: str) -> None:
    text = (REPO / page).read_text(encoding="utf-8")
    # every flake8 selection a page shows includes E999 (the warning "`--select ORG` alone ..." aside)
    shown = [m[1] for m in re.finditer(r"--select[ =]([A-Z0-9,]+)`?(\s+alone)?", text) if not m[2]]
    shown += re.findall(r"^#?\s*select\s*=\s*([A-Z0-9,]+)\s*$", text, re.MULTILINE)
    org = [s for s in shown if "ORG" in s.split(",")]
    assert all("E999" in s.split(",") for s in org), f"{page} shows flake8 selecting ORG without E999: {org}"
    if page in ("README.md", "docs/ci.md"):
        assert "--select ORG,E999" in text and "--select ORG` alone" in " ".join(text.split())
