"""ORG101 unscoped-tenant-query: a query on a tenant-owned model with no tenant predicate."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import libcst as cst

from orgguard.checkers._surface import SurfaceQueryChecker, query_fields, query_traits
from orgguard.engine import vocab, walk
from orgguard.engine.context import FileContext, dotted_name
from orgguard.engine.facts import (
    FunctionFacts,
    Surface,
    bound_args,
    class_bases,
    class_strings,
    is_list_view,
    is_view_class,
    object_permission_guard,
)
from orgguard.engine.queries import QueryChain, Scoping
from orgguard.engine.records import ProjectIndex
from orgguard.knowledge import Knowledge

WRITES = frozenset({"create", "update", "get_or_create", "update_or_create", "values"})
BODY = frozenset({"data", "POST", "json", "get_json", "form", "payload"})  # a client's whole body: every field


def _sets_field(fixed: Sequence[str], field: str) -> bool:
    """Whether a write that sets ``fixed`` itself sets ``field`` (``organization_id`` through ``organization``)."""
    return field in fixed or field.removesuffix("_id") in fixed or f"{field}_id" in fixed


class UnscopedQueryChecker(SurfaceQueryChecker):
    """Flags queries in request handlers that reach tenant-owned rows without narrowing to one tenant, and
    writes that point a row at a tenant-owned row the client picked by id (the row is never looked up)."""

    codes = ("ORG101",)
    surface = Surface.REQUEST

    @classmethod
    def triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        # ...or a handler takes a request body that declares the tenant field
        return [*super().triggers(knowledge, index), *index.tenant_bodies()]

    @classmethod
    def statement_triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        return [*super().statement_triggers(knowledge, index), *index.tenant_bodies()]

    def visit_Call(self, node: cst.Call) -> None:
        super().visit_Call(node)
        self._reference_write(node)
        self._body_write(node)

    # -- a request body that declares the tenant field, written whole onto a row -------------------

    def _body_write(self, node: cst.Call) -> None:
        """``self.mixins.update_one(data, item_id)`` with ``data: ShoppingListUpdate`` (which declares
        ``group_id``) reaching ``entry.update(**data.model_dump())``: the client moves the row to the tenant
        it names. Reported at the handler's call, where the body is handed on."""
        facts = self.analysis.current_facts()
        info = facts.info if facts is not None else None
        if facts is None or info is None or not (info.body_tenant or info.body_refs) or not self.owns(facts):
            return
        flow = self.analysis.flow()
        summary = flow.summary_for(node) if flow is not None else None
        if summary is None or not summary.writes:
            return
        bodies = {param: (body, field) for param, body, field in info.body_tenant}
        refs: dict[str, list[tuple[str, str, str]]] = {}
        for param, klass, name, target in info.body_refs:
            refs.setdefault(param, []).append((klass, name, target))
        fixed_of = dict(summary.writes_fixed)
        for var, param in bound_args(node, summary):
            if param not in summary.writes:
                continue
            # the fields the write sets itself beside the body (`Meter(**body, organization=org)`): not the client's
            fixed = fixed_of.get(param, ())
            bodies = {p: (b, f) for p, (b, f) in bodies.items() if not _sets_field(fixed, f)}
            refs = {p: [r for r in rs if not _sets_field(fixed, r[1])] for p, rs in refs.items()}
            refs = {p: rs for p, rs in refs.items() if rs}
            body = var if var in bodies or var in refs else self._walked_body(var, node, {**bodies, **refs})
            built = self._last_assigned(var, node)
            if built is not None:
                # rebound before the call (`data = cast(data, Save, group_id=self.group_id)`): only a row built
                # from the body's own foreign ids (`Save(text=data.text, recipe_id=data.recipe_id)`) says more
                copied = self._copied_refs(built, refs)
                if copied:
                    self._body_reference(node, set(refs), copied, built)
                    return
                continue
            if body is None:
                continue
            if body not in bodies:
                self._body_reference(node, {var, body}, refs[body])
                return
            klass, field = bodies[body]
            func = self.ctx.scope.outer_function
            tenants = sorted(self.ctx.index.tenant_models)
            tenant = next((t for t in tenants if t.lower() == field.removesuffix("_id").replace("_", "")), "")
            self.ctx.report(
                "ORG101",
                node,
                shape="body_tenant_write",
                query=f"{dotted_name(node.func) or 'call'}()",
                body=klass,
                ref=field,
                tenant=tenant or (tenants[0] if tenants else "tenant"),
                where=self.phrase("where_own", function=func.name.value) if func is not None else "",
            )
            return

    def _body_reference(
        self, node: cst.Call, names: set[str], refs: list[tuple[str, str, str]], built: cst.CSTNode | None = None
    ) -> None:
        """The body declares a foreign id (``shopping_list_id``) of a tenant-owned model and is written whole:
        the client picks the referenced row, unless the handler first hands that id to a lookup
        (``self.repos.recipes.get_one(data.recipe_id)``, whose result it checks); ``built``, the row's own
        constructor, looks nothing up."""
        func = self.ctx.scope.outer_function
        if func is None:
            return
        looked_up: set[str] = set()
        for sub in walk.iter_tree(func.body):
            if sub is node:
                break
            if isinstance(sub, cst.Call) and sub is not built:
                # get_one(data.recipe_id), where(Project.id == data.project_id): the id is looked up
                for arg in sub.args:
                    for value in walk.iter_tree(arg.value):
                        if (
                            isinstance(value, cst.Attribute)
                            and isinstance(value.value, cst.Name)
                            and value.value.value in names
                        ):
                            looked_up.add(value.attr.value)
        for klass, field, target in refs:
            if field in looked_up:
                continue
            display = f"{dotted_name(node.func) or 'call'}()"
            self._report_reference(
                "body_reference", node, display, field, f"the request body {klass}", target, self._orm()
            )
            return

    @staticmethod
    def _copied_refs(
        built: cst.BaseExpression, refs: Mapping[str, list[tuple[str, str, str]]]
    ) -> list[tuple[str, str, str]]:
        """The body's foreign ids a call copies: a constructor under their own name (``recipe_id=data.recipe_id``),
        or a conversion of the whole body with some fields overridden (``mapper.cast(data, Save,
        group_id=self.group_id)``, ``data.cast(Save, id=item_id)``): every foreign id it does not override."""
        if not isinstance(built, cst.Call):
            return []
        func = built.func
        # `Save(**data.model_dump(), group_id=self.group_id)`: the body's fields spread into the row
        spread = [_copied_name(a.value) for a in built.args if a.star == "**"]
        whole = next(
            (
                name
                for name in (
                    _name(built.args[0].value) if built.args and built.args[0].keyword is None else "",
                    _name(func.value) if isinstance(func, cst.Attribute) else "",
                    *spread,
                )
                if name in refs
            ),
            "",
        )
        if whole:
            overridden = {a.keyword.value for a in built.args if a.keyword is not None}
            return [r for r in refs[whole] if r[1] not in overridden]
        if not dotted_name(func).rsplit(".", 1)[-1][:1].isupper():
            return []
        out: list[tuple[str, str, str]] = []
        for arg in built.args:
            value = arg.value
            if (
                arg.keyword is not None
                and isinstance(value, cst.Attribute)
                and isinstance(value.value, cst.Name)
                and value.value.value in refs
                and value.attr.value == arg.keyword.value
            ):
                out.extend(r for r in refs[value.value.value] if r[1] == arg.keyword.value)
        return out

    def _walked_body(self, var: str, before: cst.Call, bodies: Mapping[str, object]) -> str | None:
        """The body parameter ``var`` walks (``for cookbook in data:``), when it is the target of a loop
        over one around ``before``."""
        func = self.ctx.scope.outer_function
        if func is None:
            return None
        for sub in walk.iter_tree(func.body):
            if (
                isinstance(sub, cst.For)
                and isinstance(sub.target, cst.Name)
                and sub.target.value == var
                and isinstance(sub.iter, cst.Name)
                and sub.iter.value in bodies
                and any(n is before for n in walk.iter_tree(sub.body))
            ):
                return sub.iter.value
        return None

    def owns(self, facts: FunctionFacts) -> bool:
        """Request handlers, and the custom views of an admin that serves tenants' own staff: its changelist
        is narrowed to their tenants, so a view that takes an object's id in its URL must narrow too."""
        if super().owns(facts):
            return True
        info = facts.info
        return (
            facts.surface is Surface.ADMIN
            and info is not None
            and bool(info.klass)
            and any(origin.startswith("request:") for _param, origin in info.initial)
            and self.ctx.index.tenant_admin(info.klass.rsplit(".", 1)[-1])
        )

    # -- writes that reference a row the client picks ----------------------------------------------

    def _written(self, node: cst.Call) -> tuple[str, str, set[str], cst.Call] | None:
        """(model, display, ORM traits, the call holding the fields) of a write that sets fields:
        ``Comment.objects.create(...)``, ``qs.update(...)``, ``session.execute(update(Comment).values(...))``,
        ``Comment(...)``."""
        func = node.func
        chain = self.analysis.queries.chain(node)
        if chain is not None:
            writes = [link for link in chain.links if link.name in WRITES and link.call is not None]
            if not writes or writes[-1].call is None:
                return None
            method, call = writes[-1].name, writes[-1].call
            display = chain.display
            if not display.endswith(f".{method}()"):
                display = f"{display.removesuffix('()') if display.endswith('.all()') else display}.{method}()"
            return chain.model, display, query_traits(self.ctx, chain) - {"indirect", "shortcut"}, call
        if isinstance(func, cst.Attribute) and func.attr.value in WRITES:
            if func.attr.value == "values":
                return None  # a link of a statement: judged with the statement's top
            if isinstance(func.value, cst.Name):
                # foods = Food.objects.filter(...); foods.update(category_id=...)
                bound = self._bound_query(func.value.value, node)
                if bound is not None:
                    return bound.model, f"{bound.display}.{func.attr.value}()", query_traits(self.ctx, bound), node
            # Comment.objects.create(...); Query.create(**data): a model's own constructor classmethod
            if not node.args:
                return None
            owner = func.value.value if isinstance(func.value, cst.Attribute) else func.value
            model = self.ctx.model_of(func.value) or self.ctx.model_of(owner)
            if model is not None:
                return model, f"{dotted_name(func) or model}()", self._orm(), node
            return None
        if not node.args or not isinstance(func, (cst.Name, cst.Attribute)):
            return None
        last = func.value if isinstance(func, cst.Name) else func.attr.value
        if last not in self.ctx.index.models:
            return None  # not a model's constructor (the common case: asked before resolving the name)
        model = self.ctx.model_of(func)
        return (model, f"{model}()", self._orm(), node) if model is not None else None

    def _dict_literal(self, expr: cst.BaseExpression, before: cst.Call) -> cst.Dict | None:
        """``{"k": v}`` itself, or the dict literal a name was last assigned before ``before``."""
        if isinstance(expr, cst.Dict):
            return expr
        value = self._last_assigned(expr.value, before) if isinstance(expr, cst.Name) else None
        return value if isinstance(value, cst.Dict) else None

    def _bound_query(self, name: str, before: cst.Call) -> QueryChain | None:
        """The query last assigned to ``name`` before ``before`` in the function."""
        value = self._last_assigned(name, before)
        return self.analysis.queries.chain(value) if value is not None else None

    def _last_assigned(self, name: str, before: cst.CSTNode) -> cst.BaseExpression | None:
        """The value ``name = <value>`` last bound in the function before ``before``."""
        func = self.ctx.scope.outer_function
        found: cst.BaseExpression | None = None
        for sub in walk.iter_tree(func.body) if func is not None else ():
            if sub is before:
                break
            if (
                isinstance(sub, cst.Assign)
                and len(sub.targets) == 1
                and isinstance(sub.targets[0].target, cst.Name)
                and sub.targets[0].target.value == name
            ):
                found = sub.value
        return found

    def _orm(self) -> set[str]:
        """A model written by its constructor: Django's ORM in Django code, SQLAlchemy's elsewhere."""
        return {"sqlalchemy"} if self.ctx.traits & {"sqlalchemy", "flask", "fastapi"} else {"django"}

    def _reference_target(self, model: str, field: str) -> str | None:
        """The tenant-owned model ``field`` points at (``ticket_id`` of Comment: Ticket), if it is one."""
        index = self.ctx.index
        info = index.models.get(model)
        if info is None:
            return None
        for name, target in info.relations:
            if field not in (f"{name}_id", name) or (field == name and not name.endswith("_id")):
                continue
            found = index.tables.get(target[6:], "") if target.startswith("table:") else target
            if found and index.is_tenant_owned(found) and found not in index.tenant_models:
                return found
        return None

    def _reference_write(self, node: cst.Call) -> None:
        facts = self.analysis.current_facts()
        if facts is None or facts.surface is not Surface.REQUEST:
            return
        written = self._written(node)
        if written is None:
            self._helper_assignment(node)
            return
        if not self.ctx.index.is_tenant_owned(written[0]):
            return
        model, display, orm, call = written
        pairs: list[tuple[str, cst.BaseExpression]] = []
        for arg in call.args:
            literal = self._dict_literal(arg.value, node)
            if arg.star == "**" and literal is None:
                self._mass_assignment(node, arg.value, model, display, orm)
            elif arg.keyword is not None:
                pairs.append((arg.keyword.value, arg.value))
            elif literal is not None:  # query.update({"notebook_id": ...}); args = {...}; MealPlan(**args)
                pairs.extend(
                    (key, el.value)
                    for el in literal.elements
                    if isinstance(el, cst.DictElement) and (key := _string(el.key)) is not None
                )
        for field, expr in pairs:
            target = self._reference_target(model, field)
            if target is None:
                continue
            value = self.analysis.value(expr)
            taint = value.first() if value.tainted else None
            if taint is None or taint.kind != "request" or self._vouched(node, _expr_key(expr), target):
                continue
            self._report_reference("reference_write", node, display, field, taint.source, target, orm)
            return

    def visit_Assign(self, node: cst.Assign) -> None:
        """``obj.epic_id = self.kwargs["epic"]``: a row pointed at another row by an id the client sends."""
        facts = self.analysis.current_facts()
        if facts is None or facts.surface is not Surface.REQUEST or len(node.targets) != 1:
            return
        target = node.targets[0].target
        if not isinstance(target, cst.Attribute) or not target.attr.value.endswith("_id"):
            return
        model = self._row_model(target.value, node)
        ref = self._reference_target(model, target.attr.value) if model is not None else None
        if model is None or ref is None or not self.ctx.index.is_tenant_owned(model):
            return
        value = self.analysis.value(node.value)
        taint = value.first() if value.tainted else None
        if taint is None or taint.kind != "request" or self._vouched(node, _expr_key(node.value), ref):
            return
        display = f"{model} row {dotted_name(target.value)}"
        self._report_reference("reference_write", node, display, target.attr.value, taint.source, ref, self._orm())

    def _helper_assignment(self, node: cst.Call) -> None:
        """``self.update_model(query, query_def)``: a project helper that sets every key of a dict on a row
        (its summary says which parameters), handed a tenant-owned row and the client's body."""
        flow = self.analysis.flow()
        summary = flow.summary_for(node) if flow is not None else None
        if summary is None or not summary.assigns or any(a.star for a in node.args):
            return
        params = list(summary.params)
        func = node.func
        owner = summary.klass.rsplit(".", 1)[-1]
        if summary.klass and isinstance(func, cst.Attribute) and dotted_name(func.value).rsplit(".", 1)[-1] != owner:
            params = params[1:]  # a bound call: self is not among the arguments
        given: dict[str, cst.BaseExpression] = {}
        for i, arg in enumerate(node.args):
            name = arg.keyword.value if arg.keyword is not None else (params[i] if i < len(params) else "")
            if name:
                given[name] = arg.value
        for row_param, dict_param in summary.assigns:
            row, data = given.get(row_param), given.get(dict_param)
            model = self._row_model(row, node) if row is not None else None
            if data is None or model is None or not self.ctx.index.is_tenant_owned(model):
                continue
            self._mass_assignment(node, data, model, f"{summary.name}() on {model}", self._orm())
            return

    def _row_model(self, row: cst.BaseExpression, before: cst.CSTNode) -> str | None:
        """The model of the row a name was last bound to: a query's, or the model a lookup call names
        (``get_object_or_404(models.Query.get_by_id_and_org, ...)``); for a parameter of a view's method
        (``pre_save(self, obj)``), the view's model."""
        value = self._last_assigned(row.value, before) if isinstance(row, cst.Name) else None
        if value is None:
            return self._view_model(row)
        chain = self.analysis.queries.chain(value)
        if chain is not None:
            return chain.model
        if isinstance(value, cst.Call):
            for expr in (value.func, *(a.value for a in value.args[:1])):
                for part in reversed(dotted_name(expr).split(".")):
                    if part in self.ctx.index.models:
                        return part
        return None

    def _view_model(self, row: cst.BaseExpression) -> str | None:
        """The ``model =`` of the view class whose method takes ``row`` as a parameter (the row it saves)."""
        func, klass = self.ctx.scope.outer_function, self.ctx.scope.klass
        if not isinstance(row, cst.Name) or func is None or klass is None or not is_view_class(self.ctx, klass):
            return None
        if row.value not in {p.name.value for p in func.params.params[1:]}:
            return None
        text = self.ctx.index.class_alias(klass.name.value, "model")
        model = text.rsplit(".", 1)[-1] if text else ""
        return model if model in self.ctx.index.models else None

    def _mass_assignment(
        self, node: cst.Call, data: cst.BaseExpression, model: str, display: str, orm: set[str]
    ) -> None:
        """``Query.create(**request.get_json())``: every field the client sends, its references included
        (but the keys the handler pops, or sets itself, before the write, and any key outside a projection
        of the body to named keys: ``project(body, ("name", "query_id"))``)."""
        value = self.analysis.value(data)
        taint = value.first() if value.tainted else None
        if taint is None or taint.kind != "request" or not _whole_body(taint.source):
            return
        info = self.ctx.index.models.get(model)
        name = data.value if isinstance(data, cst.Name) else ""
        popped, assigned = self._keys_handled(node, name) if name else (set(), set())
        kept = self._projection(name, node) if name else None
        for field, _target in info.relations if info is not None else ():
            if "sqlalchemy" in orm and not field.endswith("_id"):
                continue  # a relationship(): the client's JSON cannot hand it a row, only its _id column
            base = field.removesuffix("_id")
            ref = f"{base}_id"
            if ref in popped or {field, base, ref} & assigned or self._reference_target(model, ref) is None:
                continue  # popping `org` leaves `org_id`; setting `org` to a row overrides either
            if kept is not None and not {field, base, ref} & kept:
                continue
            target = self._reference_target(model, ref)
            if target is None or (name and self._vouched(node, f"{name}[{ref!r}]", target)):
                continue
            shape = "mass_assignment" if kept is None else "kept_assignment"
            self._report_reference(shape, node, display, ref, taint.source, target, orm)
            return

    def _keys_handled(self, node: cst.Call, name: str) -> tuple[set[str], set[str]]:
        """Keys of the dict ``name`` that the function pops or deletes, and that it sets, before ``node``."""
        func = self.ctx.scope.outer_function
        popped: set[str] = set()
        assigned: set[str] = set()
        if func is None:
            return popped, assigned
        for sub in walk.iter_tree(func.body):
            if sub is node:
                break
            if (
                isinstance(sub, cst.Call)
                and isinstance(sub.func, cst.Attribute)
                and sub.func.attr.value == "pop"
                and dotted_name(sub.func.value) == name
                and sub.args
            ):
                key = _string(sub.args[0].value)
                if key is not None:
                    popped.add(key)
            elif isinstance(sub, (cst.AssignTarget, cst.Del)):
                target = sub.target
                if isinstance(target, cst.Subscript) and dotted_name(target.value) == name:
                    key = _subscript_key(target)
                    if key is not None:
                        (popped if isinstance(sub, cst.Del) else assigned).add(key)
        return popped, assigned

    def _projection(self, name: str, before: cst.Call) -> set[str] | None:
        """The keys a dict can hold when it was built by a call given a literal list of them
        (``project(req, ("options", "name", "query_id"))``); None when any key can come."""
        value = self._last_assigned(name, before)
        if not isinstance(value, cst.Call):
            return None
        for arg in value.args:
            if isinstance(arg.value, (cst.Tuple, cst.List)) and arg.value.elements:
                keys = [_string(el.value) for el in arg.value.elements]
                if all(k is not None for k in keys):
                    return {k for k in keys if k is not None}
        return None

    def _vouched(self, node: cst.CSTNode, key: str | None, target: str) -> bool:
        """Whether the id was vouched for before the write: looked up in a query on ``target`` narrowed to
        the tenant (``get_object_or_404(Ticket, pk=tid, project__organization=org)``), handed to a lookup
        together with the verified tenant (``Dashboard.get_by_id_and_org(did, current_org)``), or found in
        a set of ids such a query returned (``if tid not in ids: raise``)."""
        func = self.ctx.scope.outer_function
        if func is None or key is None:
            return False
        queries = self.analysis.queries
        scoped_sets: set[str] = set()
        for sub in walk.iter_tree(func.body):
            if sub is node:
                return False
            if isinstance(sub, cst.Assign) and len(sub.targets) == 1 and isinstance(sub.targets[0].target, cst.Name):
                if any(self._scoped_on(c, target) for c in walk.iter_tree(sub.value) if isinstance(c, cst.Call)):
                    scoped_sets.add(sub.targets[0].target.value)
            elif isinstance(sub, cst.Comparison) and _expr_key(sub.left) == key:
                if any(
                    isinstance(c.operator, (cst.In, cst.NotIn)) and dotted_name(c.comparator) in scoped_sets
                    for c in sub.comparisons
                ):
                    return True
            elif isinstance(sub, cst.Call):
                chain = queries.chain(sub)
                if chain is not None:
                    if any(_expr_key(v) == key for _k, v in queries.lookups(chain)) and self._scoped_on(sub, target):
                        return True
                elif any(_expr_key(a.value) == key for a in sub.args) and any(
                    self.analysis.value(a.value).trusted for a in sub.args
                ):
                    return True
        return False

    def _scoped_on(self, call: cst.Call, target: str) -> bool:
        queries = self.analysis.queries
        chain = queries.chain(call)
        if chain is None or chain.model != target:
            return False
        # narrowed by itself, or judged scoped where it stands (by a verified parent, a scoping manager)
        if queries.scoping(chain) is not Scoping.UNSCOPED:
            return True
        verdict = self.analysis.unscoped(chain)
        if verdict is None:
            return True
        # narrowed by a parameter no caller fills with client input (a project the handler verified)
        facts = self.analysis.current_facts()
        info = facts.info if facts is not None else None
        return info is not None and any(
            not any(self.ctx.index.reaches_param(info.qualname, n) for n in group) for group in verdict.groups
        )

    def _report_reference(  # noqa: PLR0917
        self, shape: str, node: cst.CSTNode, display: str, ref: str, source: str, target: str, orm: set[str]
    ) -> None:
        func = self.ctx.scope.outer_function
        facts = self.analysis.current_facts()
        helper = facts is not None and facts.info is not None and facts.info.helper
        where = self.phrase("where_helper" if helper else "where_own", function=func.name.value) if func else ""
        traits = set(orm)
        if "__" in self.ctx.index.primary_path(target):
            traits.add("indirect")
        self.ctx.report(
            "ORG101",
            node,
            shape=shape,
            traits=traits,
            query=display,
            ref=ref,
            source=source,
            where=where,
            fields=query_fields(self.ctx, target),
        )

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if not is_view_class(self.ctx, node):
            return
        attrs = self.ctx.knowledge["requests.class_query_attrs"]
        hooks = self.ctx.knowledge["requests.queryset_hooks"]
        infos = list(self.ctx.index.ancestors(node.name.value))
        defined = {m for info in infos for m in info.methods if m in hooks}
        defined |= {s.name.value for s in node.body.body if isinstance(s, cst.FunctionDef) and s.name.value in hooks}
        scoping = {h for info in infos for h in info.scoping_hooks}
        inheriting = {h for info in infos for h in info.inheriting_hooks}
        if any(info.narrows_queryset for info in infos):
            return  # a mixin narrows self.queryset before any handler runs (restrict(user), for_org(...))
        if class_bases(self.ctx, node) & self.ctx.knowledge["requests.scoping_mixins"]:
            return  # a declared mixin's get_queryset narrows it to the user's tenants
        if any(info.staff for info in infos):
            return  # a staff-only view: listing every tenant's rows is what it is for
        if self._capability_lookup(node):
            return  # get_object() finds rows by a bearer secret (`lookup_field = "token"`)
        if any(info.filtered for info in infos) or (
            self.ctx.index.default_filtered and not any(info.sets_filters for info in infos)
        ):
            return  # its filter backends narrow every list it serves to the user's tenants
        if defined & scoping or (defined and not defined & inheriting):
            # a hook narrows it, or replaces the class queryset altogether (judged on its own)
            return
        if _create_only(self.ctx, node):
            return  # the class queryset of a create-only view is never read
        if not is_list_view(self.ctx, node) and object_permission_guard(self.ctx, node):
            # a detail view: get_object() runs a permission class that checks the tenant of the object
            return
        if not is_list_view(self.ctx, node) and (
            _own_get_object(node)
            or any(self._own_fetch(f"{info.qualname}.get_object") for info in infos if "get_object" in info.methods)
        ):
            # a detail view whose get_object() builds its own query (its own, or a project mixin's): the class
            # queryset is read only there, and that query is judged where it is
            return
        for stmt in node.body.body:
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            for small in stmt.body:
                if not isinstance(small, cst.Assign) or len(small.targets) != 1:
                    continue
                target = small.targets[0].target
                if not isinstance(target, cst.Name) or target.value not in attrs:
                    continue
                self._class_attr(node, stmt, small.value, target.value, bool(defined))

    def _own_fetch(self, qualname: str) -> bool:
        summary = self.ctx.index.function(qualname)
        return summary is not None and summary.own_fetch

    def _capability_lookup(self, klass: cst.ClassDef) -> bool:
        field = class_strings(klass).get("lookup_field")
        return field is not None and vocab.is_secret_field(field, self.ctx.knowledge["models.secret_fields"])

    def _class_attr(
        self, klass: cst.ClassDef, stmt: cst.SimpleStatementLine, value: cst.BaseExpression, attr: str, hooked: bool
    ) -> None:
        queries = self.analysis.queries
        chain = queries.chain(value)
        if chain is not None:
            if not self.ctx.index.is_tenant_owned(chain.model) or queries.scoping(chain) is not Scoping.UNSCOPED:
                return
            if self.analysis.unscoped(chain) is None:
                return  # a manager that scopes at run time
            query, model = chain.display, chain.model
        else:
            # `model = X` is read as X._default_manager.all() by Django's generic views (DRF ignores it)
            reads_model = bool(class_bases(self.ctx, klass) & self.ctx.knowledge["requests.model_views"])
            model_name = self.ctx.model_of(value) if attr == "model" and reads_model else None
            info = self.ctx.index.models.get(model_name or "")
            if info is not None and info.default_manager in info.scoped_managers:
                return
            if model_name is None or not self.ctx.index.is_tenant_owned(model_name):
                return
            query, model = f"model = {model_name}", model_name
        fields = query_fields(self.ctx, model)
        indirect = {"indirect"} if "__" in fields["field"] else set()
        self.ctx.report(
            "ORG101",
            value if chain is not None else stmt,
            statement=stmt,
            shape="class_queryset",
            # a queryset's own ORM; `model = X` is read by Django's generic views
            traits=query_traits(self.ctx, chain) if chain is not None else {"django", *indirect},
            query=query,
            view=klass.name.value,
            reason=self.phrase("reason_hooked" if hooked else "reason_unhooked"),
            fields=fields,
        )


