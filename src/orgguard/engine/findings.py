"""The finding record every front door reports."""

from __future__ import annotations

from dataclasses import dataclass, field


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
