"""What LibCST needs to parse of a file: the module-level definitions that cannot hold a finding are blanked.

The LibCST parse is the largest cost of checking a file. Most of a big module's functions and classes
mention nothing any checker reacts to: no tenant(-owned) model, no raw SQL, no Stripe call, no audit
write, no staff flag. Each checker names, in :meth:`Checker.statement_triggers`, the words one of which
must occur in a module-level statement for it to report anything inside that statement: whole names
(``Invoice``, as written), calls of a name (``execute(``: the name as written, then an opening parenthesis;
a raw-SQL rule reads a statement only at such a call, and the word alone is a common variable name),
attributes (``.admin``: a dot, then the name as written; ``user.admin``, not the ``admin`` module) or
fragments (``*stripe``, in any case), in the code, its strings and comments alike. A module-level
``def``/``class`` that holds none is replaced by a one-line stub of the same kind and name (``def name():
pass``) followed by blank lines, so every other line keeps its number and column, and the module keeps every
name it binds (the checkers read the module's imports, constants and function names, and number functions
by qualified name).

Inside a kept top-level class, the same holds of its methods: a method that holds no word is replaced by a
stub at its column, when the class outside its methods (its name, bases, decorators, attributes, nested
classes, comments) holds none either. A checker reads a class's name, bases and attributes and the names of
its methods for any of them (kept: the stubs keep the names), and the body of one method for another only
for a view's hooks (``get_object``, ``get_queryset``: kept whatever they say); what a method does for the
others, its guard, its returns, is the index's, from the whole file.

More words count where they can matter without being written: a name an import binds to something that
holds a trigger (``from billing.models import Invoice as Inv``; not the ``Helper`` imported next to it), an
attribute a class aliases to one (``self.model`` where ``model = Invoice``: any class's for a module-level
statement, the class's own and its bases' for a method), and a function the index says calls an unverified
tenant resolver (through a dispatch table, say) keeps its statement, or its method, whatever it says.
Nothing is blanked when an enabled checker cannot say (``statement_triggers`` returns None), in lines 1-2
(where an encoding declaration may be), or for a definition whose name another module-level definition (or,
for a method, another definition of its class) reuses (qualified names are numbered).
"""

from __future__ import annotations

import ast
import functools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from orgguard.engine.records import Layout, ProjectIndex

MIN_SIZE = 16_384  # bytes; below this the extra ``ast`` parse costs about what blanking saves

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_NAME = re.compile(r"\w+")


@dataclass(frozen=True)
class Triggers:
    """The words of every enabled checker for one project, and what else keeps a definition."""

    words: frozenset[str]
    fragments: frozenset[str] = frozenset()
    calls: frozenset[str] = frozenset()  # names that count only where called (``cursor.execute(``, not ``execute``)
    attrs: frozenset[str] = frozenset()  # names that count only as an attribute (``user.admin``, not ``admin``)
    per_imports: tuple[tuple[frozenset[str], frozenset[str]], ...] = ()  # (imported modules, words) pairs
    keep_lines: Mapping[str, frozenset[int]] | None = None  # path -> lines of functions kept whatever they say
    aliases: tuple[tuple[str, str], ...] = ()  # (attribute, the name it stands for) of every project class
    # a class's own aliases, its bases' included, by class name: what `self.<attribute>` stands for in its methods
    class_aliases: Callable[[str], tuple[tuple[str, str], ...]] | None = None
    hooks: frozenset[str] = frozenset()  # methods a check of their class reads (`get_object`): kept with it

    @functools.cached_property
    def shapes(self) -> re.Pattern[str] | None:
        """A call of one of :attr:`calls`, or one of :attr:`attrs` read as an attribute (None: there are none)."""
        alternatives = []
        if self.calls:
            alternatives.append(r"\b(?:" + "|".join(re.escape(c) for c in sorted(self.calls)) + r")\s*\(")
        if self.attrs:
            alternatives.append(r"\.\s*(?:" + "|".join(re.escape(a) for a in sorted(self.attrs)) + r")\b")
        return re.compile("|".join(alternatives)) if alternatives else None