READERS = frozenset({"get", "list", "retrieve", "get_object", "get_context_data", "head"})


def _create_only(ctx: FileContext, klass: cst.ClassDef) -> bool:
    bases = class_bases(ctx, klass)
    if not bases & ctx.knowledge["requests.create_only_bases"] or is_list_view(ctx, klass):
        return False
    readers = {
        "RetrieveAPIView",
        "UpdateAPIView",
        "DestroyAPIView",
        "RetrieveModelMixin",
        "UpdateModelMixin",
        "DestroyModelMixin",
        "DetailView",
        "UpdateView",
        "DeleteView",
        "ModelViewSet",
        "GenericViewSet",
    }
    if bases & readers:
        return False
    methods = {s.name.value for s in klass.body.body if isinstance(s, cst.FunctionDef)}
    for info in ctx.index.ancestors(klass.name.value):
        methods.update(info.methods)
    return not methods & READERS


def _name(expr: cst.BaseExpression) -> str:
    return expr.value if isinstance(expr, cst.Name) else ""


def _copied_name(expr: cst.BaseExpression) -> str:
    """The name whose fields a value is: ``data``, or a copy of them (``data.model_dump()``, ``data.dict()``)."""
    if (
        isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Attribute)
        and expr.func.attr.value in vocab.FIELD_COPIES
    ):
        return _name(expr.func.value)
    return _name(expr)


