"""`--format sarif` (validated against the OASIS SARIF 2.1.0 schema) and `--format github`, for real."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from orgguard.reporters.github import escape_data, escape_property

from .conftest import REPO, run_cli, write_tree

SCHEMA_FILE = Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json"  # the OASIS schema, kept in the repository

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
    "def again(request, pk):\n"
    "    return Invoice.objects.get(pk=pk)\n\n"
    "def shared(request, pk):\n"
    "    return Invoice.objects.get(pk=pk)  # orgguard: ignore[ORG101] -- pk is a signed share token\n"
)


def make_app(project: Path, views: str = VIEWS) -> Path:
    return write_tree(project, {"app/__init__.py": "", "app/models.py": MODELS, "app/views.py": views})


def sarif(project: Path, *args: str, cwd: Path | None = None) -> dict[str, Any]:
    proc = run_cli("check", "--format", "sarif", *args, cwd=cwd or project)
    assert proc.returncode in (0, 1), proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def validate(doc: dict[str, Any]) -> None:
    assert SCHEMA_FILE.is_file(), f"the SARIF schema must be at {SCHEMA_FILE}"
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def test_the_schema_lives_in_the_repository() -> None:
    # a fresh clone in any directory has it: nothing the tests read lies outside the repository
    assert SCHEMA_FILE.resolve().is_relative_to(REPO) and SCHEMA_FILE.is_file()
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))["title"].startswith("Static Analysis Results Format")


def test_sarif_is_valid_against_the_oasis_schema(project: Path) -> None:
    make_app(project)
    write_tree(project, {"app/broken.py": "def broken(:\n    pass\n"})
    (project / "app/dangling.py").symlink_to("gone.py")  # a run error becomes a tool notification
    doc = sarif(project, ".")
    validate(doc)
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["message"]["text"] for n in notes] == ["cannot read: dangling symlink"]
    assert {r["ruleId"] for r in run["results"]} == {"ORG000", "ORG101"}


def test_rules_are_shaped_for_github_code_scanning(project: Path) -> None:
    make_app(project)
    driver = sarif(project)["runs"][0]["tool"]["driver"]
    assert driver["name"] == "orgguard" and driver["version"]
    rules = {r["id"]: r for r in driver["rules"]}
    rule = rules["ORG101"]
    assert rule["name"] == "unscoped-tenant-query"
    assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
    assert "## Why is this bad?" in rule["help"]["markdown"] and "Why is this bad?" in rule["help"]["text"]
    assert "```python" not in rule["help"]["text"]
    assert rule["helpUri"].endswith("/rules/ORG101/")
    assert rule["defaultConfiguration"]["level"] == "error"
    props = rule["properties"]
    assert {"security", "public", "CWE-639", "external/cwe/cwe-639"} <= set(props["tags"])
    assert props["precision"] in ("very-high", "high", "medium", "low")
    assert 7.0 <= float(props["security-severity"]) <= 10.0
    # engine rules are not security findings
    assert "security-severity" not in rules["ORG000"]["properties"]


def test_results_carry_rule_index_level_and_repo_relative_region(project: Path) -> None:
    make_app(project)
    doc = sarif(project)
    run = doc["runs"][0]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    first = next(r for r in run["results"] if "suppressions" not in r)
    assert ids[first["ruleIndex"]] == first["ruleId"] == "ORG101"
    assert first["level"] == "error" and "Invoice" in first["message"]["text"]
    loc = first["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "app/views.py", "uriBaseId": "%SRCROOT%"}
    assert loc["region"] == {"startLine": 4, "startColumn": 12, "endLine": 4, "endColumn": 38}
    assert run["columnKind"] == "unicodeCodePoints"
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].startswith("file://")
    # the same URIs whatever the working directory
    again = sarif(project, ".", cwd=project / "app")
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in again["runs"][0]["results"]} == {
        "app/views.py"
    }


def test_uris_are_relative_to_the_repository_holding_the_project(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    project = repo / "backend"
    write_tree(project, {"pyproject.toml": "[project]\nname='b'\nversion='0'\n"})
    make_app(project)
    doc = sarif(project)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in doc["runs"][0]["results"]}
    assert uris == {"backend/app/views.py"}


def test_suppressed_findings_are_kept_with_their_justification(project: Path) -> None:
    make_app(project)
    results = sarif(project)["runs"][0]["results"]
    suppressed = [r for r in results if r.get("suppressions")]
    assert len(suppressed) == 1
    assert suppressed[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 10
    assert suppressed[0]["suppressions"] == [
        {"kind": "inSource", "status": "accepted", "justification": "pk is a signed share token"}
    ]
    # the text and JSON formats do not report it
    proc = run_cli("check", "--format", "json", cwd=project)
    assert [f["line"] for f in json.loads(proc.stdout)["findings"]] == [4, 7]


def _hashes(doc: dict[str, Any]) -> dict[str, str]:
    """function name in the message -> primaryLocationLineHash"""
    out = {}
    for r in doc["runs"][0]["results"]:
        name = r["message"]["text"].split("request handler ")[1].split("(")[0]
        out[name] = r["partialFingerprints"]["primaryLocationLineHash"]
    return out


def test_line_hash_is_stable_when_unrelated_lines_move(project: Path) -> None:
    make_app(project)
    before = _hashes(sarif(project))
    assert len(set(before.values())) == 3  # identical lines get distinct occurrence numbers
    assert before["detail"].endswith(":1") and before["again"].endswith(":2")
    moved = "import os\n\n\ndef unrelated():\n    return os.getcwd()\n\n" + VIEWS.replace(
        "def again(request, pk):\n", "def again(request, pk):\n    # a comment\n    x = 1\n"
    )
    (project / "app/views.py").write_text(moved)
    after = _hashes(sarif(project))
    assert after == before
    # editing the flagged line itself changes its hash
    (project / "app/views.py").write_text(moved.replace("get(pk=pk)\n\ndef again", "get(pk=int(pk))\n\ndef again", 1))
    changed = _hashes(sarif(project))
    assert changed["detail"] != before["detail"]


@pytest.mark.parametrize(
    ("raw", "data", "prop"),
    [
        ("a%b", "a%25b", "a%25b"),
        ("line1\r\nline2", "line1%0D%0Aline2", "line1%0D%0Aline2"),
        ("x: y, z", "x: y, z", "x%3A y%2C z"),
    ],
)
def test_github_escaping(raw: str, data: str, prop: str) -> None:
    assert escape_data(raw) == data
    assert escape_property(raw) == prop


def test_github_format_prints_workflow_commands(project: Path) -> None:
    make_app(project)
    write_tree(
        project,
        {
            "app/odd, name.py": "from app.models import Invoice\n\ndef v(request, pk):\n    return Invoice.objects.get(pk=pk)\n"
        },
    )
    proc = run_cli("check", "--format", "github", cwd=project)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(
        "::error file=app/odd%2C name.py,line=4,col=12,endLine=4,endColumn=38,title=ORG101 unscoped-tenant-query::"
    )
    assert (
        "::error file=app/views.py,line=4,col=12,endLine=4,endColumn=38,title=ORG101 unscoped-tenant-query::"
        "Invoice.objects.get() reads tenant-owned Invoice" in proc.stdout
    )
    assert all(line.startswith("::") for line in lines) and len(lines) == 3


def test_with_a_baseline_only_new_results_are_left_and_marked_new(project: Path) -> None:
    make_app(project)
    run_cli("check", "--write-baseline", "baseline.json", cwd=project, check=True)
    (project / "app/views.py").write_text(VIEWS + "\ndef more(request, pk):\n    return Invoice.objects.get(id=pk)\n")
    doc = sarif(project, "--baseline", "baseline.json")
    validate(doc)
    results = [r for r in doc["runs"][0]["results"] if "suppressions" not in r]
    assert [(r["locations"][0]["physicalLocation"]["region"]["startLine"], r["baselineState"]) for r in results] == [
        (13, "new")
    ]


SERVICE = "from app.models import Invoice\n\ndef load(pk):\n    return Invoice.objects.get(pk=pk)\n"
VIEWS_THROUGH_SERVICE = "from app.services import load\n\ndef detail(request, pk):\n    return load(pk)\n"


def test_a_finding_reached_through_calls_carries_its_path_as_a_code_flow(tmp_path: Path) -> None:
    make_app(tmp_path, VIEWS_THROUGH_SERVICE)
    write_tree(tmp_path, {"app/services.py": SERVICE})
    doc = sarif(tmp_path)
    validate(doc)
    (result,) = doc["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "app/services.py"
    (flow,) = result["codeFlows"]
    (thread,) = flow["threadFlows"]
    steps = [
        (
            step["location"]["physicalLocation"]["artifactLocation"]["uri"],
            step["location"]["physicalLocation"]["region"]["startLine"],
            step["nestingLevel"],
        )
        for step in thread["locations"]
    ]
    # source (the handler's URL parameter) -> the call that passes it -> the query
    assert steps == [("app/views.py", 3, 0), ("app/views.py", 4, 1), ("app/services.py", 4, 2)]
    assert "pk" in thread["locations"][0]["location"]["message"]["text"]
    # the same path in the JSON document
    proc = run_cli("check", "--format", "json", cwd=tmp_path)
    (finding,) = json.loads(proc.stdout)["findings"]
    assert [(t["path"], t["line"]) for t in finding["trace"]] == [
        ("app/views.py", 3),
        ("app/views.py", 4),
        ("app/services.py", 4),
    ]
