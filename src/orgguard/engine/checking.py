"""Checking one file: LibCST parse, one read-only traversal for every checker, positions, suppressions.

Kept apart from the runner so that a run whose every result is cached never imports LibCST or the
checkers (the runner imports this module only when a file has to be checked).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider

from orgguard.engine import blank, syntax, walk
from orgguard.engine.analysis import Analysis
from orgguard.engine.budget import FileTimeout
from orgguard.engine.context import FileContext, Report, collect_imports
from orgguard.engine.findings import PARSE_ERROR, FileResult, Finding, RunError, TraceStep, parse_error_finding
from orgguard.engine.plugins import load_checker
from orgguard.engine.project import Project
from orgguard.engine.suppressions import audit as audit_suppressions
from orgguard.engine.suppressions import find_suppression, may_have_suppressions

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
    """ORG000 in the interpreter's words and at its position, end included (see engine/syntax.py)."""
    error = syntax.error_of(exc)
    end = (error.end_line, error.end_column)
    return parse_error_finding(display, error.line, error.column, {"detail": error.message}, end=end)


def _positions(module: cst.Module, reports: Sequence[Report], *, dense: float = 0.5) -> dict[cst.CSTNode, CodeRange]:
    """Positions of the reported nodes (and their statements) only; paid for just the files with findings.

    LibCST's ``PositionProvider`` generates the code of the whole module with positions (and first rebuilds
    every node in a traversal it runs for batchable providers). Here it runs on the module-level
    statements that hold a finding, each wrapped alone in a module of the same layout, and their
    positions are moved down by the lines of the code before them (the header and the statements
    before it, generated as plain code). The result is the same: a module-level statement's code starts
    at column 0 with no indentation pending, whatever precedes it. Falls back to the whole module when a
    report does not know its module-level statement, or more than ``dense`` of the statements hold findings.
    """
    wanted: set[cst.CSTNode] = set()
    for r in reports:
        wanted.add(r.node)
        if r.statement is not None:
            wanted.add(r.statement)
    tops = {id(r.top): r.top for r in reports if r.top is not None}
    if len(tops) < len({id(r.top) for r in reports}) or len(tops) > dense * len(module.body):
        return _whole_module_positions(module, wanted)
    found: dict[cst.CSTNode, CodeRange] = {}
    line = 1 + _line_count(module, module.header)
    for stmt in module.body:
        if id(stmt) in tops:
            found.update(_statement_positions(module, stmt, line - 1, wanted))
            del tops[id(stmt)]
            if not tops:
                break
        line += _line_count(module, (stmt,))
    if tops or not wanted <= found.keys():
        return _whole_module_positions(module, wanted)  # a reported node outside its statement: be plain
    return found


_NEWLINE = re.compile(r"\r\n?|\n")  # how LibCST's position provider counts lines


def _line_count(module: cst.Module, nodes: Sequence[cst.CSTNode]) -> int:
    return sum(len(_NEWLINE.findall(module.code_for_node(node))) for node in nodes)


def _statement_positions(
    module: cst.Module, stmt: cst.CSTNode, offset: int, wanted: set[cst.CSTNode]
) -> dict[cst.CSTNode, CodeRange]:
    alone = module.with_changes(header=(), body=(stmt,), footer=())
    positions = _position_map(alone)
    out: dict[cst.CSTNode, CodeRange] = {}
    for node in wanted:
        rng = positions.get(node)
        if rng is not None:
            out[node] = CodeRange(
                CodePosition(rng.start.line + offset, rng.start.column),
                CodePosition(rng.end.line + offset, rng.end.column),
            )
    return out


def _whole_module_positions(module: cst.Module, wanted: set[cst.CSTNode]) -> dict[cst.CSTNode, CodeRange]:
    positions = _position_map(module)
    return {node: positions[node] for node in wanted if node in positions}


