"""The checkers of a run: each rule's checker class by its ``module:Class`` spec, and the pre-check tokens.

Imported only once a file has to be checked (the checkers import LibCST): a run whose every result is
cached never loads a checker.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from orgguard.checkers.base import Checker
from orgguard.engine import blank
from orgguard.engine.records import ProjectIndex
from orgguard.knowledge import Knowledge


def load_checker(spec: str) -> type[Checker]:
    """The checker class a rule names (``"unscoped_query:UnscopedQuery"``, in ``orgguard.checkers``)."""
    module_name, _, class_name = spec.partition(":")
    module = importlib.import_module(f"orgguard.checkers.{module_name}")
    cls = getattr(module, class_name)
    if not (isinstance(cls, type) and issubclass(cls, Checker)):
        raise TypeError(f"{spec} is not a Checker")
    return cls


def tokens_for(checkers: Sequence[str], knowledge: Knowledge, index: ProjectIndex) -> tuple[bytes, ...] | None:
    """Pre-check: one of these must occur in a file for any of ``checkers`` to report; None = always."""
    tokens: set[bytes] = set()
    for spec in checkers:
        triggers = load_checker(spec).triggers(knowledge, index)
        if triggers is None:
            return None
        tokens.update(t.encode() for t in triggers if t)
    # a token that holds another is found only where the other is: the pre-check asks for the shortest alone
    kept: list[bytes] = []
    for token in sorted(tokens, key=len):
        if not any(short in token for short in kept):
            kept.append(token)
    return tuple(sorted(kept))


def file_tokens_for(checkers: Sequence[str], knowledge: Knowledge, index: ProjectIndex) -> dict[str, tuple[bytes, ...]]:
    """The checkers' triggers that count only in some files, by path from the project root."""
    found: dict[str, set[bytes]] = {}
    for spec in checkers:
        for path, triggers in load_checker(spec).file_triggers(knowledge, index).items():
            found.setdefault(path, set()).update(t.encode() for t in triggers if t)
    return {path: tuple(sorted(tokens)) for path, tokens in found.items()}


def blank_triggers_for(checkers: Sequence[str], knowledge: Knowledge, index: ProjectIndex) -> blank.Triggers | None:
    """The words a module-level definition must hold to be parsed (see engine/blank.py)."""
    classes = [load_checker(spec) for spec in checkers]
    return blank.triggers_for(
        (cls.statement_triggers(knowledge, index) for cls in classes),
        index,
        [pair for cls in classes for pair in cls.import_triggers(knowledge, index)],
        knowledge["requests.queryset_hooks"] | knowledge["requests.object_hooks"],  # a view class's checks read them
    )


__all__ = ["blank_triggers_for", "file_tokens_for", "load_checker", "tokens_for"]
