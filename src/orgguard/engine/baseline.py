"""Baselines: accept today's findings, report only new ones, and shrink as debt is paid.

A finding is recorded by a fingerprint that survives unrelated edits: the file (relative to the project
root), the code, the enclosing function (``Class.method``) and the statement's text with comments and
formatting normalised away, never the line number. Each fingerprint keeps a *count*, so a second
identical finding added to the same function is new (Bandit's baseline hides it: PyCQA/bandit#466).
Baseline entries that no longer match anything are reported as stale, so the file shrinks.

The same normalisation gives SARIF its ``primaryLocationLineHash`` (:func:`line_hashes`).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import textwrap
import tokenize
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orgguard import __version__
from orgguard.engine.findings import Finding

FORMAT_VERSION = 1
_DEF = re.compile(r"^(?P<indent>[ \t]*)(?:async[ \t]+)?(?:def|class)[ \t]+(?P<name>\w+)")
_OPEN_SPACE = re.compile(r"([(\[{])\s+")
_CLOSE_SPACE = re.compile(r"\s+([)\]},])")
_TRAILING_COMMA = re.compile(r",\s*([)\]}])")


class BaselineError(Exception):
    """A baseline file that cannot be read or written; the message names the file."""


# ---------------------------------------------------------------------------------------------------
# normalisation and fingerprints


def _strip_comments(text: str) -> str:
    """``text`` without its comments (tokenized when possible, so ``#`` in strings is kept)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    lines = text.splitlines()
    for tok in reversed(tokens):
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            lines[row - 1] = lines[row - 1][:col]
    return "\n".join(lines)


def normalise(text: str) -> str:
    """Code text with comments, line breaks, indentation, bracket padding and trailing commas removed."""
    code = _strip_comments(textwrap.dedent(text))
    flat = " ".join(code.split())
    flat = _OPEN_SPACE.sub(r"\1", flat)
    flat = _CLOSE_SPACE.sub(r"\1", flat)
    return _TRAILING_COMMA.sub(r"\1", flat)


def statement_text(lines: Sequence[str], finding: Finding) -> str:
    """The normalised text of the statement holding ``finding`` (its line alone when unknown)."""
    first = finding.stmt_start or finding.line
    last = max(finding.stmt_end, first)
    if not lines or first > len(lines):
        return ""
    return normalise("\n".join(lines[first - 1 : min(last, len(lines))]))


def enclosing_function(lines: Sequence[str], line: int) -> str:
    """``Class.method`` / ``function`` / ``<module>`` around 1-based ``line``, from indentation."""
    if not lines or line < 1 or line > len(lines):
        return "<module>"
    text = lines[line - 1]
    indent = len(text) - len(text.lstrip())
    names: list[str] = []
    for lineno in range(line - 1, 0, -1):
        if indent == 0:
            break
        candidate = lines[lineno - 1]
        if not candidate.strip() or candidate.lstrip().startswith(("#", "@", ")")):
            continue
        m = _DEF.match(candidate)
        width = len(candidate) - len(candidate.lstrip())
        if m and width < indent:
            names.append(m.group("name"))
            indent = width
        elif width < indent and not m:
            # a dedented statement that is not a def/class: a block (if/for/with) the finding sits in
            indent = width
    return ".".join(reversed(names)) or "<module>"


def _digest(*parts: str, size: int = 20) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:size]


@dataclass(frozen=True)
class Key:
    """What a baseline remembers about one finding."""

    path: str  # relative to the project root, POSIX
    code: str
    function: str
    statement: str

    @property
    def fingerprint(self) -> str:
        return _digest(self.path, self.code, self.function, self.statement)


def key_of(finding: Finding, lines: Sequence[str], relpath: str) -> Key:
    return Key(
        relpath,
        finding.code,
        enclosing_function(lines, finding.stmt_start or finding.line),
        statement_text(lines, finding),
    )


def line_hashes(findings: Sequence[Finding], lines_of: Callable[[str], Sequence[str]]) -> dict[Finding, str]:
    """SARIF ``primaryLocationLineHash`` per finding: ``<hash>:<n>``.

    The hash covers the normalised text of the finding's line and its code; ``n`` counts the same
    (text, code) pair earlier in the same file. Moving unrelated lines changes neither.
    """
    out: dict[Finding, str] = {}
    seen: Counter[tuple[str, str]] = Counter()
    for finding in sorted(findings, key=Finding.sort_key):
        lines = lines_of(finding.path)
        text = normalise(lines[finding.line - 1]) if 0 < finding.line <= len(lines) else ""
        digest = _digest(finding.code, text, size=16)
        seen[(finding.path, digest)] += 1
        out[finding] = f"{digest}:{seen[(finding.path, digest)]}"
    return out


