"""GitHub Actions workflow commands: one ``::error``/``::warning``/``::notice`` annotation per finding.

``::error file=app/views.py,line=4,col=12,endLine=4,endColumn=36,title=ORG101 unscoped-tenant-query::...``
File paths are relative to the repository root (GitHub matches annotations against it). Values are
escaped as the Actions runner expects: ``%``, CR and LF in the message; also ``:`` and ``,`` in properties.
"""

from __future__ import annotations

from orgguard.engine.runner import RunResult
from orgguard.reporters.context import ReportContext

COMMANDS = {"error": "error", "warning": "warning", "note": "notice"}


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _command(kind: str, properties: dict[str, object], message: str) -> str:
    props = ",".join(f"{k}={escape_property(str(v))}" for k, v in properties.items())
    return f"::{kind} {props}::{escape_data(message)}"


def render(result: RunResult, ctx: ReportContext) -> str:
    lines = []
    for f in result.findings:
        props: dict[str, object] = {"file": ctx.uri(f.path), "line": f.line, "col": f.column}
        if f.end_line >= f.line:
            props["endLine"] = f.end_line
            if f.end_column > 0:
                props["endColumn"] = f.end_column
        props["title"] = f"{f.code} {f.name}" if f.name else f.code
        lines.append(_command(COMMANDS.get(f.severity, "warning"), props, f.message))
    for e in result.errors:
        lines.append(_command("error", {"file": ctx.uri(e.path), "title": "orgguard"}, e.message))
    return "\n".join(lines) + ("\n" if lines else "")
