"""``path:line:col: CODE message`` lines, as flake8 prints them (clickable in editors).

On a terminal the path is bold and the code red, as Ruff and flake8 colour them (the command line
decides: :func:`colour_wanted`). :func:`summary` is the closing line of a text run and
:func:`statistics` the per-code counts of ``--statistics``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

from orgguard.engine.findings import Finding
from orgguard.engine.runner import RunResult

if TYPE_CHECKING:
    from orgguard.reporters.context import ReportContext

BOLD, RED, CYAN, RESET = "\033[1m", "\033[31m", "\033[36m", "\033[0m"


def colour_wanted(stream: TextIO, env: Mapping[str, str]) -> bool:
    """Colour for ``stream``: never with ``NO_COLOR``, always with ``FORCE_COLOR``, else on a terminal.

    Both variables count when set to anything but the empty string (https://no-color.org,
    https://force-color.org); ``NO_COLOR`` wins when both are set, as in CPython's own tracebacks.
    """
    if env.get("NO_COLOR", ""):
        return False
    if env.get("FORCE_COLOR", ""):
        return True
    if env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _line(f: Finding, colour: bool) -> str:
    if not colour:
        return f"{f.path}:{f.line}:{f.column}: {f.code} {f.message}"
    sep = f"{CYAN}:{RESET}"
    return f"{BOLD}{f.path}{RESET}{sep}{f.line}{sep}{f.column}{sep} {BOLD}{RED}{f.code}{RESET} {f.message}"


def render(result: RunResult, ctx: ReportContext | None = None) -> str:
    colour = ctx is not None and ctx.colour
    lines = [_line(f, colour) for f in result.findings]
    return "\n".join(lines) + ("\n" if lines else "")


def _counted(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def summary(result: RunResult) -> str:
    """``Found 12 findings in 7 files; 3 suppressed.`` / ``All checks passed.`` (and run errors, if any)."""
    if result.findings:
        files = len({f.path for f in result.findings})
        head = f"Found {_counted(len(result.findings), 'finding')} in {_counted(files, 'file')}"
    else:
        head = "No findings" if result.errors else "All checks passed"
    tail = ""
    if result.suppressed:
        tail += f"; {len(result.suppressed)} suppressed"
    if result.errors:
        tail += f"; {_counted(len(result.errors), 'error')}"
    return f"{head}{tail}."


def _counts(result: RunResult) -> list[tuple[str, str, int]]:
    """(code, name, count) per code, most frequent first."""
    counts = Counter(f.code for f in result.findings)
    names = {f.code: f.name for f in result.findings}
    return [(code, names[code], n) for code, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def statistics(result: RunResult, ctx: ReportContext | None = None, *, fmt: str = "text") -> str:
    """``--statistics``: the number of findings per code, as ``ruff --statistics`` prints it.

    ``text``: ``count<TAB>code<TAB>name`` lines; ``json``: a list of ``{"code", "name", "count"}``.
    """
    rows = _counts(result)
    if fmt == "json":
        return json.dumps([{"code": c, "name": name, "count": n} for c, name, n in rows], indent=2) + "\n"
    colour = ctx is not None and ctx.colour
    width = max((len(str(n)) for _, _, n in rows), default=1)
    code_width = max((len(c) for c, _, _ in rows), default=0)
    lines = []
    for code, name, n in rows:
        shown = f"{BOLD}{RED}{code}{RESET}{' ' * (code_width - len(code))}" if colour else code.ljust(code_width)
        lines.append(f"{n:>{width}}\t{shown}\t{name}")
    return "\n".join(lines) + ("\n" if lines else "")
