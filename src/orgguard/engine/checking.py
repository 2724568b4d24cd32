"""Checking one file: LibCST parse, one read-only traversal for every checker, positions, suppressions.

Kept apart from the runner so that a run whose every result is cached never imports LibCST or the
checkers (the runner imports this module only when a file has to be checked).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import libcst as cst
from libcst._nodes.internal import CodegenState
from libcst.metadata import CodePosition, CodeRange

from orgguard.engine import blank, syntax, walk
from orgguard.engine.analysis import Analysis
from orgguard.engine.budget import FileTimeout
from orgguard.engine.context import FileContext, Report, collect_imports, file_module
from orgguard.engine.findings import (
    PARSE_ERROR,
    FileResult,
    Finding,
    RunError,
    TraceStep,
    merge_results,
    parse_error_finding,
)
from orgguard.engine.plugins import load_checker
from orgguard.engine.project import PART_BYTES, Project
from orgguard.engine.records import Layout
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


def _positions(
    module: cst.Module, reports: Sequence[Report], *, dense: float = 0.5, anchors: Anchors | None = None
) -> dict[cst.CSTNode, CodeRange]:
    """Positions of the reported nodes (and their statements) only; paid for just the files with findings.

    Positions come from generating the code (see :class:`_Spans`). Here the code is generated for the
    module-level statements that hold a finding, each wrapped alone in a module of the same layout, and their
    positions are moved down to the line the statement starts on. The result is the same: a module-level
    statement's code starts at column 0 with no indentation pending, whatever precedes it. That line comes
    from ``anchors`` for a definition (where the index scan's parse put it, checked against the text the
    module was parsed from), else from the lines of the code before it (the header and the statements since
    the last one placed, generated as plain code). Falls back to the whole module when a report does not
    know its module-level statement, or, with no anchors, more than ``dense`` of the statements hold findings.
    """
    wanted: set[cst.CSTNode] = set()
    by_top: dict[int, set[cst.CSTNode]] = {}  # the nodes wanted in each module-level statement
    for r in reports:
        mine = by_top.setdefault(id(r.top), set())
        for node in (r.node, r.statement):
            if node is not None:
                wanted.add(node)
                mine.add(node)
    tops = {id(r.top): r.top for r in reports if r.top is not None}
    if len(tops) < len(by_top) or (anchors is None and len(tops) > dense * len(module.body)):
        return _position_map(module, wanted)
    found: dict[cst.CSTNode, CodeRange] = {}
    line = 0  # the first line of module.body[counted] (0: not known yet)
    counted = 0
    rank = -1  # of the statement among the module's definitions
    for at, stmt in enumerate(module.body):
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            rank += 1
        if id(stmt) not in tops:
            continue
        spans = _Spans(module, by_top[id(stmt)])
        whole = True
        try:
            module.with_changes(header=(), body=(stmt,), footer=())._codegen(spans)
        except _Placed:
            whole = False  # the code after the last wanted node was not generated
        code = "".join(spans.tokens)
        start = anchors.start(rank, stmt, code) if anchors is not None and rank >= 0 else None
        if start is None:
            if not line:
                line, counted = 1 + _line_count(module, module.header), 0
            start = line + _line_count(module, module.body[counted:at])
        for node, rng in spans.ranges(by_top[id(stmt)]).items():
            found[node] = CodeRange(
                CodePosition(rng.start.line + start - 1, rng.start.column),
                CodePosition(rng.end.line + start - 1, rng.end.column),
            )
        line, counted = (start + len(_NEWLINE.findall(code)), at + 1) if whole else (start, at)
        del tops[id(stmt)]
        if not tops:
            break
    if tops or not wanted <= found.keys():
        return _position_map(module, wanted)  # a reported node outside its statement: be plain
    return found


_NEWLINE = re.compile(r"\r\n?|\n")  # how LibCST's position provider counts lines


def _line_count(module: cst.Module, nodes: Sequence[cst.CSTNode]) -> int:
    return sum(len(_NEWLINE.findall(module.code_for_node(node))) for node in nodes)


class Anchors:
    """Where the module-level definitions of a parsed text start, without generating the code before them:
    the first line of each (its decorators included), in order, as the index scan's parse found them
    (:class:`Layout`), less the comment and blank lines LibCST puts before it. A line is taken only when the
    statement's code is the text from that line on (else its line is counted from the code before it)."""

    __slots__ = ("firsts", "starts", "text")

    def __init__(self, text: str, firsts: Sequence[int]) -> None:
        self.text = text
        self.firsts = firsts
        self.starts = [0, *(m.end() for m in _NEWLINE.finditer(text))]  # where each line starts

    @classmethod
    def of(cls, source: bytes | str, module: cst.Module, layout: Layout | None) -> Anchors | None:
        if layout is None:
            return None
        if isinstance(source, bytes):
            try:
                source = source.decode(module.encoding)
            except (UnicodeDecodeError, LookupError):
                return None
        return cls(source, [first for _, _, first, _ in layout.defs])

    def start(self, rank: int, stmt: cst.CSTNode, code: str) -> int | None:
        """The line ``stmt``, the module's definition number ``rank`` whose code is ``code``, starts on."""
        if rank >= len(self.firsts) or not isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            return None
        line = self.firsts[rank] - len(stmt.leading_lines)
        if 1 <= line <= len(self.starts) and self.text.startswith(code, self.starts[line - 1]):
            return line
        return None


