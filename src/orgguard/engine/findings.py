"""The finding record every front door reports, and the results of a file and of a run that carry findings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from orgguard.registry import all_rules

PARSE_ERROR = "ORG000"


@dataclass(frozen=True)
class TraceStep:
    """One step of the path from a source to a finding: an entry point, a call, the query itself."""

    path: str  # relative to the project root
    line: int
    column: int
    note: str


@dataclass(frozen=True, order=True)
class Finding:
    """One reported problem.

    Lines are 1-based; columns are 1-based (the flake8 adapter converts back to offsets).
    ``stmt_start``/``stmt_end`` give the line span of the statement holding the finding, which is
    where suppression comments are looked for.
    """

    path: str
    line: int
    column: int
    code: str
    message: str = field(compare=False)
    end_line: int = field(default=0, compare=False)
    end_column: int = field(default=0, compare=False)
    name: str = field(default="", compare=False)
    severity: str = field(default="error", compare=False)
    path_class: str = field(default="", compare=False)
    stmt_start: int = field(default=0, compare=False)
    stmt_end: int = field(default=0, compare=False)
    # None: reported. A string: suppressed in source, with the comment's justification ("" for none);
    # suppressed findings are kept only for SARIF (``RunResult.suppressed``).
    suppression: str | None = field(default=None, compare=False)
    # the path from the entry point that reaches the finding: entry (source), calls, the finding itself
    trace: tuple[TraceStep, ...] = field(default=(), compare=False)

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.code)


@dataclass(frozen=True)
class RunError:
    """A file or setting the run could not handle; the run goes on without it."""

    path: str
    message: str


@dataclass
class FileResult:
    """What checking one file gave (passed back from worker processes and cached, see engine/codec.py)."""

    findings: list[Finding] = field(default_factory=list)
    errors: list[RunError] = field(default_factory=list)
    suppressed: list[Finding] = field(default_factory=list)  # suppressed in source (kept for SARIF)


@dataclass
class RunResult:
    findings: list[Finding] = field(default_factory=list)
    errors: list[RunError] = field(default_factory=list)
    files: int = 0
    suppressed: list[Finding] = field(default_factory=list)  # suppressed in source (kept for SARIF)


def merge_results(into: FileResult | RunResult, parts: Iterable[FileResult]) -> None:
    """Add every part's findings, suppressed findings and errors to ``into``; findings in report order."""
    for part in parts:
        into.findings.extend(part.findings)
        into.suppressed.extend(part.suppressed)
        into.errors.extend(part.errors)
    into.findings.sort(key=Finding.sort_key)
    into.suppressed.sort(key=Finding.sort_key)


def parse_error_finding(
    display: str,
    line: int,
    col: int,
    values: Mapping[str, str],
    *,
    shape: str = "message",
    end: tuple[int, int] = (0, 0),
) -> Finding:
    """An ORG000 finding, its message the rule's ``shape`` template filled with ``values``; its end is
    never before its start (a point at the start when none is given)."""
    rule = all_rules()[PARSE_ERROR]
    message = rule.render(values, shape=shape)
    line, col = max(line, 1), max(col, 1)
    end_line, end_col = max(end, (line, col))
    return Finding(
        path=display,
        line=line,
        column=col,
        code=PARSE_ERROR,
        message=message,
        end_line=end_line,
        end_column=max(end_col, 1),
        name=rule.name,
        severity="error",
        path_class="syntax",
    )
