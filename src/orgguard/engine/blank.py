"""What LibCST needs to parse of a file: the module-level definitions that cannot hold a finding are blanked.

The LibCST parse is the largest cost of checking a file. Most of a big module's functions and classes
mention nothing any checker reacts to: no tenant(-owned) model, no raw SQL, no Stripe call, no audit
write, no staff flag. Each checker names, in :meth:`Checker.statement_triggers`, the words one of which
must occur in a module-level statement for it to report anything inside that statement: whole names
(``Invoice``, ``execute``, as written) or fragments (``*stripe``, in any case), in the code, its strings and
comments alike. A module-level ``def``/``class`` that holds none is replaced by a
one-line stub of the same kind and name (``def name(): pass``) followed by blank lines, so every other line
keeps its number and column, and the module keeps every name it binds (the checkers read the module's
imports, constants and function names, and number functions by qualified name).

More words count where they can matter without being written: a name an import binds to something that
holds a trigger (``from billing.models import Invoice as Inv``), an attribute a class aliases to one
(``self.model`` where ``model = Invoice``), and a function the index says calls an unverified tenant
resolver (through a dispatch table, say) keeps its statement whatever it says. Nothing is blanked when an
enabled checker cannot say (``statement_triggers`` returns None), in lines 1-2 (where an encoding
declaration may be), or for a definition whose name another module-level definition reuses (qualified
names are numbered).
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from orgguard.engine.records import Layout, ProjectIndex

MIN_SIZE = 16_384  # bytes; below this the extra ``ast`` parse costs about what blanking saves

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_NAME = re.compile(r"\w+")


@dataclass(frozen=True)
class Triggers:
    """The words of every enabled checker for one project, and what else keeps a definition."""

    words: frozenset[str]
    fragments: frozenset[str] = frozenset()
    per_imports: tuple[tuple[frozenset[str], frozenset[str]], ...] = ()  # (imported modules, words) pairs
    keep_lines: Mapping[str, frozenset[int]] | None = None  # path -> lines of functions kept whatever they say
    aliases: tuple[tuple[str, str], ...] = ()  # (attribute, the name it stands for) of every project class


def triggers_for(
    statement_triggers: Iterable[Iterable[str] | None],
    index: ProjectIndex,
    extra: Iterable[tuple[Iterable[str], Iterable[str]]] = (),
) -> Triggers | None:
    """The project's blanking words (None when some enabled checker cannot say what it needs)."""
    words: set[str] = set()
    fragments: set[str] = set()
    for found in statement_triggers:
        if found is None:
            return None
        for word in found:
            if word.startswith("*"):
                fragments.add(word[1:].lower())
            elif word:
                words.add(word)
    aliases = {
        (alias.removesuffix("()"), target.removesuffix("()").rsplit(".", 1)[-1])
        for classes in index.classes.values()
        for klass in classes
        for alias, target in klass.aliases
        if alias and target
    }
    resolvers = {q for q, info in index.functions.items() if info.resolves_unverified}
    keep: dict[str, set[int]] = {}
    for info in index.functions.values():
        if any(target in resolvers for _key, target in info.callees):
            keep.setdefault(info.path, set()).add(info.line)
    per_imports = tuple((frozenset(modules), frozenset(more)) for modules, more in extra)
    words.discard("")
    fragments.discard("")
    keep_lines = {p: frozenset(lines) for p, lines in keep.items()}
    return Triggers(frozenset(words), frozenset(fragments), per_imports, keep_lines, tuple(sorted(aliases)))