def _position_map(module: cst.Module, wanted: set[cst.CSTNode]) -> dict[cst.CSTNode, CodeRange]:
    """What ``MetadataWrapper(module).resolve(PositionProvider)`` gives for the ``wanted`` nodes (those under
    ``module``; the others are left out)."""
    spans = _Spans(module, wanted)
    with contextlib.suppress(_Placed):
        module._codegen(spans)
    return spans.ranges(wanted)


_EXPRESSIONS: dict[type, bool] = {}  # node type -> whether it is an expression (isinstance on ABCs is slow)


def _expression(kind: type) -> bool:
    found = _EXPRESSIONS.get(kind)
    if found is None:
        found = _EXPRESSIONS[kind] = issubclass(kind, cst.BaseExpression)
    return found


class _Spans(CodegenState):
    """Code generation that records where nodes' code starts and ends, as token counts.

    LibCST's ``PositionProvider`` generates the module's code with a state that turns every token into a line
    and a column as it goes (a regular expression per token) and keeps a ``CodeRange`` for every node. The
    same generation with this state keeps two token counts per node, by the same rules (the syntactic
    span a node's code records, else the span of its whole code, whitespace included), and only the spans
    asked for are turned into lines and columns at the end, from the joined code: a third of the cost.
    Expressions are recorded only when wanted: no node's span is taken from an expression's (LibCST takes a
    statement's end from its body, its last clause or its last imported name). The lines are counted in
    the joined code where LibCST counts them token by token: the same, since no token of a generated
    module ends inside a ``\\r\\n`` line break (the code is the source, which the tokenizer read the same way).
    """

    __slots__ = ("pending", "spans", "stack", "wanted")

    def __init__(self, module: cst.Module, wanted: set[cst.CSTNode]) -> None:
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.wanted = {id(node) for node in wanted}
        self.pending = set(self.wanted)  # the wanted nodes whose code is not generated yet
        self.spans: dict[int, tuple[int, int]] = {}  # id(node) -> (first token, token after the last)
        self.stack: list[int] = []

    def before_codegen(self, node: cst.CSTNode) -> None:
        self.stack.append(len(self.tokens))

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self.stack.pop()
        key = id(node)
        if key in self.wanted:
            if key not in self.spans:
                self.spans[key] = (start, len(self.tokens))  # unless a syntactic span was recorded inside
            self.pending.discard(key)
            if not self.pending:
                raise _Placed  # every wanted span is taken: the rest of the code is not needed
        elif key not in self.spans and not _expression(type(node)):
            self.spans[key] = (start, len(self.tokens))

    def record_syntactic_position(  # type: ignore[override]  # any context manager does
        self, node: cst.CSTNode, *, start_node: cst.CSTNode | None = None, end_node: cst.CSTNode | None = None
    ) -> contextlib.AbstractContextManager[None]:
        if id(node) not in self.wanted and _expression(type(node)):
            return _NOTHING
        return _Syntactic(self, node, start_node, end_node)

    def pop_trailing_newline(self) -> None:
        """Keep the module's last line break: the spans count tokens, and the code itself is not wanted
        (LibCST's provider drops it after every position was taken, too)."""

    def ranges(self, wanted: set[cst.CSTNode]) -> dict[cst.CSTNode, CodeRange]:
        tokens, spans = self.tokens, self.spans
        found = [(node, spans[id(node)]) for node in wanted if id(node) in spans]
        marks = sorted({mark for _, span in found for mark in span})
        at: dict[int, CodePosition] = {}
        line, column, done = 1, 0, 0
        for mark in marks:  # the code between marks, joined one piece at a time (no list as long as the tokens)
            piece = "".join(tokens[done:mark])
            breaks = _NEWLINE.findall(piece)
            if breaks:
                line += len(breaks)
                column = len(piece) - piece.rfind(breaks[-1]) - len(breaks[-1])
            else:
                column += len(piece)
            at[mark] = CodePosition(line, column)
            done = mark
        return {node: CodeRange(at[span[0]], at[span[1]]) for node, span in found}