def _string(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.SimpleString) and isinstance(expr.evaluated_value, str):
        return expr.evaluated_value
    return None


def _subscript_key(expr: cst.Subscript) -> str | None:
    if len(expr.slice) != 1 or not isinstance(expr.slice[0].slice, cst.Index):
        return None
    return _string(expr.slice[0].slice.value)


def _expr_key(expr: cst.BaseExpression) -> str | None:
    """A value's text when it names one (``tid``, ``data.ticket_id``, ``request.data["ticket"]``, the same
    as ``request.data.get("ticket")``)."""
    if isinstance(expr, (cst.Name, cst.Attribute)):
        return dotted_name(expr) or None
    if isinstance(expr, cst.Subscript):
        base, key = _expr_key(expr.value), _subscript_key(expr)
        return f"{base}[{key!r}]" if base and key is not None else None
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "get":
        base = _expr_key(expr.func.value)
        key = _string(expr.args[0].value) if expr.args else None
        return f"{base}[{key!r}]" if base and key is not None else None
    return None


def _whole_body(source: str) -> bool:
    """``request.get_json()``, ``request.POST.dict()``: the body as a whole, not one field of it."""
    if "[" in source or ".get(" in source:
        return False
    parts = [p.split("(", 1)[0] for p in source.split(".")]
    return len(parts) > 1 and parts[-1] in BODY | vocab.FIELD_COPIES and any(p in BODY for p in parts[1:])


def _own_get_object(klass: cst.ClassDef) -> bool:
    """Whether the class defines ``get_object`` without the inherited one or ``get_queryset()``."""
    for stmt in klass.body.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == "get_object":
            return not any(
                isinstance(sub, cst.Call)
                and (
                    (isinstance(sub.func, cst.Name) and sub.func.value == "super")
                    or (isinstance(sub.func, cst.Attribute) and sub.func.attr.value == "get_queryset")
                )
                for sub in walk.iter_tree(stmt.body)
            )
    return False
