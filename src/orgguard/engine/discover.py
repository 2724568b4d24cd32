"""Which files make the project: the root, the walk below it, the path patterns, reading sources.

The index always covers the whole project (root = nearest ``pyproject.toml`` or ``.git``), whichever
files are being checked; the runner checks the files asked for. Both walk with :func:`iter_python_files`.

Path patterns (``exclude``, ``extend-exclude``, ``exempt-files``, ``per-file-ignores``) are gitignore
patterns, matched by pathspec against paths relative to the project root, the way git matches them: the
last pattern that matches a path decides (``!pattern`` takes a path back), a pattern that matches a
directory matches everything below it, and nothing below a matched directory can be taken back. The
project's ``.gitignore`` files (the root's, nested ones, and ``.git/info/exclude``) leave files out of
walks when ``respect-gitignore`` is on; a file named on the command line is checked all the same.

This module depends on nothing else of orgguard, so the settings can use its patterns to validate.
"""

from __future__ import annotations

import errno
import functools
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol

import pathspec

GITIGNORE = ".gitignore"


def find_root(start: Path) -> Path:
    """Nearest ancestor of ``start`` (inclusive) holding a pyproject.toml or a .git; else ``start``."""
    start = start.resolve()
    here = start if start.is_dir() else start.parent
    for candidate in (here, *here.parents):
        if (candidate / "pyproject.toml").is_file() or (candidate / ".git").exists():
            return candidate
    return here


# ---------------------------------------------------------------------------------------------------
# patterns


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used as a gitignore pattern (None: it can)."""
    if not pattern.strip():
        return "is empty"
    try:
        spec = pathspec.GitIgnoreSpec.from_lines([pattern])
    except ValueError as exc:  # pathspec's GitIgnorePatternError
        return f"is not a gitignore pattern ({exc})"
    if not any(p.include is not None for p in spec.patterns):
        if pattern.startswith("#"):
            return "is a comment in gitignore syntax (write `\\#` for a literal #)"
        return "matches nothing"
    return None


@dataclass(frozen=True)
class PathPatterns:
    """An ordered list of gitignore patterns, matched against root-relative POSIX paths.

    pathspec compiles each pattern to a regular expression (``RegexPattern.regex`` and ``.include``, its
    public attributes); the matching is git's, one entry at a time: the last pattern that matches the
    entry itself decides, and the entry's directories are decided before it (:meth:`matches`, or the walk
    as it goes down). pathspec's own ``check_file`` lets a pattern that matches a directory above the path
    count as matching the path, so a ``!a/`` would take back an ``a/b/`` git keeps ignored.
    """

    patterns: tuple[str, ...]
    compiled: tuple[tuple[re.Pattern[str], bool], ...] = field(compare=False, repr=False)
    for_files: tuple[tuple[re.Pattern[str], bool], ...] = field(compare=False, repr=False)  # not dir-only

    def verdict(self, rel: str, is_dir: bool = False) -> bool | None:
        """The say of the last pattern that matches the path itself: True (matched), False (taken back by
        a ``!`` pattern), None (no pattern matches it; a directory above it may still be matched)."""
        if not rel:
            return None
        text = f"{rel}/" if is_dir else rel
        for regex, include in reversed(self.compiled if is_dir else self.for_files):
            found = regex.match(text)
            # a match that stops at a "/" before the end matched a directory above the path, not the path
            if found is not None and (found.end() == len(text) or text[found.end() - 1] != "/"):
                return include
        return None

    def matches(self, rel: str, *, is_dir: bool = False) -> bool:
        """Whether the path is matched, as git decides it: a path below a matched directory is matched,
        whatever later ``!`` patterns say."""
        if not self.compiled or not rel:
            return False
        parts = rel.split("/")
        for i in range(1, len(parts)):
            if self.verdict("/".join(parts[:i]), True):
                return True
        return bool(self.verdict(rel, is_dir))


def _compile(patterns: Iterable[str]) -> PathPatterns:
    """The usable patterns as pathspec compiles them. A trailing ``/**`` ("everything inside") is read
    as ``/**/*``, its meaning in git: pathspec's ``dir/**`` also matches the directory itself, which git's
    does not (so a deeper ``!`` can take a file inside back)."""
    written = tuple(patterns)
    compiled: list[tuple[re.Pattern[str], bool]] = []
    for_files: list[tuple[re.Pattern[str], bool]] = []
    for line in written:
        if pattern_problem(line) is not None:
            continue
        stripped = line.rstrip()
        text = f"{stripped}/*" if stripped.endswith("/**") else line
        for pattern in pathspec.GitIgnoreSpec.from_lines([text]).patterns:
            regex, include = getattr(pattern, "regex", None), pattern.include
            if isinstance(regex, re.Pattern) and include is not None:
                compiled.append((regex, include))
                if not stripped.endswith("/"):  # a directory-only pattern never matches a file itself
                    for_files.append((regex, include))
    return PathPatterns(written, tuple(compiled), tuple(for_files))


@functools.lru_cache(maxsize=64)
def path_patterns(patterns: tuple[str, ...]) -> PathPatterns:
    """The compiled patterns (unusable ones, which the settings refuse, are left out)."""
    return _compile(patterns)


def ignored_codes(rel: str, per_file_ignores: Iterable[tuple[str, Sequence[str]]]) -> frozenset[str]:
    """The codes ``per-file-ignores`` switches off for a path. Each key is one pattern; ``!pattern``
    stands for the files the pattern does not match (as in Ruff)."""
    codes: set[str] = set()
    for pattern, pattern_codes in per_file_ignores:
        if pattern.startswith("!"):
            hit = not path_patterns((pattern[1:],)).matches(rel)
        else:
            hit = path_patterns((pattern,)).matches(rel)
        if hit:
            codes.update(pattern_codes)
    return frozenset(codes)


def relative_to_root(root: Path, path: Path) -> str:
    """``path`` relative to ``root``, POSIX style; a path outside the root as absolute, without the
    leading slash (so no root-anchored pattern can match it)."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: the path as written
        resolved = Path(os.path.abspath(path))
    try:
        return PurePosixPath(resolved.relative_to(root)).as_posix()
    except ValueError:
        return PurePosixPath(resolved).as_posix().lstrip("/")