# ---------------------------------------------------------------------------------------------------
# the baseline file


@dataclass(frozen=True)
class Entry:
    key: Key
    count: int

    def as_json(self, count: int | None = None) -> dict[str, Any]:
        return {
            "fingerprint": self.key.fingerprint,
            "path": self.key.path,
            "code": self.key.code,
            "function": self.key.function,
            "statement": self.key.statement,
            "count": self.count if count is None else count,
        }


@dataclass(frozen=True)
class Baseline:
    entries: tuple[Entry, ...]

    @classmethod
    def from_keys(cls, keys: Iterable[Key]) -> Baseline:
        counts = Counter(keys)
        ordered = sorted(counts, key=lambda k: (k.path, k.code, k.function, k.statement))
        return cls(tuple(Entry(k, counts[k]) for k in ordered))

    def dumps(self) -> str:
        doc = {
            "version": FORMAT_VERSION,
            "generated_by": f"orgguard {__version__}",
            "findings": [e.as_json() for e in self.entries],
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"

    def write(self, path: Path) -> None:
        try:
            path.write_text(self.dumps(), encoding="utf-8")
        except OSError as exc:
            raise BaselineError(f"{path}: cannot write baseline: {exc.strerror or exc}") from None

    @classmethod
    def load(cls, path: Path) -> Baseline:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BaselineError(f"{path}: baseline file not found (create it with --write-baseline)") from None
        except OSError as exc:
            raise BaselineError(f"{path}: cannot read baseline: {exc.strerror or exc}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BaselineError(f"{path}: not a baseline file (invalid JSON: {exc})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list):
            raise BaselineError(f"{path}: not a baseline file (no 'findings' list)")
        if doc.get("version") != FORMAT_VERSION:
            raise BaselineError(f"{path}: baseline format version {doc.get('version')!r} is not {FORMAT_VERSION}")
        entries = []
        for i, item in enumerate(doc["findings"]):
            try:
                key = Key(str(item["path"]), str(item["code"]), str(item["function"]), str(item["statement"]))
                count = int(item.get("count", 1))
            except (KeyError, TypeError, ValueError):
                raise BaselineError(
                    f"{path}: baseline entry {i} needs path, code, function, statement and count"
                ) from None
            if count < 1:
                raise BaselineError(f"{path}: baseline entry {i} has count {count}; it must be at least 1")
            entries.append(Entry(key, count))
        return cls(tuple(entries))


@dataclass(frozen=True)
class Comparison:
    """The result of comparing a run with a baseline."""

    new: list[Finding]
    known: int  # findings the baseline accounts for (not reported)
    stale: list[dict[str, Any]]  # baseline entries (with the unmatched count) nothing matches any more


def compare(
    findings: Sequence[Finding],
    baseline: Baseline,
    keys: Mapping[Finding, Key],
    *,
    checked_paths: Iterable[str] | None = None,
) -> Comparison:
    """Split ``findings`` into new ones and ones the baseline accounts for, counting per fingerprint.

    Of N current findings sharing a fingerprint the baseline recorded B times, the first B (in file
    order) are known and the rest are new. Entries whose count exceeds today's are stale; with
    ``checked_paths`` (root-relative) only entries of checked files can be stale.
    """
    groups: dict[str, list[Finding]] = defaultdict(list)
    for finding in sorted(findings, key=Finding.sort_key):
        groups[keys[finding].fingerprint].append(finding)
    allowed: dict[str, int] = Counter()
    by_fp: dict[str, Entry] = {}
    for entry in baseline.entries:
        allowed[entry.key.fingerprint] += entry.count
        by_fp.setdefault(entry.key.fingerprint, entry)
    new: list[Finding] = []
    known = 0
    for fp, group in groups.items():
        budget = allowed.get(fp, 0)
        known += min(budget, len(group))
        new.extend(group[budget:])
    scope = set(checked_paths) if checked_paths is not None else None
    stale = []
    for fp, entry in by_fp.items():
        missing = allowed[fp] - len(groups.get(fp, ()))
        if missing > 0 and (scope is None or entry.key.path in scope):
            stale.append(entry.as_json(count=missing))
    stale.sort(key=lambda e: (e["path"], e["code"], e["function"], e["statement"]))
    new.sort(key=Finding.sort_key)
    return Comparison(new, known, stale)
