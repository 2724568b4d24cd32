"""Shared shape of the "unscoped query on a surface" rules: ORG101, ORG301, ORG302, ORG401.

The query model and the unscoped judgement are the engine's; a subclass only names its surface, its code
and its fix. The path class picks which one reports (DESIGN: "the path class picks the code"): the
function's own surface when it is an entry point, and the path class of every entry point the index
says reaches it (a service, a repository, a dispatched handler), so a query reached from two path
classes gets both codes, each once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import libcst as cst

from orgguard.checkers.base import Checker
from orgguard.engine.analysis import Unscoped
from orgguard.engine.facts import FunctionFacts, Surface
from orgguard.engine.findings import TraceStep
from orgguard.engine.queries import QueryChain
from orgguard.engine.records import ProjectIndex, Reach
from orgguard.knowledge import Knowledge

ENTRY_WORDS = {
    "public": ("request handler", "request handlers"),
    "admin": ("staff view", "staff views"),
    "webhook": ("webhook handler", "webhook handlers"),
    "job": ("job", "jobs"),
    "export": ("export", "exports"),
}


def reach_phrase(index: ProjectIndex, reaches: list[Reach], param: str = "") -> tuple[str, str, tuple[TraceStep, ...]]:
    """(where, source, trace) for a finding reached from other functions: "reached from request handler
    delete_thing() (api/things.py:41); 3 more request handlers", the input it carries, and its path."""
    first = reaches[0]
    entry, source, steps = first.examples[0]
    info = index.function(entry)
    word, words = ENTRY_WORDS.get(first.surface, ("entry point", "entry points"))
    if first.command:
        word, words = "command", "commands"
    where = f"reached from {word} {info.name if info else entry}()"
    if info is not None:
        where += f" ({info.path}:{info.line})"
    more = sum(r.count for r in reaches) - 1
    if more > 0:
        capped = any(r.count >= 64 for r in reaches)
        where += f"; {more}{'+' if capped else ''} more {words if more > 1 else word}"
    text = source.split(":", 1)[1] if ":" in source else ""
    trace = tuple(TraceStep(s.path, s.line, s.col, _note(s.what, s.text, param)) for s in steps)
    return where, text, trace


def _note(what: str, text: str, param: str) -> str:
    if what == "source":
        return f"client input: {text}"
    if what == "entry":
        return f"entry point {text}"
    return f"calls {text}" + (f" passing {param}" if param and what == "call" else "")


class SurfaceQueryChecker(Checker):
    """Reports a query on a tenant-owned model that can reach other tenants' rows, on one surface."""

    surface: ClassVar[Surface] = Surface.REQUEST
    where: ClassVar[str] = "in request handler"
    fix: ClassVar[str] = ""

    @classmethod
    def triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        return [*index.tenant_paths, *knowledge["queries.shortcuts"]]

    def visit_Subscript(self, node: cst.Subscript) -> None:
        self._check(node)

    def visit_Call(self, node: cst.Call) -> None:
        self._check(node)

    def skip_source(self) -> bool:
        """Whether a query picked by request input is another rule's (ORG303 on webhooks)."""
        return False

    def accepts(self, reach: Reach, chain: QueryChain) -> bool:
        """Whether entry points of this kind make a query reached from them this rule's business."""
        return reach.surface == self.surface.value

    def _check(self, node: cst.BaseExpression) -> None:
        facts = self.analysis.current_facts()
        if facts is None:
            return
        chain = self.analysis.queries.chain(node)
        if chain is None or not self.ctx.index.is_tenant_owned(chain.model):
            return
        verdict = self.analysis.unscoped(chain)
        if verdict is None:
            return
        var = self.analysis.assigned_name(node)
        if var is not None and (var in facts.scoped_vars or var in facts.conditional_vars):
            return  # narrowed later (conditionally narrowed queries are ORG104's)
        if id(node) in facts.checked_loops:
            return  # each row is checked against the user's tenant inside the loop
        func = self.ctx.scope.outer_function
        own = facts.surface is self.surface
        if own and not verdict.groups:
            if verdict.taint is not None and self.skip_source():
                return
            where = f"{self.where} {func.name.value}()" if func is not None else ""
            self.report_query(chain, where, f" (rows picked by {verdict.taint.source})" if verdict.taint else "")
            return
        self._remote(node, chain, verdict, facts)

    def _remote(self, node: cst.BaseExpression, chain: QueryChain, verdict: Unscoped, facts: FunctionFacts) -> None:
        """A query in a function reached from entry points of this rule's path class (not itself one)."""
        info = facts.info
        if info is None:
            return
        index = self.ctx.index
        returned = self.analysis.returned(node)

        def keep(reach: Reach) -> bool:
            return self.accepts(reach, chain) and (not returned or reach.fate == "consumed")

        param = ""
        if verdict.groups:
            # picked by values the callers pass in: client input must reach every one of them
            reaches: list[Reach] = []
            for group in verdict.groups:
                found: list[Reach] = []
                for name in sorted(group):
                    got = [r for r in index.reaches_param(info.qualname, name) if keep(r)]
                    if got and not found:
                        param = param or name
                    found.extend(got)
                if not found:
                    return  # one identity is server-known on every path that reaches here
                reaches = reaches or found
            if verdict.taint is not None and self.skip_source():
                return
        elif verdict.taint is not None and self.skip_source():
            return
        else:
            # rows read with no identity, or picked by client input read here: whoever reaches the function
            reaches = [r for r in index.reaches(info.qualname) if keep(r)]
        if not reaches:
            return
        where, source, trace = reach_phrase(index, reaches, param)
        func = self.ctx.scope.outer_function
        where = f"in {func.name.value}(), {where}" if func is not None else where
        by = ""
        if verdict.taint is not None:
            by = f" (rows picked by {verdict.taint.source})"
        elif source:
            by = f" (rows picked by {source})"
        self.report_query(chain, where, by, trace=trace)

    def report_query(self, chain: QueryChain, where: str, by: str, trace: tuple[TraceStep, ...] = ()) -> None:
        field = self.ctx.index.primary_path(chain.model)
        self.ctx.report(
            self.codes[0],
            chain.anchor,
            trace=trace,
            query=chain.display,
            model=chain.model,
            field=field,
            by=by,
            where=where,
            fix=self.fix.replace("{field}", field or "organization"),
        )
