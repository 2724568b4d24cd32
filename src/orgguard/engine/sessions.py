"""Which SQLAlchemy sessions scope queries at run time, and which statements are deliberate bypasses.

orgguard.runtime's ``install(factory)`` makes every session of that factory (a ``sessionmaker``, an
``async_sessionmaker``, a ``scoped_session``, Flask-SQLAlchemy's ``db.session``) add the active org's
predicate to queries on ``OrgScoped`` models, and refuse them with no org bound; ``org_session(factory,
ctx)`` refuses a factory nobody installed. So a query on such a model is scoped when the session that runs
it comes, as far as the project shows, from an installed factory:

- the session expression itself is installed (``db.session.get(...)``, a ``scoped_session`` used as a
  session) or is the extension object whose ``.session`` is (``db.get_or_404(...)``);
- it is a local name bound, on every binding in the function, to ``F()``, ``F.begin()``, ``with F() as s``
  or ``org_session(F, ctx)`` with ``F`` installed, or to an installed session;
- it is a parameter injected with ``Depends(get_db)`` whose provider returns or yields only such sessions.

"Installed" is project-wide (the index): some module calls ``install(...)`` on that very object, or binds
the name to what ``install(...)`` returns. A session handed in any other way (a plain parameter, an
attribute of ``self``) is not known to be installed, and the query is judged as a plain one.

The knowledge packs name the pieces: ``models.scoped_bases``, ``queries.session_installers``,
``queries.scoped_sessions`` and ``queries.audited_bypasses``.
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from orgguard.engine import vocab, walk
from orgguard.engine.context import FileContext, dotted_name


def _module_names(module: cst.Module) -> frozenset[str]:
    """Names bound at module level (assignments, functions, classes)."""
    out: set[str] = set()
    for stmt in module.body:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            out.add(stmt.name.value)
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign):
                    out.update(t.target.value for t in small.targets if isinstance(t.target, cst.Name))
                elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                    out.add(small.target.value)
    return frozenset(out)


def _unwrap(expr: cst.BaseExpression) -> cst.BaseExpression:
    return expr.expression if isinstance(expr, cst.Await) else expr


def _reason(call: cst.Call) -> bool:
    """Whether a bypass call gives a reason: ``reason=`` or its first argument, not empty, not None."""
    named = [a.value for a in call.args if a.keyword is not None and a.keyword.value == "reason"]
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    if not named and not positional:
        return False
    value = (named or positional)[0]
    if isinstance(value, cst.Name) and value.value == "None":
        return False
    if isinstance(value, (cst.SimpleString, cst.ConcatenatedString)):
        text = value.evaluated_value
        return isinstance(text, str) and bool(text.strip())
    return True  # a variable, an f-string, a call: the runtime checks it is not empty


class SessionModel:
    """Answers, for one file, whether the session running a query scopes it at run time."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.k = ctx.knowledge
        self._module_names: frozenset[str] | None = None
        self._bindings: dict[int, dict[str, list[cst.BaseExpression | cst.Param]]] = {}

    # -- names -------------------------------------------------------------------------------------

    def qualify(self, text: str) -> str:
        """A dotted expression qualified as the index names project objects: through this file's imports,
        or by this module's name for a module-level name (``SessionLocal`` -> ``app.db.SessionLocal``)."""
        head = text.split(".", 1)[0].removesuffix("()")
        if head in self.ctx.imports:
            return self.ctx.qualified(text)
        if self._module_names is None:
            self._module_names = _module_names(self.ctx.module)
        if head in self._module_names:
            return f"{self.ctx.module_name}.{text}"
        return ""

    def _installed(self, text: str) -> bool:
        qualified = self.qualify(text) if text else ""
        installed = self.ctx.index.installed_sessions
        return bool(qualified) and (qualified in installed or f"{qualified}.session" in installed)

    # -- sessions ----------------------------------------------------------------------------------

    def scopes(self, receiver: cst.BaseExpression, func: cst.FunctionDef | None) -> bool:
        """Whether the session expression ``receiver`` (in ``func``) comes from an installed factory."""
        receiver = _unwrap(receiver)
        if isinstance(receiver, cst.Call):
            return self._opens_scoped(receiver)
        text = dotted_name(receiver)
        if self._installed(text):
            return True
        if func is None or not isinstance(receiver, cst.Name):
            return False
        bindings = self._bindings_of(func).get(receiver.value, [])
        return bool(bindings) and all(self._binding_scopes(b) for b in bindings)

    def _opens_scoped(self, call: cst.Call) -> bool:
        """``SessionLocal()``, ``SessionLocal.begin()``, ``org_session(SessionLocal, ctx)``."""
        text = dotted_name(call.func)
        if text and vocab.matches_any(self.ctx.qualified(text), self.k["queries.scoped_sessions"]):
            return True  # refuses a factory nobody installed
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "begin":
            func = func.value
        return not any(a.keyword is None for a in call.args) and self._installed(dotted_name(func))

    def _binding_scopes(self, binding: cst.BaseExpression | cst.Param) -> bool:
        if isinstance(binding, cst.Param):
            provider = self._provider(binding)
            info = self.ctx.index.function(self.qualify(provider)) if provider else None
            return info is not None and info.scoped_session
        value = _unwrap(binding)
        if isinstance(value, cst.Call):
            return self._opens_scoped(value)
        return self._installed(dotted_name(value))

    def _provider(self, param: cst.Param) -> str:
        """``get_db`` of ``db: Session = Depends(get_db)`` / ``db: Annotated[Session, Depends(get_db)]``."""
        markers = self.k["trusted.dependency_markers"]
        places: list[cst.CSTNode] = [p for p in (param.default, param.annotation) if p is not None]
        for node in (n for place in places for n in walk.iter_tree(place)):
            if (
                isinstance(node, cst.Call)
                and vocab.short(dotted_name(node.func)) in markers
                and node.args
                and node.args[0].keyword is None
            ):
                return dotted_name(node.args[0].value)
        return ""

    def _bindings_of(self, func: cst.FunctionDef) -> dict[str, list[cst.BaseExpression | cst.Param]]:
        key = id(func)
        if key not in self._bindings:
            out: dict[str, list[cst.BaseExpression | cst.Param]] = {}
            params = func.params
            for param in (*params.posonly_params, *params.params, *params.kwonly_params):
                out.setdefault(param.name.value, []).append(param)
            for node in walk.iter_tree(func.body):
                if isinstance(node, cst.Assign):
                    for target in node.targets:
                        if isinstance(target.target, cst.Name):
                            out.setdefault(target.target.value, []).append(node.value)
                elif isinstance(node, cst.AnnAssign) and isinstance(node.target, cst.Name) and node.value is not None:
                    out.setdefault(node.target.value, []).append(node.value)
                elif (
                    isinstance(node, cst.WithItem)
                    and node.asname is not None
                    and isinstance(node.asname.name, cst.Name)
                ):
                    out.setdefault(node.asname.name.value, []).append(node.item)
            self._bindings[key] = out
        return self._bindings[key]

    # -- statements --------------------------------------------------------------------------------

    def executions(self, name: str, func: cst.FunctionDef) -> list[cst.Call]:
        """The calls that run the statement held in ``name`` (``session.scalars(stmt)``, ``db.paginate(stmt)``);
        none when the statement also goes anywhere else (returned, handed to a function): who runs it there
        is not known."""
        runs = self.k["queries.session_calls"] | self.k["queries.methods"]
        out: list[cst.Call] = []
        accounted: set[int] = set()
        uses: list[cst.Name] = []
        for node in walk.iter_tree(func.body):
            if isinstance(node, cst.Name) and node.value == name:
                uses.append(node)
            elif isinstance(node, (cst.AssignTarget, cst.AnnAssign)) and isinstance(node.target, cst.Name):
                accounted.add(id(node.target))
            elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
                if isinstance(node.func.value, cst.Name):
                    accounted.add(id(node.func.value))  # stmt.where(...): building on it
                first = node.args[0] if node.args else None
                if (
                    node.func.attr.value in runs
                    and first is not None
                    and first.keyword is None
                    and isinstance(first.value, cst.Name)
                    and first.value.value == name
                ):
                    accounted.add(id(first.value))
                    out.append(node)
        if any(id(use) not in accounted for use in uses):
            return []
        return out

    # -- bypasses ----------------------------------------------------------------------------------

    def bypasses(self, calls: list[cst.Call], links: list[tuple[str, cst.Call]]) -> Iterator[cst.Call]:
        """Audited bypasses in a query: ``.unscoped(...)`` links, ``unscoped(...)`` given as execution options."""
        names = self.k["queries.audited_bypasses"]
        for name, call in links:
            if name in names:
                yield call
        for call in calls:
            for arg in call.args:
                for node in walk.iter_tree(arg.value):
                    if isinstance(node, cst.Call) and vocab.matches_any(
                        self.ctx.qualified(dotted_name(node.func)), names
                    ):
                        yield node

    @staticmethod
    def reasoned(call: cst.Call) -> bool:
        return _reason(call)


__all__ = ["SessionModel"]
