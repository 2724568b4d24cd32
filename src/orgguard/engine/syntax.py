"""Parsing, for both passes: what the project's Python accepts, whatever interpreter runs orgguard.

The grammar is the project's (``target-version``, else ``requires-python``, else the newest) and never
older than the running interpreter's. Three parsers are involved:

- the interpreter's own (``compile``/``ast.parse``) screens every file first: it is fast, its messages
  are the ones users know, and it refuses the very deep nesting that overflows the stack of LibCST's
  native parser. A file it accepts is valid; a file it refuses for its nesting is an ORG000;
- when the project's grammar is newer than the interpreter's and the interpreter refuses a file, LibCST
  (whose native parser always reads its newest grammar, a superset of every version it knows) decides,
  after a token screen that refuses the nesting LibCST cannot take. A file LibCST accepts is valid;
- for the ``ast`` index pass, such a file is *lowered*: newer syntax rewritten in LibCST's tree into
  syntax the interpreter parses (PEP 695 type parameters dropped, ``type X = Y`` as ``X = Y``, PEP
  701 f-strings and PEP 750 t-strings as ``ast.JoinedStr``, ``except*`` as ``except``, PEP 758
  ``except A, B``), with the same line structure, so that every line number stays right.

A parse error is always reported in the interpreter's words and at its position (:class:`ParseError`),
whichever parser ran first and whatever else is in the run.

LibCST is imported only when a file needs it: an index pass over valid files never loads it.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import re
import sys
import tokenize
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TypeVar

if TYPE_CHECKING:
    import libcst as cst

Version = tuple[int, int]
_Generic = TypeVar("_Generic", "cst.FunctionDef", "cst.ClassDef")  # a definition that may take type parameters

#: The newest grammar orgguard knows how to lower (LibCST's native parser reads it whatever the version
#: asked for); the grammar when the project names none.
NEWEST: Final[Version] = (3, 14)
RUNNING: Final[Version] = (sys.version_info[0], sys.version_info[1])

#: Nesting the token screen refuses before LibCST's native parser may see a file (its stack and memory
#: give out a few thousand levels down). Brackets: the interpreter's own limit (every version refuses
#: more, "too many nested parentheses"). Expression depth: an upper estimate, per logical line.
MAX_BRACKETS: Final = 200
MAX_DEPTH: Final = 1000

TOO_DEEP: Final = "too deeply nested to analyse"

_ONLY_AST: Final = ast.PyCF_ONLY_AST
_FSTRING: Final = "__orgguard_fstring__"
_FIELD: Final = "__orgguard_field__"
_NEWLINES: Final = re.compile(r"\r\n?|\n")


@dataclass(frozen=True)
class ParseError:
    """Why a file does not parse, as the interpreter says it: message and 1-based position, end included.

    The end is never before the start (and never 0): where the interpreter gives no usable end, the
    error is a point at its start.
    """

    message: str
    line: int
    column: int
    end_line: int
    end_column: int


class ParseFailure(SyntaxError):
    """A file that does not parse at the project's grammar (carries the :class:`ParseError` to report)."""

    def __init__(self, error: ParseError) -> None:
        super().__init__(error.message)
        self.error = error


class NotLowered(SyntaxError):
    """A file valid at the project's grammar for which no ``ast`` tree could be built on this interpreter.

    It contributes no facts to the index, and it is no parse error: the check pass finds it valid.
    """


# ---------------------------------------------------------------------------------------------------
# the grammar


def grammar(target: Version | None) -> Version:
    """The grammar files are parsed with: the project's (newest when unknown), never below the interpreter's."""
    return max(target or NEWEST, RUNNING)


def beyond_interpreter(target: Version | None) -> bool:
    """Whether the project's grammar is newer than this interpreter's (so LibCST decides what it refuses)."""
    return grammar(target) > RUNNING


# ---------------------------------------------------------------------------------------------------
# the interpreter's parser


def interpreter_error(source: bytes | str, filename: str) -> BaseException | None:
    """The interpreter's refusal of ``source`` (a syntax error, NUL bytes, too deep), or None when it parses."""
    try:
        with warnings.catch_warnings():  # the project's invalid escapes are not our output
            warnings.simplefilter("ignore")
            compile(source, filename, "exec", flags=_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, UnicodeError) as exc:
        return exc
    return None


