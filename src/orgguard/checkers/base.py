"""What every checker shares: the per-file analysis and the report call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

import libcst as cst

from orgguard.engine.analysis import Analysis
from orgguard.engine.records import ProjectIndex
from orgguard.knowledge import Knowledge

__all__ = ["Analysis", "Checker"]


class Checker(cst.BatchableCSTVisitor):
    """Base of all checkers. ``codes`` lists the rules a checker may report.

    A checker is a LibCST batchable visitor: define ``visit_<Node>``/``leave_<Node>`` methods, read the
    shared models through ``self.analysis`` (query chains, per-function facts) and ``self.ctx``
    (config, project index, knowledge, imports, the scope tracker), and call ``self.ctx.report``.
    """

    codes: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str] | None:
        """Substrings one of which must occur in a file for this checker to report anything in it.

        The engine skips the LibCST parse of a file that holds none of the enabled checkers' triggers.
        ``None`` means "always run" (use sparingly: it costs a parse of every file).
        """
        return None

    @classmethod
    def file_triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Mapping[str, Iterable[str]]:
        """More substrings, that count only in the files they are listed for (by path from the project root):
        names that can only matter where the index says so (the project functions a file's code calls)."""
        return {}

    @classmethod
    def statement_triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str] | None:
        """Words one of which must occur in a module-level statement for this checker to report inside it; in
        a method of a top-level class, in the method or in the class outside its methods.

        Each is a whole name as written (``Invoice``), a call of a name (``execute(``), a name read as an
        attribute (``.is_staff``) or a fragment found in any case (``*stripe``), with what the engine adds
        (names imports bind to a trigger, class aliases of models, functions that call an unverified
        resolver). A module-level ``def``/``class`` that holds none of any enabled checker's words is not
        parsed with LibCST (see engine/blank.py). ``None``: the checker cannot say, and every statement is parsed.
        """
        return None

    @classmethod
    def import_triggers(
        cls, knowledge: Knowledge, index: ProjectIndex
    ) -> Iterable[tuple[Iterable[str], Iterable[str]]]:
        """More statement words that count in a module importing one of some modules: (modules, words) pairs."""
        return ()

    def __init__(self, analysis: Analysis) -> None:
        super().__init__()
        self.analysis = analysis
        self.ctx = analysis.ctx

    def enabled(self) -> bool:
        return any(code in self.ctx.rules for code in self.codes)