def blanked(source: bytes, relpath: str, triggers: Triggers, layout: Layout | None = None) -> bytes | None:
    """``source`` with the module-level definitions that hold no trigger blanked (None: nothing to blank,
    or the source is not for this: too small, not valid for this interpreter's parser).

    ``layout``: the source's statements as the index scan found them (:func:`layout_of`); without it the
    source is parsed here, when it is big enough for blanking to pay for that parse.
    """
    if layout is None:
        if len(source) < MIN_SIZE:
            return None
        try:
            layout = layout_of(ast.parse(source))
        except (SyntaxError, ValueError, RecursionError, MemoryError, UnicodeError):
            return None
    lines = source.splitlines(keepends=True)  # the interpreter's line breaks: \n, \r\n and \r
    words = set(triggers.words)
    modules = {m for *_, named in layout.imports for m in named}
    for wanted, more in triggers.per_imports:
        if any(m.split(".")[0] in wanted for m in modules):
            words |= more
    fragments = triggers.fragments
    for first, last, bound, _ in layout.imports:  # a name bound to something that holds a trigger stands for it
        if _holds(_text(lines, first, last), words, fragments):
            words.update(bound)
    grown = True
    while grown:  # `self.model` where a class says `model = Invoice` (or `model = self.other_model`)
        grown = False
        for attr, target in triggers.aliases:
            if target in words and attr not in words:
                words.add(attr)
                grown = True
    keep = (triggers.keep_lines or {}).get(relpath, frozenset())
    reused = set(layout.reused)
    out = list(lines)
    changed = False
    for stub, name, first, last in layout.defs:
        if name in reused:
            continue
        if first <= 2 or any(first <= line <= last for line in keep):
            continue
        if _holds(_text(lines, first, last), words, fragments):
            continue
        head = b"%s %s%s: pass" % (stub.encode(), name.encode(), b"" if stub == "class" else b"()")
        for n in range(first, last + 1):
            out[n - 1] = (head if n == first else b"") + _ending(lines[n - 1])
        changed = True
    return b"".join(out) if changed else None


def layout_of(tree: ast.Module) -> Layout:
    """What :func:`blanked` reads of a module's tree: its imports, its top-level definitions, the reused names."""
    imports: list[tuple[int, int, tuple[str, ...], tuple[str, ...]]] = []
    for node in _imports(tree.body):
        bound = tuple(alias.asname or alias.name.split(".")[0] for alias in node.names)
        named = (node.module or "",) if isinstance(node, ast.ImportFrom) else tuple(a.name for a in node.names)
        imports.append((node.lineno, node.end_lineno or node.lineno, bound, named))
    names = Counter(node.name for node in _module_statements(tree.body) if isinstance(node, _DEFS))
    reused = tuple(sorted(name for name, n in names.items() if n > 1))
    defs: list[tuple[str, str, int, int]] = []
    for stmt in tree.body:
        if not isinstance(stmt, _DEFS):
            continue
        first = min([stmt.lineno, *(d.lineno for d in stmt.decorator_list)])
        stub = (
            "class"
            if isinstance(stmt, ast.ClassDef)
            else "async def"
            if isinstance(stmt, ast.AsyncFunctionDef)
            else "def"
        )
        defs.append((stub, stmt.name, first, stmt.end_lineno or stmt.lineno))
    return Layout(tuple(imports), tuple(defs), reused)


def _holds(text: str, words: set[str], fragments: frozenset[str]) -> bool:
    if not words.isdisjoint(_NAME.findall(text)):
        return True
    low = text.lower()
    return any(f in low for f in fragments)


def _text(lines: Sequence[bytes], first: int, last: int) -> str:
    return b"".join(lines[first - 1 : last]).decode("utf-8", "replace")


def _ending(line: bytes) -> bytes:
    if line.endswith(b"\r\n"):
        return b"\r\n"
    if line.endswith((b"\n", b"\r")):
        return line[-1:]
    return b""


def _imports(body: Sequence[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for stmt in _module_statements(body):
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            yield stmt


def _module_statements(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement at module level, into ``if``/``try``/``with``/loop blocks, not into definitions."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, _DEFS):
            continue
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            block = getattr(stmt, name, None)
            if isinstance(block, list):
                for item in block:
                    if isinstance(item, ast.stmt):
                        yield from _module_statements([item])
                    elif isinstance(item, (ast.ExceptHandler, ast.match_case)):
                        yield from _module_statements(item.body)


__all__ = ["MIN_SIZE", "Triggers", "blanked", "layout_of", "triggers_for"]
