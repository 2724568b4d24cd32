"""files -> project index -> per-file checks (engine/checking.py) -> suppressions -> findings.

How a run stays fast (the numbers are in docs/performance.md):

- the project index is built from small per-file facts (one ``ast`` pass per file, in parallel
  worker processes); the facts are cached per file content, so an edit rescans only the edited files,
  and the index itself is cached under the content of every project file;
- a run whose every result is cached reads only the index's digest: it never decodes the index and never
  imports LibCST or the checkers;
- a token pre-check skips the LibCST parse of files that cannot hold a candidate for any enabled rule;
  they get a syntax check only, and not even that when the index pass has already parsed them;
- the checkers run in one read-only traversal (engine/walk.py) that rebuilds no node;
- positions are resolved only for files that have findings;
- files are checked in worker processes that inherit the project when they are forked (only paths go
  out and results come back), biggest files first;
- a big file is checked in parts (engine/blank.py ``part``: its definitions cut in runs, each part parsed
  with the other parts' definitions stubbed): so that no process holds the tree of more than ``PART_BYTES``
  of definitions, and, when there are fewer files than cores, so that the cores share it;
- per-file results are cached under the file's content, the settings, orgguard's code and the
  *content* of the index (so an edit that changes no project facts keeps every other file's result).

How a run stays alive: files are opened without blocking and only regular files are read (FIFOs,
devices, directories are reported); files over the size limit are reported and skipped; a source the
interpreter's own parser finds too deeply nested never reaches LibCST (whose native parser overflows
its stack on such input); each file has a time budget (``SIGALRM`` in workers, plus a watchdog for
native code); and a worker that dies is replaced, its files retried, the culprit reported by name.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib
import io
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from orgguard.config import Config, ConfigError, check_codes, load_config
from orgguard.engine.budget import FileTimeout, time_guard
from orgguard.engine.cache import CACHE_DIR, Cache, code_digest, digest_of
from orgguard.engine.codec import (
    FACTS,
    FACTS_CHUNK,
    FACTS_PACK,
    FACTS_PARSED,
    INDEX,
    INDEX_HEAD,
    RESULT,
    RESULTS_CHUNK,
    RUN,
    SCHEMA_VERSION,
    CodecError,
    FactsPack,
    IndexHead,
    RunEntry,
    paused_collector,
)
from orgguard.engine.discover import iter_python_files, named_files
from orgguard.engine.findings import (
    PARSE_ERROR,
    FileResult,
    RunError,
    RunResult,
    merge_results,
    parse_error_finding,
)
from orgguard.engine.names import check_names
from orgguard.engine.project import DEFAULT_MAX_FILE_SIZE, PART_BYTES, Project
from orgguard.engine.reading import SourceFile, StatKeys, read_sources
from orgguard.engine.records import FileFacts, Layout, ProjectIndex
from orgguard.knowledge import Knowledge, load_knowledge
from orgguard.registry import all_rules, enabled_codes, known_codes

if TYPE_CHECKING:  # the process pools are imported when a run needs one (a cached run does not)
    import ast
    import multiprocessing.context
    from concurrent.futures import Future

    from orgguard.engine.join import Previous

DEFAULT_FILE_TIMEOUT = 20.0  # seconds of analysis per file before it is reported as timed out
SCAN_CHUNK = 48  # project files per task when the index is scanned in parallel
SCAN_ALONE = 131_072  # bytes of one file to scan from which the cores share it while this process imports LibCST
SCAN_ASIDE = 32_768  # bytes of files to scan from which a worker scans them while this process imports LibCST
PRUNE_BUDGET = 200  # old cached results deleted per run, besides one per file checked
WORKER_GC_THRESHOLD = 50_000  # allocations between young-generation collections in a worker
INCREMENTAL_FILES = 64  # at most this many files with changed facts: the join may reuse the previous index
SMALL_RUN = 8  # fewer files than this are checked in-process (forking workers would cost more)
WATCHDOG_EXIT = 86  # exit status of a worker stopped by its watchdog (native code past the time budget)

# ---------------------------------------------------------------------------------------------------
# loading a project


def load_project(
    start: Path,
    *,
    config_path: Path | None = None,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    cache: bool | Path = False,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    jobs: int = 0,
    named: Sequence[Path] = (),
) -> Project:
    """Load config, knowledge and the whole-project index for the project holding ``start``.

    With ``cache`` (True: ``.orgguard_cache/`` at the project root; or a directory), the index is read
    from and written to the cache, and :func:`run` caches per-file results there. ``jobs``: processes
    that scan project files the cache does not know (0: one per core). ``named``: the paths the run will
    check (a gitignored one among them joins the index). Raises :class:`orgguard.config.ConfigError` for
    unusable settings.
    """
    config = load_config(start=start, explicit=config_path, known_codes=known_codes())
    if select is not None or ignore is not None:
        for key, codes in (("--select", select), ("--ignore", ignore)):
            if codes:
                check_codes("command line", key, codes, known_codes())
        config = config.with_selection(select, ignore)
    knowledge = load_knowledge(config.extend_rules)
    cache_dir = None if cache is False else config.root / CACHE_DIR if cache is True else Path(cache)
    store = Cache(cache_dir) if cache_dir is not None else None
    loaded = _load_index(config, knowledge, store, max_file_size, jobs, tuple(named_files(config, named)))
    enabled = enabled_codes(config.select, config.ignore)
    rules = {code: rule for code, rule in all_rules().items() if code in enabled}
    checkers = tuple(sorted({rule.checker for rule in rules.values() if ":" in rule.checker}))
    fingerprint = ""
    if store is not None and loaded.digest and not loaded.errors:
        fingerprint = digest_of(
            "results",
            code_digest(),
            _config_key(config, selection=True),
            knowledge.digest,
            loaded.digest,
            str(max_file_size),
        )
    return Project(
        config,
        knowledge,
        loaded.source,
        rules,
        checkers,
        fingerprint=fingerprint,
        cache_dir=cache_dir,
        parsed=loaded.parsed,
        max_file_size=max_file_size,
        errors=loaded.errors,
        shas=loaded.shas,
        layouts=loaded.layouts,
    )


def _config_key(config: Config, *, selection: bool) -> str:
    """Every setting, as text (the rule selection only when asked: the index does not depend on it)."""
    skip = () if selection else ("select", "ignore")
    return repr([(f.name, getattr(config, f.name)) for f in fields(config) if f.compare and f.name not in skip])


@dataclass(frozen=True)
class _LoadedIndex:
    source: Callable[[], ProjectIndex]
    digest: str  # digest of the index's content ("" when it could not be computed)
    parsed: frozenset[str]
    errors: tuple[RunError, ...] = ()
    shas: Mapping[str, str] = field(default_factory=dict)  # path -> sha256 of every project file read
    layouts: Mapping[str, Layout] = field(default_factory=dict)  # sha256 -> layout, of the files scanned or decoded


@dataclass(frozen=True)
class _Given:
    """An index already in hand (picklable, for workers that are spawned rather than forked)."""

    index: ProjectIndex

    def __call__(self) -> ProjectIndex:
        return self.index


def _state_key(settings: str, sources: Sequence[SourceFile]) -> str:
    """The project state: every file by path and content, under the settings."""
    return digest_of("index", settings, *(f"{s.path}\0{s.sha}" for s in sources))


def _load_index(  # noqa: PLR0917
    config: Config, knowledge: Knowledge, store: Cache | None, max_size: int, jobs: int, also: tuple[Path, ...] = ()
) -> _LoadedIndex:
    """The project index, and the digest of its content that keys every per-file result.

    With a cache, a file whose stat is what the stat table says is not even read (its content hash is the
    table's), and the index of an unchanged project is not decoded here (only when a file has to be
    checked). Otherwise each file's facts come from the facts pack when its content is known there, the
    rest are scanned (in parallel when there are many); when the rescanned files' facts are what they were,
    the index they built still holds and is reused as is; else it is built from the facts. ``also``: files
    the walk leaves out that the run was asked to check.
    """
    stat_keys = StatKeys(store, config.root) if store is not None else None
    sources = read_sources(config.root, config, max_size=max_size, keys=stat_keys, also=also)
    settings = digest_of(
        code_digest(), str(SCHEMA_VERSION), _config_key(config, selection=False), knowledge.digest, str(max_size)
    )
    cached = _IndexStore(store, settings) if store is not None else None
    try:
        if cached is not None:
            head = cached.head(_state_key(settings, sources))
            if head is not None:
                return _LoadedIndex(
                    _CachedIndex(cached, head.index, config, knowledge, max_size, also),
                    head.digest,
                    head.parsed,
                    shas=_shas(sources, stat_keys),
                )
        pack = cached.pack() if cached is not None else None
        known = pack.files if pack is not None else {}
        files, in_hand = _scan(config, knowledge, sources, known, jobs)
        key = _state_key(settings, sources)  # a file read only now may have changed since its stat was taken
        parsed = frozenset(src.sha for src in sources if src.parsed)
        keys = [f"{src.path}\0{src.sha}" for src in sources]
        changed = _changed_facts(known, dict(zip(keys, files, strict=True))) if pack is not None else None
        previous = cached.head(pack.head) if cached is not None and pack is not None and changed is not None else None
        if cached is not None and previous is not None and not changed:
            # the edits changed no project facts: the index they built holds
            cached.write_head(key, IndexHead(previous.digest, parsed, previous.index))
            cached.write_pack(key, keys, files)
            return _LoadedIndex(
                _CachedIndex(cached, previous.index, config, knowledge, max_size, also),
                previous.digest,
                parsed,
                shas=_shas(sources, stat_keys),
                layouts=_layouts(sources, in_hand),
            )
        from orgguard.engine.join import index_from_facts  # only a run that builds the index joins

        decoded = _decoded(config, knowledge, sources, files, in_hand)
        layouts = _layouts(sources, dict(enumerate(decoded)))
        decoded = [_unlaid(facts) for facts in decoded]  # the join sees the facts as they are packed
        with paused_collector():  # the join builds the index's records in one go (no cycles among them)
            index = index_from_facts(
                str(config.root),
                config,
                knowledge,
                decoded,
                _previous(cached, previous, changed, dict(zip(keys, files, strict=True)))
                if cached is not None and previous is not None and changed
                else None,
            )
    except Exception as exc:  # a bug met on some project file must not stop the run: say so, go on
        message = f"project index incomplete: internal error ({type(exc).__name__}: {exc})".splitlines()[0]
        return _LoadedIndex(_Given(ProjectIndex(root=str(config.root))), "", frozenset(), (RunError(".", message),))
    # the names the settings give must exist; checked once per state of the project (a cached head is
    # only written for settings that passed), from the index and, for what it lacks, the sources in hand
    try:
        check_names(config, index, (src.data for src in sources), config.extend_rules)
    except ConfigError:
        if cached is not None:
            cached.write_pack(key, keys, files)  # the next run (the settings fixed) need not rescan
        raise
    if cached is None:
        return _LoadedIndex(
            _Given(index), "", parsed, shas={str(src.path): src.sha for src in sources}, layouts=layouts
        )
    encoded_index = INDEX.encode(index)
    digest = digest_of(encoded_index)
    cached.write_index(key, encoded_index)
    cached.write_head(key, IndexHead(digest, parsed, key))
    cached.write_pack(key, keys, files)
    return _LoadedIndex(_Given(index), digest, parsed, shas=_shas(sources, stat_keys), layouts=layouts)


def _unlaid(facts: FileFacts | None) -> FileFacts | None:
    """A file's facts without its layout: the layout serves this run's checking only. It is never packed nor
    joined, so an edit that moves only where a definition ends leaves the facts (and the index) as they were."""
    return facts if facts is None or facts.layout is None else msgspec.structs.replace(facts, layout=None)


def _layouts(sources: Sequence[SourceFile], facts: Mapping[int, FileFacts | None]) -> dict[str, Layout]:
    """The layout of each source whose facts are in hand (by position), by content hash, for blanking."""
    return {sources[i].sha: f.layout for i, f in facts.items() if f is not None and f.layout is not None}


def _shas(sources: Sequence[SourceFile], stat_keys: StatKeys | None) -> dict[str, str]:
    """Every file's content hash by path, for the per-file results; the stat table kept up to date."""
    if stat_keys is not None:
        stat_keys.save(sources)
    return {str(src.path): src.sha for src in sources}


