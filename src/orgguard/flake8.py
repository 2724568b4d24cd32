"""flake8 plugin: a thin adapter over the engine (no rule logic here).

flake8 calls a plugin as a *tree* plugin only when its constructor takes ``tree``; orgguard re-parses
``lines`` with LibCST and reports exactly what ``orgguard check`` reports. flake8 applies its own
``# noqa`` handling; ``# orgguard: ignore[...]`` is applied here. Nothing may escape ``run()``: an
exception inside a plugin aborts the whole flake8 run, so the file's findings are computed in full
before the first is handed over, and any failure (or a file past its time budget or the size limit)
becomes one ORG000 line instead.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from orgguard import __version__
from orgguard.config import ConfigError
from orgguard.engine.checking import check_source
from orgguard.engine.discover import find_root, gitignored
from orgguard.engine.runner import (
    DEFAULT_FILE_TIMEOUT,
    PARSE_ERROR,
    FileTimeout,
    Project,
    load_project,
    time_guard,
)


@functools.lru_cache(maxsize=8)
def _project(root: str, stamp: float) -> Project | str:
    """The project for a root (built once per flake8 worker; ``stamp`` invalidates on config edits).

    The project index comes from ``.orgguard_cache/`` when the project has not changed since it was
    last built (by the CLI or another flake8 worker), as ``orgguard check`` does.
    """
    try:
        return load_project(Path(root), cache=True, jobs=1)  # flake8 runs the processes
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
            found = list(self._run())
        except FileTimeout:
            found = [(1, 0, f"{PARSE_ERROR} orgguard: analysis timed out after {DEFAULT_FILE_TIMEOUT:g} s", type(self))]
        except Exception as exc:  # never let anything escape into flake8
            what = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
            found = [(1, 0, f"{PARSE_ERROR} orgguard could not check this file: {what}", type(self))]
        yield from found

    def _run(self) -> Iterator[tuple[int, int, str, type[Any]]]:
        path = Path(self.filename)
        if self.filename in ("stdin", "-", ""):
            path = Path.cwd() / "stdin.py"
        root = find_root(path)
        project = _project(str(root), _stamp(root))
        if isinstance(project, str):
            yield 1, 0, f"{PARSE_ERROR} orgguard configuration error: {project}", type(self)
            return
        if project.config.is_excluded(path, is_dir=False):
            return
        if gitignored(project.config, path):  # not in the project's index (flake8 does not read .gitignore)
            return
        source = "".join(self.lines)
        if len(source) > project.max_file_size:
            size = f"{len(source) / 1e6:.1f} MB"
            yield 1, 0, f"{PARSE_ERROR} orgguard did not check this file: {size} is over the size limit", type(self)
            return
        with time_guard(DEFAULT_FILE_TIMEOUT):
            result = check_source(project, path, source, display=self.filename, noqa=False)
        for finding in result.findings:
            yield finding.line, finding.column - 1, f"{finding.code} {finding.message}", type(self)
        for error in result.errors:
            yield 1, 0, f"{PARSE_ERROR} orgguard could not check this file: {error.message}", type(self)