# ---------------------------------------------------------------------------------------------------
# .gitignore


def _read_ignore_file(path: Path) -> PathPatterns | None:
    """The usable patterns of one ignore file (git skips lines it cannot read; so does this)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    kept = [line for line in lines if line.strip() and pattern_problem(line) is None]
    return _compile(kept) if kept else None


def _git_dir(root: Path) -> Path | None:
    """The repository's git directory when the root holds one (``.git``, or a worktree's ``.git`` file)."""
    dot_git = root / ".git"
    if dot_git.is_dir():
        return dot_git
    try:
        text = dot_git.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("gitdir:"):
        return None
    git_dir = (root / text[len("gitdir:") :].strip()).resolve()
    try:  # a worktree: info/exclude is the main repository's
        common = (git_dir / "commondir").read_text(encoding="utf-8").strip()
        return (git_dir / common).resolve()
    except (OSError, UnicodeDecodeError):
        return git_dir


@dataclass(frozen=True)
class GitIgnore:
    """The ignore files that apply below a directory of a walk: ``(base, patterns)``, outermost first
    (``.git/info/exclude``, then the root's ``.gitignore``, then nested ones on the way down)."""

    layers: tuple[tuple[str, PathPatterns], ...] = ()

    @classmethod
    def for_root(cls, root: Path) -> GitIgnore:
        git_dir = _git_dir(root)
        exclude = _read_ignore_file(git_dir / "info" / "exclude") if git_dir is not None else None
        return cls((("", exclude),) if exclude is not None else ())

    def descend(self, directory: Path, rel: str) -> GitIgnore:
        """With ``directory``'s own ``.gitignore`` (``rel``: its root-relative path)."""
        patterns = _read_ignore_file(directory / GITIGNORE)
        return GitIgnore((*self.layers, (rel, patterns))) if patterns is not None else self

    def ignored(self, rel: str, is_dir: bool) -> bool:
        """Whether the entry is ignored, its directories having been found not ignored: the deepest
        ignore file with a matching pattern decides, and in it the last matching pattern."""
        for base, patterns in reversed(self.layers):
            if base:
                if not rel.startswith(f"{base}/"):
                    continue
                sub = rel[len(base) + 1 :]
            else:
                sub = rel
            verdict = patterns.verdict(sub, is_dir)
            if verdict is not None:
                return verdict
        return False


# ---------------------------------------------------------------------------------------------------
# the walk


class WalkSettings(Protocol):
    """What the walk needs of the settings (``orgguard.config.Config`` has it)."""

    @property
    def root(self) -> Path: ...

    @property
    def exclude(self) -> tuple[str, ...]: ...

    @property
    def extend_exclude(self) -> tuple[str, ...]: ...

    @property
    def respect_gitignore(self) -> bool: ...


def excluded_by(settings: WalkSettings) -> PathPatterns:
    """``exclude`` then ``extend-exclude``, as one list (so ``extend-exclude`` can take a default back)."""
    return path_patterns((*settings.exclude, *settings.extend_exclude))


def _start_gitignore(root: Path, start: Path) -> GitIgnore | None:
    """The ignore files that apply to what a walk from ``start`` finds (None: do not apply any).

    Those of the directories from the root down to ``start``'s parent (``start``'s own is read by the
    walk). A ``start`` that is itself ignored was named on purpose: it is walked with no ignore files.
    """
    try:
        rel = PurePosixPath(start.relative_to(root)).as_posix()
    except ValueError:  # outside the project: only the ignore files below it
        return GitIgnore()
    gitignore = GitIgnore.for_root(root)
    if rel == ".":
        return gitignore
    here, done = root, ""
    for part in rel.split("/"):
        gitignore = gitignore.descend(here, done)
        done = f"{done}/{part}" if done else part
        if gitignore.ignored(done, True):
            return None
        here = here / part
    return gitignore


def gitignored(config: WalkSettings, path: Path) -> bool:
    """Whether the project's ignore files leave ``path`` (or a directory above it) out of walks."""
    if not config.respect_gitignore:
        return False
    try:
        resolved = path.resolve()
        rel = PurePosixPath(resolved.relative_to(config.root)).as_posix()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, or outside the project
        return False
    if rel == ".":
        return False
    gitignore = _start_gitignore(config.root, resolved.parent)
    if gitignore is None:
        return True
    parent = relative_to_root(config.root, resolved.parent)
    gitignore = gitignore.descend(resolved.parent, "" if parent == "." else parent)
    return gitignore.ignored(rel, resolved.is_dir())


def named_files(config: WalkSettings, paths: Iterable[Path]) -> list[Path]:
    """The files that paths named on the command line bring into the project although its walk leaves
    them out for ``.gitignore``: a named file is checked all the same, and its facts belong in the index."""
    out: list[Path] = []
    excluded = excluded_by(config)
    for path in paths:
        if not gitignored(config, path):
            continue
        is_dir = path.is_dir()
        if excluded.matches(relative_to_root(config.root, path), is_dir=is_dir):
            continue
        if is_dir:
            out.extend(iter_python_files(path, config))
        elif path.is_file():
            out.append(path.resolve())
    return out


def iter_python_files(
    root: Path, config: WalkSettings, skipped: list[tuple[Path, str]] | None = None
) -> Iterator[Path]:
    """Every .py file under ``root`` not excluded (nor gitignored), never following symlinks out of the tree.

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
    project = config.root
    top = relative_to_root(project, root)
    gitignore = _start_gitignore(project, root) if config.respect_gitignore else None
    walk = _Walk(root, project, excluded_by(config), skipped)
    yield from walk.directory(root, "" if top == "." else top, gitignore)


@dataclass(frozen=True)
class _Walk:
    root: Path  # where the walk started (resolved)
    project: Path  # the project root, which patterns are relative to
    excluded: PathPatterns
    skipped: list[tuple[Path, str]] | None

    def left_out(self, rel: str, is_dir: bool, gitignore: GitIgnore | None) -> bool:
        """Excluded by a pattern or ignored by git; the entry's directories were not."""
        if self.excluded.verdict(rel, is_dir):
            return True
        return gitignore is not None and gitignore.ignored(rel, is_dir)

    def directory(self, here: Path, rel: str, gitignore: GitIgnore | None) -> Iterator[Path]:
        try:
            with os.scandir(here) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            return  # unreadable directory: skipped, as os.walk does
        if gitignore is not None and any(e.name == GITIGNORE for e in entries):
            gitignore = gitignore.descend(here, rel)
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
            child = f"{rel}/{name}" if rel else name
            if self.left_out(child, False, gitignore):
                continue
            path = here / name
            if is_link:
                yield from self.symlink(path)
                continue
            try:
                regular = entry.is_file(follow_symlinks=False)
            except OSError:
                continue
            if regular:
                yield path
            elif self.skipped is not None:
                self.skipped.append((path, "not a regular file"))
        for name in subdirs:
            child = f"{rel}/{name}" if rel else name
            if not self.left_out(child, True, gitignore):
                yield from self.directory(here / name, child, gitignore)

    def symlink(self, path: Path) -> Iterator[Path]:
        """A symlinked file, when its target is in the tree and not excluded itself."""
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError) as exc:  # dangling, or a loop
            if self.skipped is not None:
                self.skipped.append((path, _why(exc)))
            return
        try:
            target.relative_to(self.root)
        except ValueError:  # never followed out of the tree
            return
        if self.excluded.matches(relative_to_root(self.project, target)):
            return
        if path.is_file():
            yield path
        elif self.skipped is not None:
            self.skipped.append((path, "not a regular file"))


def _why(exc: BaseException) -> str:
    if isinstance(exc, RuntimeError):  # Python < 3.13 reports a loop this way
        return "symlink loop"
    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
        return "symlink loop"
    if isinstance(exc, FileNotFoundError):
        return "dangling symlink"
    return getattr(exc, "strerror", None) or str(exc)


__all__ = [
    "GitIgnore",
    "PathPatterns",
    "WalkSettings",
    "excluded_by",
    "find_root",
    "gitignored",
    "ignored_codes",
    "iter_python_files",
    "named_files",
    "path_patterns",
    "pattern_problem",
    "relative_to_root",
]
