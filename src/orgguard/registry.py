"""The one registry of rules, loaded from ``rules/ORGnnn.toml``.

In a wheel the catalog ships as ``orgguard/_rules``; in a source checkout (editable install) it is the
top-level ``rules/`` directory.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PATH_CLASSES = ("public", "admin", "webhook replay", "export", "accountability", "syntax")
SEVERITIES = ("error", "warning", "note")
_CODE = re.compile(r"^ORG\d{3}$")


def rules_dir() -> Path:
    """Where the rule catalog lives (wheel or source checkout)."""
    here = Path(__file__).resolve().parent
    packaged = here / "_rules"
    if packaged.is_dir():
        return packaged
    source = here.parent.parent / "rules"
    if source.is_dir():
        return source
    raise RuntimeError(f"orgguard rule catalog not found (looked in {packaged} and {source})")


@dataclass(frozen=True)
class RuleDocs:
    what: str
    why: str
    example: str
    use_instead: str
    options: str
    references: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """One rule of the catalog, as declared in its TOML file."""

    code: str
    name: str
    path_class: str
    seed: str
    severity: str
    message: str
    summary: str
    checker: str
    cwe: str
    precision: str
    docs: RuleDocs

    def format(self, **values: str) -> str:
        """The message template with its placeholders filled."""
        return self.message.format(**values)


_REQUIRED = ("code", "name", "path_class", "seed", "severity", "message", "summary", "checker", "docs")
_DOC_KEYS = ("what", "why", "example", "use_instead", "options", "references")


def _parse_rule(path: Path, data: Mapping[str, Any]) -> Rule:
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}")
    unknown = set(data) - {*_REQUIRED, "cwe", "precision"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
    code = data["code"]
    if not _CODE.match(code) or path.stem != code:
        raise ValueError(f"{path}: code {code!r} must be ORGnnn and match the file name")
    if data["path_class"] not in PATH_CLASSES:
        raise ValueError(f"{path}: path_class must be one of {PATH_CLASSES}")
    if data["severity"] not in SEVERITIES:
        raise ValueError(f"{path}: severity must be one of {SEVERITIES}")
    docs = data["docs"]
    missing_docs = [k for k in _DOC_KEYS if k not in docs]
    if missing_docs:
        raise ValueError(f"{path}: docs missing {missing_docs}")
    return Rule(
        code=code,
        name=data["name"],
        path_class=data["path_class"],
        seed=data["seed"],
        severity=data["severity"],
        message=data["message"],
        summary=data["summary"],
        checker=data["checker"],
        cwe=data.get("cwe", "CWE-639"),
        precision=data.get("precision", "high"),
        docs=RuleDocs(
            what=docs["what"].strip(),
            why=docs["why"].strip(),
            example=docs["example"].strip("\n"),
            use_instead=docs["use_instead"].strip("\n"),
            options=docs["options"].strip(),
            references=tuple(docs["references"]),
        ),
    )


@functools.lru_cache(maxsize=4)
def _load(directory: Path) -> tuple[Rule, ...]:
    rules = []
    for path in sorted(directory.glob("ORG*.toml")):
        rules.append(_parse_rule(path, tomllib.loads(path.read_text(encoding="utf-8"))))
    return tuple(rules)


def all_rules() -> Mapping[str, Rule]:
    """Every rule of the catalog, by code (read once per process; the catalog is immutable)."""
    return {rule.code: rule for rule in _load(rules_dir())}


def known_codes() -> list[str]:
    return sorted(all_rules())


def enabled_codes(select: tuple[str, ...], ignore: tuple[str, ...]) -> frozenset[str]:
    """Codes enabled by select/ignore prefixes; the longest matching prefix wins, as in Ruff."""
    enabled = set()
    for code in all_rules():
        best_sel = max((len(p) for p in select if code.startswith(p)), default=-1)
        best_ign = max((len(p) for p in ignore if code.startswith(p)), default=-1)
        if best_sel >= 0 and best_sel > best_ign:
            enabled.add(code)
    return frozenset(enabled)