_NOTHING = contextlib.nullcontext()


class _Placed(Exception):  # not an error: the code generation stops once every wanted span is taken
    """Raised by :class:`_Spans` once every wanted node's code is generated (a node's span is final when its
    own code is: a syntactic span is recorded inside it, and only for itself)."""


class _Syntactic:
    """``record_syntactic_position`` of :class:`_Spans`, as LibCST's provider records it (the span of the code
    generated inside; its start or end taken from a child's span when LibCST names one)."""

    __slots__ = ("end_node", "node", "start", "start_node", "state")

    def __init__(
        self, state: _Spans, node: cst.CSTNode, start_node: cst.CSTNode | None, end_node: cst.CSTNode | None
    ) -> None:
        self.state, self.node, self.start_node, self.end_node = state, node, start_node, end_node
        self.start = 0

    def __enter__(self) -> None:
        self.start = len(self.state.tokens)

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            return  # the generation stopped (every wanted span taken, see _Placed): nothing more to record
        spans = self.state.spans
        start = spans[id(self.start_node)][0] if self.start_node is not None else self.start
        end = spans[id(self.end_node)][1] if self.end_node is not None else len(self.state.tokens)
        spans[id(self.node)] = (start, end)


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
    return _audited(project, path, source, result, display=display, noqa=noqa)


def check_part(
    project: Project, path: Path, source: bytes, *, display: str, noqa: bool, sha: str, part: tuple[int, int]
) -> FileResult:
    """Part ``part`` (index, count) of the check of a big file (see :func:`parts_for`): the findings in the
    module-level definitions the part holds (the first part: and in the module's other statements). The
    parts' results are put together by :func:`joined_parts`."""
    return _check_source(project, path, source, display=display, noqa=noqa, sha=sha, part=part)


def joined_parts(
    project: Project, path: Path, source: bytes, parts: Sequence[FileResult], *, display: str, noqa: bool
) -> FileResult:
    """The result of a file checked in parts: what :func:`check_source` gives for it."""
    result = FileResult()
    merge_results(result, parts)
    return _audited(project, path, source, result, display=display, noqa=noqa)


