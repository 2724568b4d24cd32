"""``path:line:col: CODE message`` lines, as flake8 prints them (clickable in editors)."""

from __future__ import annotations

from orgguard.engine.runner import RunResult


def render(result: RunResult) -> str:
    lines = [f"{f.path}:{f.line}:{f.column}: {f.code} {f.message}" for f in result.findings]
    return "\n".join(lines) + ("\n" if lines else "")
