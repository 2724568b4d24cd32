"""In-source suppressions: ``# noqa[: ORG101]`` and ``# orgguard: ignore[ORG101] -- reason``.

A suppression comment applies to the whole statement holding the finding: any of its lines,
including the closing line of a multi-line call.

The suppressions are themselves checked (:func:`audit`):

- ORG001 ``suppression-without-reason``: an ``# orgguard: ignore[...]`` with no ``-- reason`` (unless
  ``require-suppression-reason = false``). A reasonless comment *still suppresses* the finding it
  covers, so the finding is reported once, as ORG001 on the comment, and the run keeps failing until a
  reason is written.
- ORG002 ``unused-suppression``: an ``# orgguard: ignore[...]`` or a code-specific ``# noqa: ORGnnn``
  that covers no finding of its statement, or names a rule that is unknown or not enabled (as Ruff's
  RUF100 does). A bare ``# noqa`` and a ``# noqa`` naming only other tools' codes are never reported.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from orgguard.engine.findings import Finding
from orgguard.registry import Rule, all_rules

NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
IGNORE = re.compile(
    r"#\s*orgguard:\s*ignore\[(?P<codes>[A-Z0-9,\s]+)\](?P<rest>[^\n]*)$",
    re.IGNORECASE,
)
_REASON = re.compile(r"^\s*--\s*(?P<reason>\S.*?)\s*$")
# cheap pre-check before tokenizing a file for the audit: a comment that could be audited at all
_AUDITABLE = re.compile(rb"(?i)orgguard\s*:\s*ignore|noqa\s*:[^\n]*ORG")

SUPPRESSION_WITHOUT_REASON = "ORG001"
UNUSED_SUPPRESSION = "ORG002"
AUDIT_CODES = (SUPPRESSION_WITHOUT_REASON, UNUSED_SUPPRESSION)


@dataclass(frozen=True)
class Suppression:
    line: int
    codes: tuple[str, ...]  # empty = every code (a bare noqa comment)
    reason: str
    kind: str  # "noqa" or "orgguard"
    column: int = 1  # 1-based column of the comment's "#"
    text: str = ""  # the suppression comment itself, as written

    def covers(self, code: str) -> bool:
        return not self.codes or any(code.startswith(c) for c in self.codes)


def _codes(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(c.upper() for c in re.split(r"[,\s]+", text.strip()) if c)


def _reason(rest: str) -> str:
    m = _REASON.match(rest)
    return m.group("reason") if m else ""


def parse_line(lineno: int, text: str, *, noqa: bool, offset: int = 0) -> list[Suppression]:
    """The suppressions in one line of source (or one comment, ``offset`` being its column)."""
    if "#" not in text:
        return []
    found = []
    m = IGNORE.search(text)
    if m:
        found.append(
            Suppression(
                lineno,
                _codes(m.group("codes")),
                _reason(m.group("rest")),
                "orgguard",
                offset + m.start() + 1,
                text[m.start() : m.end("codes") + 1],
            )
        )
    if noqa:
        n = NOQA.search(text)
        if n:
            found.append(Suppression(lineno, _codes(n.group("codes")), "", "noqa", offset + n.start() + 1, n.group(0)))
    return found


def find_suppression(
    lines: Sequence[str], first: int, last: int, code: str, *, noqa: bool = True
) -> Suppression | None:
    """The suppression on lines ``first..last`` (1-based, inclusive) that covers ``code``, if any."""
    for lineno in range(max(first, 1), min(last, len(lines)) + 1):
        for sup in parse_line(lineno, lines[lineno - 1], noqa=noqa):
            if sup.covers(code):
                return sup
    return None


def may_have_suppressions(source: bytes | str) -> bool:
    """Cheap pre-check: could ``source`` hold a comment :func:`audit` looks at?"""
    data = source.encode("utf-8", "surrogatepass") if isinstance(source, str) else source
    return (b"orgguard" in data or b"noqa" in data or b"NOQA" in data) and _AUDITABLE.search(data) is not None


def iter_comment_suppressions(source: bytes | str) -> Iterator[Suppression]:
    """Every suppression written in a real comment (not in a string) of ``source``.

    Yields nothing for source that does not tokenize (such a file is an ORG000 finding anyway).
    """
    if not may_have_suppressions(source):
        return
    try:
        if isinstance(source, str):
            tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
        else:
            tokens = list(tokenize.tokenize(io.BytesIO(source).readline))
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError, LookupError):
        return
    for tok in tokens:
        if tok.type == tokenize.COMMENT:
            yield from parse_line(tok.start[0], tok.string, noqa=True, offset=tok.start[1])


def _audited_codes(sup: Suppression) -> tuple[str, ...]:
    if sup.kind == "orgguard":
        return sup.codes
    return tuple(c for c in sup.codes if c.startswith("ORG"))


def audit(
    source: bytes | str,
    *,
    display: str,
    findings: Iterable[Finding],
    rules: Mapping[str, Rule],
    require_reason: bool,
    noqa: bool,
    known_codes: Collection[str] | None = None,
) -> list[Finding]:
    """ORG001/ORG002 findings for the suppression comments of one file.

    ``findings`` are the file's findings, reported and suppressed alike (a suppression is used when a
    finding of a code it names sits on its statement). ``rules`` are the enabled rules. With ``noqa``
    (the command line), a ``# noqa`` on the comment's line can silence these findings too; under flake8
    (``noqa=False``) flake8 applies its own ``# noqa``.
    """
    if not any(code in rules for code in AUDIT_CODES):
        return []
    sups = list(iter_comment_suppressions(source))
    if not sups:
        return []
    if known_codes is None:
        known_codes = all_rules()
    spans = [(f.stmt_start or f.line, max(f.stmt_end, f.line), f.code) for f in findings]
    reasonless = [s for s in sups if s.kind == "orgguard" and require_reason and not s.reason]
    # every audit finding before any silencing, with the comment it is about: a noqa comment naming ORG001 next
    # to a reasonless comment is used (it silences that finding), never by a finding about itself
    candidates: list[tuple[Suppression, str, Finding]] = []
    if SUPPRESSION_WITHOUT_REASON in rules:
        for sup in reasonless:
            rule = rules[SUPPRESSION_WITHOUT_REASON]
            candidates.append((sup, rule.code, _finding(rule, sup, display, codes=", ".join(sup.codes) or "?")))
    if UNUSED_SUPPRESSION in rules:
        first_pass = {id(sup): _unused(sup, spans, rules, known_codes) for sup in sups}
        own = [(sup, code) for sup, code, _f in candidates]
        own += [(sup, UNUSED_SUPPRESSION) for sup in sups if first_pass[id(sup)] is not None]
        for sup in sups:
            others = [(o.line, o.line, code) for o, code in own if o is not sup]
            problem = _unused(sup, [*spans, *others], rules, known_codes)
            if problem is not None:
                detail, fix = problem
                rule = rules[UNUSED_SUPPRESSION]
                candidates.append(
                    (sup, rule.code, _finding(rule, sup, display, comment=sup.text, detail=detail, fix=fix))
                )
    out: list[Finding] = []
    for sup, code, finding in candidates:
        silenced = noqa and any(
            other.line == sup.line and other.kind == "noqa" and other is not sup and other.covers(code)
            for other in sups
        )
        if not silenced:
            out.append(finding)
    return out


def _unused(
    sup: Suppression,
    spans: Sequence[tuple[int, int, str]],
    rules: Mapping[str, Rule],
    known_codes: Collection[str],
) -> tuple[str, str] | None:
    """(detail, fix) when some code the comment names suppresses nothing; None when all are used."""
    codes = _audited_codes(sup)
    if not codes:
        return None
    rule = rules[UNUSED_SUPPRESSION]
    problems: list[str] = []
    unused: list[str] = []
    for code in codes:
        if not any(k.startswith(code) for k in known_codes):
            problems.append(rule.phrase("unknown_code", {"code": code}))
        elif not any(k.startswith(code) for k in rules):
            problems.append(rule.phrase("disabled_code", {"code": code}))
        elif not any(first <= sup.line <= last and f_code.startswith(code) for first, last, f_code in spans):
            problems.append(rule.phrase("unused_code", {"code": code}))
        else:
            continue
        unused.append(code)
    if not problems:
        return None
    if len(unused) == len(codes):
        return "; ".join(problems), rule.phrase("fix_all", {})
    return "; ".join(problems), rule.phrase("fix_some", {"codes": ", ".join(unused)})


def _finding(rule: Rule, sup: Suppression, display: str, **values: str) -> Finding:
    try:
        message = rule.render(values)
    except (KeyError, IndexError, ValueError) as exc:
        message = f"{rule.summary} (message template error: {exc})"
    return Finding(
        path=display,
        line=sup.line,
        column=sup.column,
        code=rule.code,
        message=message,
        end_line=sup.line,
        end_column=sup.column + len(sup.text),
        name=rule.name,
        severity=rule.severity,
        path_class=rule.path_class,
        stmt_start=sup.line,
        stmt_end=sup.line,
    )