def _changed_facts(before: Mapping[str, bytes], now: Mapping[str, bytes]) -> dict[str, bytes] | None:
    """The files whose facts differ from those they had when ``before`` was packed (by path: the facts
    they had), or None when files came or went."""
    if len(before) != len(now):
        return None
    by_path = {key.split("\0", 1)[0]: entry for key, entry in before.items()}
    out: dict[str, bytes] = {}
    for key, entry in now.items():
        path = key.split("\0", 1)[0]
        old = by_path.get(path)
        if old is None:
            return None
        if old != entry:
            out[path] = old
    return out


def _previous(
    cached: _IndexStore, head: IndexHead, changed: Mapping[str, bytes], now: Mapping[str, bytes]
) -> Previous | None:
    """The index the packed facts built and the changed files' facts then, for a join that reuses it (a few
    files changed: an edit, not a checkout of another branch). ``now``: every file's facts, encoded, by
    path and content."""
    from orgguard.engine.join import Previous

    if len(changed) > INCREMENTAL_FILES:
        return None
    before: dict[str, FileFacts | None] = {}
    with paused_collector():
        for entry in changed.values():
            try:
                facts = FACTS.decode_bare(entry)
            except CodecError:
                return None
            if facts is None:
                return None
            before[facts.path] = facts
        index = cached.index(head.index)
    if index is None:
        return None
    unchanged = b"".join(entry for key, entry in now.items() if key.split("\0", 1)[0] not in changed)
    return Previous(index, before, unchanged)


