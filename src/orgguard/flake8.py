"""flake8 plugin: a thin adapter over the engine (no rule logic here).

flake8 calls a plugin as a *tree* plugin only when its constructor takes ``tree``; orgguard re-parses
``lines`` with LibCST and reports exactly what ``orgguard check`` reports. flake8 applies its own
``# noqa`` handling; ``# orgguard: ignore[...]`` is applied here. Nothing may escape ``run()``: an
exception inside a plugin aborts the whole flake8 run.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from orgguard import __version__
from orgguard.config import ConfigError, find_root
from orgguard.engine.runner import PARSE_ERROR, Project, check_source, load_project


@functools.lru_cache(maxsize=8)
def _project(root: str, stamp: float) -> Project | str:
    """The project for a root (built once per flake8 worker; ``stamp`` invalidates on config edits)."""
    try:
        return load_project(Path(root))
    except ConfigError as exc:
        return str(exc)


def _stamp(root: Path) -> float:
    try:
        return (root / "pyproject.toml").stat().st_mtime
    except OSError:
        return 0.0


class OrgGuardPlugin:
    """flake8 entry point ``ORG``."""

    name = "orgguard"
    version = __version__

    def __init__(self, tree: ast.AST, lines: Sequence[str], filename: str) -> None:
        self.lines = lines
        self.filename = filename

    def run(self) -> Iterator[tuple[int, int, str, type[Any]]]:
        try:
            yield from self._run()
        except Exception as exc:  # never let anything escape into flake8
            yield 1, 0, f"{PARSE_ERROR} orgguard could not check this file: {type(exc).__name__}: {exc}", type(self)

    def _run(self) -> Iterator[tuple[int, int, str, type[Any]]]:
        path = Path(self.filename)
        if self.filename in ("stdin", "-", ""):
            path = Path.cwd() / "stdin.py"
        root = find_root(path)
        project = _project(str(root), _stamp(root))
        if isinstance(project, str):
            yield 1, 0, f"{PARSE_ERROR} orgguard configuration error: {project}", type(self)
            return
        if project.config.is_excluded(path):
            return
        result = check_source(project, path, "".join(self.lines), display=self.filename, noqa=False)
        for finding in result.findings:
            yield finding.line, finding.column - 1, f"{finding.code} {finding.message}", type(self)
        for error in result.errors:
            yield 1, 0, f"{PARSE_ERROR} orgguard could not check this file: {error.message}", type(self)
