"""files -> parse (LibCST) -> project index -> checks -> suppressions -> findings.

How a run stays fast (the numbers are in docs/performance.md):

- the project index comes from one ``ast`` pass over the project, and is cached in ``.orgguard_cache/``
  under the content of every project file;
- a token pre-check skips the LibCST parse of files that cannot hold a candidate for any enabled rule;
  they get a syntax check only, and not even that when the index pass has already parsed them;
- the checkers run in one batched traversal whose visitor tables are built once per process;
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
import hashlib
import importlib
import io
import json
import multiprocessing
import os
import signal
import stat
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from orgguard.checkers.base import Checker
from orgguard.config import Config, check_codes, load_config
from orgguard.engine import findings as findings_module
from orgguard.engine import index as index_module
from orgguard.engine import walk
from orgguard.engine.analysis import Analysis
from orgguard.engine.cache import CACHE_DIR, Cache, CodecError, code_digest, decode, digest_of, encode, records_of
from orgguard.engine.context import FileContext, Report, collect_imports
from orgguard.engine.findings import Finding, RunError
from orgguard.engine.index import ProjectIndex, build_index, iter_python_files, read_sources
from orgguard.engine.suppressions import audit as audit_suppressions
from orgguard.engine.suppressions import find_suppression, may_have_suppressions
from orgguard.knowledge import Knowledge, load_knowledge
from orgguard.registry import Rule, all_rules, enabled_codes, known_codes

PARSE_ERROR = "ORG000"
DEFAULT_FILE_TIMEOUT = 20.0  # seconds of analysis per file before it is reported as timed out
DEFAULT_MAX_FILE_SIZE = 2_000_000  # bytes; bigger files are reported and skipped (LibCST needs ~500x in memory)
SMALL_RUN = 8  # fewer files than this are checked in-process (forking workers would cost more)
WATCHDOG_EXIT = 86  # exit status of a worker stopped by its watchdog (native code past the time budget)

_ONLY_AST = ast.PyCF_ONLY_AST


@dataclass(frozen=True)
class Project:
    """Everything that is the same for every file of a run (inherited by forked workers)."""

    config: Config
    knowledge: Knowledge
    index: ProjectIndex
    rules: dict[str, Rule]
    checkers: tuple[str, ...]  # "module:Class" of every checker with an enabled rule
    tokens: tuple[bytes, ...] | None  # pre-check: one must occur for any checker to report; None = always
    # what every per-file result depends on besides the file itself ("" = results are not cached)
    fingerprint: str = ""
    cache_dir: Path | None = None  # .orgguard_cache/ (None: no cache)
    parsed: frozenset[str] = frozenset()  # sha256 of sources the index pass parsed with ast (syntax known good)
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    errors: tuple[RunError, ...] = ()  # problems met while loading, reported by every run


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


INDEX_RECORDS = records_of(index_module)
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
) -> Project:
    """Load config, knowledge and the whole-project index for the project holding ``start``.

    With ``cache`` (True: ``.orgguard_cache/`` at the project root; or a directory), the index is read
    from and written to the cache, and :func:`run` caches per-file results there. Raises
    :class:`orgguard.config.ConfigError` for unusable settings.
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
    loaded = _load_index(config, knowledge, store, max_file_size)
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
        loaded.index,
        rules,
        checkers,
        _tokens(checkers, knowledge, loaded.index),
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
    index: ProjectIndex
    digest: str  # digest of the index's content ("" when it could not be computed)
    parsed: frozenset[str]
    errors: tuple[RunError, ...] = ()


def _load_index(config: Config, knowledge: Knowledge, store: Cache | None, max_size: int) -> _LoadedIndex:
    sources = read_sources(config.root, config, max_size=max_size)
    key = ""
    if store is not None:
        key = digest_of(
            "index",
            code_digest(),
            _config_key(config, selection=False),
            knowledge.digest,
            str(max_size),
            *(f"{s.path}\0{s.sha}" for s in sources),
        )
        cached = _cached_index(store, key)
        if cached is not None:
            return cached
    try:
        index = build_index(config.root, config, knowledge, sources=sources)
    except Exception as exc:  # a bug met on some project file must not stop the run: say so, go on
        message = f"project index incomplete: internal error ({type(exc).__name__}: {exc})".splitlines()[0]
        return _LoadedIndex(ProjectIndex(root=str(config.root)), "", frozenset(), (RunError(".", message),))
    parsed = frozenset(s.sha for s in sources if s.parsed)
    if store is None:
        return _LoadedIndex(index, "", parsed)
    try:
        encoded = encode(index)
    except CodecError:
        return _LoadedIndex(index, "", parsed)
    digest = digest_of(json.dumps(encoded, separators=(",", ":")))
    store.write("index", key, {"index": encoded, "digest": digest, "parsed": sorted(parsed)}, fanout=False)
    store.prune("index", keep=[key])
    return _LoadedIndex(index, digest, parsed)