@dataclass(frozen=True)
class ClassAliases:
    """What ``self.<attribute>`` names in the methods of a class, as the checkers resolve it
    (:meth:`ProjectIndex.class_alias`): (attribute, the short name it stands for) pairs, by class name."""

    index: ProjectIndex
    found: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict, compare=False)

    def __call__(self, name: str) -> tuple[tuple[str, str], ...]:
        found = self.found.get(name)
        if found is None:
            attrs = {alias for info in self.index.ancestors(name) for alias, _ in info.aliases if alias}
            pairs = {(attr, self.index.class_alias(name, attr) or "") for attr in attrs}
            # what the class does not say: the models its subclasses, registrations and callers bind
            pairs |= {
                (attr, model)
                for info in self.index.classes.get(name, ())
                for attr, models in info.bound
                for model in models
            }
            found = self.found[name] = tuple(
                sorted((attr.removesuffix("()"), t.removesuffix("()").rsplit(".", 1)[-1]) for attr, t in pairs if t)
            )
        return found


def triggers_for(
    statement_triggers: Iterable[Iterable[str] | None],
    index: ProjectIndex,
    extra: Iterable[tuple[Iterable[str], Iterable[str]]] = (),
    hooks: Iterable[str] = (),
) -> Triggers | None:
    """The project's blanking words (None when some enabled checker cannot say what it needs)."""
    words: set[str] = set()
    fragments: set[str] = set()
    calls: set[str] = set()
    attrs: set[str] = set()
    for found in statement_triggers:
        if found is None:
            return None
        for word in found:
            if word.startswith("*"):
                fragments.add(word[1:].lower())
            elif word.endswith("("):
                calls.add(word[:-1])
            elif word.startswith("."):
                attrs.add(word[1:])
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
    calls.discard("")
    attrs.discard("")
    return Triggers(
        frozenset(words),
        frozenset(fragments),
        frozenset(calls - words),
        frozenset(attrs - words),
        per_imports,
        keep_lines,
        tuple(sorted(aliases)),
        ClassAliases(index),
        frozenset(hooks),
    )


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
    done = _blanking(source, relpath, triggers, layout)
    return b"".join(done.out) if done.changed else None


@dataclass(frozen=True)
class Part:
    """One part of a big file checked in parts: its source, in which blanking stubs the other parts'
    definitions too, and what the part reports on."""

    source: bytes
    defs: frozenset[int]  # the module-level definitions it reports in (their rank among the module's definitions)
    rest: bool  # whether it also reports in the module's other statements (the first part does)


def kept_size(source: bytes, relpath: str, triggers: Triggers, layout: Layout) -> int:
    """Bytes of the module-level definitions blanking keeps that a part may hold (see :func:`parts`)."""
    done = _blanking(source, relpath, triggers, layout)
    return sum(size for *_, size in done.kept)