def parts_for(project: Project, path: Path, source: bytes, sha: str, workers: int) -> int:
    """In how many parts to check a file (1: whole). A file is cut when its definitions that blanking keeps
    are over :data:`PART_BYTES` (a part's tree is what a process holds), and, when ``workers`` processes
    would otherwise wait, in a multiple of them; only a file whose layout the index scan took in this run."""
    triggers = project.blank_triggers
    layout = project.layouts.get(sha)
    if triggers is None or layout is None or project.config.is_exempt(path) or not project.checkers:
        return 1
    relpath = project.config.relpath(path)
    if not _may_match(project, source, relpath):
        return 1
    kept = blank.kept_size(source, relpath, triggers, layout)
    rounds = -(-kept // (max(1, workers) * PART_BYTES))
    count = max(1, workers) * rounds if workers > 1 and kept > PART_BYTES // 2 else rounds
    return max(1, min(count, len(layout.defs)))


def _audited(
    project: Project, path: Path, source: bytes | str, result: FileResult, *, display: str, noqa: bool
) -> FileResult:
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
    project: Project,
    path: Path,
    source: bytes | str,
    *,
    display: str,
    noqa: bool,
    sha: str | None,
    part: tuple[int, int] | None = None,
) -> FileResult:
    result = FileResult()
    config = project.config
    relpath = config.relpath(path)
    if config.is_exempt_rel(relpath):
        return result  # tests and seed scripts are never reported, not even for their syntax
    checker_specs = project.checkers
    if checker_specs and not _may_match(project, source, relpath):
        checker_specs = ()
    held: blank.Part | None = None
    if part is not None:
        held = _part(project, source, relpath, sha, part) if checker_specs else None
        if held is None and part[0] > 0:
            return result  # a file that is not cut: the first part checks it whole
    try:
        # the interpreter screens the file first (unless the index pass already parsed this very source);
        # its error is the one reported, whatever parser runs after it and whatever else is in the run
        checked = sha is not None and sha in project.parsed
        parsed = None
        reduced = _reduced(project, source, relpath, sha) if checker_specs and held is None else None
        if held is not None:
            reduced = held.source
        text: bytes | str = source  # what LibCST parsed
        if reduced is not None:
            # LibCST reads only what can hold a finding, once the whole file passed the same screen
            if not checked:
                syntax.parse_module(source, display, config.target_version, checked=False, need_module=False)
            parsed = _parse_reduced(reduced, display, config.target_version)
            if parsed is not None:
                text = reduced
        if parsed is None:
            parsed = syntax.parse_module(
                source, display, config.target_version, checked=checked, need_module=bool(checker_specs)
            )
    except (SyntaxError, ValueError, RecursionError, MemoryError, UnicodeError) as exc:
        if PARSE_ERROR in project.rules and (part is None or part[0] == 0):
            result.findings.append(_parse_error(project, display, exc))
        return result
    except (KeyboardInterrupt, SystemExit, FileTimeout):
        raise
    except BaseException as exc:  # a panic in LibCST's native parser (a BaseException) is a parse error too
        if PARSE_ERROR in project.rules and (part is None or part[0] == 0):
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
            imports=collect_imports(module, file_module(project.index, relpath), relpath.endswith("__init__.py")),
        )
        analysis = Analysis.for_file(ctx)
        checkers = [load_checker(spec)(analysis) for spec in checker_specs]
        walk.visit_batched(
            module, _batched_methods([c for c in checkers if c.enabled()]), ctx.scope.enter, ctx.scope.leave
        )
        reports = ctx.reports if held is None else _held_reports(module, ctx.reports, held)
        if not reports:
            return result
        layout = project.layouts.get(sha) if sha is not None else None
        positions = _positions(module, reports, anchors=Anchors.of(text, module, layout))
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
    for report in reports:
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


def _part(
    project: Project, source: bytes | str, relpath: str, sha: str | None, which: tuple[int, int]
) -> blank.Part | None:
    """A part of the file (None: the file is not for cutting: no layout, no blanking words)."""
    triggers = project.blank_triggers
    layout = project.layouts.get(sha) if sha is not None else None
    if triggers is None or layout is None or not isinstance(source, bytes):
        return None
    return blank.part(source, relpath, triggers, layout, which)


def _held_reports(module: cst.Module, reports: Sequence[Report], held: blank.Part) -> list[Report]:
    """The reports of a part: in the module-level definitions it holds (by their rank among the module's
    definitions, as the index scan ranked them), and, for the first part, in the other statements."""
    ranks: dict[int, int] = {}
    for stmt in module.body:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            ranks[id(stmt)] = len(ranks)
    out = []
    for report in reports:
        rank = ranks.get(id(report.top)) if report.top is not None else None
        if (rank is None and held.rest) or (rank is not None and rank in held.defs):
            out.append(report)
    return out


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
