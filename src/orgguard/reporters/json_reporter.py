"""The JSON document of DESIGN.md ("Interfaces users rely on").

With ``--baseline``, the document also has ``baseline_stale``: the baseline entries nothing matches
any more (each with the number of findings that disappeared), so the baseline can shrink.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from orgguard import __version__
from orgguard.engine.runner import RunResult

if TYPE_CHECKING:
    from orgguard.reporters.context import ReportContext


def render(result: RunResult, ctx: ReportContext | None = None) -> str:
    doc: dict[str, Any] = {
        "version": __version__,
        "findings": [
            {
                "path": f.path,
                "line": f.line,
                "column": f.column,
                "end_line": f.end_line,
                "end_column": f.end_column,
                "code": f.code,
                "name": f.name,
                "message": f.message,
                "severity": f.severity,
                "path_class": f.path_class,
                # the path from the entry point to the finding (empty when the finding is where it starts)
                "trace": [{"path": t.path, "line": t.line, "column": t.column, "note": t.note} for t in f.trace],
            }
            for f in result.findings
        ],
        "errors": [{"path": e.path, "message": e.message} for e in result.errors],
    }
    if ctx is not None and ctx.baseline_stale is not None:
        doc["baseline_stale"] = [dict(entry) for entry in ctx.baseline_stale]
    return json.dumps(doc, indent=2) + "\n"
