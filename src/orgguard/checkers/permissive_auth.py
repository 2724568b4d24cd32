"""ORG502 permissive-default-auth: an allow-all / auth-off setting in non-test, non-dev configuration.

Settings come from knowledge ``settings.permissive`` as ``NAME=value``: ``True``/``False``/``None`` (that
literal, or a ``default=`` of an env/field reader), ``[]`` (an empty list or tuple), ``Class`` (a list,
tuple or single value holding that class, by dotted string or name) or ``[Class]`` (a non-empty list
holding only that class: for settings whose classes must all pass, as DRF permission classes). Names
match case-insensitively, so Django/Flask constants and pydantic settings fields are both found.

Where a setting is read: module- and class-level assignments, ``config["NAME"] = ...`` anywhere,
string keys of dict literals (``REST_FRAMEWORK = {...}``), ``.update(NAME=...)``/``.from_mapping(...)``
keywords and ``.setdefault("NAME", value)``. Local/dev/test settings are exempt
(``settings.dev_markers`` in the module name, an enclosing class or function name, or the test of an
enclosing ``if`` such as ``if DEBUG:``). The finding sits on the permissive value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

import libcst as cst

from orgguard.checkers._names import ModuleConstants, name_tokens, string_value
from orgguard.checkers.base import Analysis, Checker
from orgguard.engine import walk
from orgguard.engine.context import dotted_name
from orgguard.engine.facts import is_view_class
from orgguard.engine.records import ProjectIndex
from orgguard.knowledge import Knowledge

CONFIG_CALLS = frozenset({"update", "from_mapping", "dict"})
LITERALS = frozenset({"True", "False", "None"})


@dataclass(frozen=True)
class Spec:
    """One ``NAME=value`` entry of ``settings.permissive``."""

    name: str
    value: str

    @classmethod
    def parse(cls, entry: str) -> Spec | None:
        name, sep, value = entry.partition("=")
        if not sep or not name.strip():
            return None
        return cls(name.strip(), value.strip())


def _last_component(expr: cst.BaseExpression) -> str | None:
    text = string_value(expr)
    if text is None:
        text = dotted_name(expr)
    return text.rsplit(".", 1)[-1] if text else None


def _elements(expr: cst.BaseExpression) -> list[cst.BaseExpression] | None:
    """The items of a list/tuple/set literal, or None for anything else."""
    if isinstance(expr, (cst.List, cst.Tuple, cst.Set)):
        return [el.value for el in expr.elements]
    return None


class PermissiveAuthChecker(Checker):
    """Flags app-wide settings that switch authentication off or allow every request."""

    codes = ("ORG502",)

    @classmethod
    def triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        names = {spec.name for spec in map(Spec.parse, knowledge["settings.permissive"]) if spec is not None}
        return sorted(names | {n.lower() for n in names})

    @classmethod
    def statement_triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        return [f"*{name}" for name in cls.triggers(knowledge, index)]  # the setting's name, in any case

    def __init__(self, analysis: Analysis) -> None:
        super().__init__(analysis)
        knowledge = self.ctx.knowledge
        self.specs: dict[str, list[Spec]] = {}
        for entry in knowledge["settings.permissive"]:
            spec = Spec.parse(entry)
            if spec is not None:
                self.specs.setdefault(spec.name.casefold(), []).append(spec)
        self.dev_markers = {m.lower() for m in knowledge["settings.dev_markers"]}
        self._defaults: set[int] = set()  # dict literals that are a framework's own defaults
        self.constants = ModuleConstants(self.ctx.module)

    def enabled(self) -> bool:
        return super().enabled() and not self._dev_module()

    def _dev_module(self) -> bool:
        path = PurePosixPath(self.ctx.relpath)
        stem = path.stem if path.stem != "__init__" else path.parent.name
        return bool(set(name_tokens(stem)) & self.dev_markers)

    # --- where a setting is assigned ------------------------------------------------------------

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._assignment(target.target, node.value)
            if (
                isinstance(target.target, cst.Name)
                and "DEFAULT" in target.target.value.upper()
                and isinstance(node.value, cst.Dict)
            ):
                # `DEFAULTS = {...}` in a framework's own settings module: what a project's settings override
                self._defaults.add(id(node.value))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._assignment(node.target, node.value)

    def _assignment(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            if self.ctx.scope.function is None and not self._view_attribute():
                self._check(target.value, value)  # module or class level: a setting, not a local variable
        elif isinstance(target, cst.Subscript) and len(target.slice) == 1:
            index = target.slice[0].slice
            key = string_value(index.value) if isinstance(index, cst.Index) else None
            if key is not None:
                self._check(key, value)

    def _view_attribute(self) -> bool:
        """An attribute of a view class or of a mixin views are built from (``login_required = False`` on
        wger's ``WgerPermissionMixin``): one view's own default, which the views that need it override, not an
        app-wide switch."""
        klass = self.ctx.scope.klass
        return klass is not None and is_view_class(self.ctx, klass)

    def visit_Dict(self, node: cst.Dict) -> None:
        if id(node) in self._defaults:
            return
        for element in node.elements:
            if isinstance(element, cst.DictElement):
                key = string_value(element.key)
                if key is not None:
                    self._check(key, element.value)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        method = func.attr.value if isinstance(func, cst.Attribute) else dotted_name(func)
        if method in CONFIG_CALLS:
            for arg in node.args:
                if arg.keyword is not None:
                    self._check(arg.keyword.value, arg.value)
        elif method == "setdefault" and len(node.args) == 2:
            key = string_value(node.args[0].value)
            if key is not None:
                self._check(key, node.args[1].value)

    # --- is the value permissive ----------------------------------------------------------------

    def _check(self, name: str, value: cst.BaseExpression) -> None:
        specs = self.specs.get(name.casefold())
        if not specs:
            return
        for spec in specs:
            hit = self._matches(spec, value)
            if hit is not None and not self._dev_context():
                self._report(name, spec, hit)
                return

    def _matches(self, spec: Spec, value: cst.BaseExpression) -> cst.BaseExpression | None:
        """The node holding the permissive value, or None."""
        want = spec.value
        if want in LITERALS:
            return self._literal(want, value)
        items = _elements(value)
        if want in ("[]", "()"):
            return value if items == [] else None
        if want.startswith("[") and want.endswith("]"):
            cls = want[1:-1].strip()
            if items and all(_last_component(item) == cls for item in items):
                return items[0]
            return None
        if items is None:
            return value if _last_component(value) == want else None
        return next((item for item in items if _last_component(item) == want), None)

    def _literal(self, want: str, value: cst.BaseExpression) -> cst.BaseExpression | None:
        resolved = self.constants.resolve(value)
        if isinstance(resolved, cst.Name) and resolved.value == want:
            return value
        if isinstance(value, cst.Call):
            # env.bool("LOGIN_DISABLED", default=True), Field(default=True), config("X", True)
            for arg in value.args:
                if arg.keyword is not None and arg.keyword.value == "default":
                    return self._literal(want, arg.value)
            positional = [arg.value for arg in value.args if arg.keyword is None]
            if len(positional) >= 2 and string_value(positional[0]) is not None:
                return self._literal(want, positional[1])
        return None

    # --- exemptions -----------------------------------------------------------------------------

    def _dev_context(self) -> bool:
        """Inside a dev/test-named class or function, or the body of an ``if DEBUG:``-style branch."""
        for frame in self.ctx.scope.frames:
            if set(name_tokens(frame.node.name.value)) & self.dev_markers:
                return True
        statements = self.ctx.scope.statements
        for i, stmt in enumerate(statements[:-1]):
            if isinstance(stmt, cst.If) and self._dev_test(stmt.test):
                child = statements[i + 1]
                if any(child is s for s in stmt.body.body):
                    return True
        return False

    def _dev_test(self, test: cst.BaseExpression) -> bool:
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            return False
        if isinstance(test, cst.Comparison) and any(
            isinstance(c.operator, (cst.NotEqual, cst.NotIn, cst.IsNot)) for c in test.comparisons
        ):
            return False
        collector = _Words()
        walk.visit(test, collector)
        return bool(collector.words & self.dev_markers)

    # --- the finding ----------------------------------------------------------------------------

    def _report(self, name: str, spec: Spec, hit: cst.BaseExpression) -> None:
        if spec.value in LITERALS:
            shape = "message"  # authentication switched off
        elif spec.value in ("[]", "()"):
            shape = "empty"
        elif spec.value.startswith("["):
            shape = "only"
        else:
            shape = "allow_all"
        self.ctx.report(
            "ORG502",
            hit,
            shape=shape,
            traits=self._traits(name),
            setting=name,
            value=" ".join(self.ctx.module.code_for_node(hit).split())[:60],
            cls=spec.value.strip("[]"),
        )

    def _traits(self, name: str) -> set[str]:
        """The framework whose fix applies: Django's (REST framework's) settings by name, Flask-Login's
        ``LOGIN_DISABLED``; otherwise what the file imports."""
        upper = name.upper()
        if upper.startswith("DEFAULT_") or upper == "AUTHENTICATION_BACKENDS":
            return {"django"}
        if upper == "LOGIN_DISABLED":
            return {"flask"}
        return set()


class _Words(cst.CSTVisitor):
    """Lower-case words of the names, attributes and strings in an expression."""

    def __init__(self) -> None:
        super().__init__()
        self.words: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.words.update(name_tokens(node.value))

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        value = node.evaluated_value
        if isinstance(value, str):
            self.words.update(name_tokens(value))
