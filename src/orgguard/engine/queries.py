"""The shared query model: what a query chain is, which model it reads, and whether it is scoped.

Framework-neutral: the method names, managers, shortcuts and statement builders come from the
knowledge packs; the tenant paths from the project index. One model covers the Django ORM
(``Invoice.objects.filter(...)``, ``get_object_or_404(Invoice, ...)``), Flask-SQLAlchemy
(``Invoice.query.filter_by(...)``, ``db.get_or_404(Invoice, id)``) and SQLAlchemy 2.0 / SQLModel
(``session.query(Invoice)``, ``select(Invoice).where(...)``, ``session.get(Invoice, id)``).
Checkers ask :class:`QueryModel` and only decide which code a finding gets.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import cast

import libcst as cst

from orgguard.engine import vocab, walk
from orgguard.engine.context import FileContext, dotted_name
from orgguard.engine.sessions import SessionModel
from orgguard.engine.vocab import identifies_tenant, is_trusted_expr, lookup_key_scopes


class Scoping(enum.Enum):
    SCOPED = "scoped"
    UNSCOPED = "unscoped"
    UNKNOWN = "unknown"  # opaque arguments (**kwargs, a prebuilt filter): never reported


@dataclass(frozen=True)
class Link:
    name: str
    call: cst.Call | None  # None for subscripts (qs[0])


@dataclass(frozen=True)
class Pred:
    """One predicate of a query: a keyword lookup, a predicate expression, or something opaque."""

    kind: str  # "kw", "expr", "opaque"
    key: str
    value: cst.BaseExpression | None


@dataclass(frozen=True)
class QueryChain:
    """A query on one model, from its base (manager, shortcut, session call, statement) to its top."""

    top: cst.BaseExpression
    model: str
    links: tuple[Link, ...]
    via: str  # "manager", "shortcut", "session", "statement"
    base_call: cst.Call | None = None  # get_object_or_404(...), session.get(...), select(...), session.query(...)
    base_name: str = ""  # shortcut / builder / session method name, for messages
    manager: str = "objects"
    statement: cst.BaseExpression | None = None  # the select()/update() chain when a session runs it
    runner: cst.Call | None = None  # the session call that runs that statement (``session.scalars(stmt)``)

    @property
    def anchor(self) -> cst.BaseExpression:
        """Where a finding about this query sits: the statement lacking the predicate, else the query."""
        return self.statement if self.statement is not None else self.top

    @property
    def display(self) -> str:
        named = [
            link.name
            for link in self.links
            if link.call is not None and link.name not in ("execute", "scalars", "scalar", "exec")
        ]
        picks = [n for n in named if n in ("filter", "filter_by", "where", "exclude", "get")]
        tail = (picks or named or [""])[0] if self.via != "manager" else (picks or named[-1:] or ["all"])[0]
        if self.via == "shortcut":
            return f"{self.base_name}({self.model}, ...)"
        if self.via == "session":
            args = ", ..." if not self.base_name.endswith("query") else ""
            return f"{self.base_name}({self.model}{args})" + (f".{tail}()" if tail else "")
        if self.via == "statement":
            return f"{self.base_name}({self.model})" + (f".{tail}()" if tail else "")
        return f"{self.model}.{self.manager}.{tail}()"


def _is_identity_key(key: str, hops: set[str]) -> bool:
    for hop in hops:
        base = hop.removesuffix("_id")
        if key in (hop, f"{base}_id", f"{hop}__in", f"{base}_id__in", f"{hop}__pk", f"{hop}__id", f"{hop}__pk__in"):
            return True
    return False


def _literal(expr: cst.BaseExpression) -> bool:
    """A constant (``3``, ``"open"``, ``True``, ``None``): it picks no particular related object."""
    if isinstance(expr, (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString)):
        return True
    return isinstance(expr, cst.Name) and expr.value in ("True", "False", "None")


def _is_session_receiver(text: str) -> bool:
    last = text.rsplit(".", 1)[-1].lower()
    return "session" in last or last in ("db", "s", "sess", "conn", "connection")


_CALL = walk.Kinds(cst.Call)
_ATTRIBUTE = walk.Kinds(cst.Attribute)
_SUBSCRIPT = walk.Kinds(cst.Subscript)
_NAME = walk.Kinds(cst.Name)


class QueryModel:
    """Recognises query chains in one file and judges their scoping."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.k = ctx.knowledge
        self.scoping_methods = self.k["queries.scoping_methods"] | ctx.index.scoping_methods
        self.sessions = SessionModel(ctx)
        self._tops: dict[int, QueryChain] = {}
        self._inner: set[int] = set()
        self._wrappers: dict[str, bool] = {}  # short name -> whether it wraps a subquery (see _wrapper)

    # -- recognition --------------------------------------------------------------------------
    def _split(self, expr: cst.BaseExpression) -> tuple[cst.BaseExpression, list[Link]]:
        links: list[Link] = []
        while True:
            kind = type(expr)
            if _CALL[kind] and _ATTRIBUTE[type(cast("cst.Call", expr).func)]:
                call = cast("cst.Call", expr)
                if self._base_call(call) is not None:
                    break
                func = cast("cst.Attribute", call.func)
                links.append(Link(func.attr.value, call))
                expr = func.value
            elif _SUBSCRIPT[kind]:
                links.append(Link("__getitem__", None))
                expr = cast("cst.Subscript", expr).value
            else:
                break
        links.reverse()
        return expr, links

    def _model_arg(self, call: cst.Call) -> str | None:
        """The model named by a call's first argument (``Invoice`` or a column such as ``Invoice.id``)."""
        if not call.args or call.args[0].keyword is not None or call.args[0].star:
            return None
        first = call.args[0].value
        model = self.ctx.model_of(first)
        if model is None and isinstance(first, cst.Attribute):
            model = self.ctx.model_of(first.value)
        return model

    def _base_call(self, call: cst.Call) -> tuple[str, str, str] | None:
        """(via, name, model) when ``call`` starts a query: session.query/get, select(), a shortcut."""
        func = call.func
        if isinstance(func, cst.Name):
            name = self.ctx.resolve(func.value)
            if name in self.k["queries.statement_builders"]:
                model = self._model_arg(call)
                return ("statement", name, model) if model else None
            return None
        if isinstance(func, cst.Attribute) and func.attr.value in self.k["queries.session_calls"]:
            receiver = dotted_name(func.value)
            if receiver and _is_session_receiver(receiver):
                model = self._model_arg(call)
                if model:
                    return ("session", f"{receiver}.{func.attr.value}", model)
                if call.args and call.args[0].keyword is None:
                    inner = self.recognize(call.args[0].value)
                    if inner is not None and inner.via == "statement":
                        # session.scalars(select(M)...) : the statement runs here, its chain goes on
                        return ("executed", f"{receiver}.{func.attr.value}", inner.model)
        return None

    def chain(self, node: cst.BaseExpression) -> QueryChain | None:
        """The query chain whose outermost expression is ``node``; None for the inner links of a chain.

        Every checker asking about the same node gets the same answer, whatever the order they ask in.
        """
        key = id(node)
        if key in self._tops:
            return self._tops[key]
        if key in self._inner:
            return None
        if isinstance(node, cst.Call) and self._wrapper(dotted_name(node.func).rsplit(".", 1)[-1]):
            # Prefetch("tasks", queryset=Task.objects.all()) only covers the outer query's rows: every call of
            # its arguments is part of it (`Label.objects.only("name").distinct()`, down to its base)
            self._inner.update(id(n) for a in node.args for n in walk.iter_tree(a.value) if isinstance(n, cst.Call))
            return None
        found = self.recognize(node)
        if found is not None:
            self._tops[key] = found
            inner = [link.call for link in found.links if link.call is not None]
            if found.base_call is not None:
                inner.append(found.base_call)
            self._inner.update(id(c) for c in inner if c is not node)
        return found

    def recognize(self, node: cst.BaseExpression) -> QueryChain | None:
        """The query chain ``node`` is the outermost expression of (no state; may be asked repeatedly)."""
        if _CALL[type(node)]:
            call = cast("cst.Call", node)
            func = call.func
            if _NAME[type(func)] or (
                _ATTRIBUTE[type(func)] and cast("cst.Attribute", func).attr.value in self.k["queries.shortcuts"]
            ):
                shortcut = self._shortcut(call)
                if shortcut is not None:
                    return shortcut
        base, links = self._split(node)
        if isinstance(base, cst.Call):
            start = self._base_call(base)
            if start is None:
                return None
            via, name, model = start
            if not all(link.name in self.k["queries.methods"] or link.call is None for link in links):
                return None
            if via == "executed":
                inner = self.recognize(base.args[0].value)
                assert inner is not None
                return QueryChain(
                    top=node,
                    model=model,
                    links=(*inner.links, Link(name.rsplit(".", 1)[-1], base), *links),
                    via="statement",
                    base_call=inner.base_call,
                    base_name=inner.base_name,
                    statement=base.args[0].value,
                    runner=base,
                )
            return QueryChain(top=node, model=model, links=tuple(links), via=via, base_call=base, base_name=name)
        if not links or not isinstance(base, cst.Attribute):
            return None
        found_model = self.ctx.model_of(base.value)
        if found_model is None:
            return None
        info = self.ctx.index.models.get(found_model)
        if base.attr.value not in self.k["models.managers"] and (info is None or base.attr.value not in info.managers):
            return None
        known = self.k["queries.methods"] | self.k["queries.audited_bypasses"]
        custom = not all(link.name in known or link.call is None for link in links)
        if custom and not any(link.name in self.scoping_methods for link in links):
            # a custom manager/queryset method: it may scope by itself; not ours to judge
            return None
        return QueryChain(top=node, model=found_model, links=tuple(links), via="manager", manager=base.attr.value)

    def ownerless(self, chain: QueryChain) -> bool:
        """Rows of no tenant: a step of the tenant path required empty (``filter(id=pk, user__isnull=True)`` on a
        model whose path is ``user__facility``). No tenant owns them, so they are no other tenant's."""
        paths = self.ctx.index.tenant_paths.get(chain.model, ())
        hops = {"__".join(path.split("__")[:i]) for path in paths for i in range(1, path.count("__") + 2)}
        for key, expr in self.lookups(chain):
            field, _, transform = key.rpartition("__")
            if transform == "isnull" and field in hops and isinstance(expr, cst.Name) and expr.value == "True":
                return True
        return False

    def account_lookup(self, chain: QueryChain) -> bool:
        """Whether a user account is found by its login identity (``username``, ``email``): sign-up, sign-in
        and password reset find accounts before any tenant is known, so such a lookup is global by design (and
        a tenant value beside it is the one the person is signing in to, not an active tenant). A user model is
        one named in ``models.user_models`` or deriving from one, through the project's own abstract bases too
        (``FacilityUser(KolibriAbstractBaseUser)``, ``KolibriAbstractBaseUser(AbstractBaseUser)``)."""
        if not self._is_user_model(chain.model):
            return False
        logins = self.k["models.login_fields"]
        return any(key.partition("__")[0] in logins for key, _expr in self.lookups(chain))

    def _wrapper(self, name: str) -> bool:
        """A subquery wrapper (``queries.subquery_wrappers``) or a project class deriving from one; memoised."""
        found = self._wrappers.get(name)
        if found is None:
            found = self._wrappers[name] = self._derives_from(name, self.k["queries.subquery_wrappers"])
        return found

    def _is_user_model(self, name: str) -> bool:
        return self._derives_from(name, self.k["models.user_models"])

    def _derives_from(self, name: str, targets: Collection[str]) -> bool:
        """Whether the class ``name`` is one of ``targets`` or derives from one, through the project's own classes
        (``SQCount(Subquery)``, ``FacilityUser(KolibriAbstractBaseUser)``), by short name."""
        return bool(name) and (name in targets or not self.ctx.index.base_names(name).isdisjoint(targets))

    def _shortcut_name(self, call: cst.Call) -> str | None:
        """The shortcut a call runs (``get_object_or_404``, a project wrapper of one), None for another call."""
        name = (
            self.ctx.resolve(call.func.value)
            if isinstance(call.func, cst.Name)
            else dotted_name(call.func).rsplit(".", 1)[-1]
        )
        if not call.args:
            return None
        if name not in self.k["queries.shortcuts"] and not (
            isinstance(call.func, cst.Name) and self._project_shortcut(call.func.value)
        ):
            return None
        return name

    def shortcut_over(self, call: cst.Call, queryset: cst.BaseExpression) -> QueryChain | None:
        """``get_object_or_404(qs, code=code)`` where ``qs`` holds the query ``queryset`` (built in an earlier
        statement): the query runs here, with the shortcut's lookups added to it."""
        name = self._shortcut_name(call)
        inner = self.recognize(queryset) if name is not None else None
        if name is None or inner is None:
            return None
        # the finding sits where the query is built, as a session-run statement's does
        return QueryChain(
            top=call,
            model=inner.model,
            links=inner.links,
            via="shortcut",
            base_call=call,
            base_name=name,
            statement=queryset,
        )

    def continued(self, call: cst.Call, queryset: cst.BaseExpression) -> QueryChain | None:
        """``q.select_related("project").get(id=pk)`` where ``q`` holds the query ``queryset`` (built in an earlier
        statement): the query runs here, with the calls chained on it. The finding sits where it is built."""
        inner = self.recognize(queryset)
        if inner is None or inner.via == "shortcut" or self._fetches_row(inner):
            return None  # `instance = get_object_or_404(...)`: a row, whose methods are no query
        links: list[Link] = []
        current: cst.BaseExpression = call
        while isinstance(current, cst.Call) and isinstance(current.func, cst.Attribute):
            links.append(Link(current.func.attr.value, current))
            current = current.func.value
        if not isinstance(current, cst.Name) or any(link.name not in self.k["queries.methods"] for link in links):
            return None
        return replace(inner, top=call, links=(*inner.links, *reversed(links)), statement=inner.statement or queryset)

    def _fetches_row(self, chain: QueryChain) -> bool:
        """Whether a chain ends in fetching one row (``.get()``, ``.first()``, ``.one()``) rather than a query."""
        last = next((link.name for link in reversed(chain.links) if link.call is not None), "")
        return last in self.k["queries.row_fetches"] or last in self.k["queries.raising_fetches"]

    def _shortcut(self, call: cst.Call) -> QueryChain | None:
        name = self._shortcut_name(call)
        if name is None:
            return None
        first = call.args[0].value
        model = self.ctx.model_of(first)
        links: tuple[Link, ...] = ()
        if model is None:
            inner = self.recognize(first)
            if inner is None:
                return None
            model, links = inner.model, inner.links
        return QueryChain(top=call, model=model, links=links, via="shortcut", base_call=call, base_name=name)

    def _project_shortcut(self, name: str) -> bool:
        """A project function wrapping a query shortcut (``get_object_or_error(Model, user, id=pk)``), by the
        qualified name the local name stands for."""
        shortcuts = self.ctx.index.shortcuts
        if not shortcuts:
            return False
        qualified = self.ctx.qualified(name)
        return qualified in shortcuts or f"{self.ctx.module_name}.{name}" in shortcuts

    # -- predicates ---------------------------------------------------------------------------
    def predicates(self, chain: QueryChain) -> Iterator[Pred]:
        """Every predicate the chain applies, from its base call and its lookup/where links."""
        base = chain.base_call
        if base is not None and chain.via in ("shortcut", "session"):
            rest = base.args[1:]
            if chain.via == "session" and not chain.base_name.endswith(".query"):
                for arg in rest[:1]:  # session.get(Model, ident)
                    if arg.keyword is None and not arg.star:
                        yield Pred("kw", "pk", arg.value)
                rest = rest[1:]
            if chain.via == "shortcut" and chain.base_name not in self.k["queries.shortcuts"]:
                # a project wrapper: its other positional parameters (the user it reports to) are no lookups
                yield from self._arg_preds([a for a in rest if a.keyword is not None or a.star])
            elif chain.via == "shortcut":
                yield from self._arg_preds(rest)
        for link in chain.links:
            if link.call is None:
                continue
            if link.name in self.k["queries.lookup_methods"] or link.name in self.k["queries.where_methods"]:
                yield from self._arg_preds(link.call.args, by_id=link.name in ("get", "get_or_404"))

    def _arg_preds(self, args: Sequence[cst.Arg], *, by_id: bool = False) -> Iterator[Pred]:
        for arg in args:
            if arg.star in ("**", "*"):
                yield Pred("opaque", "", arg.value)
            elif arg.keyword is not None:
                yield Pred("kw", arg.keyword.value, arg.value)
            elif by_id and not self._is_predicate_expr(arg.value):
                yield Pred("kw", "pk", arg.value)  # Query.get(ident) / Model.query.get_or_404(ident)
            else:
                yield from self._conjuncts(arg.value)

    def _conjuncts(self, expr: cst.BaseExpression) -> Iterator[Pred]:
        """``where(and_(a, b))`` and ``where(a & b)`` are ``where(a, b)``: each conjunct is a predicate of its own
        (an owner pinned inside ``and_()`` counts as it does outside)."""
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitAnd):
            yield from self._conjuncts(expr.left)
            yield from self._conjuncts(expr.right)
        elif (
            isinstance(expr, cst.Call)
            and self.ctx.resolve(dotted_name(expr.func).rsplit(".", 1)[-1]) == "and_"
            and expr.args
            and all(a.keyword is None and not a.star for a in expr.args)
        ):
            for arg in expr.args:
                yield from self._conjuncts(arg.value)
        else:
            yield Pred("expr", "", expr)

    def _is_predicate_expr(self, expr: cst.BaseExpression) -> bool:
        if isinstance(expr, (cst.Comparison, cst.BinaryOperation, cst.UnaryOperation)):
            return True
        return isinstance(expr, cst.Call) and (
            self.ctx.resolve(dotted_name(expr.func).rsplit(".", 1)[-1]) in self.k["queries.predicate_builders"]
        )

    def lookup_args(self, chain: QueryChain) -> Iterator[tuple[cst.Call, Sequence[cst.Arg]]]:
        """(call, args) of the links and base that carry lookups (for checkers that only need args)."""
        if chain.base_call is not None and chain.via == "shortcut":
            yield chain.base_call, chain.base_call.args[1:]
        if chain.base_call is not None and chain.via == "session" and not chain.base_name.endswith(".query"):
            yield chain.base_call, chain.base_call.args[1:]
        for link in chain.links:
            if link.call is not None and (
                link.name in self.k["queries.lookup_methods"] or link.name in self.k["queries.where_methods"]
            ):
                yield link.call, link.call.args

    # -- judgement ----------------------------------------------------------------------------
    def runners(self, chain: QueryChain) -> list[cst.Call]:
        """The session calls that run a query: ``session.get(M, id)``, ``session.scalars(select(M))``, and for a
        statement held in a variable, every call in the function that runs that variable."""
        if chain.via == "session" and chain.base_call is not None:
            return [chain.base_call]
        if chain.via != "statement":
            return []
        if chain.runner is not None:
            return [chain.runner]
        func = self.ctx.scope.outer_function
        name = self.held_in(chain.top)
        return self.sessions.executions(name, func) if func is not None and name else []

    def held_in(self, node: cst.BaseExpression) -> str:
        """``stmt`` when the current statement is ``stmt = <node>``."""
        stmt = self.ctx.scope.statement
        if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
            small = stmt.body[0]
            if isinstance(small, cst.Assign) and small.value is node and len(small.targets) == 1:
                target = small.targets[0].target
                return target.value if isinstance(target, cst.Name) else ""
            if isinstance(small, cst.AnnAssign) and small.value is node and isinstance(small.target, cst.Name):
                return small.target.value
        return ""

    def bypass(self, chain: QueryChain) -> cst.Call | None:
        """The audited bypass a query goes through (``.unscoped(reason=...)``, ``execution_options=
        unscoped("...")``), if any: the first one without a reason, else the first one."""
        calls = [link.call for link in chain.links if link.call is not None] + self.runners(chain)
        found = list(
            self.sessions.bypasses(calls, [(link.name, link.call) for link in chain.links if link.call is not None])
        )
        missing = [call for call in found if not self.sessions.reasoned(call)]
        first = missing or found
        return first[0] if first else None

    def runtime_scoped(self, chain: QueryChain) -> bool:
        """A query that the run time scopes to the active tenant, refusing to run without one.

        Django: through a manager that scopes (``OrgScopedManager``, django-scopes' ``ScopedManager``);
        ``_base_manager`` and other managers of the same model are plain ones. SQLAlchemy: on a model
        deriving from ``OrgScoped``, run by a session from an installed factory (see
        :mod:`orgguard.engine.sessions`). A query through a bypass (``unscoped(...)``) is not scoped.
        """
        info = self.ctx.index.models.get(chain.model)
        if info is None or self.bypass(chain) is not None:
            return False
        if info.session_scoped:
            if chain.via == "manager":
                return chain.manager == "query" and info.query_session in self.ctx.index.installed_sessions
            runners = self.runners(chain)
            func = self.ctx.scope.outer_function
            if runners and all(
                isinstance(r.func, cst.Attribute) and self.sessions.scopes(r.func.value, func) for r in runners
            ):
                return True
        if not info.scoped_managers:
            return False
        if chain.via == "manager":
            manager = chain.manager
        elif (
            chain.via == "shortcut" and chain.base_call is not None and self.ctx.model_of(chain.base_call.args[0].value)
        ):
            manager = info.default_manager  # get_object_or_404(Invoice, ...) reads Invoice._default_manager
        else:
            return False
        if manager == "_default_manager":
            manager = info.default_manager
        return manager in info.scoped_managers

    def scoping(self, chain: QueryChain) -> Scoping:
        """Whether the chain narrows to one tenant by itself."""
        if chain.model in self.ctx.index.tenant_models:
            return Scoping.UNKNOWN  # queries on the tenant itself are judged by the org rules
        paths = self.ctx.index.tenant_paths.get(chain.model, ())
        for link in chain.links:
            if link.name in self.scoping_methods or link.name == "none":
                return Scoping.SCOPED
            if (
                link.call is not None
                and link.name in self.k["queries.join_methods"]
                and self._join_pins(link.call, paths)
            ):
                return Scoping.SCOPED
        unknown = False
        for pred in self.predicates(chain):
            verdict = self._pred_scoping(pred, paths)
            if verdict is Scoping.SCOPED:
                return Scoping.SCOPED
            if verdict is Scoping.UNKNOWN:
                unknown = True
        return Scoping.UNKNOWN if unknown else Scoping.UNSCOPED

    def _join_pins(self, call: cst.Call, paths: Sequence[str]) -> bool:
        """An inner join whose ON clause pins the joined rows to the tenant (``join(OrganizationMembership,
        and_(OrganizationMembership.user_id == User.id, OrganizationMembership.organization_id == org_id))``): only
        rows related to that tenant's rows remain. An outer join (``isouter=True``, ``full=True``) keeps the rest."""
        onclause: cst.BaseExpression | None = None
        for index, arg in enumerate(call.args):
            if arg.keyword is not None and arg.keyword.value in ("isouter", "full"):
                if not (isinstance(arg.value, cst.Name) and arg.value.value == "False"):
                    return False
            elif (arg.keyword is not None and arg.keyword.value == "onclause") or (
                arg.keyword is None and not arg.star and index == 1
            ):
                onclause = arg.value
        if onclause is None:
            return False
        return any(
            pred.value is not None and self._expr_scoping(pred.value, paths) is Scoping.SCOPED
            for pred in self._conjuncts(onclause)
        )

    def _pred_scoping(self, pred: Pred, paths: Sequence[str]) -> Scoping:
        if pred.kind == "opaque":
            return Scoping.UNKNOWN
        if pred.kind == "kw":
            if lookup_key_scopes(pred.key, paths, self.ctx.index.tenant_properties):
                return Scoping.SCOPED
            if (
                pred.key.endswith("__isnull")
                and lookup_key_scopes(pred.key.removesuffix("__isnull"), paths)
                and isinstance(pred.value, cst.Name)
                and pred.value.value == "True"
            ):
                return Scoping.SCOPED  # rows of no tenant (shared ones): `Q(space=mine) | Q(space__isnull=True)`
            if pred.value is not None and self.is_trusted(pred.value):
                return Scoping.SCOPED  # the signed-in user's own rows
            return Scoping.UNSCOPED
        assert pred.value is not None
        return self._expr_scoping(pred.value, paths)

    def _column(self, expr: cst.BaseExpression) -> tuple[str, str] | None:
        """(model, column) for ``Invoice.organization_id``-style column references."""
        if isinstance(expr, cst.Attribute):
            model = self.ctx.model_of(expr.value)
            if model is not None:
                return model, expr.attr.value
        return None

    def _is_tenant_column(self, expr: cst.BaseExpression) -> bool:
        col = self._column(expr)
        if col is None:
            return False
        model, name = col
        if model in self.ctx.index.tenant_models:
            return False
        return lookup_key_scopes(name, [p for p in self.ctx.index.tenant_paths.get(model, ()) if "__" not in p])

    def _null_tenant(self, expr: cst.BaseExpression) -> bool:
        """``Scope.organization_id.is_(None)`` / ``== None``: the rows of no tenant (the platform's own, shared
        by every tenant), not another tenant's."""
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "is_":
            return (
                len(expr.args) == 1
                and isinstance(expr.args[0].value, cst.Name)
                and expr.args[0].value.value == "None"
                and self._is_tenant_column(expr.func.value)
            )
        if isinstance(expr, cst.Comparison) and len(expr.comparisons) == 1:
            target = expr.comparisons[0]
            return (
                isinstance(target.operator, (cst.Equal, cst.Is))
                and isinstance(target.comparator, cst.Name)
                and target.comparator.value == "None"
                and self._is_tenant_column(expr.left)
            )
        return False

    def _expr_scoping(self, expr: cst.BaseExpression, paths: Sequence[str]) -> Scoping:
        if isinstance(expr, cst.BinaryOperation):
            left = self._expr_scoping(expr.left, paths)
            right = self._expr_scoping(expr.right, paths)
            if isinstance(expr.operator, cst.BitAnd):
                if Scoping.SCOPED in (left, right):
                    return Scoping.SCOPED
            elif isinstance(expr.operator, cst.BitOr) and (
                (left is Scoping.SCOPED and self._null_tenant(expr.right))
                or (right is Scoping.SCOPED and self._null_tenant(expr.left))
            ):
                return Scoping.SCOPED  # the tenant's own rows, or the shared rows of no tenant
            elif left is right:
                return left
            return Scoping.UNKNOWN if Scoping.UNKNOWN in (left, right) else Scoping.UNSCOPED
        if isinstance(expr, cst.Comparison):
            operands = [expr.left, *(c.comparator for c in expr.comparisons)]
            # only an equality pins a value: `Invoice.organization_id > 0` or `!= None` narrows to no tenant
            pins = all(isinstance(c.operator, (cst.Equal, cst.In)) for c in expr.comparisons) and not any(
                isinstance(op, cst.Name) and op.value == "None" for op in operands
            )
            if pins and any(self._is_tenant_column(op) for op in operands):
                return Scoping.SCOPED
            if (
                pins
                and any(self._column(op) is not None for op in operands)
                and any(self.is_trusted(op) for op in operands)
            ):
                return Scoping.SCOPED  # `Favorite.user_id == current_user.id`: the signed-in user's own rows
            if any(self._column(op) is not None for op in operands):
                return Scoping.UNSCOPED
            return Scoping.UNKNOWN
        if isinstance(expr, cst.Call):
            name = self.ctx.resolve(dotted_name(expr.func).rsplit(".", 1)[-1])
            if name in self.k["queries.predicate_builders"]:
                verdicts = [
                    self._pred_scoping(Pred("kw", a.keyword.value, a.value), paths)
                    if a.keyword is not None
                    else self._expr_scoping(a.value, paths)
                    for a in expr.args
                ]
                if name in ("or_", "any_"):
                    # the tenant's own rows, or the shared rows of no tenant (`organization_id IS NULL`)
                    kept = [
                        v
                        for v, a in zip(verdicts, expr.args, strict=True)
                        if name != "or_" or a.keyword is not None or not self._null_tenant(a.value)
                    ]
                    if kept and all(v is Scoping.SCOPED for v in kept):
                        return Scoping.SCOPED
                elif Scoping.SCOPED in verdicts:
                    return Scoping.SCOPED
                return Scoping.UNKNOWN if Scoping.UNKNOWN in verdicts else Scoping.UNSCOPED
            # Dependency.service.has(Service.tenant_id == t), Project.members.any(Member.user_id == me): a
            # relationship's rows that meet the predicate (an EXISTS on the related rows): what it pins, it pins
            if (
                isinstance(expr.func, cst.Attribute)
                and expr.func.attr.value in ("has", "any")
                and self._column(expr.func.value) is not None
                and len(expr.args) == 1
                and expr.args[0].keyword is None
                and not expr.args[0].star
                and self._is_predicate_expr(expr.args[0].value)
            ):
                inner = [self._expr_scoping(p.value, paths) for p in self._conjuncts(expr.args[0].value) if p.value]
                if Scoping.SCOPED in inner:
                    return Scoping.SCOPED
            # Group.id.in_(current_user.group_ids): the signed-in user's own rows
            if (
                isinstance(expr.func, cst.Attribute)
                and expr.func.attr.value in ("in_", "__eq__")
                and self._column(expr.func.value) is not None
                and expr.args
                and all(self.is_trusted(a.value) for a in expr.args)
            ):
                return Scoping.SCOPED
            # Invoice.organization_id.in_(ids) on a tenant column (not `.is_(None)`, `.isnot(None)`)
            if (
                isinstance(expr.func, cst.Attribute)
                and expr.func.attr.value in ("in_", "is_", "__eq__")
                and self._is_tenant_column(expr.func.value)
                and not any(isinstance(a.value, cst.Name) and a.value.value == "None" for a in expr.args)
            ):
                return Scoping.SCOPED
            if isinstance(expr.func, cst.Attribute) and self._column(expr.func.value) is not None:
                return Scoping.UNSCOPED
        if isinstance(expr, cst.UnaryOperation):
            return Scoping.UNSCOPED
        return Scoping.UNKNOWN

    def identity_lookups(self, chain: QueryChain) -> list[tuple[str, cst.BaseExpression]]:
        """Lookups that pick specific rows by identity: the primary key, or a parent on the tenant path.

        ``pk=...``, ``id__in=...``, ``project=project``, ``invoice_id=...``, ``Invoice.id == x``. Whether such
        a query is safe depends on where the value came from (a server-known object, or request input).
        """
        paths = self.ctx.index.tenant_paths.get(chain.model, ())
        info = self.ctx.index.models.get(chain.model)
        hops = {"pk", "id", *(info.primary_keys if info is not None else ())}  # `uuid = UUIDField(primary_key=True)`
        for path in paths:
            parts = path.split("__")
            for i in range(1, len(parts)):
                hops.add("__".join(parts[:i]))
        # rows related to one object: `filter(base_unit=source)`, `filter(object_id=obj.id)`, `customer_id=c.pk`
        related = self._relation_fields(chain.model)
        out: list[tuple[str, cst.BaseExpression]] = []
        for link in chain.links:
            if link.name == "in_bulk" and link.call is not None:
                for arg in link.call.args[:1]:
                    if arg.keyword is None or arg.keyword.value == "id_list":
                        out.append(("pk__in", arg.value))
        for pred in self.predicates(chain):
            if pred.value is None:
                continue
            if pred.kind == "kw" and (
                _is_identity_key(pred.key, hops) or (_is_identity_key(pred.key, related) and not _literal(pred.value))
            ):
                out.append((pred.key, pred.value))
            elif (
                pred.kind == "expr"
                and isinstance(pred.value, cst.Call)
                and isinstance(pred.value.func, cst.Attribute)
                and pred.value.func.attr.value in ("in_", "any", "contains")
                and pred.value.args
                and not _literal(pred.value.args[0].value)
                and not self._is_predicate_expr(pred.value.args[0].value)
            ):
                # Document.project_id.in_(ids): the rows of the listed parents; User.group_ids.any(group_id):
                # the rows whose array of related ids holds one (not `Board.cards.any(Card.title == t)`, an EXISTS
                # on the related rows: a predicate, judged as one)
                col = self._column(pred.value.func.value)
                if col is not None and (
                    (col[0] == chain.model and _is_identity_key(col[1], hops))
                    or _is_identity_key(col[1], self._relation_fields(col[0]))
                    or col[1].endswith("_ids")
                ):
                    out.append((f"{col[1]}__in", pred.value.args[0].value))
            elif pred.kind == "expr" and not isinstance(pred.value, cst.Comparison):
                out.extend(
                    (key, value)
                    for key, value in self._builder_kwargs(pred.value)
                    if _is_identity_key(key, hops) or (_is_identity_key(key, related) and not _literal(value))
                )
            elif pred.kind == "expr" and isinstance(pred.value, cst.Comparison):
                if not all(isinstance(c.operator, (cst.Equal, cst.In)) for c in pred.value.comparisons):
                    continue
                operands = [pred.value.left, *(c.comparator for c in pred.value.comparisons)]
                for i, op in enumerate(operands):
                    col = self._column(op)
                    if col is None:
                        continue
                    others = [o for j, o in enumerate(operands) if j != i and self._column(o) is None]
                    own = col[0] == chain.model and _is_identity_key(col[1], hops)
                    # a join's column: `DataSourceGroup.group == group` narrows to one related object
                    joined = _is_identity_key(col[1], self._relation_fields(col[0])) and not any(map(_literal, others))
                    if own or joined:
                        out.extend((col[1], o) for o in others[:1])
        return out

    def _relation_fields(self, model: str) -> set[str]:
        """Fields of a model that point at another row: its foreign keys, their ``_id`` columns, and a
        generic relation's ``object_id``."""
        info = self.ctx.index.models.get(model)
        out = {"object_id"}
        if info is not None:
            for field, _target in info.relations:
                out.update((field, f"{field}_id", field.removesuffix("_id")))
        return out

    def _builder_kwargs(self, expr: cst.BaseExpression) -> list[tuple[str, cst.BaseExpression]]:
        """Keyword lookups inside ``Q(...) & Q(...)`` predicate builders; of ``Q(...) | Q(...)``, those every
        disjunct makes alike (``Q(user=self, team=a) | Q(user=self, team=b)``: every row is ``user=self``'s)."""
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitAnd):
            return self._builder_kwargs(expr.left) + self._builder_kwargs(expr.right)
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
            right = {(key, dotted_name(value)) for key, value in self._builder_kwargs(expr.right)}
            return [
                (key, value)
                for key, value in self._builder_kwargs(expr.left)
                if dotted_name(value) and (key, dotted_name(value)) in right
            ]
        if isinstance(expr, cst.Call) and (
            self.ctx.resolve(dotted_name(expr.func).rsplit(".", 1)[-1]) in self.k["queries.predicate_builders"]
        ):
            return [(a.keyword.value, a.value) for a in expr.args if a.keyword is not None]
        return []

    def own_rows(self, chain: QueryChain) -> bool:
        """A query that pins an ownership relation (``models.owner_fields``: ``user``, ``actor_id``) to the signed-in
        user, or runs through a scoping method of the project handed that user: it reads that user's own rows (or
        their tenants'), whatever tenant value narrows them further."""
        ctx = self.ctx
        owners = ctx.knowledge["models.owner_fields"]
        for link in chain.links:
            # `Pipeline.objects.filter_for_user(request.user).get(workspace__slug=slug)`: a scoping method of the
            # project's managers narrowed the query to the signed-in user's tenants before the slug picks one
            if (
                link.call is not None
                and link.name in ctx.index.scoping_methods
                and any(vocab.is_signed_in_user(dotted_name(arg.value)) for arg in link.call.args)
            ):
                return True
        for key, expr in self.lookups(chain):
            field = key.removesuffix("__exact")
            if field.removesuffix("_id") in owners and "__" not in field and vocab.is_signed_in_user(dotted_name(expr)):
                return True
            if key.endswith("__in") and self._users_tenants(expr):
                return True  # `organisation__in=user.organisations.all()`: the user's own tenants' rows
        return False

    def _users_tenants(self, expr: cst.BaseExpression) -> bool:
        """``user.organisations.all()``, ``request.user.teams.values("id")``: the tenants the user belongs to, read
        through a membership relation of the user."""
        node = expr
        while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            node = node.func.value
        return (
            isinstance(node, cst.Attribute)
            and node.attr.value in self.ctx.index.membership_attrs
            and vocab.is_userish(dotted_name(node.value))
        )

    def lookups(self, chain: QueryChain) -> list[tuple[str, cst.BaseExpression]]:
        """Every (field, value) the chain matches on: keyword lookups and ``Model.col == value`` comparisons."""
        out: list[tuple[str, cst.BaseExpression]] = []
        for pred in self.predicates(chain):
            if pred.value is None:
                continue
            if pred.kind == "kw":
                out.append((pred.key, pred.value))
            elif pred.kind == "expr" and isinstance(pred.value, cst.Comparison):
                operands = [pred.value.left, *(c.comparator for c in pred.value.comparisons)]
                for i, op in enumerate(operands):
                    col = self._column(op)
                    if col is not None:
                        out.extend((col[1], o) for j, o in enumerate(operands) if j != i and self._column(o) is None)
                        break
        return out

    def predicate_scopes(self, expr: cst.BaseExpression) -> bool:
        """Whether a predicate expression (``Invoice.organization_id == x``, ``Q(organization=x)``) scopes."""
        return self._expr_scoping(expr, ()) is Scoping.SCOPED

    def tenant_lookups(self, chain: QueryChain) -> list[tuple[str, cst.BaseExpression]]:
        """(key, value) of the lookups that pick the tenant: every lookup on the tenant model itself,
        and the lookups on a tenant path of a tenant-owned model (``organization_id=...``)."""
        on_tenant = chain.model in self.ctx.index.tenant_models
        paths = self.ctx.index.tenant_paths.get(chain.model, ())
        out: list[tuple[str, cst.BaseExpression]] = []
        for pred in self.predicates(chain):
            if pred.value is None or pred.kind == "opaque":
                continue
            if pred.kind == "kw":
                if (on_tenant and identifies_tenant(pred.key)) or lookup_key_scopes(
                    pred.key, paths, self.ctx.index.tenant_properties
                ):
                    out.append((pred.key, pred.value))
            else:
                out.extend(self._expr_lookups(pred.value, paths, on_tenant))
        return out

    def _expr_lookups(
        self, expr: cst.BaseExpression, paths: Sequence[str], on_tenant: bool
    ) -> list[tuple[str, cst.BaseExpression]]:
        if isinstance(expr, cst.BinaryOperation):
            return self._expr_lookups(expr.left, paths, on_tenant) + self._expr_lookups(expr.right, paths, on_tenant)
        if isinstance(expr, cst.Comparison):
            operands = [expr.left, *(c.comparator for c in expr.comparisons)]
            for i, op in enumerate(operands):
                col = self._column(op)
                if col is None:
                    continue
                hit = col[0] in self.ctx.index.tenant_models if on_tenant else self._is_tenant_column(op)
                if hit:
                    others = [o for j, o in enumerate(operands) if j != i]
                    return [(col[1], others[0])] if others else []
            return []
        if isinstance(expr, cst.Call):
            name = self.ctx.resolve(dotted_name(expr.func).rsplit(".", 1)[-1])
            if name in self.k["queries.predicate_builders"]:
                out: list[tuple[str, cst.BaseExpression]] = []
                for a in expr.args:
                    if a.keyword is not None:
                        if on_tenant or lookup_key_scopes(a.keyword.value, paths, self.ctx.index.tenant_properties):
                            out.append((a.keyword.value, a.value))
                    else:
                        out.extend(self._expr_lookups(a.value, paths, on_tenant))
                return out
            if isinstance(expr.func, cst.Attribute) and expr.args:
                col = self._column(expr.func.value)
                if col is not None and (
                    col[0] in self.ctx.index.tenant_models if on_tenant else self._is_tenant_column(expr.func.value)
                ):
                    return [(col[1], expr.args[0].value)]
        return []

    def is_trusted(self, expr: cst.BaseExpression) -> bool:
        """Whether ``expr`` is a membership-verified org or the signed-in user (or reached from one)."""
        text = dotted_name(expr)
        trusted = self.k["trusted.org_sources"]
        return is_trusted_expr(text, trusted) or is_trusted_expr(self.ctx.qualified(text), trusted)
