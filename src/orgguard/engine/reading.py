"""Reading the project's files: each file's content hash, vouched for by its stat when the cache knows it.

The walk that lists the files is :mod:`orgguard.engine.discover`; this module reads what it lists (once per
run, shared by the index scan and the checking) and keeps the stat table of the cache up to date.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from orgguard.engine.cache import Cache, digest_of
from orgguard.engine.codec import STAT_TABLE, FileStat, StatTable
from orgguard.engine.discover import WalkSettings, iter_python_files


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
    config: WalkSettings,
    files: Iterable[Path] | None = None,
    *,
    max_size: int | None = None,
    keys: StatKeys | None = None,
    also: Sequence[Path] = (),
) -> list[SourceFile]:
    """The project's files and their content hashes (unreadable files and files over ``max_size`` bytes left
    out). With ``keys``, a file whose stat is what the stat table holds is not read (its hash is the table's).
    ``also``: files to add to the walk's (see :func:`~orgguard.engine.discover.named_files`)."""
    out: list[SourceFile] = []
    known = keys.known() if keys is not None else {}
    walked = list(files if files is not None else iter_python_files(root, config))
    seen = set(walked)
    for path in [*walked, *(p for p in also if p not in seen)]:
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


__all__ = ["SourceFile", "StatKeys", "read_sources"]