def part(source: bytes, relpath: str, triggers: Triggers, layout: Layout, which: tuple[int, int]) -> Part:
    """Part ``which`` (index, count) of a file: the definitions blanking keeps, in source order, cut in ``count``
    runs of about the same size; the part holds one run, and the others' definitions are stubbed as blanking
    stubs a definition. A definition's findings do not depend on the other definitions' bodies (what blanking
    stands on), so the parts' findings are the file's; the module's other statements (and the definitions
    blanking never stubs) are in every part, and are the first part's to report on."""
    index, count = which
    done = _blanking(source, relpath, triggers, layout)
    total = sum(size for *_, size in done.kept) or 1
    mine: set[int] = set()
    out = list(done.out)
    seen = 0
    for rank, first, last, size in done.kept:
        if min(count - 1, seen * count // total) == index:
            mine.add(rank)
        else:
            stub, name, *_ = layout.defs[rank]
            _stub(out, done.lines, (stub, name, first, last, 0))
        seen += size
    if index == 0:
        blankable = {rank for rank, *_ in done.kept}
        mine |= {rank for rank in range(len(layout.defs)) if rank not in blankable}
    return Part(b"".join(out), frozenset(mine), rest=index == 0)


@dataclass(frozen=True)
class _Blanking:
    lines: list[bytes]  # the source's lines
    out: list[bytes]  # the lines, blanked
    changed: bool
    kept: list[tuple[int, int, int, int]]  # (rank, first line, last line, bytes kept) of the definitions kept


def _blanking(source: bytes, relpath: str, triggers: Triggers, layout: Layout) -> _Blanking:
    lines = source.splitlines(keepends=True)  # the interpreter's line breaks: \n, \r\n and \r
    words = set(triggers.words)
    modules = {m for *_, named in layout.imports for m in named}
    for wanted, more in triggers.per_imports:
        if any(m.split(".")[0] in wanted for m in modules):
            words |= more
    for *_, bound, _, stands in layout.imports:  # a name bound to something that holds a trigger stands for it
        words.update(name for name, what in zip(bound, stands, strict=True) if _stands_for(what, words, triggers))
    base = set(words)
    _grow(words, triggers.aliases)  # `self.model` where some class says `model = Invoice`
    keep = (triggers.keep_lines or {}).get(relpath, frozenset())
    reused = set(layout.reused)
    methods: dict[int, list[tuple[str, str, int, int, int]]] = {}
    for klass, stub, name, first, last, column in layout.methods:
        methods.setdefault(klass, []).append((stub, name, first, last, column))
    out = list(lines)
    changed = False
    kept_defs: list[tuple[int, int, int, int]] = []
    for rank, (stub, name, first, last) in enumerate(layout.defs):
        if name in reused or first <= 2:
            continue
        kept = [line for line in keep if first <= line <= last]
        if not kept and not _holds(_text(lines, first, last), words, triggers):
            _stub(out, lines, (stub, name, first, last, 0))
            changed = True
            continue
        if stub == "class" and first in methods:
            own = words
            if triggers.class_aliases is not None:  # `self.model` where this class (or a base) says `model = Invoice`
                own = set(base)
                _grow(own, triggers.class_aliases(name))
            blanked = _blank_methods(out, lines, methods[first], (first, last), kept, (own, words), triggers)
            changed = changed or blanked
        kept_defs.append((rank, first, last, sum(len(out[n - 1]) for n in range(first, last + 1))))
    return _Blanking(lines, out, changed, kept_defs)


def _grow(words: set[str], aliases: Iterable[tuple[str, str]]) -> None:
    """An attribute standing for a word is a word too (``model = Invoice``, or ``model = self.other_model``)."""
    grown = True
    while grown:
        grown = False
        for attr, target in aliases:
            if target in words and attr not in words:
                words.add(attr)
                grown = True


def _blank_methods(  # noqa: PLR0917
    out: list[bytes],
    lines: Sequence[bytes],
    methods: Sequence[tuple[str, str, int, int, int]],
    span: tuple[int, int],
    keep: Sequence[int],
    words: tuple[set[str], set[str]],
    triggers: Triggers,
) -> bool:
    """Blank the methods of a kept class that hold no trigger, when the class outside them holds none either
    (its name, bases, decorators, attributes and anything else but the methods: a checker may read those
    for any method, and reads nothing of one method for another; the index holds what the methods do).

    ``words``: the class's own words (its aliases, not every class's), and every word (for a method that
    defines a class: its aliases are that class's). The triggers' hooks are kept whatever they say (a check
    of the class reads them: a view's ``get_object``)."""
    first, last = span
    mine, every = words
    own = [m for m in methods if lines[m[2] - 1][: m[4]].strip() == b""]  # each starts its own line
    outside = list(range(first, last + 1))
    for _, _, start, end, _ in own:
        outside[start - first : end - first + 1] = [0] * (end - start + 1)
    if _holds(b"".join(lines[n - 1] for n in outside if n).decode("utf-8", "replace"), mine, triggers):
        return False
    if any(line in outside for line in keep):
        return False
    changed = False
    for method in own:
        start, end = method[2], method[3]
        if method[1] in triggers.hooks:
            continue
        text = _text(lines, start, end)
        if any(start <= line <= end for line in keep) or _holds(text, every if "class " in text else mine, triggers):
            continue
        _stub(out, lines, method)
        changed = True
    return changed


def _stub(out: list[bytes], lines: Sequence[bytes], definition: tuple[str, str, int, int, int]) -> None:
    """A definition's lines replaced by a one-line definition of the same kind and name at the same column,
    then blank lines: (stub, name, first line, last line, column)."""
    stub, name, first, last, column = definition
    kind = stub.encode()
    head = lines[first - 1][:column] + kind + b" " + name.encode() + (b"" if stub == "class" else b"()") + b": pass"
    for n in range(first, last + 1):
        out[n - 1] = (head if n == first else b"") + _ending(lines[n - 1])


def layout_of(tree: ast.Module) -> Layout:
    """What :func:`blanked` reads of a module's tree: its imports, its top-level definitions, the reused names."""
    imports: list[tuple[int, int, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = []
    for node in _imports(tree.body):
        bound = tuple(alias.asname or alias.name.split(".")[0] for alias in node.names)
        if isinstance(node, ast.ImportFrom):
            named: tuple[str, ...] = (node.module or "",)
            stands = tuple(f"{node.module or ''}.{alias.name}" for alias in node.names)
        else:
            named = stands = tuple(alias.name for alias in node.names)  # `import a.b` binds `a`, and reaches `a.b`
        imports.append((node.lineno, node.end_lineno or node.lineno, bound, named, stands))
    names = Counter(node.name for node in _module_statements(tree.body) if isinstance(node, _DEFS))
    reused = tuple(sorted(name for name, n in names.items() if n > 1))
    defs: list[tuple[str, str, int, int]] = []
    methods: list[tuple[int, str, str, int, int, int]] = []
    for stmt in tree.body:
        if not isinstance(stmt, _DEFS):
            continue
        first = _first_line(stmt)
        defs.append((_kind(stmt), stmt.name, first, stmt.end_lineno or stmt.lineno))
        if isinstance(stmt, ast.ClassDef):
            members = Counter(node.name for node in _module_statements(stmt.body) if isinstance(node, _DEFS))
            for item in stmt.body:
                if isinstance(item, _FUNCTIONS) and members[item.name] == 1 and item.lineno > stmt.lineno:
                    start = _first_line(item)
                    column = min([item.col_offset, *(d.col_offset - 1 for d in item.decorator_list)])
                    methods.append((first, _kind(item), item.name, start, item.end_lineno or item.lineno, column))
    return Layout(tuple(imports), tuple(defs), reused, tuple(methods))


def _first_line(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> int:
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


def _kind(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str:
    if isinstance(node, ast.ClassDef):
        return "class"
    return "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"


def _stands_for(imported: str, words: set[str], triggers: Triggers) -> bool:
    """Whether what an import names (``billing.models.Invoice``, ``db.execute``) is a trigger: it holds a word or
    a fragment, or it is a call trigger (the name is called where it is used). Its dots read no attribute."""
    return imported.rsplit(".", 1)[-1] in triggers.calls or _holds(imported, words, triggers, shaped=False)


def _holds(text: str, words: set[str], triggers: Triggers, *, shaped: bool = True) -> bool:
    """Whether ``text`` holds one of ``words``, a call or an attribute of the triggers' (unless not ``shaped``: a
    dotted import path), or one of their fragments."""
    if not words.isdisjoint(_NAME.findall(text)):
        return True
    shapes = triggers.shapes if shaped else None
    if shapes is not None and shapes.search(text) is not None:
        return True
    low = text.lower()
    return any(f in low for f in triggers.fragments)


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


__all__ = ["MIN_SIZE", "ClassAliases", "Part", "Triggers", "blanked", "kept_size", "layout_of", "part", "triggers_for"]