def _position_map(module: cst.Module) -> Mapping[cst.CSTNode, CodeRange]:
    """What ``MetadataWrapper(module).resolve(PositionProvider)`` gives, without the traversal of the whole
    tree that ``resolve`` makes for the batchable providers asked, even when there is none (LibCST 1.x:
    every node rebuilt for nothing, half the cost of the positions of a module). The provider's one
    code generation is the same: it runs as ``resolve`` runs it."""
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    return cast("Mapping[cst.CSTNode, CodeRange]", PositionProvider()._gen(wrapper))  # as resolve calls it


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
    if config.is_exempt(path):
        return result  # tests and seed scripts are never reported, not even for their syntax
    checker_specs = project.checkers
    relpath = config.relpath(path)
    if checker_specs and not _may_match(project, source, relpath):
        checker_specs = ()
    try:
        # the interpreter screens the file first (unless the index pass already parsed this very source);
        # its error is the one reported, whatever parser runs after it and whatever else is in the run
        checked = sha is not None and sha in project.parsed
        parsed = None
        reduced = _reduced(project, source, relpath, sha) if checker_specs else None
        if reduced is not None:
            # LibCST reads only what can hold a finding, once the whole file passed the same screen
            if not checked:
                syntax.parse_module(source, display, config.target_version, checked=False, need_module=False)
            parsed = _parse_reduced(reduced, display, config.target_version)
        if parsed is None:
            parsed = syntax.parse_module(
                source, display, config.target_version, checked=checked, need_module=bool(checker_specs)
            )
    except (SyntaxError, ValueError, RecursionError, MemoryError, UnicodeError) as exc:
        if PARSE_ERROR in project.rules:
            result.findings.append(_parse_error(project, display, exc))
        return result
    except (KeyboardInterrupt, SystemExit, FileTimeout):
        raise
    except BaseException as exc:  # a panic in LibCST's native parser (a BaseException) is a parse error too
        if PARSE_ERROR in project.rules:
            result.findings.append(_parse_error(project, display, exc))
        return result
    if parsed is None:
        return result  # nothing can be found here: the syntax check was all that was needed
    module = parsed
    try:
        ctx = FileContext(
            path=path,
            relpath=relpath,
            module=module,
            config=config,
            index=project.index,
            knowledge=project.knowledge,
            rules=project.rules,
            imports=collect_imports(module),
        )
        analysis = Analysis.for_file(ctx)
        checkers = [load_checker(spec)(analysis) for spec in checker_specs]
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
    seen: set[tuple[int, str]] = set()
    prefix = display[: -len(ctx.relpath)] if display.endswith(ctx.relpath) else ""
    for report in ctx.reports:
        rng = positions.get(report.node)
        if rng is None or report.code in ignored or any(report.code.startswith(c) for c in ignored):
            continue
        key = (rng.start.line, report.code)  # once per line and code, however many paths reach it
        if key in seen:
            continue
        seen.add(key)
        first, last = _statement_span(report.statement, rng, positions)
        suppression = find_suppression(lines, first, last, report.code, noqa=noqa)
        rule = project.rules[report.code]
        try:
            message = rule.render(report.values, shape=report.shape, traits=report.traits)
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
                trace=_trace(report, prefix, display, rng, rule.summary),
            )
        )
    result.findings.sort(key=Finding.sort_key)
    return result


def _trace(report: Report, prefix: str, display: str, rng: CodeRange, summary: str) -> tuple[TraceStep, ...]:
    """The report's path with file names as the run shows them, ending at the finding itself."""
    if not report.trace:
        return ()
    steps = tuple(TraceStep(prefix + s.path, s.line, s.column, s.note) for s in report.trace)
    return (*steps, TraceStep(display, rng.start.line, rng.start.column + 1, summary))


def _reduced(project: Project, source: bytes | str, relpath: str, sha: str | None) -> bytes | None:
    """The source with the definitions no checker can report in blanked (None: parse it as it is)."""
    triggers = project.blank_triggers
    if triggers is None or not isinstance(source, bytes):
        return None
    layout = project.layouts.get(sha) if sha is not None else None
    return blank.blanked(source, relpath, triggers, layout)


def _parse_reduced(reduced: bytes, display: str, target: Any) -> cst.Module | None:
    """LibCST's tree of the blanked source; None when LibCST refuses it (the whole file is parsed then)."""
    try:
        return syntax.parse_module(reduced, display, target, checked=True, need_module=True)
    except (KeyboardInterrupt, SystemExit, FileTimeout):
        raise
    except BaseException:  # a refusal of the blanked text is no finding: parse the file
        return None


def _may_match(project: Project, source: bytes | str, relpath: str) -> bool:
    """Cheap pre-check: could any enabled checker find anything in this source?"""
    if project.tokens is None:
        return True
    data = source.encode("utf-8", "surrogatepass") if isinstance(source, str) else source
    if any(tok in data for tok in project.tokens):
        return True
    return any(tok in data for tok in project.file_tokens.get(relpath, ()))
