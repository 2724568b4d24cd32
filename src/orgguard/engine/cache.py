"""The on-disk cache: per-file results and the project index, in ``.orgguard_cache/`` at the project root.

Entries are keyed by content, never by time: a per-file result by the file's bytes, its path, the
settings, the rule selection, the knowledge packs, orgguard's own code and the *content* of the
project index; the index by the bytes of every project file. A stale entry is therefore never
looked up again, and nothing has to be invalidated.

Every entry is JSON behind a checksum, written to a temporary file and renamed into place, so a
reader sees a whole entry or none, two runs on the same tree can share the cache, and a corrupt or
truncated entry (a crash, a full disk, a hand edit) is a miss that is rebuilt. Entries hold data only
(no pickles): decoding builds nothing but the engine's own frozen records. The cache never stops a
run: if the directory cannot be written, the run goes on without it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from orgguard import __version__

CACHE_DIR = ".orgguard_cache"
FORMAT = 1
MAGIC = b"orgguard-cache-1 "
KEEP_GENERATIONS = 4  # result directories kept (one per distinct project state), newest first

CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by orgguard.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


class CodecError(ValueError):
    """A value the cache cannot store, or an entry it cannot read back."""


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
# the codec: frozen records to JSON and back


def encode(value: Any) -> Any:
    """A JSON-able form of ``value``: containers and dataclass records become tagged arrays.

    Sets are sorted, so equal values always encode to the same text (the index digest relies on it).
    Anything else (a LibCST or ast node, a function...) raises :class:`CodecError`.
    """
    kind: type = type(value)
    if value is None or kind in _SCALARS:
        return value
    if kind is tuple:
        return ["t", *[encode(v) for v in value]]
    names = _record_fields(kind)
    if names is not None:
        return ["D", kind.__name__, *[encode(getattr(value, name)) for name in names]]
    if kind is list:
        return ["l", *[encode(v) for v in value]]
    if isinstance(value, (frozenset, set)):
        items = [encode(v) for v in value]
        if all(isinstance(i, str) for i in items):
            items.sort()
        else:
            items.sort(key=lambda i: json.dumps(i, sort_keys=True))
        return ["f" if isinstance(value, frozenset) else "s", *items]
    if isinstance(value, (str, bool, int, float)):  # subclasses (an enum of str...)
        return value
    if isinstance(value, tuple):
        return ["t", *[encode(v) for v in value]]
    if isinstance(value, list):
        return ["l", *[encode(v) for v in value]]
    if isinstance(value, Mapping):
        out: list[Any] = ["d"]
        for k, v in value.items():
            out.append(encode(k))
            out.append(encode(v))
        return out
    raise CodecError(f"cannot cache a {type(value).__name__}")


_SCALARS = frozenset((str, bool, int, float))


@functools.cache
def _record_fields(kind: type) -> tuple[str, ...] | None:
    """The field names of a dataclass record type, in order (None: not a record)."""
    if not dataclasses.is_dataclass(kind):
        return None
    return tuple(f.name for f in dataclasses.fields(kind))


def decode(data: Any, records: Mapping[str, type]) -> Any:
    """The value :func:`encode` encoded; dataclass records are looked up in ``records`` only."""
    if type(data) is not list:
        if data is None or isinstance(data, (str, bool, int, float)):
            return data
        raise CodecError("malformed entry")
    if not data:
        raise CodecError("malformed entry")
    tag = data[0]
    if tag == "t":
        return tuple([decode(v, records) for v in data[1:]])
    if tag == "D" and len(data) >= 2:
        cls = records.get(data[1]) if isinstance(data[1], str) else None
        if cls is None:
            raise CodecError(f"unknown record {data[1]!r}")
        names = _record_fields(cls)
        values = data[2:]
        if names is None or len(values) != len(names):
            raise CodecError(f"record {data[1]} has changed shape")
        obj: Any = object.__new__(cls)
        for name, v in zip(names, values, strict=True):
            object.__setattr__(obj, name, decode(v, records))
        return obj
    if tag == "l":
        return [decode(v, records) for v in data[1:]]
    if tag == "f":
        return frozenset([decode(v, records) for v in data[1:]])
    if tag == "s":
        return {decode(v, records) for v in data[1:]}
    if tag == "d":
        items = data[1:]
        if len(items) % 2:
            raise CodecError("malformed mapping")
        return {decode(items[i], records): decode(items[i + 1], records) for i in range(0, len(items), 2)}
    raise CodecError(f"unknown tag {tag!r}")


def records_of(*modules: Any) -> dict[str, type]:
    """The dataclass records defined in ``modules``, by class name (what :func:`decode` may build)."""
    out: dict[str, type] = {}
    for module in modules:
        for name, obj in vars(module).items():
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == module.__name__:
                out[name] = obj
    return out


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

    def _path(self, kind: str, key: str, fanout: bool) -> Path:
        return self.base / kind / key[:2] / key if fanout else self.base / kind / key

    # -- entries --------------------------------------------------------------------------------

    def read(self, kind: str, key: str, *, fanout: bool = True) -> Any | None:
        """The JSON value stored under ``key``, or None (missing, truncated, corrupt or unreadable)."""
        path = self._path(kind, key, fanout)
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        value = _unwrap(raw)
        if value is None:
            with contextlib.suppress(OSError):  # a damaged entry: drop it so it is rebuilt
                path.unlink()
        return value

    def write(self, kind: str, key: str, value: Any, *, fanout: bool = True) -> None:
        try:
            payload = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")
        except (TypeError, ValueError):
            return
        self.write_raw(kind, key, payload, fanout=fanout)

    def write_raw(self, kind: str, key: str, payload: bytes, *, fanout: bool = True) -> None:
        """Store ``payload``, JSON text already serialised (by a caller that needed the text anyway)."""
        if not self._prepare():
            return
        path = self._path(kind, key, fanout)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(path, _wrap(payload))
        except OSError:
            self.writable = False

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


def _unwrap(raw: bytes) -> Any | None:
    if not raw.startswith(MAGIC):
        return None
    head, sep, payload = raw[len(MAGIC) :].partition(b"\n")
    if not sep or hashlib.sha256(payload).hexdigest().encode() != head:
        return None
    try:
        return json.loads(payload.decode("utf-8", "surrogatepass"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


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