def too_deep(exc: BaseException) -> bool:
    """Whether the interpreter refused ``exc``'s source for its nesting (LibCST must not see it)."""
    if isinstance(exc, (RecursionError, MemoryError)):
        return True
    return isinstance(exc, SyntaxError) and "too many nested" in (exc.msg or "")


def error_of(exc: BaseException) -> ParseError:
    """The :class:`ParseError` for an exception of the interpreter's parser (or of a parse that gave up)."""
    if isinstance(exc, ParseFailure):
        return exc.error
    if isinstance(exc, SyntaxError):
        line = exc.lineno if exc.lineno and exc.lineno > 0 else 1
        col = exc.offset if exc.offset and exc.offset > 0 else 1
        end_line, end_col = exc.end_lineno, exc.end_offset
        if end_line is None or end_col is None or end_col < 1 or (end_line, end_col) < (line, col):
            end_line, end_col = line, col  # no usable end (0, -1, or before the start): a point
        return ParseError(_first_line(exc.msg) or "invalid syntax", line, col, end_line, end_col)
    if isinstance(exc, (RecursionError, MemoryError)):
        return ParseError(TOO_DEEP, 1, 1, 1, 1)
    return ParseError(_first_line(f"{type(exc).__name__}: {exc}"), 1, 1, 1, 1)


def _first_line(text: str | None) -> str:
    lines = (text or "").splitlines()
    return lines[0] if lines else ""


# ---------------------------------------------------------------------------------------------------
# the two passes


def parse_ast(data: bytes, filename: str, target: Version | None) -> ast.Module:
    """The ``ast`` tree of a project file for the index pass, at the project's grammar.

    Raises the interpreter's error (a ``SyntaxError``, ``ValueError``, ``RecursionError`` or
    ``MemoryError``) when the file is not valid, and :class:`NotLowered` when it is valid but newer than
    this interpreter in a way no tree could be built for. The caller silences warnings.
    """
    try:
        return ast.parse(data, filename=filename)
    except SyntaxError as exc:
        if too_deep(exc) or not beyond_interpreter(target):
            raise
        refused = exc
    screened = _screened(data)
    if screened is None:
        fast = _lowered_lines(data, filename, grammar(target))
        if fast is not None:
            return fast
    module = _newer_module(data, target) if screened is None else None
    if module is None:
        raise refused
    try:
        code = _lower(module)
        tree = ast.parse(code, filename=filename)  # at the normal recursion limit, like every ast.parse
        if _FSTRING not in code:
            return tree
        with _deep_recursion():
            restored = _Restore().visit(tree)
            assert isinstance(restored, ast.Module)
            return ast.fix_missing_locations(restored)
    except Exception as exc:  # a rewrite LibCST refuses, a tree too deep to rewrite, a gap in the lowering
        raise NotLowered(f"newer syntax this interpreter cannot parse ({type(exc).__name__})") from None


def parse_module(
    source: bytes | str, filename: str, target: Version | None, *, checked: bool, need_module: bool
) -> cst.Module | None:
    """LibCST's tree of a file to check (None when ``need_module`` is false and the file is valid).

    ``checked``: the index pass already parsed this very source (its syntax is known good). Raises
    :class:`ParseFailure` with the interpreter's error when the file is not valid at the project's
    grammar; a panic of LibCST's native parser passes through (the caller reports it).
    """
    if not checked:
        exc = interpreter_error(source, filename)
        if exc is not None:
            if too_deep(exc) or not beyond_interpreter(target):
                raise ParseFailure(error_of(exc))
            refusal = _screened(source)
            if isinstance(refusal, ParseError):
                raise ParseFailure(refusal)
            module = _newer_module(source, target) if refusal is None else None
            if module is None:
                raise ParseFailure(error_of(exc))
            return module if need_module else None
    if not need_module:
        return None
    import libcst as cst

    try:
        with _unvalidated():
            return cst.parse_module(source, config=_parser_config(grammar(target)))
    except cst.ParserSyntaxError as exc:  # the interpreter accepts it, LibCST does not: say so
        col = exc.raw_column + 1
        what = _first_line(exc.message) or "invalid syntax"
        message = f"{what} (LibCST's parser; this interpreter accepts the file)"
        raise ParseFailure(ParseError(message, exc.raw_line, col, exc.raw_line, col)) from None
    except (RecursionError, MemoryError):
        raise ParseFailure(ParseError(TOO_DEEP, 1, 1, 1, 1)) from None


