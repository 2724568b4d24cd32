"""The JSON document of DESIGN.md ("Interfaces users rely on")."""

from __future__ import annotations

import json

from orgguard import __version__
from orgguard.engine.runner import RunResult


def render(result: RunResult) -> str:
    doc = {
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
            }
            for f in result.findings
        ],
        "errors": [{"path": e.path, "message": e.message} for e in result.errors],
    }
    return json.dumps(doc, indent=2) + "\n"
