"""In-source suppressions: ``# noqa[: ORG101]`` and ``# orgguard: ignore[ORG101] -- reason``.

A suppression comment applies to the whole statement holding the finding: any of its lines,
including the closing line of a multi-line call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
IGNORE = re.compile(
    r"#\s*orgguard:\s*ignore\[(?P<codes>[A-Z0-9,\s]+)\](?:\s*--\s*(?P<reason>\S.*?))?\s*$", re.IGNORECASE
)


@dataclass(frozen=True)
class Suppression:
    line: int
    codes: tuple[str, ...]  # empty = every code (a bare noqa comment)
    reason: str
    kind: str  # "noqa" or "orgguard"

    def covers(self, code: str) -> bool:
        return not self.codes or any(code.startswith(c) for c in self.codes)


def _codes(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(c.upper() for c in re.split(r"[,\s]+", text.strip()) if c)


def parse_line(lineno: int, text: str, *, noqa: bool) -> list[Suppression]:
    if "#" not in text:
        return []
    found = []
    m = IGNORE.search(text)
    if m:
        found.append(Suppression(lineno, _codes(m.group("codes")), (m.group("reason") or "").strip(), "orgguard"))
    if noqa:
        n = NOQA.search(text)
        if n:
            found.append(Suppression(lineno, _codes(n.group("codes")), "", "noqa"))
    return found


def find_suppression(
    lines: Sequence[str], first: int, last: int, code: str, *, noqa: bool = True
) -> Suppression | None:
    """The suppression on lines ``first..last`` (1-based, inclusive) that covers ``code``, if any."""
    for lineno in range(max(first, 1), min(last, len(lines)) + 1):
        for sup in parse_line(lineno, lines[lineno - 1], noqa=noqa):
            if sup.covers(code):
                return sup
    return None