@contextlib.contextmanager
def _unvalidated() -> Iterator[None]:
    """LibCST's parser without the validation of every node it builds.

    Each node's ``__post_init__`` re-checks its fields (whitespace, parentheses), a fifth of the parse; a
    tree LibCST's own parser builds from source it accepts passes by construction (LibCST says as much
    where it validates: "avoid validating the tree when parsing a file"). Only around the parse, and put
    back even when it raises; a node built meanwhile by another thread of the process is not validated.
    """
    import libcst as cst

    validate = vars(cst.CSTNode)["__post_init__"]
    type.__setattr__(cst.CSTNode, "__post_init__", _no_validation)
    try:
        yield
    finally:
        type.__setattr__(cst.CSTNode, "__post_init__", validate)


def _no_validation(self: object) -> None:
    return None


def _newer_module(source: bytes | str, target: Version | None) -> cst.Module | None:
    """LibCST's tree of a file the interpreter refused, when the project's grammar accepts it (else None).

    Only for a source the token screen let through (:func:`_screened`).
    """
    import libcst as cst

    try:
        return cst.parse_module(source, config=_parser_config(grammar(target)))
    except Exception:  # a syntax error, a bad encoding, or anything else LibCST raises: refused
        return None
    except BaseException as exc:  # a panic of the native parser (pyo3's PanicException) is a refusal too
        if type(exc).__name__ == "PanicException":
            return None
        raise


@functools.lru_cache(maxsize=8)
def _parser_config(version: Version) -> cst.PartialParserConfig:
    """LibCST's parser settings for ``version`` (the newest version LibCST knows, when it is older).

    LibCST 1.x's native parser reads its newest grammar whatever the version; the setting says what we
    mean, for a LibCST that honours it.
    """
    import libcst as cst

    major, minor = version
    while minor >= 0:
        try:
            return cst.PartialParserConfig(python_version=f"{major}.{minor}")
        except ValueError:  # not a version this LibCST knows
            minor -= 1
    return cst.PartialParserConfig()


# ---------------------------------------------------------------------------------------------------
# the token screen (before LibCST sees a file the interpreter refused)

# operators that do not nest the tree (separators, closers, assignment forms)
_FLAT_OPS: Final = frozenset(
    {",", ";", ":", "=", ")", "]", "}", "->", "...", ":=", "!"}
    | {op + "=" for op in ("+", "-", "*", "/", "//", "%", "**", "@", "&", "|", "^", "<<", ">>")}
)
_NESTING_WORDS: Final = frozenset({"not", "and", "or", "await", "if", "else", "in", "is", "for", "yield", "lambda"})
_OPENERS: Final = frozenset("([{")
_CLOSERS: Final = frozenset(")]}")
_PREFIXED: Final = re.compile(r"[A-Za-z]*[fFtT][A-Za-z]*['\"]")


def _screened(source: bytes | str) -> ParseError | bool | None:
    """:func:`_screen`'s verdict: None (LibCST may see the file), a refusal, or False when the tokenizer
    gave up (a bad encoding, an inconsistent dedent): then LibCST does not see it and the interpreter's
    own error stands."""
    try:
        return _screen(source)
    except (SyntaxError, ValueError, UnicodeError, LookupError):
        return False


