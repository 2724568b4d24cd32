"""Output formats. Each reporter turns a run result into text; none holds rule logic."""

from __future__ import annotations

from collections.abc import Callable

from orgguard.engine.runner import RunResult
from orgguard.reporters import json_reporter, text

Reporter = Callable[[RunResult], str]

REPORTERS: dict[str, Reporter] = {
    "text": text.render,
    "json": json_reporter.render,
}
