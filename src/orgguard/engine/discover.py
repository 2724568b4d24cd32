"""Which files make the project: the walk below the root, the exclusion patterns, reading sources (by stat first).

The index always covers the whole project (root = nearest ``pyproject.toml`` or ``.git``), whichever
files are being checked; the runner checks the files asked for. Both walk with :func:`iter_python_files`.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from orgguard.config import Config, path_matches, walked_file_matcher
from orgguard.engine.cache import Cache, digest_of
from orgguard.engine.codec import STAT_TABLE, FileStat, StatTable


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


class SourceFile:
    """One project file as the index scan reads it (shared with the runner, so nothing is read twice).

    Its bytes are read when first needed: a file whose stat vouches for its content hash
    (:class:`StatKeys`) is not read at all by a run that finds all it needs in the cache.
    """

    __slots__ = ("_data", "parsed", "path", "sha", "stat")

    def __init__(self, path: Path, sha: str, data: bytes | None = None, stat: FileStat | None = None) -> None:
        self.path = path
        self.sha = sha  # sha256 of the content, hex
        self._data = data
        self.stat = stat  # what vouches for ``sha`` next run (None: the file is hashed again)
        self.parsed: bool | None = None  # set by the index scan: parsed by ast (True), did not parse (False)

    @property
    def data(self) -> bytes:
        """The file's bytes, read now if they were not; a file changed since its stat was taken takes the
        hash of what is read (and is hashed again next run)."""
        if self._data is None:
            try:
                data = self.path.read_bytes()
            except (OSError, MemoryError):
                data = b""
            sha = hashlib.sha256(data).hexdigest()
            if sha != self.sha:
                self.sha, self.stat = sha, None
            self._data = data
        return self._data

    @property
    def loaded(self) -> bool:
        return self._data is not None


class StatKeys:
    """Which files' content hashes their stat still vouches for: the stat table in the cache.

    A run reads and hashes only the files whose stat changed, as Ruff keys its cache by mtime and git its
    index by stat. An entry holds the size, mtime, ctime, inode and device the file had when its content
    had the hash; it is used only when all five are what ``os.stat`` says now:

    - ctime is in the key because no tool sets it: an edit whose mtime is put back afterwards (same size,
      ``touch -r``, an archive extracted over the tree) still changes it;
    - a fresh checkout, or a CI cache restored into another copy of the tree, has other inodes and times:
      no entry matches, so every file is hashed once, and the content-keyed facts and results are found
      as they were; the table is then rewritten for that copy;
    - a file changed within the timestamp granularity of the moment it was read is *racily clean* (git's
      term): it could change again without its stat changing. So an entry is kept only when the file's
      mtime and ctime are strictly before a time the filesystem gave *before* the file was read (the
      mtime of a probe file made in the cache directory); a younger file is hashed again next run, until
      it is old enough.
    """

    def __init__(self, store: Cache, root: Path) -> None:
        self.store = store
        self.key = digest_of("stat", str(root))
        self._known: dict[str, FileStat] | None = None
        self._clock: int | None = None

    def known(self) -> dict[str, FileStat]:
        if self._known is None:
            table = self.store.read("stat", self.key, STAT_TABLE, fanout=False)
            self._known = dict(table.files) if table is not None else {}
        return self._known

    def clock(self) -> int | None:
        """The filesystem's time before the first file of this run is read (None: no cache to write to)."""
        if self._clock is None:
            self._clock = self.store.clock()
        return self._clock

    def save(self, sources: Iterable[SourceFile]) -> None:
        """Keep the stat of every file that vouches for its hash (written only when something changed)."""
        files = {str(src.path): src.stat for src in sources if src.stat is not None}
        if files != self.known():
            self.store.write("stat", self.key, STAT_TABLE.encode(StatTable(files)), fanout=False)
            self._known = files


def read_sources(
    root: Path,
    config: Config,
    files: Iterable[Path] | None = None,
    *,
    max_size: int | None = None,
    keys: StatKeys | None = None,
) -> list[SourceFile]:
    """The project's files and their content hashes (unreadable files and files over ``max_size`` bytes left
    out). With ``keys``, a file whose stat is what the stat table holds is not read (its hash is the table's)."""
    out: list[SourceFile] = []
    known = keys.known() if keys is not None else {}
    for path in files if files is not None else iter_python_files(root, config):
        entry = known.get(str(path))
        if entry is not None:
            try:
                st = os.stat(path)
            except OSError:
                continue
            if max_size is not None and st.st_size > max_size:
                continue
            if (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev) == (
                entry.size,
                entry.mtime_ns,
                entry.ctime_ns,
                entry.inode,
                entry.device,
            ):
                out.append(SourceFile(path, entry.sha, stat=entry))
                continue
        clock = keys.clock() if keys is not None else None  # taken before the file is read
        try:
            with open(path, "rb") as handle:
                st = os.fstat(handle.fileno())
                if max_size is not None and st.st_size > max_size:
                    continue
                data = handle.read()
        except (OSError, MemoryError):
            continue
        sha = hashlib.sha256(data).hexdigest()
        trusted = clock is not None and st.st_mtime_ns < clock and st.st_ctime_ns < clock and len(data) == st.st_size
        stat = FileStat(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, sha) if trusted else None
        out.append(SourceFile(path, sha, data, stat))
    return out


__all__ = ["SourceFile", "StatKeys", "iter_python_files", "read_sources"]
