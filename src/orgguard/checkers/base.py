"""What every checker shares: the per-file analysis and the report call."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import libcst as cst

from orgguard.engine.context import FileContext
from orgguard.engine.facts import FactsCache, FunctionFacts
from orgguard.engine.index import ProjectIndex
from orgguard.engine.queries import QueryModel
from orgguard.knowledge import Knowledge


@dataclass(frozen=True)
class Analysis:
    """The shared per-file models checkers read (built once per file, before the traversal)."""

    ctx: FileContext
    queries: QueryModel
    facts: FactsCache

    @classmethod
    def for_file(cls, ctx: FileContext) -> Analysis:
        queries = QueryModel(ctx)
        return cls(ctx, queries, FactsCache(ctx, queries))

    def current_facts(self) -> FunctionFacts | None:
        """Facts of the outermost function around the traversal point (None at module/class level)."""
        outer = self.ctx.scope.outer_function
        return self.facts.of(outer) if outer is not None else None

    def assigned_name(self, node: cst.BaseExpression) -> str | None:
        """``x`` when the current statement is ``x = <node>`` (or ``x: T = <node>``)."""
        stmt = self.ctx.scope.statement
        if not isinstance(stmt, cst.SimpleStatementLine) or not stmt.body:
            return None
        small = stmt.body[0]
        if isinstance(small, cst.Assign) and small.value is node and len(small.targets) == 1:
            target = small.targets[0].target
        elif isinstance(small, cst.AnnAssign) and small.value is node:
            target = small.target
        else:
            return None
        return target.value if isinstance(target, cst.Name) else None


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

    def __init__(self, analysis: Analysis) -> None:
        super().__init__()
        self.analysis = analysis
        self.ctx = analysis.ctx

    def enabled(self) -> bool:
        return any(code in self.ctx.rules for code in self.codes)
