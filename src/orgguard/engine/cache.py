"""The on-disk cache: per-file results and the project index, in ``.orgguard_cache/`` at the project root.

Entries are keyed by content, never by time: a per-file result by the file's bytes, its path, the
settings, the rule selection, the knowledge packs, orgguard's own code and the *content* of the
project index; the index by the bytes of every project file. A stale entry is therefore never
looked up again, and nothing has to be invalidated.

Every entry is one record in its stamped wire form (engine/codec.py: MessagePack through msgspec, one
schema per record type, the schema version in the stamp) behind a checksum, written to a temporary file
and renamed into place, so a reader sees a whole entry or none, two runs on the same tree can share the
cache, and a corrupt or truncated entry (a crash, a full disk, a hand edit), an entry of another schema
version or of another shape is a miss that is removed and rebuilt. Entries hold data only (no
pickles): decoding builds nothing but the engine's own typed records. The cache never stops a run: if
the directory cannot be written, the run goes on without it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from orgguard import __version__
from orgguard.engine.codec import Codec, CodecError

T = TypeVar("T")

CACHE_DIR = ".orgguard_cache"
FORMAT = 2  # the layout of the directory (v2/): MessagePack records since 2
MAGIC = b"orgguard-cache-2 "
KEEP_GENERATIONS = 4  # result directories kept (one per distinct project state), newest first

CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by orgguard.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


# ---------------------------------------------------------------------------------------------------
# what the code is


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """orgguard's own code and catalog, the interpreter and LibCST: a change in any of them is a new cache."""
    from orgguard.registry import rules_dir

    h = hashlib.sha256()
    h.update(f"{__version__}|{sys.version}|{FORMAT}".encode())
    # LibCST's version without importing it (a run whose results are all cached never needs LibCST)
    spec = importlib.util.find_spec("libcst")
    if spec is not None and spec.origin:
        with contextlib.suppress(OSError):
            h.update(Path(spec.origin).with_name("_version.py").read_bytes())
    package = Path(__file__).resolve().parent.parent
    roots = [(package, "*.py")]
    with contextlib.suppress(RuntimeError):  # a broken install fails elsewhere
        roots.append((rules_dir(), "*.toml"))
    for base, pattern in roots:
        for path in sorted(base.rglob(pattern)):
            if "runtime" in path.relative_to(base).parts:
                continue  # the runtime library is not the linter
            try:
                data = path.read_bytes()
            except OSError:
                continue
            h.update(path.relative_to(base).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(data).digest())
    return h.hexdigest()[:24]


def digest_of(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------
# the store


class Cache:
    """A cache directory (``.orgguard_cache/`` at the project root). All methods are best-effort and never raise."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.base = self.dir / f"v{FORMAT}"
        self.writable = True
        self._ready = False

    # -- layout ---------------------------------------------------------------------------------

    def _prepare(self) -> bool:
        if self._ready:
            return self.writable
        self._ready = True
        try:
            self.base.mkdir(parents=True, exist_ok=True)  # a missing parent is created too (--cache-dir)
            for name, text in ((".gitignore", "# created by orgguard\n*\n"), ("CACHEDIR.TAG", CACHEDIR_TAG)):
                target = self.dir / name
                if not target.is_file():
                    _atomic_write(target, text.encode())
        except OSError:
            self.writable = False
        return self.writable

    def _path(self, kind: str, key: str, fanout: bool) -> str:
        # strings, not Path objects: a warm run looks up one entry per file
        base = f"{self.base}{os.sep}{kind}{os.sep}"
        return f"{base}{key[:2]}{os.sep}{key}" if fanout else base + key

    # -- entries --------------------------------------------------------------------------------

    def read(self, kind: str, key: str, codec: Codec[T], *, fanout: bool = True) -> T | None:
        """The record stored under ``key``, or None: missing, unreadable, truncated, corrupt, of another
        schema version or of another shape (such an entry is removed, so that it is rebuilt)."""
        path = self._path(kind, key, fanout)
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except OSError:
            return None
        payload = _unwrap(raw)
        if payload is not None:
            try:
                return codec.decode(payload)
            except CodecError:
                pass
        with contextlib.suppress(OSError):
            os.unlink(path)
        return None

    def write(self, kind: str, key: str, payload: bytes, *, fanout: bool = True) -> None:
        """Store ``payload``, a record in its stamped wire form (``codec.encode(value)``)."""
        if not self._prepare():
            return
        path = Path(self._path(kind, key, fanout))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(path, _wrap(payload))
        except OSError:
            self.writable = False

    def clock(self) -> int | None:
        """The filesystem's time now, as it stamps a file made in the cache directory (None: not writable).

        File times come from a coarser clock than ``time.time_ns()`` (a kernel tick, a second, two on FAT),
        and on a network filesystem from the server's: a file's times are compared with this, not with
        the wall clock.
        """
        if not self._prepare():
            return None
        try:
            fd, tmp = tempfile.mkstemp(dir=self.base, prefix=".tmp-clock-")
        except OSError:
            return None
        try:
            return os.fstat(fd).st_mtime_ns
        except OSError:
            return None
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def prune(self, kind: str, keep: Iterable[str], *, budget: int | None = None) -> None:
        """Remove the entries of ``kind`` (index files, result generations) beyond the newest few.

        A result generation holds a file per checked file: it is set aside at once (renamed into
        ``.trash-*``, never read again) and deleted ``budget`` files at a time, so that a quick run does
        not pay for deleting a whole old generation; later runs finish the job.
        """
        folder = self.base / kind
        try:
            entries = [p for p in folder.iterdir() if not p.name.startswith((".tmp-", ".trash-"))]
        except OSError:
            return
        if len(entries) > KEEP_GENERATIONS:
            kept = set(keep)
            entries.sort(key=_mtime, reverse=True)
            for old in entries[KEEP_GENERATIONS:]:
                if old.name in kept:
                    continue
                if old.is_dir():
                    with contextlib.suppress(OSError):
                        old.rename(folder / f".trash-{old.name}-{os.getpid()}")
                else:
                    with contextlib.suppress(OSError):
                        old.unlink()
        _empty_trash(folder, budget)


def _empty_trash(folder: Path, budget: int | None) -> None:
    """Delete set-aside generations in ``folder``: all of them, or about ``budget`` files."""
    try:
        trash = sorted(p for p in folder.iterdir() if p.name.startswith(".trash-"))
    except OSError:
        return
    left = budget
    for heap in trash:
        if left is None:
            shutil.rmtree(heap, ignore_errors=True)
            continue
        for here, dirs, files in os.walk(heap, topdown=False):
            for name in files:
                if left <= 0:
                    return
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(here, name))
                left -= 1
            for name in dirs:
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join(here, name))
        with contextlib.suppress(OSError):
            os.rmdir(heap)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _wrap(payload: bytes) -> bytes:
    return MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def _unwrap(raw: bytes) -> memoryview | None:
    """The payload behind the checksum (None: not an entry, or damaged)."""
    if not raw.startswith(MAGIC):
        return None
    end = raw.find(b"\n", len(MAGIC))
    if end < 0:
        return None
    payload = memoryview(raw)[end + 1 :]
    if hashlib.sha256(payload).hexdigest().encode() != raw[len(MAGIC) : end]:
        return None
    return payload


def _atomic_write(target: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file next to ``target`` and rename it over ``target``."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=f".{os.getpid()}")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
