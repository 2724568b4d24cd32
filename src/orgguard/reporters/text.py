"""``path:line:col: CODE message`` lines, as flake8 prints them (clickable in editors)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orgguard.engine.runner import RunResult

if TYPE_CHECKING:
    from orgguard.reporters import ReportContext


def render(result: RunResult, ctx: ReportContext | None = None) -> str:
    lines = [f"{f.path}:{f.line}:{f.column}: {f.code} {f.message}" for f in result.findings]
    return "\n".join(lines) + ("\n" if lines else "")
