"""Shared shape of the "unscoped query on a surface" rules: ORG101, ORG301, ORG302, ORG401.

The query model and the unscoped judgement are the engine's; a subclass only names its surface and its
code (its messages, the kind of entry point and the fix included, are its rule's TOML templates). The
path class picks which one reports (DESIGN: "the path class picks the code"): the function's own
surface when it is an entry point, and the path class of every entry point the index says reaches it
(a service, a repository, a dispatched handler), so a query reached from two path classes gets both
codes, each once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

import libcst as cst

from orgguard.checkers.base import Checker
from orgguard.engine import vocab
from orgguard.engine.analysis import Unscoped
from orgguard.engine.context import FileContext, dotted_name
from orgguard.engine.facts import (
    FunctionFacts,
    Surface,
    detail_branch_checked,
    detail_handlers_check_objects,
    detail_only_branch,
)
from orgguard.engine.findings import TraceStep
from orgguard.engine.queries import QueryChain
from orgguard.engine.records import FunctionInfo, ProjectIndex, Reach
from orgguard.knowledge import Knowledge

MORE_CAP = 64  # the index stops counting the entry points that reach a function here


def reached_where(ctx: FileContext, code: str, reaches: list[Reach], function: str, traits: Iterable[str] = ()) -> str:
    """The rule's "reached" phrase: "in get(), reached from request handler delete_thing() (api/things.py:41);
    3 more request handlers", from the first entry point of ``reaches`` and how many others there are. A path on
    which nothing checks the row's tenant is named before one on which the caller checks it."""
    first = min(reaches, key=lambda r: r.fate == "checked")  # the first such, in the index's order
    entry = first.examples[0][0]
    info = ctx.index.function(entry)
    more = ""
    count = sum(r.count for r in reaches) - 1
    capped = any(r.count >= MORE_CAP for r in reaches)
    if count == 1 and not capped:
        more = ctx.phrase(code, "reached_more_one", traits)
    elif count > 0:
        more = ctx.phrase(code, "reached_more_many", traits, count=f"{count}{'+' if capped else ''}")
    return ctx.phrase(
        code,
        "reached",
        traits,
        function=function,
        entry=info.name if info else entry,
        entry_path=info.path if info else "?",
        entry_line=str(info.line) if info else "?",
        more=more,
    )


def query_traits(ctx: FileContext, chain: QueryChain) -> set[str]:
    """The message traits of a query: its ORM (``django`` or ``sqlalchemy``), ``shortcut`` for a Django
    lookup shortcut, ``indirect`` when the model reaches its tenant through another model."""
    out: set[str] = set()
    if chain.via in ("session", "statement") or (chain.via == "manager" and chain.manager == "query"):
        out.add("sqlalchemy")
    elif chain.via == "shortcut" and ("." in chain.base_name or "flask" in ctx.traits):
        out.add("sqlalchemy")  # db.get_or_404(Invoice, id): Flask-SQLAlchemy's
    elif chain.via == "shortcut":
        out |= {"django", "shortcut"}
    else:
        out.add("django")
    if "__" in ctx.index.primary_path(chain.model):
        out.add("indirect")
    return out


def query_fields(ctx: FileContext, model: str) -> dict[str, str]:
    """The names a query message shows: the model, its tenant path (``field``), the tenant column a
    SQLAlchemy filter compares (``column``: the path's ``_id`` form when there is one) and the first hop."""
    paths = ctx.index.tenant_paths.get(model, ())
    field = paths[0] if paths else "organization"
    direct = [p for p in paths if "__" not in p]
    column = next((p for p in direct if p.endswith("_id")), direct[0] if direct else field)
    return {"model": model, "field": field, "column": column, "hop": field.split("__", 1)[0]}


def _generic_fields(ctx: FileContext, attribute: str, bound: Sequence[str]) -> dict[str, str]:
    """The message names of a generic repository's ``self.model``: the tenant field its bound models share, or,
    when they reach the tenant by different fields (``group_id`` on one, ``household`` on another), none of
    them: the message says "tenant" and the fix a placeholder for each model's own column."""
    owned = [model for model in bound if ctx.index.tenant_paths.get(model)] or list(bound)
    found = [query_fields(ctx, model) for model in owned]
    if len({(f["field"], f["column"], f["hop"]) for f in found}) == 1:
        return {**found[0], "model": attribute}
    return {"model": attribute, "field": "tenant", "column": "<its tenant column>", "hop": "<its tenant relation>"}


def _constant(expr: cst.BaseExpression) -> bool:
    """A value that names no particular row or parent: ``"open"``, ``3``, ``None``, ``Status.OPEN``, ``[1, 2]``."""
    if isinstance(expr, (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString)):
        return True
    if isinstance(expr, cst.Name):
        return expr.value in ("True", "False", "None") or expr.value.isupper()
    if isinstance(expr, cst.Attribute):
        return expr.attr.value.isupper()  # an enum member or a class constant
    if isinstance(expr, cst.UnaryOperation):
        return _constant(expr.expression)
    if isinstance(expr, (cst.List, cst.Tuple, cst.Set)):
        return all(_constant(el.value) for el in expr.elements)
    return False