@dataclass(frozen=True)
class _IndexStore:
    """The index's entries in the cache: the index (by the content of every project file), a small head
    per project state (digest, parsed files, which index entry), and the facts pack (every file's facts by
    path and content, with the head they were last built into)."""

    store: Cache
    settings: str  # digest of orgguard's code, the settings, the knowledge packs, the size limit

    def head(self, key: str) -> IndexHead | None:
        return self.store.read("index-head", key, INDEX_HEAD, fanout=False)

    def write_head(self, key: str, head: IndexHead) -> None:
        self.store.write("index-head", key, INDEX_HEAD.encode(head), fanout=False)
        self.store.prune("index-head", keep=[key, head.index])

    def write_index(self, key: str, encoded: bytes) -> None:
        self.store.write("index", key, encoded, fanout=False)
        self.store.prune("index", keep=[key])

    def index(self, key: str) -> ProjectIndex | None:
        return self.store.read("index", key, INDEX, fanout=False)

    def pack(self) -> _Pack | None:
        pack = self.store.read("facts", self.settings, FACTS_PACK, fanout=False)
        if pack is None:
            return None
        return _Pack(pack.head, {k: bytes(v) for k, v in pack.files.items()})

    def write_pack(self, head: str, keys: Sequence[str], files: Sequence[bytes]) -> None:
        pack = FactsPack(head, {k: msgspec.Raw(f) for k, f in zip(keys, files, strict=True)})
        self.store.write("facts", self.settings, FACTS_PACK.encode(pack), fanout=False)
        self.store.prune("facts", keep=[self.settings])


@dataclass(frozen=True)
class _Pack:
    head: str  # the project state the facts were last built into an index for
    files: dict[str, bytes]  # "<path>\0<sha256>" -> bare encoding of the file's FileFacts | None


@dataclass(frozen=True)
class _CachedIndex:
    """A cached index, decoded when first needed; rebuilt from the project if its entry has gone or is
    damaged (with the facts the pack still holds)."""

    cached: _IndexStore
    key: str
    config: Config
    knowledge: Knowledge
    max_size: int
    also: tuple[Path, ...] = ()

    def __call__(self) -> ProjectIndex:
        index = self.cached.index(self.key)
        if index is not None:
            return index
        from orgguard.engine.join import index_from_facts

        config, knowledge = self.config, self.knowledge
        sources = read_sources(config.root, config, max_size=self.max_size, also=self.also)
        pack = self.cached.pack()
        files, in_hand = _scan(config, knowledge, sources, pack.files if pack is not None else {}, 1)
        return index_from_facts(
            str(config.root), config, knowledge, _decoded(config, knowledge, sources, files, in_hand)
        )


