"""Every record that leaves a process or outlives a run, through msgspec: one schema per record type, stamped.

Per-file facts, the project index, the cache's own entries (the index head, the facts pack, the stat
table) and the results of checked files travel as MessagePack (``msgspec.msgpack``), each as the array
``[SCHEMA_VERSION, record name, value]``. Decoding checks the stamp, then the value against the record's
type: an entry of another version or another record, of another shape, or damaged, raises
:class:`CodecError` and is dropped by its reader, never misread. Encoding is deterministic (dict keys and
sets sorted), so equal records give equal bytes in every process (the index digest relies on it). The
records are frozen and hold no reference cycles, so they are declared ``gc=False`` (the collector does not
track them) and decoded with the collector paused.

``SCHEMA_VERSION`` (in engine/records.py) is bumped when any record changes shape. (The cache is also
keyed by a digest of orgguard's own code, so a new version never even looks an old entry up; the stamp
is what makes a wrong entry harmless when it is found anyway: a copied or hand-edited cache, a bug.)
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

import msgspec

from orgguard.engine.findings import FileResult
from orgguard.engine.records import SCHEMA_VERSION, FileFacts, ProjectIndex

T = TypeVar("T")

_ENCODER = msgspec.msgpack.Encoder(order="deterministic")
_STAMPED = msgspec.msgpack.Decoder(tuple[int, str, msgspec.Raw])


class CodecError(ValueError):
    """Bytes that are not a record of the expected type and version."""


class Codec(Generic[T]):
    """The wire form of one record type ``kind``, named ``name`` in the stamp."""

    def __init__(self, name: str, kind: Any) -> None:
        self.name = name
        self._decoder: msgspec.msgpack.Decoder[T] = msgspec.msgpack.Decoder(kind)

    def encode(self, value: T) -> bytes:
        """``value`` stamped with the schema version and the record name."""
        return _ENCODER.encode((SCHEMA_VERSION, self.name, msgspec.Raw(_ENCODER.encode(value))))

    def decode(self, data: bytes | memoryview) -> T:
        """The record :meth:`encode` wrote; :class:`CodecError` for anything else."""
        try:
            version, name, body = _STAMPED.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise CodecError(f"not a stamped {self.name} record: {exc}") from None
        if version != SCHEMA_VERSION or name != self.name:
            raise CodecError(f"a {name!r} record of schema {version}, not {self.name!r} of schema {SCHEMA_VERSION}")
        return self.decode_bare(body)

    def encode_bare(self, value: T) -> bytes:
        """``value`` with no stamp: only inside a stamped record (the facts of one file in the facts pack)."""
        return _ENCODER.encode(value)

    def decode_bare(self, data: bytes | memoryview | msgspec.Raw) -> T:
        with paused_collector():
            try:
                return self._decoder.decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
                raise CodecError(f"not a {self.name} record: {exc}") from None


@contextlib.contextmanager
def paused_collector() -> Iterator[None]:
    """The cyclic garbage collector paused while records are decoded (and resumed as it was).

    Decoding the index or every file's facts builds millions of tuples in one go, and the collections
    triggered on the way scan all that was already built: three to ten times the decoding itself. The
    records hold no reference cycles, so nothing is left for the collector to find."""
    running = gc.isenabled()
    if running:
        gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()


# ---------------------------------------------------------------------------------------------------
# the records the cache keeps besides the engine's own (FileFacts, ProjectIndex, FileResult)


class ParsedFlag(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """The first field of a bare ``FileFacts`` encoding (the rest is skipped, not decoded)."""

    parsed: bool


class IndexHead(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A project state (the content of every file) the index was built for: the digest of the index's
    content (it keys every per-file result), the files ``ast`` parsed (by sha256), which index entry."""

    digest: str
    parsed: frozenset[str]
    index: str


class FactsPack(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """Every project file's facts by ``"<path>\\0<sha256>"``, each the bare encoding of ``FileFacts | None``
    (decoded only when an index is built; compared as bytes), and the head they were last built into."""

    head: str
    files: dict[str, msgspec.Raw]


class RunEntry(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """The merged results of one set of files (a run over the same paths), valid while every file has the
    content hash it had (``shas``, in the order of the files): a run that changes nothing reads one entry."""

    shas: tuple[str, ...]
    result: FileResult


class FileStat(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """What ``os.stat`` said of a file when its content had the sha256 ``sha`` (see engine/sources.py)."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int
    sha: str


class StatTable(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """The project's files by absolute path, with the stat that vouches for their content hash."""

    files: dict[str, FileStat]


FACTS: Codec[FileFacts | None] = Codec("facts", FileFacts | None)
FACTS_CHUNK: Codec[list[FileFacts | None]] = Codec("facts-chunk", list[FileFacts | None])  # from a scan worker
FACTS_PARSED: Codec[ParsedFlag | None] = Codec("facts", ParsedFlag | None)  # a bare facts entry, first field only
FACTS_PACK: Codec[FactsPack] = Codec("facts-pack", FactsPack)
INDEX: Codec[ProjectIndex] = Codec("index", ProjectIndex)
INDEX_HEAD: Codec[IndexHead] = Codec("index-head", IndexHead)
RESULT: Codec[FileResult] = Codec("result", FileResult)
RUN: Codec[RunEntry] = Codec("run", RunEntry)
# from a checking worker: (task, content hash the result is of, result)
RESULTS_CHUNK: Codec[list[tuple[int, str, FileResult]]] = Codec("results-chunk", list[tuple[int, str, FileResult]])
STAT_TABLE: Codec[StatTable] = Codec("stat-table", StatTable)


__all__ = [
    "FACTS",
    "FACTS_CHUNK",
    "FACTS_PACK",
    "FACTS_PARSED",
    "INDEX",
    "INDEX_HEAD",
    "RESULT",
    "RESULTS_CHUNK",
    "RUN",
    "SCHEMA_VERSION",
    "STAT_TABLE",
    "Codec",
    "CodecError",
    "FactsPack",
    "FileStat",
    "IndexHead",
    "ParsedFlag",
    "RunEntry",
    "StatTable",
    "paused_collector",
]