def _cached_index(store: Cache, key: str) -> _LoadedIndex | None:
    entry = store.read("index", key, fanout=False)
    if not isinstance(entry, dict):
        return None
    try:
        index = decode(entry["index"], INDEX_RECORDS)
        digest, parsed = entry["digest"], entry["parsed"]
    except (CodecError, KeyError, TypeError, ValueError, RecursionError):
        return None
    if not isinstance(index, ProjectIndex) or not isinstance(digest, str) or not isinstance(parsed, list):
        return None
    return _LoadedIndex(index, digest, frozenset(p for p in parsed if isinstance(p, str)))


def _tokens(checkers: Sequence[str], knowledge: Knowledge, index: ProjectIndex) -> tuple[bytes, ...] | None:
    tokens: set[bytes] = set()
    for spec in checkers:
        triggers = _load_checker(spec).triggers(knowledge, index)
        if triggers is None:
            return None
        tokens.update(t.encode() for t in triggers if t)
    return tuple(sorted(tokens))


def _load_checker(spec: str) -> type[Checker]:
    module_name, _, class_name = spec.partition(":")
    module = importlib.import_module(f"orgguard.checkers.{module_name}")
    cls = getattr(module, class_name)
    if not (isinstance(cls, type) and issubclass(cls, Checker)):
        raise TypeError(f"{spec} is not a Checker")
    return cls


# ---------------------------------------------------------------------------------------------------
# one traversal for every checker


VisitorMethod = Callable[[cst.CSTNode], Any]
_VISITOR_NAMES: dict[type, tuple[str, ...]] = {}


def _visitor_names(visitor: cst.BatchableCSTVisitor) -> tuple[str, ...]:
    """The ``visit_*``/``leave_*`` methods a visitor class defines (what ``get_visitors()`` finds), once per class."""
    cls = type(visitor)
    names = _VISITOR_NAMES.get(cls)
    if names is None:
        names = tuple(sorted(visitor.get_visitors()))
        for name in names:
            if name.count("_") > 1:  # visit_<Type>_<attribute>: the read-only walk has no attribute hooks
                raise TypeError(f"{cls.__name__}.{name}: attribute visitors are not supported")
        _VISITOR_NAMES[cls] = names
    return names


def _batched_methods(visitors: Sequence[cst.BatchableCSTVisitor]) -> dict[str, list[VisitorMethod]]:
    """Every checker's ``visit_<Type>``/``leave_<Type>`` methods by name, for one walk of the module."""
    methods: dict[str, list[VisitorMethod]] = {}
    for visitor in visitors:
        for name in _visitor_names(visitor):
            methods.setdefault(name, []).append(getattr(visitor, name))
    return methods


# ---------------------------------------------------------------------------------------------------
# checking one file


def _decode_lines(source: bytes | str, module: cst.Module | None) -> list[str]:
    if isinstance(source, str):
        return source.splitlines()
    encoding = module.encoding if module is not None else "utf-8"
    try:
        text = source.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        text = source.decode("utf-8", errors="replace")
    return text.splitlines()


def _parse_error(project: Project, display: str, exc: BaseException) -> Finding:
    line, col = 1, 1
    if isinstance(exc, cst.ParserSyntaxError):
        line, col = exc.raw_line, exc.raw_column + 1
        message = exc.message.splitlines()[0] if exc.message else "invalid syntax"
    elif isinstance(exc, SyntaxError):
        line, col = exc.lineno or 1, exc.offset or 1
        message = exc.msg
    elif isinstance(exc, (RecursionError, MemoryError)):
        message = "too deeply nested to analyse"
    else:
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return _org000(display, line, col, f"cannot parse: {message}")


def _org000(display: str, line: int, col: int, message: str) -> Finding:
    rule = all_rules().get(PARSE_ERROR)
    return Finding(
        path=display,
        line=max(line, 1),
        column=max(col, 1),
        code=PARSE_ERROR,
        message=message,
        name=rule.name if rule else "parse-error",
        severity="error",
        path_class="syntax",
    )


