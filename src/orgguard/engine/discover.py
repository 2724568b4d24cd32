"""Which files make the project: the walk below the root, the exclusion patterns, reading sources.

The index always covers the whole project (root = nearest ``pyproject.toml`` or ``.git``), whichever
files are being checked; the runner checks the files asked for. Both walk with :func:`iter_python_files`.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from orgguard.config import Config, path_matches, walked_file_matcher


def iter_python_files(root: Path, config: Config, skipped: list[tuple[Path, str]] | None = None) -> Iterator[Path]:
    """Every .py file under ``root`` not excluded, never following symlinks out of the tree.

    Files come in ``os.walk`` order (a directory's own files sorted, then its subdirectories sorted);
    symlinked directories are not entered. One ``scandir`` per directory and no ``resolve()`` per file:
    below the resolved root every path is already canonical, so its root-relative form is built as
    the walk goes (only symlinked files take the slow path). ``skipped`` collects the ``.py`` entries that
    cannot be read as files (dangling symlinks, symlink loops, FIFOs, devices), with the reason.
    """
    try:
        root = root.resolve()
    except (OSError, RuntimeError):  # a symlink loop given as the root
        return
    patterns = (*config.exclude, *config.extend_exclude)
    top = config.relpath(root)
    yield from _walk(root, root, "" if top == "." else top, patterns, config, skipped)


def _walk(  # noqa: PLR0917 - a private recursive helper
    here: Path,
    root: Path,
    rel: str,
    patterns: tuple[str, ...],
    config: Config,
    skipped: list[tuple[Path, str]] | None,
) -> Iterator[Path]:
    try:
        with os.scandir(here) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return  # unreadable directory: skipped, as os.walk does
    subdirs: list[str] = []
    for entry in entries:
        name = entry.name
        try:
            is_link = entry.is_symlink()
        except OSError:
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:  # a symlink loop
            is_dir = False
        if is_dir:
            if not is_link:
                subdirs.append(name)
            continue
        if not name.endswith(".py"):
            continue
        path = here / name
        child = f"{rel}/{name}" if rel else name
        if is_link:
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError) as exc:  # dangling, or a loop
                if skipped is not None and not any(path_matches(child, pat) for pat in patterns):
                    skipped.append((path, _why(exc)))
                continue
            try:
                target.relative_to(root)
            except ValueError:  # never followed out of the tree
                continue
            if path.is_file() and not config.is_excluded(path):
                yield path
            elif skipped is not None and not path.is_file() and not config.is_excluded(path):
                skipped.append((path, "not a regular file"))
            continue
        try:
            regular = entry.is_file(follow_symlinks=False)
        except OSError:
            continue
        if walked_file_matcher(patterns)(name, child):
            continue
        if regular:
            yield path
        elif skipped is not None:
            skipped.append((path, "not a regular file"))
    for name in subdirs:
        child = f"{rel}/{name}" if rel else name
        if not any(path_matches(child, pat) for pat in patterns):
            yield from _walk(here / name, root, child, patterns, config, skipped)


def _why(exc: BaseException) -> str:
    if isinstance(exc, RuntimeError):  # Python < 3.13 reports a loop this way
        return "symlink loop"
    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
        return "symlink loop"
    if isinstance(exc, FileNotFoundError):
        return "dangling symlink"
    return getattr(exc, "strerror", None) or str(exc)


@dataclass
class SourceFile:
    """One project file as the index scan read it (shared with the runner, so nothing is read twice)."""

    path: Path
    data: bytes
    sha: str  # sha256 of ``data``, hex
    parsed: bool | None = None  # set by build_index: parsed by ast (True), did not parse (False), not parsed


def read_sources(
    root: Path, config: Config, files: Iterable[Path] | None = None, *, max_size: int | None = None
) -> list[SourceFile]:
    """The project's files and their bytes (unreadable files and files over ``max_size`` bytes left out)."""
    out: list[SourceFile] = []
    for path in files if files is not None else iter_python_files(root, config):
        try:
            with open(path, "rb") as handle:
                if max_size is not None and os.fstat(handle.fileno()).st_size > max_size:
                    continue
                data = handle.read()
        except (OSError, MemoryError):
            continue
        out.append(SourceFile(path, data, hashlib.sha256(data).hexdigest()))
    return out


__all__ = ["SourceFile", "iter_python_files", "read_sources"]
