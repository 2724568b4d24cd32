"""files -> parse (LibCST) -> project index -> checks -> suppressions -> findings."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from orgguard.checkers.base import Checker
from orgguard.config import Config, check_codes, load_config
from orgguard.engine.analysis import Analysis
from orgguard.engine.context import FileContext, Report, collect_imports
from orgguard.engine.findings import Finding, RunError
from orgguard.engine.index import ProjectIndex, build_index, iter_python_files
from orgguard.engine.suppressions import audit as audit_suppressions
from orgguard.engine.suppressions import find_suppression, may_have_suppressions
from orgguard.knowledge import Knowledge, load_knowledge
from orgguard.registry import Rule, all_rules, enabled_codes, known_codes

PARSE_ERROR = "ORG000"


@dataclass(frozen=True)
class Project:
    """Everything that is the same for every file of a run (picklable, sent once per worker chunk)."""

    config: Config
    knowledge: Knowledge
    index: ProjectIndex
    rules: dict[str, Rule]
    checkers: tuple[str, ...]  # "module:Class" of every checker with an enabled rule
    tokens: tuple[bytes, ...] | None  # pre-check: one must occur for any checker to report; None = always


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


def load_project(
    start: Path,
    *,
    config_path: Path | None = None,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
) -> Project:
    """Load config, knowledge and the whole-project index for the project holding ``start``.

    Raises :class:`orgguard.config.ConfigError` for unusable settings.
    """
    config = load_config(start=start, explicit=config_path, known_codes=known_codes())
    if select is not None or ignore is not None:
        for key, codes in (("--select", select), ("--ignore", ignore)):
            if codes:
                check_codes("command line", key, codes, known_codes())
        config = config.with_selection(select, ignore)
    knowledge = load_knowledge(config.extend_rules)
    index = build_index(config.root, config, knowledge)
    enabled = enabled_codes(config.select, config.ignore)
    rules = {code: rule for code, rule in all_rules().items() if code in enabled}
    checkers = tuple(sorted({rule.checker for rule in rules.values() if ":" in rule.checker}))
    return Project(config, knowledge, index, rules, checkers, _tokens(checkers, knowledge, index))


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


def _decode_lines(source: bytes | str, module: cst.Module | None) -> list[str]:
    if isinstance(source, str):
        return source.splitlines()
    encoding = module.encoding if module is not None else "utf-8"
    try:
        text = source.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        text = source.decode("utf-8", errors="replace")
    return text.splitlines()


def _parse_error(project: Project, display: str, exc: Exception) -> Finding:
    line, col = 1, 1
    if isinstance(exc, cst.ParserSyntaxError):
        line, col = exc.raw_line, exc.raw_column + 1
        message = exc.message.splitlines()[0] if exc.message else "invalid syntax"
    elif isinstance(exc, SyntaxError):
        line, col = exc.lineno or 1, exc.offset or 1
        message = exc.msg
    elif isinstance(exc, RecursionError):
        message = "too deeply nested to analyse"
    else:
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
    rule = all_rules().get(PARSE_ERROR)
    return Finding(
        path=display,
        line=max(line, 1),
        column=max(col, 1),
        code=PARSE_ERROR,
        message=f"cannot parse: {message}",
        name=rule.name if rule else "parse-error",
        severity="error",
        path_class="syntax",
    )


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


def check_source(project: Project, path: Path, source: bytes | str, *, display: str, noqa: bool = True) -> FileResult:
    """Check one file's source (bytes as read from disk, or text as flake8 hands it over).

    Never raises: anything unexpected becomes a finding or an error.
    """
    result = _check_source(project, path, source, display=display, noqa=noqa)
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


def _check_source(project: Project, path: Path, source: bytes | str, *, display: str, noqa: bool) -> FileResult:
    result = FileResult()
    config = project.config
    exempt = config.is_exempt(path)
    checker_specs = () if exempt else project.checkers
    if checker_specs and not _may_match(project, source):
        checker_specs = ()
    try:
        if not checker_specs:
            # nothing can be found here: a cheap syntax check is all that is needed
            compile(source, display, "exec", flags=0x400, dont_inherit=True)  # ast.PyCF_ONLY_AST
            return result
        module = cst.parse_module(source)
    except (cst.ParserSyntaxError, SyntaxError, ValueError, RecursionError, MemoryError, UnicodeError) as exc:
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
        cst.visit_batched(
            module,
            [c for c in checkers if c.enabled()],
            before_visit=ctx.scope.enter,
            after_leave=ctx.scope.leave,
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


def display_path(path: Path, cwd: Path) -> str:
    try:
        return os.path.relpath(path, cwd)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(path)


def discover(paths: Iterable[Path], config: Config) -> tuple[list[Path], list[RunError]]:
    """The .py files to check: explicit files (unless excluded), directories walked."""
    files: list[Path] = []
    errors: list[RunError] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists() and not path.is_symlink():
            errors.append(RunError(str(raw), "no such file or directory"))
            continue
        if path.is_dir():
            if config.is_excluded(path.resolve()):
                continue
            files.extend(iter_python_files(path, config))
        elif config.is_excluded(path.resolve()):
            continue
        else:
            files.append(path)
    unique = sorted({p.resolve(): p for p in files}.items())
    return [p for _, p in unique], errors


def _check_chunk(project: Project, cwd: str, noqa: bool, paths: Sequence[str]) -> FileResult:
    out = FileResult()
    for raw in paths:
        path = Path(raw)
        display = display_path(path, Path(cwd))
        try:
            source = path.read_bytes()
        except (OSError, MemoryError) as exc:
            out.errors.append(RunError(display, f"cannot read: {getattr(exc, 'strerror', None) or exc}"))
            continue
        res = check_source(project, path, source, display=display, noqa=noqa)
        out.findings.extend(res.findings)
        out.errors.extend(res.errors)
        out.suppressed.extend(res.suppressed)
    return out


def run(project: Project, paths: Sequence[Path], *, jobs: int = 0, cwd: Path | None = None) -> RunResult:
    """Check ``paths`` (files or directories) and return every finding, sorted."""
    cwd = cwd or Path.cwd()
    files, errors = discover(paths, project.config)
    result = RunResult(errors=errors, files=len(files))
    jobs = jobs or os.cpu_count() or 1
    names = [str(p.resolve()) for p in files]
    if jobs <= 1 or len(names) < 8:
        chunk = _check_chunk(project, str(cwd), True, names)
        result.findings.extend(chunk.findings)
        result.errors.extend(chunk.errors)
        result.suppressed.extend(chunk.suppressed)
    else:
        chunks = [names[i :: jobs * 4] for i in range(jobs * 4)]
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_check_chunk, project, str(cwd), True, c) for c in chunks if c]
            for fut in futures:
                chunk = fut.result()
                result.findings.extend(chunk.findings)
                result.errors.extend(chunk.errors)
                result.suppressed.extend(chunk.suppressed)
    result.findings.sort(key=Finding.sort_key)
    result.suppressed.sort(key=Finding.sort_key)
    result.errors.sort(key=lambda e: (e.path, e.message))
    return result
