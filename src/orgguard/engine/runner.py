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
- per-file results are cached under the file's content, the settings, orgguard's code and the
  *content* of the index (so an edit that changes no project facts keeps every other file's result).

How a run stays alive: files are opened without blocking and only regular files are read (FIFOs,
devices, directories are reported); files over the size limit are reported and skipped; a source the
interpreter's own parser finds too deeply nested never reaches LibCST (whose native parser overflows
its stack on such input); each file has a time budget (``SIGALRM`` in workers, plus a watchdog for
native code); and a worker that dies is replaced, its files retried, the culprit reported by name.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import gc
import hashlib
import io
import json
import multiprocessing
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from orgguard.config import Config, ConfigError, check_codes, load_config
from orgguard.engine import findings as findings_module
from orgguard.engine.cache import CACHE_DIR, Cache, CodecError, code_digest, decode, digest_of, encode, records_of
from orgguard.engine.discover import SourceFile, iter_python_files, named_files, read_sources
from orgguard.engine.findings import Finding, RunError
from orgguard.engine.join import index_from_facts
from orgguard.engine.names import check_names
from orgguard.engine.records import (
    SCHEMA_VERSION,
    FileFacts,
    ProjectIndex,
    facts_from_builtins,
    index_from_builtins,
    to_builtins,
)
from orgguard.engine.scan import scan_source
from orgguard.knowledge import Knowledge, load_knowledge
from orgguard.registry import Rule, all_rules, enabled_codes, known_codes

PARSE_ERROR = "ORG000"
DEFAULT_FILE_TIMEOUT = 20.0  # seconds of analysis per file before it is reported as timed out
DEFAULT_MAX_FILE_SIZE = 2_000_000  # bytes; bigger files are reported and skipped (LibCST needs ~500x in memory)
SCAN_CHUNK = 48  # project files per task when the index is scanned in parallel
PRUNE_BUDGET = 200  # old cached results deleted per run, besides one per file checked
WORKER_GC_THRESHOLD = 50_000  # allocations between young-generation collections in a worker
SMALL_RUN = 8  # fewer files than this are checked in-process (forking workers would cost more)
WATCHDOG_EXIT = 86  # exit status of a worker stopped by its watchdog (native code past the time budget)

_ONLY_AST = ast.PyCF_ONLY_AST


@dataclass(frozen=True)
class Project:
    """Everything that is the same for every file of a run (inherited by forked workers).

    The index is materialised on first use: a run whose every result is cached never decodes it.
    """

    config: Config
    knowledge: Knowledge
    index_source: Callable[[], ProjectIndex]
    rules: dict[str, Rule]
    checkers: tuple[str, ...]  # "module:Class" of every checker with an enabled rule
    # what every per-file result depends on besides the file itself ("" = results are not cached)
    fingerprint: str = ""
    cache_dir: Path | None = None  # .orgguard_cache/ (None: no cache)
    parsed: frozenset[str] = frozenset()  # sha256 of sources the index pass parsed with ast (syntax known good)
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    errors: tuple[RunError, ...] = ()  # problems met while loading, reported by every run
    precheck: bool = True  # skip the LibCST parse of files holding no checker's trigger (off: parse all)

    @functools.cached_property
    def index(self) -> ProjectIndex:
        return self.index_source()

    @functools.cached_property
    def tokens(self) -> tuple[bytes, ...] | None:
        """Pre-check: one of these must occur in a file for any enabled checker to report; None = always."""
        if not self.precheck:
            return None
        from orgguard.engine.checking import tokens_for  # LibCST is imported only once a file is checked

        return tokens_for(self.checkers, self.knowledge, self.index)


@dataclass
class FileResult:
    findings: list[Finding] = field(default_factory=list)
    errors: list[RunError] = field(default_factory=list)
    suppressed: list[Finding] = field(default_factory=list)  # suppressed in source (kept for SARIF)


@dataclass
class RunResult:
    findings: list[Finding] = field(default_factory=list)
    errors: list[RunError] = field(default_factory=list)
    files: int = 0
    suppressed: list[Finding] = field(default_factory=list)  # suppressed in source (kept for SARIF)


RESULT_RECORDS = {**records_of(findings_module), "FileResult": FileResult}


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