def _screen(source: bytes | str) -> ParseError | None:
    """Nesting LibCST's native parser must not see (None: none found).

    A linear pass over the interpreter's tokenizer: bracket depth (refused past the interpreter's own
    limit) and, per logical line, an upper estimate of the expression depth (brackets, plus every
    operator or keyword since the last comma at each open level, plus every ``lambda``). Raises the
    tokenizer's ``SyntaxError`` when it gives up before the end of the file.
    """
    tokens: Iterator[tokenize.TokenInfo]
    if isinstance(source, bytes):
        tokens = tokenize.tokenize(io.BytesIO(source).readline)
    else:
        tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    depth = total = lambdas = 0
    runs = [0]
    try:
        for tok in tokens:
            kind, text = tok.type, tok.string
            extra = 0
            if kind == tokenize.NEWLINE:
                depth = total = lambdas = 0
                runs = [0]
                continue
            if kind == tokenize.OP:
                if text in _OPENERS:
                    runs[-1] += 1
                    total += 1
                    depth += 1
                    runs.append(0)
                    if depth > MAX_BRACKETS:
                        return _point("too many nested parentheses", tok.start)
                elif text in _CLOSERS:
                    if depth:
                        depth -= 1
                        total -= runs.pop()
                elif text == ",":
                    total -= runs[-1]
                    runs[-1] = 0
                elif text not in _FLAT_OPS:
                    runs[-1] += 1
                    total += 1
            elif kind == tokenize.NAME and text in _NESTING_WORDS:
                if text == "lambda":
                    lambdas += 1
                else:
                    runs[-1] += 1
                    total += 1
            elif kind == tokenize.STRING and _PREFIXED.match(text):
                extra = _bracket_depth(text)  # replacement fields the tokenizer did not split out
                if depth + extra > MAX_BRACKETS:
                    return _point("too many nested parentheses", tok.start)
            if depth + total + lambdas + extra > MAX_DEPTH:
                return _point(TOO_DEEP, tok.start)
    except tokenize.TokenError:  # end of file inside a bracket or string: every token was seen
        return None
    except SyntaxError as exc:
        if too_deep(exc):  # the tokenizer of Python 3.12+ counts brackets itself
            return error_of(exc)
        raise
    return None


def _bracket_depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in _OPENERS:
            depth += 1
            deepest = max(deepest, depth)
        elif ch in _CLOSERS and depth:
            depth -= 1
    return deepest


def _point(message: str, start: tuple[int, int]) -> ParseError:
    line, col = start[0], start[1] + 1
    return ParseError(message, line, col, line, col)


# ---------------------------------------------------------------------------------------------------
# lowering newer syntax for the interpreter's ast (line structure kept)


_TYPE_ALIAS = re.compile(r"^(?P<indent>[ \t]*)type[ \t]+(?P<name>\w+)[ \t]*(?P<params>\[)?")
_GENERIC_DEF = re.compile(r"^(?P<head>[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+\w+)[ \t]*\[")
# PEP 758: `except A, B:` with no `as` (with one, the parentheses stay required, and LibCST judges the line)
_EXCEPT = re.compile(r"^(?P<indent>[ \t]*)except(?P<star>\*?)[ \t]+(?P<types>[^(\s][^:#]*?)[ \t]*:")


def _closing(line: str, start: int) -> int | None:
    """The index just past the bracket that closes the one at ``start`` (None when the line does not close it)."""
    depth = 0
    for i in range(start, len(line)):
        if line[i] in "([{":
            depth += 1
        elif line[i] in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _lowered_line(line: str, version: Version) -> tuple[str, type[ast.AST]] | None:
    """One line with the newer syntax a regular expression can see rewritten, and the node that must start on it;
    None when the line holds none of it (or holds it in a form this leaves to LibCST)."""
    if version >= (3, 12) and (m := _TYPE_ALIAS.match(line)):
        rest = m.end()
        if m.group("params"):
            close = _closing(line, m.start("params"))
            if close is None:
                return None
            rest = close
        eq = line[rest:].lstrip(" \t")
        if not eq.startswith("=") or eq.startswith("=="):
            return None
        return f"{m.group('indent')}{m.group('name')} {eq}", ast.Assign
    if version >= (3, 12) and (m := _GENERIC_DEF.match(line)):
        close = _closing(line, m.end() - 1)
        if close is None:
            return None
        kind = ast.ClassDef if "class" in m.group("head").split() else ast.FunctionDef
        return m.group("head") + line[close:], kind
    if version >= (3, 14) and (m := _EXCEPT.match(line)):
        types = m.group("types").strip()
        if "," not in types or " as " in f" {types} ":
            return None
        return f"{m.group('indent')}except{m.group('star')} ({types}):{line[m.end() :]}", ast.ExceptHandler
    return None


