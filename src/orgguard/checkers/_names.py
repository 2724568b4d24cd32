"""Small helpers for checkers that match calls and settings against knowledge entries.

* :func:`qualified_name`: a call's dotted name with its first component resolved through the file's
  imports (``Event.construct_from`` after ``from stripe import Event`` -> ``stripe.Event.construct_from``).
* (matching a call against knowledge entries is the vocabulary's one matcher,
  :func:`orgguard.engine.vocab.matches_any`: a dotted entry matches the end of the qualified name at a dot,
  a bare entry its last component, an entry with ``*`` is a glob on it.)
* :class:`ModuleConstants`: module-level ``NAME = <literal>`` assignments, so ``actor=SYSTEM`` or
  ``tolerance=TOLERANCE`` is judged by the literal behind the name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import libcst as cst

from orgguard.engine.context import FileContext, dotted_name

_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")


def qualified_name(ctx: FileContext, expr: cst.BaseExpression) -> str:
    """``a.b.c`` for a Name/Attribute chain, its head replaced by the imported origin ('' otherwise)."""
    text = dotted_name(expr)
    if not text:
        return ""
    head, dot, rest = text.partition(".")
    origin = ctx.imports.get(head)
    if origin is None:
        return text
    return f"{origin}{dot}{rest}"


def entry_triggers(entries: Iterable[str], *, part: str = "last") -> list[str]:
    """Substrings a file must hold to call an entry: its first or last dotted component, globs unstarred."""
    out = []
    for entry in entries:
        parts = entry.split(".")
        text = parts[0] if part == "first" else parts[-1]
        chunks = [c for c in text.split("*") if c]
        if chunks:
            out.append(max(chunks, key=len))
    return out


def statement_words(entries: Iterable[str]) -> list[str]:
    """What a statement calling an entry must say (see ``Checker.statement_triggers``): the first component of
    a dotted entry (the rest of the name may come from an import), a bare entry itself, a glob's longest
    fragment as a fragment (``*name``)."""
    out = []
    for entry in entries:
        part = entry.split(".")[0] if "." in entry and "*" not in entry.split(".")[0] else entry.split(".")[-1]
        chunks = [c for c in part.split("*") if c]
        if not chunks:
            continue
        out.append(max(chunks, key=len) if "*" not in part else "*" + max(chunks, key=len))
    return out


def string_value(expr: cst.BaseExpression) -> str | None:
    """The value of a plain (possibly implicitly concatenated) string literal, else None."""
    if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString)):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    return None


def name_tokens(text: str) -> list[str]:
    """Lower-case words of an identifier or path part: ``DevelopmentConfig`` -> development, config."""
    return [m.group(0).lower() for m in _CAMEL.finditer(text)]


def unwrap_await(expr: cst.BaseExpression) -> cst.BaseExpression:
    return expr.expression if isinstance(expr, cst.Await) else expr


def short_code(ctx: FileContext, node: cst.CSTNode, limit: int = 60) -> str:
    """The node's source on one line, shortened for a message."""
    text = " ".join(ctx.module.code_for_node(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ModuleConstants:
    """Module-level names bound once to a literal (string, number, True/False/None), built on first use."""

    def __init__(self, module: cst.Module) -> None:
        self._module = module
        self._values: dict[str, cst.BaseExpression] | None = None

    def _collect(self) -> dict[str, cst.BaseExpression]:
        values: dict[str, cst.BaseExpression] = {}
        seen: set[str] = set()
        for target, value in self._assignments():
            if target in seen:
                values.pop(target, None)
                continue
            seen.add(target)
            if _is_literal(value):
                values[target] = value
        return values

    def _assignments(self) -> Iterator[tuple[str, cst.BaseExpression]]:
        for stmt in self._module.body:
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            for small in stmt.body:
                if isinstance(small, cst.Assign) and len(small.targets) == 1:
                    target = small.targets[0].target
                    if isinstance(target, cst.Name):
                        yield target.value, small.value
                elif (
                    isinstance(small, cst.AnnAssign) and small.value is not None and isinstance(small.target, cst.Name)
                ):
                    yield small.target.value, small.value

    def resolve(self, expr: cst.BaseExpression) -> cst.BaseExpression:
        """The literal a module-level constant name stands for, or ``expr`` itself."""
        if not isinstance(expr, cst.Name) or expr.value in ("True", "False", "None"):
            return expr
        if self._values is None:
            self._values = self._collect()
        return self._values.get(expr.value, expr)


def _is_literal(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.Name):
        return expr.value in ("True", "False", "None")
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        return isinstance(expr.expression, (cst.Integer, cst.Float))
    return isinstance(expr, (cst.Integer, cst.Float)) or string_value(expr) is not None