@dataclass(frozen=True)
class _Given:
    """An index already in hand (picklable, for workers that are spawned rather than forked)."""

    index: ProjectIndex

    def __call__(self) -> ProjectIndex:
        return self.index


def _load_index(  # noqa: PLR0917
    config: Config, knowledge: Knowledge, store: Cache | None, max_size: int, jobs: int, also: tuple[Path, ...] = ()
) -> _LoadedIndex:
    """The project index, and the digest of its content that keys every per-file result.

    With a cache, the index of an unchanged project is not even decoded here (only when a file has to be
    checked). Otherwise each file's facts come from the facts pack when its content is known there, the
    rest are scanned (in parallel when there are many); when the rescanned files' facts are what they were,
    the index they built still holds and is reused as is; else it is built from the facts. ``also``: files
    the walk leaves out that the run was asked to check.
    """
    sources = read_sources(config.root, config, max_size=max_size, also=also)
    settings = digest_of(
        code_digest(), str(SCHEMA_VERSION), _config_key(config, selection=False), knowledge.digest, str(max_size)
    )
    cached = _IndexStore(store, settings) if store is not None else None
    key = digest_of("index", settings, *(f"{s.path}\0{s.sha}" for s in sources))
    try:
        if cached is not None:
            head = cached.head(key)
            if head is not None:
                return _LoadedIndex(
                    _CachedIndex(cached, head.index, config, knowledge, max_size, also), head.digest, head.parsed
                )
        built_from, known = cached.pack() if cached is not None else ("", {})
        files = _scan(config, knowledge, sources, known, jobs)
        parsed = frozenset(src.sha for src, entry in zip(sources, files, strict=True) if entry and entry[0] is True)
        for src, entry in zip(sources, files, strict=True):
            src.parsed = None if entry is None else entry[0] is True
        keys = [f"{src.path}\0{src.sha}" for src in sources]
        if cached is not None and built_from and _same_facts(known, dict(zip(keys, files, strict=True))):
            previous = cached.head(built_from)
            if previous is not None:  # the edits changed no project facts: the index they built holds
                cached.write_head(key, previous.digest, parsed, previous.index)
                cached.write_pack(key, keys, files)
                return _LoadedIndex(
                    _CachedIndex(cached, previous.index, config, knowledge, max_size, also), previous.digest, parsed
                )
        index = index_from_facts(str(config.root), config, knowledge, _decoded(config, knowledge, sources, files))
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
        return _LoadedIndex(_Given(index), "", parsed)
    text = json.dumps(to_builtins(index), separators=(",", ":")).encode()
    digest = digest_of(text)
    cached.write_index(key, text)
    cached.write_head(key, digest, parsed, key)
    cached.write_pack(key, keys, files)
    return _LoadedIndex(_Given(index), digest, parsed)


def _same_facts(before: Mapping[str, Any], now: Mapping[str, Any]) -> bool:
    """Whether every file of the project has the facts it had when ``before`` was packed (same paths too)."""
    if len(before) != len(now):
        return False
    by_path = {key.split("\0", 1)[0]: entry for key, entry in before.items()}
    return all(by_path.get(key.split("\0", 1)[0], _ABSENT) == entry for key, entry in now.items())


_ABSENT: Any = object()  # equal to nothing but itself


@dataclass(frozen=True)
class _Head:
    digest: str  # of the index's content
    parsed: frozenset[str]
    index: str  # key of the index entry