def _lowered_lines(data: bytes, filename: str, version: Version) -> ast.Module | None:
    """The ``ast`` tree of a file whose only syntax newer than the interpreter's sits on single lines a regular
    expression rewrites: ``type X = ...`` (an assignment), ``def f[T](...)``/``class C[T]:`` (no brackets), and
    ``except A, B:`` (parenthesized). Each rewritten line must then start a node of the kind it was rewritten to,
    so a string that merely looks like one is never taken for code; None otherwise (LibCST lowers the file)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    lines = text.splitlines(keepends=True)
    rewritten: dict[int, type[ast.AST]] = {}
    for number, line in enumerate(lines, 1):
        if "type" not in line and "[" not in line and "except" not in line:
            continue
        lowered = _lowered_line(line, version)
        if lowered is not None:
            lines[number - 1], rewritten[number] = lowered
    if not rewritten:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse("".join(lines), filename=filename)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    starts: dict[int, set[type[ast.AST]]] = {}
    for node in ast.walk(tree):
        lineno = getattr(node, "lineno", None)
        if isinstance(lineno, int) and lineno in rewritten:
            kind = ast.FunctionDef if isinstance(node, ast.AsyncFunctionDef) else type(node)
            starts.setdefault(lineno, set()).add(kind)
    if any(kind not in starts.get(lineno, set()) for lineno, kind in rewritten.items()):
        return None
    return tree


def _newlines(text: str) -> int:
    return len(_NEWLINES.findall(text))


def _lower(module: cst.Module) -> str:
    """The module's code with the syntax this interpreter does not parse rewritten, line for line.

    Only the nodes on a path to a candidate are rebuilt (a transformer rebuilds every node it enters,
    several times the cost of the parse on a big file).
    """
    with _deep_recursion():
        lowering = _lowering_class()(module, _candidate_paths(module))
        code = module.visit(lowering).code
    return code[1:] if code.startswith("\ufeff") else code


def _candidate_paths(module: cst.Module) -> set[int]:
    """Ids of the nodes that may need lowering, and of every node above them."""
    import libcst as cst

    from orgguard.engine import walk

    def candidate(node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.FormattedString, cst.TemplatedString, cst.TypeAlias)):
            return True
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            return node.type_parameters is not None
        if isinstance(node, cst.ExceptHandler):
            return RUNNING < (3, 14) and isinstance(node.type, cst.Tuple) and not node.type.lpar
        if RUNNING < (3, 11):
            if isinstance(node, cst.TryStar):
                return True
            if isinstance(node, cst.Annotation):
                return isinstance(node.annotation, cst.StarredElement)
            if isinstance(node, cst.Index):
                return node.star is not None
        return False

    marked: set[int] = set()
    parent: dict[int, int] = {}
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        key = id(node)
        if candidate(node):
            while key not in marked:
                marked.add(key)
                if key not in parent:
                    break
                key = parent[key]
        for child in walk.children(node):
            parent[id(child)] = id(node)
            stack.append(child)
    return marked


@contextlib.contextmanager
def _deep_recursion() -> Iterator[None]:
    """Room for LibCST's recursive traversal and code generation on the deepest trees the screen lets in.

    From Python 3.11 on, Python-to-Python calls use no C stack, so a higher limit is safe; before, the
    limit is left alone (a tree too deep to lower contributes no facts).
    """
    old = sys.getrecursionlimit()
    if sys.version_info >= (3, 11):
        sys.setrecursionlimit(max(old, 20_000))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


@functools.lru_cache(maxsize=1)
def _lowering_class() -> Callable[[cst.Module, set[int]], cst.CSTTransformer]:
    """The lowering transformer's class, built on first use (LibCST is imported only when a file needs it)."""
    import libcst as cst

    def continued(count: int, base: str = "") -> cst.SimpleWhitespace:
        """Whitespace holding ``count`` line continuations: newlines kept between any two tokens."""
        return cst.SimpleWhitespace(base + " \\\n" * count if count else base)

    def parenthesized(expr: cst.BaseExpression) -> cst.BaseExpression:
        lpar = getattr(expr, "lpar", None)
        if lpar is None:
            return expr
        return expr.with_changes(lpar=[cst.LeftParen(), *lpar], rpar=[*getattr(expr, "rpar", ()), cst.RightParen()])

    class Lowering(cst.CSTTransformer):
        def __init__(self, module: cst.Module, paths: set[int]) -> None:
            super().__init__()
            self.module = module
            self.paths = paths  # the nodes worth entering (see _candidate_paths)
            self.lower: set[int] = set()  # ids of string nodes (original) to rewrite
            self.in_concat: set[int] = set()  # parts of a concatenation rewritten as a whole

        def on_visit(self, node: cst.CSTNode) -> bool:
            return id(node) in self.paths and super().on_visit(node)

        def lines(self, *nodes: object) -> int:
            """Newlines in the code of ``nodes`` (absent ones and sentinels count none)."""
            return sum(_newlines(self.module.code_for_node(n)) for n in nodes if isinstance(n, cst.CSTNode))

        def accepted(self, node: cst.CSTNode) -> bool:
            """Whether this interpreter parses the expression ``node`` as it is."""
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    compile("(" + self.module.code_for_node(node) + "\n)", "<string>", "eval", _ONLY_AST, True)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return False
            return True

        # PEP 695 (3.12): type parameters and type aliases

        def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
            return self._without_type_parameters(original_node, updated_node)

        def leave_ClassDef(self, original_node: cst.ClassDef, updated_node: cst.ClassDef) -> cst.ClassDef:
            return self._without_type_parameters(original_node, updated_node)

        def _without_type_parameters(self, original: _Generic, updated: _Generic) -> _Generic:
            """``def f[T](...)`` / ``class C[T]``: the brackets dropped, the lines they spanned kept."""
            if updated.type_parameters is None:
                return updated
            count = self.lines(
                original.whitespace_after_name, original.type_parameters, original.whitespace_after_type_parameters
            )
            return updated.with_changes(
                type_parameters=None,
                whitespace_after_type_parameters=cst.SimpleWhitespace(""),
                whitespace_after_name=continued(count),
            )

        def leave_TypeAlias(self, original_node: cst.TypeAlias, updated_node: cst.TypeAlias) -> cst.Assign:
            count = self.lines(
                original_node.whitespace_after_type,
                original_node.whitespace_after_name,
                original_node.type_parameters,
                original_node.whitespace_after_type_parameters,
                original_node.whitespace_after_equals,
            )
            target = cst.AssignTarget(
                target=updated_node.name,
                whitespace_before_equal=cst.SimpleWhitespace(" "),
                whitespace_after_equal=continued(count, " "),
            )
            return cst.Assign(targets=[target], value=updated_node.value, semicolon=updated_node.semicolon)

        # PEP 654 and 646 (3.11): except*, starred annotations and subscripts

        def leave_TryStar(self, original_node: cst.TryStar, updated_node: cst.TryStar) -> cst.BaseStatement:
            if RUNNING >= (3, 11):
                return updated_node
            handlers = [
                cst.ExceptHandler(
                    body=h.body,
                    type=h.type,
                    name=h.name,
                    leading_lines=h.leading_lines,
                    whitespace_after_except=continued(
                        self.lines(h.whitespace_after_except, h.whitespace_after_star), " "
                    ),
                    whitespace_before_colon=h.whitespace_before_colon,
                )
                for h in updated_node.handlers
            ]
            return cst.Try(
                body=updated_node.body,
                handlers=handlers,
                orelse=updated_node.orelse,
                finalbody=updated_node.finalbody,
                leading_lines=updated_node.leading_lines,
                whitespace_before_colon=updated_node.whitespace_before_colon,
            )

        def leave_Annotation(self, original_node: cst.Annotation, updated_node: cst.Annotation) -> cst.Annotation:
            if RUNNING >= (3, 11) or not isinstance(updated_node.annotation, cst.StarredElement):
                return updated_node
            return updated_node.with_changes(annotation=updated_node.annotation.value)

        def leave_Index(self, original_node: cst.Index, updated_node: cst.Index) -> cst.BaseSlice:
            if RUNNING >= (3, 11) or updated_node.star is None:
                return updated_node
            return updated_node.with_changes(star=None, whitespace_after_star=None)

        # PEP 758 (3.14): except A, B without brackets

        def leave_ExceptHandler(
            self, original_node: cst.ExceptHandler, updated_node: cst.ExceptHandler
        ) -> cst.ExceptHandler:
            kind = updated_node.type
            if RUNNING >= (3, 14) or not isinstance(kind, cst.Tuple) or kind.lpar:
                return updated_node
            return updated_node.with_changes(type=kind.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()]))

        # PEP 701 (3.12) f-strings, PEP 750 (3.14) t-strings: a call the ast pass turns back into JoinedStr

        def visit_ConcatenatedString(self, node: cst.ConcatenatedString) -> bool:
            if id(node) in self.in_concat:
                return True
            if self.accepted(node):
                return False
            self.lower.add(id(node))
            current: cst.CSTNode = node
            while isinstance(current, cst.ConcatenatedString):  # every string in it, and the inner links
                self.in_concat.update((id(current.left), id(current.right)))
                current = current.right
            return True

        def visit_FormattedString(self, node: cst.FormattedString) -> bool:
            return self._visit_string(node)

        def visit_TemplatedString(self, node: cst.TemplatedString) -> bool:
            return self._visit_string(node)

        def _visit_string(self, node: cst.CSTNode) -> bool:
            if id(node) in self.in_concat:
                return True
            if self.accepted(node):
                return False
            self.lower.add(id(node))
            return True

        def leave_ConcatenatedString(
            self, original_node: cst.ConcatenatedString, updated_node: cst.ConcatenatedString
        ) -> cst.BaseExpression:
            if id(original_node) not in self.lower or id(original_node) in self.in_concat:
                return updated_node
            args: list[cst.Arg] = []
            for part, after in _concat_parts(updated_node):
                args += self.string_args(part)
                if after is not None and args:
                    args[-1] = self.with_newlines(args[-1], self.lines(after))
            return cst.Call(func=cst.Name(_FSTRING), args=args, lpar=updated_node.lpar, rpar=updated_node.rpar)

        def leave_FormattedString(
            self, original_node: cst.FormattedString, updated_node: cst.FormattedString
        ) -> cst.BaseExpression:
            return self._leave_string(original_node, updated_node)

        def leave_TemplatedString(
            self, original_node: cst.TemplatedString, updated_node: cst.TemplatedString
        ) -> cst.BaseExpression:
            return self._leave_string(original_node, updated_node)

        def _leave_string(
            self, original_node: cst.FormattedString | cst.TemplatedString, updated_node: cst.BaseExpression
        ) -> cst.BaseExpression:
            if id(original_node) not in self.lower or id(original_node) in self.in_concat:
                return updated_node
            args = self.string_args(updated_node)
            return cst.Call(
                func=cst.Name(_FSTRING),
                args=args,
                lpar=getattr(updated_node, "lpar", ()),
                rpar=getattr(updated_node, "rpar", ()),
            )

        def with_newlines(self, arg: cst.Arg, count: int) -> cst.Arg:
            if not count:
                return arg
            comma = arg.comma if isinstance(arg.comma, cst.Comma) else cst.Comma()
            return arg.with_changes(comma=comma.with_changes(whitespace_after=continued(count, " ")))

        def string_args(self, node: cst.CSTNode) -> list[cst.Arg]:
            """The call arguments standing for one string: literal texts and replacement fields, in order."""
            if isinstance(node, cst.SimpleString):
                value = node.evaluated_value
                if not isinstance(value, str):
                    raise TypeError("bytes in a formatted string")
                return [self.with_newlines(_arg(cst.SimpleString(repr(value))), _newlines(node.value))]
            if not isinstance(node, (cst.FormattedString, cst.TemplatedString)):
                raise TypeError(f"unexpected string part {type(node).__name__}")
            return self.parts_args(node.parts, node.prefix, node.quote)

        def parts_args(self, parts: Sequence[cst.CSTNode], prefix: str, quote: str) -> list[cst.Arg]:
            args: list[cst.Arg] = []
            for part in parts:
                if isinstance(part, (cst.FormattedStringText, cst.TemplatedStringText)):
                    text = cst.SimpleString(repr(_text_value(part.value, prefix, quote)))
                    args.append(self.with_newlines(_arg(text), _newlines(part.value)))
                    continue
                if not isinstance(part, (cst.FormattedStringExpression, cst.TemplatedStringExpression)):
                    raise TypeError(f"unexpected string part {type(part).__name__}")
                spec: cst.BaseExpression = cst.Name("None")
                if part.format_spec is not None:
                    spec = cst.Call(func=cst.Name(_FSTRING), args=self.parts_args(part.format_spec, prefix, quote))
                conversion = part.conversion or ""
                if part.equal is not None:  # f"{x=}": the text "x=" first, then repr() unless a spec says otherwise
                    said = "".join(
                        self.module.code_for_node(n)
                        for n in (part.whitespace_before_expression, part.expression, part.whitespace_after_expression)
                    )
                    args.append(_arg(cst.SimpleString(repr(said + self.module.code_for_node(part.equal)))))
                    if not conversion and part.format_spec is None:
                        conversion = "r"
                field_args = [
                    self.with_newlines(
                        _arg(parenthesized(part.expression)),
                        self.lines(part.whitespace_after_expression, part.equal),
                    ),
                    _arg(cst.SimpleString(repr(conversion))),
                    _arg(spec),
                ]
                call = cst.Call(
                    func=cst.Name(_FIELD),
                    args=field_args,
                    whitespace_before_args=continued(self.lines(part.whitespace_before_expression)),
                )
                args.append(_arg(call))
            return args

    def _arg(value: cst.BaseExpression) -> cst.Arg:
        return cst.Arg(value=value, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))

    def _concat_parts(node: cst.ConcatenatedString) -> list[tuple[cst.CSTNode, cst.CSTNode | None]]:
        """The strings of an implicit concatenation, each with the whitespace after it (None for the last)."""
        out: list[tuple[cst.CSTNode, cst.CSTNode | None]] = []
        current: cst.CSTNode = node
        while isinstance(current, cst.ConcatenatedString):
            out.append((current.left, current.whitespace_between))
            current = current.right
        out.append((current, None))
        return out

    return Lowering


