"""SARIF 2.1.0, shaped for GitHub code scanning (``github/codeql-action/upload-sarif``).

- ``tool.driver.rules``: every enabled rule with its docs as help (text and markdown), a help URI,
  the default level, tags (``security``, the path class, the CWE), precision and security-severity.
- ``results``: rule id and index, level, message, a repository-relative location with start/end line
  and column (Unicode code points), ``partialFingerprints.primaryLocationLineHash`` computed from the
  line's normalised text (never its number), and suppressed findings kept with
  ``suppressions: [{"kind": "inSource", "justification": ...}]`` so code scanning shows them closed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from orgguard import __version__
from orgguard.docs import rule_markdown, rule_text
from orgguard.engine.baseline import key_of, line_hashes
from orgguard.engine.findings import Finding
from orgguard.engine.runner import RunResult
from orgguard.registry import Rule, all_rules
from orgguard.reporters.context import ReportContext

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://orgguard.readthedocs.io/"
DOCS_URI = "https://orgguard.readthedocs.io/en/latest/"
SRCROOT = "%SRCROOT%"
LEVELS = {"error": "error", "warning": "warning", "note": "note"}
# GitHub reads properties.security-severity (0.1-10): >= 7.0 "high", 4.0-6.9 "medium", < 4.0 "low"
SECURITY_SEVERITY = {"error": "8.1", "warning": "5.4", "note": "3.1"}


def help_uri(code: str) -> str:
    return f"{DOCS_URI}rules/{code}/"


def cwe_tags(cwe: str) -> list[str]:
    if not cwe:
        return []
    number = cwe.upper().removeprefix("CWE-")
    return [cwe.upper(), f"external/cwe/cwe-{number}"]


def rule_descriptor(rule: Rule) -> dict[str, Any]:
    security = bool(rule.cwe)
    tags = ["security", rule.path_class, *cwe_tags(rule.cwe)] if security else ["orgguard", rule.path_class]
    properties: dict[str, Any] = {"tags": tags, "precision": rule.precision, "path-class": rule.path_class}
    if security:
        properties["security-severity"] = SECURITY_SEVERITY.get(rule.severity, "5.4")
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.docs.what},
        "help": {"text": rule_text(rule), "markdown": rule_markdown(rule)},
        "helpUri": help_uri(rule.code),
        "defaultConfiguration": {"level": LEVELS.get(rule.severity, "warning")},
        "properties": properties,
    }


def _rules_of_run(result: RunResult, ctx: ReportContext) -> dict[str, Rule]:
    rules: dict[str, Rule] = dict(ctx.rules)
    catalog = all_rules()
    for finding in (*result.findings, *result.suppressed):
        if finding.code not in rules and finding.code in catalog:
            rules[finding.code] = catalog[finding.code]
    return dict(sorted(rules.items()))


def _result(
    finding: Finding, index: Mapping[str, int], line_hash: str, statement_hash: str, ctx: ReportContext
) -> dict[str, Any]:
    region: dict[str, int] = {"startLine": finding.line, "startColumn": finding.column}
    if finding.end_line >= finding.line:
        region["endLine"] = finding.end_line
        if finding.end_column > 0 and (finding.end_line > finding.line or finding.end_column > finding.column):
            region["endColumn"] = finding.end_column
    out: dict[str, Any] = {
        "ruleId": finding.code,
        "level": LEVELS.get(finding.severity, "warning"),
        "message": {"text": finding.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": ctx.uri(finding.path), "uriBaseId": SRCROOT},
                    "region": region,
                }
            }
        ],
        "partialFingerprints": {
            "primaryLocationLineHash": line_hash,
            "orgguardStatementHash/v1": statement_hash,
        },
    }
    if finding.code in index:
        out["ruleIndex"] = index[finding.code]
    if finding.trace:
        out["codeFlows"] = [_code_flow(finding, ctx)]
    if ctx.baseline_stale is not None and finding.suppression is None:
        out["baselineState"] = "new"  # with --baseline, only findings the baseline does not hold are left
    if finding.suppression is not None:
        suppression: dict[str, Any] = {"kind": "inSource", "status": "accepted"}
        if finding.suppression:
            suppression["justification"] = finding.suppression
        out["suppressions"] = [suppression]
    return out


def _code_flow(finding: Finding, ctx: ReportContext) -> dict[str, Any]:
    """The path from the entry point to the finding, as GitHub code scanning shows it (source -> calls -> query)."""
    locations = [
        {
            "location": {
                "physicalLocation": {
                    "artifactLocation": {"uri": ctx.uri(step.path), "uriBaseId": SRCROOT},
                    "region": {"startLine": step.line, "startColumn": step.column},
                },
                "message": {"text": step.note},
            },
            "nestingLevel": depth,
        }
        for depth, step in enumerate(finding.trace)
    ]
    return {"threadFlows": [{"locations": locations}]}


def render(result: RunResult, ctx: ReportContext) -> str:
    rules = _rules_of_run(result, ctx)
    index = {code: i for i, code in enumerate(rules)}
    everything = sorted([*result.findings, *result.suppressed], key=Finding.sort_key)
    hashes = line_hashes(everything, ctx.lines)
    results = [
        _result(
            f,
            index,
            hashes[f],
            key_of(f, ctx.lines(f.path), ctx.root_relative(f.path)).fingerprint,
            ctx,
        )
        for f in everything
    ]
    notifications = [
        {
            "level": "error",
            "message": {"text": e.message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": ctx.uri(e.path), "uriBaseId": SRCROOT}}}],
        }
        for e in result.errors
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "orgguard",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": [rule_descriptor(rule) for rule in rules.values()],
            }
        },
        "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notifications}],
        "originalUriBaseIds": {SRCROOT: {"uri": ctx.source_root.as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    doc = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
