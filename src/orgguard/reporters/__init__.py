"""Output formats. Each reporter turns a run result into text; none holds rule logic."""

from __future__ import annotations

from collections.abc import Callable

from orgguard.engine.findings import RunResult
from orgguard.reporters.context import ReportContext

Reporter = Callable[[RunResult, ReportContext], str]


def _reporters() -> dict[str, Reporter]:
    from orgguard.reporters import github, json_reporter, sarif, text

    return {
        "text": text.render,
        "json": json_reporter.render,
        "sarif": sarif.render,
        "github": github.render,
    }


FORMATS = ("text", "json", "sarif", "github")


def render(fmt: str, result: RunResult, ctx: ReportContext) -> str:
    return _reporters()[fmt](result, ctx)


__all__ = ["FORMATS", "ReportContext", "Reporter", "render"]