class SurfaceQueryChecker(Checker):
    """Reports a query on a tenant-owned model that can reach other tenants' rows, on one surface."""

    surface: ClassVar[Surface] = Surface.REQUEST

    @classmethod
    def triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        # a query names its model, or sits in a class whose self.model others set
        return [*index.tenant_paths, *knowledge["queries.shortcuts"], *index.bound_classes()]

    @classmethod
    def statement_triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        # a query names its model (or an import or class alias of it), or sits in a class whose self.model
        # others set; an export's sinks pick the tenant
        return [*index.tenant_paths, *index.tenant_models, *knowledge["queries.shortcuts"], *index.bound_classes()]

    def visit_Subscript(self, node: cst.Subscript) -> None:
        self._check(node)

    def visit_Call(self, node: cst.Call) -> None:
        self._check(node)

    def skip_source(self) -> bool:
        """Whether a query picked by request input is another rule's (ORG303 on webhooks)."""
        return False

    def _checked_detail_hook(self, node: cst.BaseExpression) -> bool:
        func = self.ctx.scope.outer_function
        if func is None or func.name.value not in self.ctx.knowledge["requests.queryset_hooks"]:
            return False
        klass = self.ctx.scope.class_of(func)
        if klass is None:
            return False
        if detail_handlers_check_objects(self.ctx, klass):
            return True
        # `if self.action == "list": return <scoped>`, then `Environment.objects.all()` for get_object() alone
        return detail_only_branch(func, node) and detail_branch_checked(self.ctx, klass)

    def _reached_helper(self, facts: FunctionFacts) -> bool:
        """A view's helper method that the project's handlers call is judged by what they do with its
        result (one the framework calls, which no project code reaches, stays judged as a handler)."""
        info = facts.info
        return info is not None and info.helper and bool(self.ctx.index.reaches(info.qualname))

    def owns(self, facts: FunctionFacts) -> bool:
        """Whether the function itself is an entry point of this rule's path class."""
        return facts.surface is self.surface

    def accepts(self, reach: Reach, chain: QueryChain) -> bool:
        """Whether entry points of this kind make a query reached from them this rule's business."""
        return reach.surface == self.surface.value

    def _check(self, node: cst.BaseExpression) -> None:
        facts = self.analysis.current_facts()
        if facts is None:
            return
        chain = self.analysis.queries.chain(node)
        if chain is None and isinstance(node, cst.Call) and facts.deferred:
            chain = self._deferred_chain(node, facts)
        if chain is None or not self.ctx.index.is_tenant_owned(chain.model):
            return
        verdict = self.analysis.unscoped(chain)
        if verdict is None:
            return
        var = self.analysis.assigned_name(node)
        if var is not None and (var in facts.scoped_vars or var in facts.conditional_vars):
            return  # narrowed later (conditionally narrowed queries are ORG104's)
        if var is not None and var in facts.deferred and facts.deferred[var][0] is node:
            return  # it runs at the shortcut it is handed to, judged there with the shortcut's lookups
        if id(node) in facts.handed:
            return  # handed to a project function that narrows it to a tenant, as the caller could have
        if id(node) in facts.checked_loops:
            return  # each row is checked against the user's tenant inside the loop
        if self._checked_detail_hook(node):
            return  # a detail-only view's queryset hook: every object it yields is checked by the handler
        if self.analysis.choice_set(node):
            return  # a form or serializer field's choices, judged like a field of a form class
        func = self.ctx.scope.outer_function
        own = self.owns(facts) and not self._reached_helper(facts)
        if own and not verdict.groups:
            if verdict.taint is not None and self.skip_source():
                return
            traits = self.own_traits(facts)
            where = self.phrase("where_own", traits, function=func.name.value) if func is not None else ""
            by = self.phrase("picked_by", traits, source=verdict.taint.source) if verdict.taint else ""
            self.report_query(chain, verdict, where, by, traits=traits)
            return
        self._remote(node, chain, verdict, facts)

    def _deferred_chain(self, node: cst.Call, facts: FunctionFacts) -> QueryChain | None:
        """The query a shortcut call runs when it is handed a variable holding one (see
        :attr:`FunctionFacts.deferred`); None when the variable is narrowed after its assignment."""
        for var, (query, call) in facts.deferred.items():
            if call is node and var not in facts.scoped_vars and var not in facts.conditional_vars:
                return self.analysis.queries.shortcut_over(node, query) or self.analysis.queries.continued(node, query)
        return None

    def phrase(self, part: str, traits: Iterable[str] = (), **values: str) -> str:
        """A part of this checker's rule's messages, filled."""
        return self.ctx.phrase(self.codes[0], part, traits, **values)

    def own_traits(self, facts: FunctionFacts) -> set[str]:
        """Message traits of a query in an entry point of this rule's surface (``command``: an operator command;
        ``graphql``: a GraphQL resolver)."""
        # a job a periodic schedule runs is judged as a command, and named a job
        traits = {"command"} if facts.command and not (facts.info is not None and facts.info.periodic) else set()
        if facts.info is not None and facts.info.resolver:
            traits.add("graphql")
        return traits

    def reach_traits(self, reach: Reach, entry: FunctionInfo | None) -> set[str]:
        """Message traits of a query reached from entry points: ``command`` when they are operator commands,
        ``graphql`` when the first is a GraphQL resolver."""
        traits = {"command"} if reach.command and not (entry is not None and entry.periodic) else set()
        if entry is not None and entry.resolver:
            traits.add("graphql")
        return traits

    def reach_phrase(
        self, reaches: list[Reach], function: str, param: str = ""
    ) -> tuple[str, str, tuple[TraceStep, ...], set[str]]:
        """(where, source, trace, traits) for a query in ``function`` reached from entry points: "in get(),
        reached from request handler delete_thing() (api/things.py:41); 3 more request handlers", the
        input it carries, its path and the message traits of the first entry point."""
        first = reaches[0]
        entry, source, steps = first.examples[0]
        traits = self.reach_traits(first, self.ctx.index.function(entry))
        where = reached_where(self.ctx, self.codes[0], reaches, function, traits)
        text = source.split(":", 1)[1] if ":" in source else ""
        trace = tuple(TraceStep(s.path, s.line, s.col, self._note(s.what, s.text, param)) for s in steps)
        return where, text, trace, traits

    def _note(self, what: str, text: str, param: str) -> str:
        if what == "source":
            return self.phrase("trace_source", text=text)
        if what == "entry":
            return self.phrase("trace_entry", text=text)
        if param and what == "call":
            return self.phrase("trace_call_passing", text=text, param=param)
        return self.phrase("trace_call", text=text)

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
        func = self.ctx.scope.outer_function
        where, source, trace, traits = self.reach_phrase(
            reaches, func.name.value if func is not None else info.name, param
        )
        by = ""
        if verdict.taint is not None:
            by = self.phrase("picked_by", traits, source=verdict.taint.source)
        elif source:
            by = self.phrase("picked_by", traits, source=source)
        self.report_query(chain, verdict, where, by, trace=trace, traits=traits)

    def report_query(
        self,
        chain: QueryChain,
        verdict: Unscoped,
        where: str,
        by: str,
        *,
        trace: tuple[TraceStep, ...] = (),
        traits: Iterable[str] = (),
    ) -> None:
        """Report the query: the rule's ``picked`` message (``not narrowed to the tenant``) when it picks rows
        by something other than constants (an id, a parent, a dataset), else its ``message`` (``across every
        tenant``)."""
        picked = verdict.identity or any(not _constant(v) for _k, v in self.analysis.queries.lookups(chain))
        shapes = self.ctx.rules[self.codes[0]].shapes
        shape = "picked" if picked and "picked" in shapes else "message"
        bypass = self.analysis.queries.bypass(chain)  # reported: it has no reason
        if bypass is not None and "unreasoned_bypass" in shapes:
            shape = "unreasoned_bypass"
        found = query_traits(self.ctx, chain)
        info = self.ctx.index.models.get(chain.model)
        if "sqlalchemy" in found and info is not None and info.session_scoped:
            found.add("scoped")
        fields = query_fields(self.ctx, chain.model)
        display = chain.display
        generic, bound = self._generic_model(chain)
        if generic:
            # a generic repository's self.model: the classes that construct it bind many models
            display = display.replace(f"({chain.model}", f"({generic}", 1)
            fields = _generic_fields(self.ctx, generic, bound)
        self.ctx.report(
            self.codes[0],
            chain.anchor,
            trace=trace,
            shape=shape,
            traits={*traits, *found},
            query=display,
            by=by,
            where=where,
            base=chain.base_name,
            bypass=vocab.short(dotted_name(bypass.func)) if bypass is not None else "",
            fields=fields,
        )

    def _generic_model(self, chain: QueryChain) -> tuple[str, tuple[str, ...]]:
        """(``self.model``, the models bound to it) when the chain's model is one the constructing classes bind
        several of (a generic repository's ``select(self.model)``), else ("", ()): the message then names the
        attribute, not one of them."""
        base = chain.base_call
        klass = self.ctx.scope.klass
        if base is None or not base.args or klass is None:
            return "", ()
        text = dotted_name(base.args[0].value)
        if not text.startswith("self.") or text.count(".") != 1:
            return "", ()
        bound = self.ctx.index.bound_models(klass.name.value, text[5:])
        return (text, bound) if len(bound) > 1 else ("", ())