@dataclass(frozen=True)
class _IndexStore:
    """The index's entries in the cache: the index (by the content of every project file), a small head
    per project state (digest, parsed files, which index entry), and the facts pack (every file's facts by
    path and content, with the head they were last built into)."""

    store: Cache
    settings: str  # digest of orgguard's code, the settings, the knowledge packs, the size limit

    def head(self, key: str) -> _Head | None:
        entry = self.store.read("index-head", key, fanout=False)
        if not isinstance(entry, dict):
            return None
        digest, parsed, index = entry.get("digest"), entry.get("parsed"), entry.get("index")
        if not isinstance(digest, str) or not isinstance(parsed, list) or not isinstance(index, str):
            return None
        return _Head(digest, frozenset(p for p in parsed if isinstance(p, str)), index)

    def write_head(self, key: str, digest: str, parsed: frozenset[str], index: str) -> None:
        self.store.write("index-head", key, {"digest": digest, "parsed": sorted(parsed), "index": index}, fanout=False)
        self.store.prune("index-head", keep=[key, index])

    def write_index(self, key: str, text: bytes) -> None:
        self.store.write_raw("index", key, text, fanout=False)
        self.store.prune("index", keep=[key])

    def index(self, key: str) -> ProjectIndex | None:
        try:
            return index_from_builtins(self.store.read("index", key, fanout=False))
        except (TypeError, ValueError, IndexError, RecursionError):
            return None

    def pack(self) -> tuple[str, dict[str, Any]]:
        entry = self.store.read("facts", self.settings, fanout=False)
        if isinstance(entry, dict) and isinstance(entry.get("head"), str) and isinstance(entry.get("files"), dict):
            return entry["head"], entry["files"]
        return "", {}

    def write_pack(self, head: str, keys: Sequence[str], files: Sequence[Any]) -> None:
        self.store.write(
            "facts", self.settings, {"head": head, "files": dict(zip(keys, files, strict=True))}, fanout=False
        )
        self.store.prune("facts", keep=[self.settings])


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
        config, knowledge = self.config, self.knowledge
        sources = read_sources(config.root, config, max_size=self.max_size, also=self.also)
        files = _scan(config, knowledge, sources, self.cached.pack()[1], 1)
        return index_from_facts(str(config.root), config, knowledge, _decoded(config, knowledge, sources, files))