def _scan(
    config: Config, knowledge: Knowledge, sources: Sequence[SourceFile], known: Mapping[str, bytes], jobs: int
) -> tuple[list[bytes], dict[int, FileFacts | None]]:
    """Every source's facts, encoded (the bare wire form of ``FileFacts | None``): from ``known`` (the facts
    pack, by path and content) when there, else scanned, in parallel when there are many (a cold run). The
    scanned ones are also returned decoded, by position. Sets each source's ``parsed``."""
    out: list[bytes] = []
    missing: list[int] = []
    for i, src in enumerate(sources):
        entry = known.get(f"{src.path}\0{src.sha}")
        if entry is None and not src.loaded:
            _ = src.data  # read now (a file changed since its stat was taken has a new sha: look again)
            entry = known.get(f"{src.path}\0{src.sha}")
        peek = _peek(entry) if entry is not None else _UNREADABLE
        if entry is not None and peek is not _UNREADABLE:
            out.append(entry)
            src.parsed = None if peek is None else peek.parsed
        else:
            out.append(b"")
            missing.append(i)
    in_hand: dict[int, FileFacts | None] = {}
    if missing:
        scanner = _FactScanner(config, knowledge, [sources[i] for i in missing])
        cores = jobs or os.cpu_count() or 1
        jobs = min(cores, len(missing) // SCAN_CHUNK + 1)
        # one big file, or a few (the files a commit touched): a worker scans them while this process imports
        # what checking them needs (about 0.2 s, from 32 kB: 0.90x wall on ten edited files, paired)
        unprepared = jobs == 1 < cores and _checks_unprepared()
        size = sum(len(s.data) for s in scanner.sources) if unprepared else 0
        if unprepared and len(missing) == 1 and size >= SCAN_ALONE:  # one big file: the cores share it
            results = [_scan_split(scanner, cores)]
        elif jobs > 1 or (unprepared and size >= SCAN_ASIDE):
            results = _scan_pool(scanner, jobs)
        else:
            results = scanner.scan_range(0, len(missing))
        for i, facts in zip(missing, results, strict=True):
            out[i] = FACTS.encode_bare(_unlaid(facts))
            in_hand[i] = facts
            sources[i].parsed = None if facts is None else facts.parsed
    return out, in_hand


_UNREADABLE: Any = object()


def _peek(entry: bytes) -> Any:
    """Whether a packed file's facts say it parsed (without decoding them); ``_UNREADABLE`` if damaged."""
    try:
        return FACTS_PARSED.decode_bare(entry)
    except CodecError:
        return _UNREADABLE


def _decoded(
    config: Config,
    knowledge: Knowledge,
    sources: Sequence[SourceFile],
    files: Sequence[bytes],
    in_hand: Mapping[int, FileFacts | None],
) -> list[FileFacts | None]:
    """The facts of every file: in hand, or decoded; an entry that does not decode (a damaged pack) is scanned."""
    from orgguard.engine.scan import scan_source

    out: list[FileFacts | None] = []
    with paused_collector():  # one pause for every file's facts, not one per file
        for n, (src, entry) in enumerate(zip(sources, files, strict=True)):
            if n in in_hand:
                out.append(in_hand[n])
                continue
            try:
                out.append(FACTS.decode_bare(entry))
            except CodecError:
                out.append(scan_source(src.data, config.relpath(src.path), config, knowledge))
    return out


@dataclass(frozen=True)
class _FactScanner:
    """Scans project files for the index, in this process or in forked workers (which inherit it)."""

    config: Config
    knowledge: Knowledge
    sources: Sequence[SourceFile]

    def scan_range(self, start: int, stop: int) -> list[FileFacts | None]:
        from orgguard.engine.scan import scan_source  # only a run that scans imports the scanner

        config, knowledge = self.config, self.knowledge
        return [
            scan_source(src.data, config.relpath(src.path), config, knowledge, layout=True)
            for src in self.sources[start:stop]
        ]


def _scan_pool(scanner: _FactScanner, jobs: int) -> list[FileFacts | None]:
    """Scan in ``jobs`` forked processes: only index ranges go out, facts come back. A range whose worker
    fails is scanned again here (where an error is the run's to report)."""
    from concurrent.futures import ProcessPoolExecutor

    total = len(scanner.sources)
    ranges = [(i, min(i + SCAN_CHUNK, total)) for i in range(0, total, SCAN_CHUNK)]
    results: list[list[FileFacts | None] | None] = [None] * len(ranges)
    # a pool that cannot start or breaks: the rest is scanned here
    with (
        contextlib.suppress(Exception),
        ProcessPoolExecutor(
            max_workers=jobs, mp_context=_mp_context(), initializer=_init_scanner, initargs=(scanner,)
        ) as pool,
    ):
        futures = [pool.submit(_scan_work, start, stop) for start, stop in ranges]
        _prepare_checks()  # while the workers scan, this process would only wait
        for n, future in enumerate(futures):
            with contextlib.suppress(Exception):
                chunk = FACTS_CHUNK.decode(future.result())
                start, stop = ranges[n]
                results[n] = chunk if len(chunk) == stop - start else None
    out: list[FileFacts | None] = []
    for (start, stop), result in zip(ranges, results, strict=True):
        out.extend(result if result is not None else scanner.scan_range(start, stop))
    return out


@dataclass(frozen=True)
class _PartScanner:
    """One big file's tree, parsed here and inherited by the forked workers that scan its parts."""

    scanner: _FactScanner
    tree: ast.Module

    def scan_part(self, part: tuple[int, int]) -> FileFacts:
        from orgguard.engine.scan import scan_part

        src, config = self.scanner.sources[0], self.scanner.config
        return scan_part(self.tree, config.relpath(src.path), config, self.scanner.knowledge, part)


def _scan_split(scanner: _FactScanner, jobs: int) -> FileFacts | None:
    """The facts of one big file, parsed here and its definitions scanned in ``jobs`` forked processes (which
    inherit the tree); scanned whole in a worker when it cannot be cut (a file the scan reads otherwise,
    processes that are not forked), and here when a part cannot be had (a broken pool)."""
    from concurrent.futures import ProcessPoolExecutor

    from orgguard.engine.scan import joined_facts, parse_for_parts

    context = _mp_context()
    src = scanner.sources[0]
    tree = parse_for_parts(src.data, scanner.config.relpath(src.path)) if context.get_start_method() == "fork" else None
    if tree is None:
        return _scan_pool(scanner, 1)[0]
    parts: list[FileFacts | None] = []
    with (
        contextlib.suppress(Exception),
        ProcessPoolExecutor(
            max_workers=jobs, mp_context=context, initializer=_init_scanner, initargs=(_PartScanner(scanner, tree),)
        ) as pool,
    ):
        futures = [pool.submit(_scan_part_work, (n, jobs)) for n in range(jobs)]
        _prepare_checks()  # while the workers scan, this process would only wait
        for future in futures:
            parts.extend(FACTS_CHUNK.decode(future.result()))
    done = [part for part in parts if part is not None]
    return joined_facts(done) if len(done) == jobs else scanner.scan_range(0, 1)[0]


def _scan_part_work(part: tuple[int, int]) -> bytes:
    """A part of the one big file's facts, back to the parent through their schema (not pickled)."""
    scanner: _PartScanner = _STATE["scanner"]
    return FACTS_CHUNK.encode([scanner.scan_part(part)])


def _checks_unprepared() -> bool:
    return "orgguard.engine.checking" not in sys.modules


def _prepare_checks() -> None:
    """Import what checking a file needs (LibCST, the checking engine) for the checking workers to inherit:
    a run that scans the project checks its files next, and the import costs no time while this process
    waits for the scan (each forked worker would import it for itself)."""
    with contextlib.suppress(Exception):  # an import that fails here fails again, and is reported, when it counts
        importlib.import_module("orgguard.engine.checking")


def _scan_work(start: int, stop: int) -> bytes:
    """A range's facts, back to the parent through their schema (not pickled)."""
    scanner: _FactScanner = _STATE["scanner"]
    return FACTS_CHUNK.encode(scanner.scan_range(start, stop))


def _worker_gc() -> None:
    """Cheaper garbage collection in a worker: what it inherited (the project, its index) is moved out of
    the collector's sight, and young objects are collected less often. Syntax trees hold no cycles, so
    they are freed by reference counting anyway; the collector's passes over every parsed node cost a
    tenth of the checking time at the default thresholds. Workers are this run's own processes."""
    gc.freeze()
    gc.set_threshold(WORKER_GC_THRESHOLD, 50, 100)


def _init_scanner(scanner: _FactScanner | _PartScanner) -> None:
    _STATE["scanner"] = scanner
    _worker_gc()
    if hasattr(signal, "SIGINT"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C is the parent's to handle


def _timed_out(project: Project, display: str, seconds: float) -> FileResult:
    values = {"seconds": f"{seconds:g}"}
    if PARSE_ERROR in project.rules:
        return FileResult(findings=[parse_error_finding(display, 1, 1, values, shape="timeout")])
    return FileResult(errors=[RunError(display, all_rules()[PARSE_ERROR].render(values, shape="timeout"))])


# ---------------------------------------------------------------------------------------------------
# files


def display_path(path: Path, cwd: Path) -> str:
    try:
        return os.path.relpath(path, cwd)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(path)


def _resolve(path: Path) -> Path:
    """The real path; for a symlink loop or a dangling symlink, the path as written (so it is named)."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))
    if resolved != path and not resolved.exists():
        return Path(os.path.abspath(path))
    return resolved


def discover(paths: Iterable[Path], config: Config, cwd: Path | None = None) -> tuple[list[Path], list[RunError]]:
    """The .py files to check: explicit files (unless excluded), directories walked.

    In a walked directory, a ``.py`` entry that is not a readable file (a dangling symlink, a symlink
    loop, a FIFO) is an error naming it, as an explicit path would be.
    """
    found, errors = _discover(paths, config, cwd)
    return [path for path, _ in found], errors


def _discover(
    paths: Iterable[Path], config: Config, cwd: Path | None = None
) -> tuple[list[tuple[Path, Path]], list[RunError]]:
    """:func:`discover`, each file with its real path (sorted and deduplicated by it)."""
    files: dict[Path, Path] = {}
    errors: list[RunError] = []
    skipped: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists() and not path.is_symlink():
            errors.append(RunError(str(raw), "no such file or directory"))
            continue
        resolved = _resolve(path)
        if config.is_excluded(resolved):
            continue
        if path.is_dir():
            for found in iter_python_files(path, config, skipped):
                # below the walk's resolved root only a symlinked file is not already its real path
                files[_resolve(found) if found.is_symlink() else found] = found
        else:
            files[resolved] = path
    here = cwd or Path.cwd()
    for path, why in sorted(set(skipped)):
        errors.append(RunError(display_path(path, here), f"cannot read: {why}"))
    return [(path, resolved) for resolved, path in sorted(files.items())], errors


def _read_source(path: str, max_size: int) -> bytes | str:
    """The file's bytes, or why they cannot be read (one line). Never blocks on a FIFO or a device."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return "cannot read: is a directory"
        if not stat.S_ISREG(info.st_mode):
            return "cannot read: not a regular file"
        if max_size and info.st_size > max_size:
            return (
                f"not checked: {_size(info.st_size)} is over the {_size(max_size)} limit "
                "(exclude it, or raise --max-file-size)"
            )
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read()
    except (OSError, MemoryError) as exc:
        return f"cannot read: {getattr(exc, 'strerror', None) or exc or type(exc).__name__}"
    finally:
        os.close(fd)


def _size(n: int) -> str:
    if n >= 100_000:
        return f"{n / 1_000_000:.1f} MB"
    return f"{n / 1000:.0f} kB" if n >= 10_000 else f"{n} bytes"


# ---------------------------------------------------------------------------------------------------
# a run


@dataclass(frozen=True)
class _Task:
    index: int
    path: str  # resolved
    display: str
    size: int = 0
    part: tuple[int, int] | None = None  # (index, count): one part of a big file checked in parts
    file: int = -1  # the file's own task, for a part


class _FileWorker:
    """Checks files for one run, in the main process or in a worker (where it is inherited or sent once)."""

    def __init__(self, project: Project, noqa: bool, timeout: float | None) -> None:
        self.project = project
        self.noqa = noqa
        self.timeout = timeout
        self.store = Cache(project.cache_dir) if project.cache_dir is not None and project.fingerprint else None
        self.kind = f"results/{project.fingerprint[:20]}"
        self.runs = f"runs/{project.fingerprint[:20]}"  # the merged results of whole runs, by the paths they checked

    def key(self, task: _Task, sha: str) -> str:
        return digest_of(self.project.fingerprint, task.path, task.display, sha, "noqa" if self.noqa else "")

    def sha(self, task: _Task) -> str | None:
        """The file's content hash: as the index pass took it, else read now (None: unreadable)."""
        sha = self.project.shas.get(task.path)  # a project file: not read again
        if sha is None:
            source = _read_source(task.path, self.project.max_file_size)
            if isinstance(source, str):
                return None
            sha = hashlib.sha256(source).hexdigest()
        return sha

    def cached(self, task: _Task, sha: str | None) -> FileResult | None:
        """The stored result for the file as it is now (its content hash ``sha``), if any."""
        if self.store is None or sha is None:
            return None
        return self.store.read(self.kind, self.key(task, sha), RESULT)

    def run_key(self, tasks: Sequence[_Task]) -> str:
        """The run entry of a set of files: the same paths, shown the same way, under the same settings."""
        return digest_of(
            self.project.fingerprint, "run", "noqa" if self.noqa else "", *(f"{t.path}\0{t.display}" for t in tasks)
        )

    def check(self, task: _Task) -> tuple[str, FileResult]:
        """The file's result, and the content hash it is the result of ("" when it is not to be cached:
        an unreadable file, a file past its time budget)."""
        source = _read_source(task.path, self.project.max_file_size)
        if isinstance(source, str):
            return "", FileResult(errors=[RunError(task.display, source)])
        sha = hashlib.sha256(source).hexdigest()
        try:
            # LibCST and the checkers are imported only once a file has to be checked
            from orgguard.engine.checking import check_part, check_source

            with time_guard(self.timeout):
                if task.part is not None:  # a part's result is put together with the others' (see join)
                    return sha, check_part(
                        self.project,
                        Path(task.path),
                        source,
                        display=task.display,
                        noqa=self.noqa,
                        sha=sha,
                        part=task.part,
                    )
                result = check_source(
                    self.project, Path(task.path), source, display=task.display, noqa=self.noqa, sha=sha
                )
        except FileTimeout:
            return "", _timed_out(self.project, task.display, self.timeout or 0)
        self.keep(task, sha, result)
        return sha, result

    def keep(self, task: _Task, sha: str, result: FileResult) -> None:
        if self.store is not None and not result.errors:
            self.store.write(self.kind, self.key(task, sha), RESULT.encode(result))

    def join(self, task: _Task, parts: Sequence[tuple[str, FileResult]]) -> tuple[str, FileResult]:
        """The result of a file checked in parts, from the parts' results (in order): what :meth:`check` gives."""
        for sha, result in parts:
            if not sha:
                return sha, result  # unreadable, or past its time budget: the file is
        source = _read_source(task.path, self.project.max_file_size)
        shas = {sha for sha, _ in parts}
        if isinstance(source, str) or shas != {hashlib.sha256(source).hexdigest()}:
            return self.check(task)  # the file changed while its parts were checked: check it whole
        from orgguard.engine.checking import joined_parts

        try:
            with time_guard(self.timeout):
                result = joined_parts(
                    self.project, Path(task.path), source, [r for _, r in parts], display=task.display, noqa=self.noqa
                )
        except FileTimeout:
            return "", _timed_out(self.project, task.display, self.timeout or 0)
        sha = shas.pop()
        self.keep(task, sha, result)
        return sha, result

    def parts(self, tasks: Sequence[_Task], cores: int, start: int) -> list[_Task]:
        """``tasks``, a big file cut in parts (see ``checking.parts_for``): when it is too big for one process to
        hold its tree, and, when there are fewer files than ``cores``, so that the cores share it. The parts are
        numbered from ``start`` (after every task of the run)."""
        if self.project.blank_triggers is None:
            return list(tasks)
        workers = cores if len(tasks) < cores else 1
        least = PART_BYTES // 2 if workers > 1 else PART_BYTES
        out: list[_Task] = []
        extra = start
        for task in tasks:
            count = 1
            with contextlib.suppress(OSError):
                if os.stat(task.path).st_size >= least:
                    count = self._count(task, workers)
            if count <= 1:
                out.append(task)
                continue
            for n in range(count):
                out.append(_Task(extra, task.path, task.display, part=(n, count), file=task.index))
                extra += 1
        return out

    def _count(self, task: _Task, workers: int) -> int:
        source = _read_source(task.path, self.project.max_file_size)
        if isinstance(source, str):
            return 1
        from orgguard.engine.checking import parts_for

        try:
            return parts_for(self.project, Path(task.path), source, hashlib.sha256(source).hexdigest(), workers)
        except Exception:  # cutting is an optimisation: a file that cannot be cut is checked whole
            return 1


def run(
    project: Project,
    paths: Sequence[Path],
    *,
    jobs: int = 0,
    cwd: Path | None = None,
    file_timeout: float | None = DEFAULT_FILE_TIMEOUT,
) -> RunResult:
    """Check ``paths`` (files or directories) and return every finding, sorted.

    ``jobs``: worker processes (0: one per core). ``file_timeout``: seconds of analysis per file before
    the file is reported as timed out (None or 0: no limit).
    """
    cwd = cwd or Path.cwd()
    files, errors = _discover(paths, project.config, cwd)
    result = RunResult(errors=[*project.errors, *errors], files=len(files))
    worker = _FileWorker(project, True, file_timeout)
    tasks = [_Task(i, str(resolved), display_path(resolved, cwd)) for i, (_, resolved) in enumerate(files)]
    shas = [worker.sha(task) for task in tasks] if worker.store is not None else []
    merged = _cached_run(worker, tasks, shas)
    if merged is not None:  # nothing changed since the last run over these files: one entry read
        return _finish(result, [merged])
    results: dict[int, tuple[str, FileResult]] = {}  # with the content hash each result is of
    pending: list[_Task] = []
    for task in tasks:
        hit = worker.cached(task, shas[task.index]) if shas else None
        if hit is not None:
            results[task.index] = (shas[task.index] or "", hit)
        else:
            pending.append(task)
    if pending:
        # the index and the pre-checks, built once here and inherited by forked workers
        _ = project.tokens, project.file_tokens, project.blank_triggers
    cores = jobs or os.cpu_count() or 1
    units = worker.parts(pending, cores, len(tasks)) if pending else []
    jobs = min(cores, len(units))
    if jobs <= 1 or (len(units) < SMALL_RUN and len(units) == len(pending)):
        for task in units:
            results[task.index] = worker.check(task)
    else:
        results.update(_run_pool(worker, units, jobs))
    parts: dict[int, list[tuple[str, FileResult]]] = {}
    for unit in units:  # in order: a file's parts in their order
        if unit.part is not None:
            parts.setdefault(unit.file, []).append(results.pop(unit.index))
    for task in pending:
        if task.index in parts:
            results[task.index] = worker.join(task, parts[task.index])
    if worker.store is not None:
        # old generations go a little at a time: about as many files as this run checked, and some
        generation = worker.kind.split("/", 1)[1]
        worker.store.prune("results", keep=[generation], budget=PRUNE_BUDGET + len(pending))
        worker.store.prune("runs", keep=[generation], budget=PRUNE_BUDGET)
    ordered = [results[i][1] for i in sorted(results)]
    # a run entry only when every result is of the content the entry records (a file that changed while
    # it was checked, or timed out, is not)
    if shas and [results[i][0] for i in sorted(results)] == shas and not any(res.errors for res in ordered):
        assert worker.store is not None
        merged = FileResult(
            [f for res in ordered for f in res.findings], [], [f for res in ordered for f in res.suppressed]
        )
        entry = RunEntry(tuple(sha or "" for sha in shas), merged)
        worker.store.write(worker.runs, worker.run_key(tasks), RUN.encode(entry), fanout=False)
    return _finish(result, ordered)


def _cached_run(worker: _FileWorker, tasks: Sequence[_Task], shas: Sequence[str | None]) -> FileResult | None:
    """The merged results of the last run over the same files, if no file has changed since."""
    if worker.store is None or not tasks or not all(shas):
        return None
    entry = worker.store.read(worker.runs, worker.run_key(tasks), RUN, fanout=False)
    return entry.result if entry is not None and list(entry.shas) == list(shas) else None


def _finish(result: RunResult, parts: Iterable[FileResult]) -> RunResult:
    merge_results(result, parts)
    result.errors.sort(key=lambda e: (e.path, e.message))
    return result


# ---------------------------------------------------------------------------------------------------
# worker processes


_STATE: dict[str, Any] = {}  # this worker process's _FileWorker and progress slot


def _mp_context() -> multiprocessing.context.BaseContext:
    """fork where it is safe (Linux): workers inherit the project instead of unpickling it."""
    import multiprocessing

    if sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _init_worker(worker: _FileWorker, slots: Any, counter: Any) -> None:
    with counter.get_lock():
        slot = counter.value
        counter.value += 1
    _STATE.update(worker=worker, slots=slots, slot=slot % len(slots), started=0.0, current=-1)
    _worker_gc()
    # fresh stream objects: a lock held by another thread of the parent at fork time (a progress line
    # being written) must not block this process; and nothing a worker prints may land in the report
    with contextlib.suppress(OSError, ValueError):
        stream = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True, errors="replace")
        sys.stdout = sys.stderr = stream
    if hasattr(signal, "SIGINT"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C is the parent's to handle
    if worker.timeout:
        threading.Thread(target=_watchdog, args=(worker.timeout,), name="orgguard-watchdog", daemon=True).start()


def _watchdog(timeout: float) -> None:
    """Stop this worker if one file stays in native code well past its budget (SIGALRM cannot reach it)."""
    limit = 2 * timeout + 1
    while True:
        time.sleep(min(1.0, timeout / 4))
        if _STATE["current"] >= 0 and time.monotonic() - _STATE["started"] > limit:
            os._exit(WATCHDOG_EXIT)


def _work(chunk: Sequence[_Task]) -> bytes:
    """Check a chunk of files; the results go back to the parent through their schema (not pickled)."""
    worker: _FileWorker = _STATE["worker"]
    slots, slot = _STATE["slots"], _STATE["slot"]
    out = []
    for task in chunk:
        slots[slot] = task.index
        _STATE["started"], _STATE["current"] = time.monotonic(), task.index
        sha, result = worker.check(task)
        out.append((task.index, sha, result))
        _STATE["current"] = -1
        slots[slot] = -1
    return RESULTS_CHUNK.encode(out)


def _chunks(tasks: Sequence[_Task], jobs: int) -> list[list[_Task]]:
    """Biggest files first, in small chunks, so that no worker is left with the one huge file at the end."""
    sized = []
    for task in tasks:
        try:
            size = os.stat(task.path).st_size // (task.part[1] if task.part is not None else 1)
        except OSError:
            size = 0
        sized.append((size, task))
    sized.sort(key=lambda st: (-st[0], st[1].index))
    per_chunk = max(1, min(16, len(sized) // (jobs * 12)))
    ordered = [t for _, t in sized]
    return [ordered[i : i + per_chunk] for i in range(0, len(ordered), per_chunk)]


def _run_pool(worker: _FileWorker, tasks: Sequence[_Task], jobs: int) -> dict[int, tuple[str, FileResult]]:
    """Check ``tasks`` in ``jobs`` processes; survive a worker that dies (its files are retried apart)."""
    from concurrent.futures import ProcessPoolExecutor

    results: dict[int, tuple[str, FileResult]] = {}
    remaining = list(tasks)
    context = _mp_context()
    while remaining:
        slots = context.Array("q", [-1] * jobs, lock=False)
        counter = context.Value("i", 0)
        failed: list[_Task] = []
        with ProcessPoolExecutor(
            max_workers=jobs, mp_context=context, initializer=_init_worker, initargs=(worker, slots, counter)
        ) as pool:
            futures: list[tuple[Future[bytes], list[_Task]]] = []
            for chunk in _chunks(remaining, jobs):
                try:
                    futures.append((pool.submit(_work, chunk), chunk))
                except Exception:  # BrokenProcessPool: a worker died before every chunk was handed out
                    failed.extend(chunk)
            for future, chunk in futures:
                try:
                    for i, sha, res in RESULTS_CHUNK.decode(future.result()):
                        results[i] = (sha, res)
                except Exception:  # BrokenProcessPool: a worker died; find out which file it was on
                    failed.extend(t for t in chunk if t.index not in results)
        if not failed:
            break
        suspects = {int(s) for s in slots if s >= 0}
        if not suspects:  # nothing to blame: check everything left one by one
            suspects = {t.index for t in failed}
        for task in failed:
            if task.index in suspects:
                results[task.index] = _isolated(worker, task, context)
        remaining = [t for t in failed if t.index not in suspects]
    return results


def _isolated(worker: _FileWorker, task: _Task, context: multiprocessing.context.BaseContext) -> tuple[str, FileResult]:
    """Check one file in a process of its own, to tell a crash or a hang apart from a transient failure."""
    from concurrent.futures import ProcessPoolExecutor

    slots = context.Array("q", [-1], lock=False)
    counter = context.Value("i", 0)
    with ProcessPoolExecutor(
        max_workers=1, mp_context=context, initializer=_init_worker, initargs=(worker, slots, counter)
    ) as pool:
        try:
            ((_, sha, res),) = RESULTS_CHUNK.decode(pool.submit(_work, [task]).result())
            return sha, res
        except Exception:
            pass
    if worker.timeout:
        why = f"analysis stopped: crashed or ran past {2 * worker.timeout + 1:g} s in native code; file not checked"
    else:
        why = "analysis crashed; file not checked"
    return "", FileResult(errors=[RunError(task.display, why)])


__all__ = [
    "DEFAULT_FILE_TIMEOUT",
    "DEFAULT_MAX_FILE_SIZE",
    "PARSE_ERROR",
    "FileResult",
    "FileTimeout",
    "Project",
    "RunResult",
    "discover",
    "display_path",
    "load_project",
    "run",
    "time_guard",
]