def _text_value(raw: str, prefix: str, quote: str) -> str:
    """The value of a literal part of an f-string, as written between its quotes (braces undoubled)."""
    text = raw.replace("{{", "{").replace("}}", "}")
    if "r" in prefix.lower():
        return text
    try:
        value = ast.literal_eval(quote + text + quote)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return text
    return value if isinstance(value, str) else text


class _Restore(ast.NodeTransformer):
    """Turns the lowering's string calls back into ``JoinedStr``/``FormattedValue`` nodes."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == _FSTRING:
            return ast.copy_location(ast.JoinedStr(values=list(self._values(node.args))), node)
        return node

    def _values(self, args: Iterable[ast.expr]) -> Iterator[ast.expr]:
        text: list[str] = []
        first: ast.expr | None = None  # where the pending literal text starts
        for arg in args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                text.append(arg.value)
                first = first or arg
                continue
            if first is not None and "".join(text):
                yield ast.copy_location(ast.Constant(value="".join(text)), first)
            text, first = [], None
            if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) and arg.func.id == _FIELD:
                value, conversion, spec = (*arg.args, None, None, None)[:3]
                conv = conversion.value if isinstance(conversion, ast.Constant) else ""
                yield ast.copy_location(
                    ast.FormattedValue(
                        value=value if value is not None else ast.Constant(value=None),
                        conversion=ord(conv) if isinstance(conv, str) and conv else -1,
                        format_spec=spec if isinstance(spec, ast.JoinedStr) else None,
                    ),
                    arg,
                )
            elif isinstance(arg, ast.JoinedStr):  # a nested concatenation part
                yield from arg.values
        if first is not None and "".join(text):
            yield ast.copy_location(ast.Constant(value="".join(text)), first)


__all__ = [
    "MAX_BRACKETS",
    "MAX_DEPTH",
    "NEWEST",
    "RUNNING",
    "NotLowered",
    "ParseError",
    "ParseFailure",
    "Version",
    "beyond_interpreter",
    "error_of",
    "grammar",
    "interpreter_error",
    "parse_ast",
    "parse_module",
    "too_deep",
]