def _scan(
    config: Config, knowledge: Knowledge, sources: Sequence[SourceFile], known: Mapping[str, Any], jobs: int
) -> list[Any]:
    """Every source's facts as JSON rows (None: nothing to learn from the file): from ``known`` (the facts
    pack, by path and content) when there, else scanned, in parallel when there are many (a cold run)."""
    out: list[Any] = []
    missing: list[int] = []
    for i, src in enumerate(sources):
        entry = known.get(f"{src.path}\0{src.sha}", _ABSENT)
        if entry is None or (type(entry) is list and entry and type(entry[0]) is bool):
            out.append(entry)
        else:
            out.append(None)
            missing.append(i)
    if missing:
        scanner = _FactScanner(config, knowledge, [sources[i] for i in missing])
        jobs = min(jobs or os.cpu_count() or 1, len(missing) // SCAN_CHUNK + 1)
        results = _scan_pool(scanner, jobs) if jobs > 1 else scanner.scan_range(0, len(missing))
        for i, facts in zip(missing, results, strict=True):
            # as JSON reads it back (lists, not tuples), so that it compares equal to a pack entry
            out[i] = None if facts is None else to_builtins(facts)
    return out


def _decoded(
    config: Config, knowledge: Knowledge, sources: Sequence[SourceFile], files: Sequence[Any]
) -> list[FileFacts | None]:
    """The facts of every file from their JSON rows; a row that does not decode (a damaged pack) is scanned."""
    out: list[FileFacts | None] = []
    for src, entry in zip(sources, files, strict=True):
        if entry is None:
            out.append(None)
            continue
        try:
            out.append(facts_from_builtins(entry))
        except (TypeError, ValueError, IndexError, RecursionError):
            out.append(scan_source(src.data, config.relpath(src.path), config, knowledge))
    return out


@dataclass(frozen=True)
class _FactScanner:
    """Scans project files for the index, in this process or in forked workers (which inherit it)."""

    config: Config
    knowledge: Knowledge
    sources: Sequence[SourceFile]

    def scan_range(self, start: int, stop: int) -> list[FileFacts | None]:
        config, knowledge = self.config, self.knowledge
        return [scan_source(src.data, config.relpath(src.path), config, knowledge) for src in self.sources[start:stop]]


def _scan_pool(scanner: _FactScanner, jobs: int) -> list[FileFacts | None]:
    """Scan in ``jobs`` forked processes: only index ranges go out, facts come back. A range whose worker
    fails is scanned again here (where an error is the run's to report)."""
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
        for n, future in enumerate(futures):
            with contextlib.suppress(Exception):
                results[n] = future.result()
    out: list[FileFacts | None] = []
    for (start, stop), result in zip(ranges, results, strict=True):
        out.extend(result if result is not None else scanner.scan_range(start, stop))
    return out


def _scan_work(start: int, stop: int) -> list[FileFacts | None]:
    scanner: _FactScanner = _STATE["scanner"]
    return scanner.scan_range(start, stop)


def _worker_gc() -> None:
    """Cheaper garbage collection in a worker: what it inherited (the project, its index) is moved out of
    the collector's sight, and young objects are collected less often. Syntax trees hold no cycles, so
    they are freed by reference counting anyway; the collector's passes over every parsed node cost a
    tenth of the checking time at the default thresholds. Workers are this run's own processes."""
    gc.freeze()
    gc.set_threshold(WORKER_GC_THRESHOLD, 50, 100)


def _init_scanner(scanner: _FactScanner) -> None:
    _STATE["scanner"] = scanner
    _worker_gc()
    if hasattr(signal, "SIGINT"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C is the parent's to handle


# ---------------------------------------------------------------------------------------------------
# the time guard


class FileTimeout(BaseException):
    """Raised by :func:`time_guard` when a file's analysis runs past its budget.

    A ``BaseException``, so that no ``except Exception`` in a checker can swallow it.
    """


@contextlib.contextmanager
def time_guard(seconds: float | None) -> Iterator[None]:
    """Raise :class:`FileTimeout` in the block after ``seconds`` (POSIX main thread only; else no guard).

    The alarm interrupts Python code; code running inside a C extension is interrupted when it returns
    to Python (the worker watchdog covers the rest).
    """
    usable = (
        seconds is not None
        and seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def alarm(signum: int, frame: object) -> None:
        raise FileTimeout()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, float(seconds or 0))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _org000(
    display: str,
    line: int,
    col: int,
    values: Mapping[str, str],
    *,
    shape: str = "message",
    end: tuple[int, int] = (0, 0),
) -> Finding:
    """An ORG000 finding, its message the rule's ``shape`` template filled with ``values``; its end is
    never before its start (a point at the start when none is given)."""
    rule = all_rules()[PARSE_ERROR]
    message = rule.render(values, shape=shape)
    line, col = max(line, 1), max(col, 1)
    end_line, end_col = max(end, (line, col))
    return Finding(
        path=display,
        line=line,
        column=col,
        code=PARSE_ERROR,
        message=message,
        end_line=end_line,
        end_column=max(end_col, 1),
        name=rule.name,
        severity="error",
        path_class="syntax",
    )


def _timed_out(project: Project, display: str, seconds: float) -> FileResult:
    values = {"seconds": f"{seconds:g}"}
    if PARSE_ERROR in project.rules:
        return FileResult(findings=[_org000(display, 1, 1, values, shape="timeout")])
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


class _FileWorker:
    """Checks files for one run, in the main process or in a worker (where it is inherited or sent once)."""

    def __init__(self, project: Project, noqa: bool, timeout: float | None) -> None:
        self.project = project
        self.noqa = noqa
        self.timeout = timeout
        self.store = Cache(project.cache_dir) if project.cache_dir is not None and project.fingerprint else None
        self.kind = f"results/{project.fingerprint[:20]}"

    def key(self, task: _Task, sha: str) -> str:
        return digest_of(self.project.fingerprint, task.path, task.display, sha, "noqa" if self.noqa else "")

    def cached(self, task: _Task) -> FileResult | None:
        """The stored result for the file as it is now, if any."""
        if self.store is None:
            return None
        source = _read_source(task.path, self.project.max_file_size)
        if isinstance(source, str):
            return None
        entry = self.store.read(self.kind, self.key(task, hashlib.sha256(source).hexdigest()))
        if entry is None:
            return None
        try:
            value = decode(entry, RESULT_RECORDS)
        except (CodecError, TypeError, ValueError, RecursionError):
            return None
        return value if isinstance(value, FileResult) else None

    def check(self, task: _Task) -> FileResult:
        source = _read_source(task.path, self.project.max_file_size)
        if isinstance(source, str):
            return FileResult(errors=[RunError(task.display, source)])
        sha = hashlib.sha256(source).hexdigest()
        try:
            # LibCST and the checkers are imported only once a file has to be checked
            from orgguard.engine.checking import check_source

            with time_guard(self.timeout):
                result = check_source(
                    self.project, Path(task.path), source, display=task.display, noqa=self.noqa, sha=sha
                )
        except FileTimeout:
            return _timed_out(self.project, task.display, self.timeout or 0)
        if self.store is not None and not result.errors:
            with contextlib.suppress(CodecError):
                self.store.write(self.kind, self.key(task, sha), encode(result))
        return result


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
    results: dict[int, FileResult] = {}
    pending: list[_Task] = []
    for task in tasks:
        hit = worker.cached(task)
        if hit is not None:
            results[task.index] = hit
        else:
            pending.append(task)
    if pending:
        _ = project.tokens  # the index and the pre-check, built once here and inherited by forked workers
    jobs = min(jobs or os.cpu_count() or 1, len(pending))
    if jobs <= 1 or len(pending) < SMALL_RUN:
        for task in pending:
            results[task.index] = worker.check(task)
    else:
        results.update(_run_pool(worker, pending, jobs))
    if worker.store is not None:
        # old generations go a little at a time: about as many files as this run checked, and some
        worker.store.prune("results", keep=[worker.kind.split("/", 1)[1]], budget=PRUNE_BUDGET + len(pending))
    for i in sorted(results):
        res = results[i]
        result.findings.extend(res.findings)
        result.errors.extend(res.errors)
        result.suppressed.extend(res.suppressed)
    result.findings.sort(key=Finding.sort_key)
    result.suppressed.sort(key=Finding.sort_key)
    result.errors.sort(key=lambda e: (e.path, e.message))
    return result


# ---------------------------------------------------------------------------------------------------
# worker processes


_STATE: dict[str, Any] = {}  # this worker process's _FileWorker and progress slot


def _mp_context() -> multiprocessing.context.BaseContext:
    """fork where it is safe (Linux): workers inherit the project instead of unpickling it."""
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


def _work(chunk: Sequence[_Task]) -> list[tuple[int, FileResult]]:
    worker: _FileWorker = _STATE["worker"]
    slots, slot = _STATE["slots"], _STATE["slot"]
    out = []
    for task in chunk:
        slots[slot] = task.index
        _STATE["started"], _STATE["current"] = time.monotonic(), task.index
        out.append((task.index, worker.check(task)))
        _STATE["current"] = -1
        slots[slot] = -1
    return out


def _chunks(tasks: Sequence[_Task], jobs: int) -> list[list[_Task]]:
    """Biggest files first, in small chunks, so that no worker is left with the one huge file at the end."""
    sized = []
    for task in tasks:
        try:
            size = os.stat(task.path).st_size
        except OSError:
            size = 0
        sized.append((size, task))
    sized.sort(key=lambda st: (-st[0], st[1].index))
    per_chunk = max(1, min(16, len(sized) // (jobs * 12)))
    ordered = [t for _, t in sized]
    return [ordered[i : i + per_chunk] for i in range(0, len(ordered), per_chunk)]


def _run_pool(worker: _FileWorker, tasks: Sequence[_Task], jobs: int) -> dict[int, FileResult]:
    """Check ``tasks`` in ``jobs`` processes; survive a worker that dies (its files are retried apart)."""
    results: dict[int, FileResult] = {}
    remaining = list(tasks)
    context = _mp_context()
    while remaining:
        slots = context.Array("q", [-1] * jobs, lock=False)
        counter = context.Value("i", 0)
        failed: list[_Task] = []
        with ProcessPoolExecutor(
            max_workers=jobs, mp_context=context, initializer=_init_worker, initargs=(worker, slots, counter)
        ) as pool:
            futures: list[tuple[Future[list[tuple[int, FileResult]]], list[_Task]]] = [
                (pool.submit(_work, chunk), chunk) for chunk in _chunks(remaining, jobs)
            ]
            for future, chunk in futures:
                try:
                    for i, res in future.result():
                        results[i] = res
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


def _isolated(worker: _FileWorker, task: _Task, context: multiprocessing.context.BaseContext) -> FileResult:
    """Check one file in a process of its own, to tell a crash or a hang apart from a transient failure."""
    slots = context.Array("q", [-1], lock=False)
    counter = context.Value("i", 0)
    with ProcessPoolExecutor(
        max_workers=1, mp_context=context, initializer=_init_worker, initargs=(worker, slots, counter)
    ) as pool:
        try:
            ((_, res),) = pool.submit(_work, [task]).result()
            return res
        except Exception:
            pass
    if worker.timeout:
        why = f"analysis stopped: crashed or ran past {2 * worker.timeout + 1:g} s in native code; file not checked"
    else:
        why = "analysis crashed; file not checked"
    return FileResult(errors=[RunError(task.display, why)])


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