def _too_deep(exc: BaseException) -> bool:
    """Whether the interpreter's parser refused ``exc``'s source for its nesting (LibCST must not see it)."""
    if isinstance(exc, (RecursionError, MemoryError)):
        return True
    return isinstance(exc, SyntaxError) and "too many nested" in (exc.msg or "")


def _positions(module: cst.Module, reports: Sequence[Report]) -> dict[cst.CSTNode, CodeRange]:
    """Positions of reported nodes only; paid for just the files that have findings."""
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    wanted: set[cst.CSTNode] = set()
    for r in reports:
        wanted.add(r.node)
        if r.statement is not None:
            wanted.add(r.statement)
    return {node: positions[node] for node in wanted if node in positions}


def _statement_span(
    stmt: cst.CSTNode | None, rng: CodeRange, positions: dict[cst.CSTNode, CodeRange]
) -> tuple[int, int]:
    if stmt is None or stmt not in positions:
        return rng.start.line, rng.end.line
    srng = positions[stmt]
    if isinstance(stmt, cst.BaseCompoundStatement):
        return srng.start.line, max(rng.end.line, srng.start.line)
    return srng.start.line, srng.end.line


def check_source(
    project: Project,
    path: Path,
    source: bytes | str,
    *,
    display: str,
    noqa: bool = True,
    sha: str | None = None,
) -> FileResult:
    """Check one file's source (bytes as read from disk, or text as flake8 hands it over).

    ``sha`` (the sha256 of ``source``) lets the engine skip a syntax check the index pass already did.
    Never raises (but a :class:`FileTimeout` from the caller's time guard passes through).
    """
    result = _check_source(project, path, source, display=display, noqa=noqa, sha=sha)
    if not may_have_suppressions(source) or result.errors or any(f.code == PARSE_ERROR for f in result.findings):
        return result
    if project.config.is_exempt(path):
        return result
    ignored = project.config.ignored_codes_for(path)
    try:
        audited = audit_suppressions(
            source,
            display=display,
            findings=[*result.findings, *result.suppressed],
            rules={c: r for c, r in project.rules.items() if not any(c.startswith(i) for i in ignored)},
            require_reason=project.config.require_suppression_reason,
            noqa=noqa,
        )
    except Exception as exc:  # the audit must not stop the run either
        result.errors.append(RunError(display, f"internal error auditing suppressions ({type(exc).__name__}: {exc})"))
        return result
    if audited:
        result.findings.extend(audited)
        result.findings.sort(key=Finding.sort_key)
    return result


