"""What reporters may need beyond the findings: where the run was, the rules, the baseline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from orgguard.registry import Rule


class ReportContext:
    """What reporters may need beyond the findings: where the run was, the rules, the baseline.

    ``cwd`` is the directory finding paths are relative to; ``root`` the project root. URIs for code
    scanning (SARIF, GitHub annotations) are relative to ``source_root``: the repository holding the
    project (nearest ``.git``), else the project root. ``colour``: the text format may use ANSI colours
    (the command line decides; the machine-readable formats never colour).
    """

    def __init__(
        self,
        *,
        cwd: Path,
        root: Path,
        rules: Mapping[str, Rule],
        baseline_stale: Sequence[Mapping[str, Any]] | None = None,
        colour: bool = False,
    ) -> None:
        self.cwd = cwd.resolve()
        self.root = root.resolve()
        self.rules = rules
        self.baseline_stale = baseline_stale
        self.colour = colour
        self.source_root = _repository_root(self.root)
        self._lines: dict[str, list[str]] = {}

    def absolute(self, display: str) -> Path:
        return (self.cwd / display).resolve()

    def uri(self, display: str) -> str:
        """Repository-relative POSIX path of a finding's file (absolute when outside it)."""
        path = self.absolute(display)
        try:
            return PurePosixPath(path.relative_to(self.source_root)).as_posix()
        except ValueError:
            return path.as_uri()

    def root_relative(self, display: str) -> str:
        """Project-root-relative POSIX path (what baselines record)."""
        path = self.absolute(display)
        try:
            return PurePosixPath(path.relative_to(self.root)).as_posix()
        except ValueError:
            return path.as_posix()

    def lines(self, display: str) -> list[str]:
        """The text lines of a checked file (read once; [] when unreadable)."""
        if display not in self._lines:
            try:
                data = self.absolute(display).read_bytes()
                self._lines[display] = data.decode("utf-8", errors="replace").splitlines()
            except OSError:
                self._lines[display] = []
        return self._lines[display]


def _repository_root(root: Path) -> Path:
    for candidate in (root, *root.parents):
        if (candidate / ".git").exists():
            return candidate
    return root