def _check_source(
    project: Project, path: Path, source: bytes | str, *, display: str, noqa: bool, sha: str | None
) -> FileResult:
    result = FileResult()
    config = project.config
    exempt = config.is_exempt(path)
    checker_specs = () if exempt else project.checkers
    if checker_specs and not _may_match(project, source):
        checker_specs = ()
    try:
        if sha is None or sha not in project.parsed:
            try:
                with warnings.catch_warnings():  # the user's invalid escapes are not our output
                    warnings.simplefilter("ignore")
                    compile(source, display, "exec", flags=_ONLY_AST, dont_inherit=True)
            except (SyntaxError, ValueError, RecursionError, MemoryError, UnicodeError) as exc:
                # nothing to find here, or too deep for LibCST's native parser: the interpreter's error
                # stands; any other syntax error is reported as LibCST words it, as it always was
                if not checker_specs or _too_deep(exc):
                    raise
        if not checker_specs:
            return result  # nothing can be found here: the syntax check was all that was needed
        module = cst.parse_module(source)
    except (cst.ParserSyntaxError, SyntaxError, ValueError, RecursionError, MemoryError, UnicodeError) as exc:
        if PARSE_ERROR in project.rules:
            result.findings.append(_parse_error(project, display, exc))
        return result
    except (KeyboardInterrupt, SystemExit, FileTimeout):
        raise
    except BaseException as exc:  # a panic in LibCST's native parser (a BaseException) is a parse error too
        if PARSE_ERROR in project.rules:
            result.findings.append(_parse_error(project, display, exc))
        return result
    try:
        ctx = FileContext(
            path=path,
            relpath=config.relpath(path),
            module=module,
            config=config,
            index=project.index,
            knowledge=project.knowledge,
            rules=project.rules,
            imports=collect_imports(module),
        )
        analysis = Analysis.for_file(ctx)
        checkers = [_load_checker(spec)(analysis) for spec in checker_specs]
        walk.visit_batched(
            module, _batched_methods([c for c in checkers if c.enabled()]), ctx.scope.enter, ctx.scope.leave
        )
        if not ctx.reports:
            return result
        positions = _positions(module, ctx.reports)
    except RecursionError:
        result.findings.append(_parse_error(project, display, RecursionError()))
        return result
    except Exception as exc:  # a checker bug must not stop the run; report it with the file named
        result.errors.append(RunError(display, f"internal error ({type(exc).__name__}: {exc}); file skipped"))
        return result
    lines = _decode_lines(source, module)
    ignored = config.ignored_codes_for(path)
    seen: set[tuple[int, int, str]] = set()
    for report in ctx.reports:
        rng = positions.get(report.node)
        if rng is None or report.code in ignored or any(report.code.startswith(c) for c in ignored):
            continue
        key = (rng.start.line, rng.start.column, report.code)
        if key in seen:
            continue
        seen.add(key)
        first, last = _statement_span(report.statement, rng, positions)
        suppression = find_suppression(lines, first, last, report.code, noqa=noqa)
        rule = project.rules[report.code]
        try:
            message = rule.format(**report.values)
        except (KeyError, IndexError, ValueError) as exc:
            message = f"{rule.summary} (message template error: {exc})"
        (result.findings if suppression is None else result.suppressed).append(
            Finding(
                path=display,
                line=rng.start.line,
                column=rng.start.column + 1,
                code=report.code,
                message=message,
                end_line=rng.end.line,
                end_column=rng.end.column + 1,
                name=rule.name,
                severity=rule.severity,
                path_class=rule.path_class,
                stmt_start=first,
                stmt_end=last,
                suppression=None if suppression is None else suppression.reason,
            )
        )
    result.findings.sort(key=Finding.sort_key)
    return result


def _may_match(project: Project, source: bytes | str) -> bool:
    """Cheap pre-check: could any enabled checker find anything in this source?"""
    if project.tokens is None:
        return True
    data = source.encode("utf-8", "surrogatepass") if isinstance(source, str) else source
    return any(tok in data for tok in project.tokens)


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


def _timed_out(project: Project, display: str, seconds: float) -> FileResult:
    message = f"analysis timed out after {seconds:g} s; file not checked (see --file-timeout)"
    if PARSE_ERROR in project.rules:
        return FileResult(findings=[_org000(display, 1, 1, message)])
    return FileResult(errors=[RunError(display, message)])


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
    files: list[Path] = []
    errors: list[RunError] = []
    skipped: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists() and not path.is_symlink():
            errors.append(RunError(str(raw), "no such file or directory"))
            continue
        if path.is_dir():
            if config.is_excluded(_resolve(path)):
                continue
            files.extend(iter_python_files(path, config, skipped))
        elif config.is_excluded(_resolve(path)):
            continue
        else:
            files.append(path)
    here = cwd or Path.cwd()
    for path, why in sorted(set(skipped)):
        errors.append(RunError(display_path(path, here), f"cannot read: {why}"))
    unique = sorted({_resolve(p): p for p in files}.items())
    return [p for _, p in unique], errors


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
    files, errors = discover(paths, project.config, cwd)
    result = RunResult(errors=[*project.errors, *errors], files=len(files))
    worker = _FileWorker(project, True, file_timeout)
    tasks = []
    for i, path in enumerate(files):
        resolved = _resolve(path)
        tasks.append(_Task(i, str(resolved), display_path(resolved, cwd)))
    results: dict[int, FileResult] = {}
    pending: list[_Task] = []
    for task in tasks:
        hit = worker.cached(task)
        if hit is not None:
            results[task.index] = hit
        else:
            pending.append(task)
    jobs = min(jobs or os.cpu_count() or 1, len(pending))
    if jobs <= 1 or len(pending) < SMALL_RUN:
        for task in pending:
            results[task.index] = worker.check(task)
    else:
        results.update(_run_pool(worker, pending, jobs))
    if worker.store is not None:
        worker.store.prune("results", keep=[worker.kind.split("/", 1)[1]])
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
    "check_source",
    "discover",
    "display_path",
    "load_project",
    "run",
    "time_guard",
]
