"""Per-file context shared by every checker in the single batched traversal."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import libcst as cst

from orgguard import registry
from orgguard.config import Config
from orgguard.engine import vocab
from orgguard.engine.findings import TraceStep
from orgguard.engine.records import FunctionInfo, ProjectIndex
from orgguard.knowledge import Knowledge
from orgguard.registry import Rule


def dotted_name(node: cst.BaseExpression | None) -> str:
    """``a.b.c`` for Name/Attribute chains, ``f()`` for a call of one, ``""`` for anything else."""
    kind = _DOTTED[type(node)]
    if kind == _NAME:
        return cast("cst.Name", node).value
    if kind == _ATTRIBUTE:
        attribute = cast("cst.Attribute", node)
        inner = dotted_name(attribute.value)
        return f"{inner}.{attribute.attr.value}" if inner else ""
    if kind == _CALL:
        inner = dotted_name(cast("cst.Call", node).func)
        return f"{inner}()" if inner else ""
    return ""


class _Dotted(dict[type, int]):
    """What :func:`dotted_name` reads of a node type: a Name, an Attribute, a Call, or nothing (0), asked once
    per type (``isinstance`` on LibCST's node classes goes through ``ABCMeta``)."""

    def __missing__(self, kind: type) -> int:
        found = self[kind] = next((n for n, c in _DOTTED_KINDS if issubclass(kind, c)), 0)
        return found


_NAME, _ATTRIBUTE, _CALL = 1, 2, 3
_DOTTED_KINDS = ((_NAME, cst.Name), (_ATTRIBUTE, cst.Attribute), (_CALL, cst.Call))
_DOTTED = _Dotted()


@dataclass(frozen=True)
class Report:
    """A finding before positions are known: the node it sits on and the statement holding it."""

    code: str
    node: cst.CSTNode
    statement: cst.CSTNode | None
    values: Mapping[str, str]
    trace: tuple[TraceStep, ...] = ()  # where the path that reaches it comes from (the finding's own step is added)
    shape: str = "message"  # which of the rule's message templates
    traits: frozenset[str] = frozenset()  # what picks the templates' variants (rules/messages.toml)
    top: cst.CSTNode | None = None  # the module-level statement being traversed (where positions are computed)


@dataclass
class Frame:
    node: cst.FunctionDef | cst.ClassDef
    statement: cst.CSTNode | None = None
    function: bool = False  # a FunctionDef (asked once per node type: LibCST's bases are ABCs)


@functools.cache
def _roles(kind: type) -> tuple[bool, bool, bool]:
    """(a statement, a frame, a function) for a node type; asked per type, not per node (LibCST's bases are ABCs)."""
    return (
        issubclass(kind, (cst.SimpleStatementLine, cst.BaseCompoundStatement)),
        issubclass(kind, (cst.FunctionDef, cst.ClassDef)),
        issubclass(kind, cst.FunctionDef),
    )


class ScopeTracker:
    """Where the traversal is: enclosing classes/functions and the current statement.

    Driven by the engine's ``before_visit``/``after_leave`` hooks, so it is up to date before any
    checker's ``visit_*`` and still valid in its ``leave_*``.
    """

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.statements: list[cst.CSTNode] = []

    def enter(self, node: cst.CSTNode) -> None:
        statement, frame, function = _roles(type(node))
        if statement:
            self.statements.append(node)
        if frame:
            self.frames.append(Frame(node, function=function))  # type: ignore[arg-type]

    def leave(self, node: cst.CSTNode) -> None:
        if _roles(type(node))[1] and self.frames and self.frames[-1].node is node:
            self.frames.pop()
        if self.statements and self.statements[-1] is node:
            self.statements.pop()

    @property
    def function(self) -> cst.FunctionDef | None:
        """The innermost enclosing function (methods included)."""
        for frame in reversed(self.frames):
            if frame.function:
                return cast("cst.FunctionDef", frame.node)
        return None

    @property
    def outer_function(self) -> cst.FunctionDef | None:
        """The outermost enclosing function (a nested helper belongs to its handler)."""
        for frame in self.frames:
            if frame.function:
                return cast("cst.FunctionDef", frame.node)
        return None

    def class_of(self, func: cst.FunctionDef | None) -> cst.ClassDef | None:
        """The class whose body directly holds ``func`` (None for plain functions)."""
        for i, frame in enumerate(self.frames):
            if frame.node is func:
                if i > 0 and not self.frames[i - 1].function:
                    parent = self.frames[i - 1].node
                    assert isinstance(parent, cst.ClassDef)
                    return parent
                return None
        return None

    @property
    def klass(self) -> cst.ClassDef | None:
        for frame in reversed(self.frames):
            if not frame.function:
                return cast("cst.ClassDef", frame.node)
        return None

    @property
    def statement(self) -> cst.CSTNode | None:
        """The innermost simple statement, or the header of a compound one."""
        return self.statements[-1] if self.statements else None


@dataclass
class FileContext:
    """Everything a checker may read about the file being checked."""

    path: Path
    relpath: str
    module: cst.Module
    config: Config
    index: ProjectIndex
    knowledge: Knowledge
    rules: Mapping[str, Rule]
    imports: Mapping[str, str]
    scope: ScopeTracker = field(default_factory=ScopeTracker)
    reports: list[Report] = field(default_factory=list)
    _qualnames: dict[int, str] | None = None
    _traits: frozenset[str] | None = None
    _constructors: dict[str, bool] = field(default_factory=dict)  # callee text -> it builds a model's row

    @property
    def traits(self) -> frozenset[str]:
        """The file's own message traits: the frameworks it imports, and ``user`` when the tenant is the
        signed-in user (the traits and their modules are declared in ``rules/messages.toml``)."""
        if self._traits is None:
            origins = set(self.imports.values()) | _plain_imports(self.module)
            found = {
                trait.name
                for trait in registry.traits()
                if any(o == m or o.startswith(m + ".") for o in origins for m in trait.modules)
            }
            if "User" in self.index.tenant_models:
                found.add("user")
            self._traits = frozenset(found)
        return self._traits

    @functools.cached_property
    def tenant_attrs(self) -> frozenset[str]:
        """Attributes that hold a row's tenant or its parent on the tenant path (see ``vocab.tenant_attrs``)."""
        return vocab.tenant_attrs(self.config.tenant_fields, self.index.tenant_paths.values())

    @property
    def module_name(self) -> str:
        return file_module(self.index, self.relpath)

    def qualname(self, func: cst.FunctionDef) -> str:
        """The project-wide qualified name of a module function or method (what the index knows it by)."""
        if self._qualnames is None:
            self._qualnames = function_qualnames(self.module, self.module_name)
        return self._qualnames.get(id(func), "")

    def function_info(self, func: cst.FunctionDef | None) -> FunctionInfo | None:
        """The index's facts about a function of this file (None: not a module function or method)."""
        if func is None:
            return None
        name = self.qualname(func)
        return self.index.function(name) if name else None

    def report(
        self,
        code: str,
        node: cst.CSTNode,
        *,
        statement: cst.CSTNode | None = None,
        trace: tuple[TraceStep, ...] = (),
        shape: str = "message",
        traits: Iterable[str] = (),
        fields: Mapping[str, str] | None = None,
        **values: str,
    ) -> None:
        """Record a finding on ``node``; positions are computed later, only for reported nodes.

        ``statement`` (default: the statement being traversed) is where suppression comments apply;
        ``trace`` the steps from the entry point that reaches it (its own position is added last).
        The message is the rule's ``shape`` template filled with ``values`` and ``fields`` (names and code
        fragments), in the variants the file's traits plus ``traits`` pick.
        """
        if code in self.rules:
            found = self.traits.union(traits)
            filled = {**(fields or {}), **values}
            top = self.scope.statements[0] if self.scope.statements else None
            self.reports.append(Report(code, node, statement or self.scope.statement, filled, trace, shape, found, top))

    def phrase(self, code: str, part: str, traits: Iterable[str] = (), **values: str) -> str:
        """One part of a rule's messages, filled: what a checker passes for a field that takes one of
        several parts (``where`` is ``where_own`` or ``reached``)."""
        rule = self.rules.get(code) or registry.all_rules()[code]
        return rule.phrase(part, values, self.traits.union(traits))

    def resolve(self, name: str) -> str:
        """The imported origin of a local name (``Inv`` -> ``Invoice``), short form."""
        origin = self.imports.get(name, name)
        return origin.rsplit(".", 1)[-1]

    def qualified(self, text: str) -> str:
        """``current_org.org_id`` -> ``orgguard.runtime.flask.current_org.org_id`` through the imports."""
        head, dot, rest = text.partition(".")
        origin = self.imports.get(head.removesuffix("()"))
        if origin is None:
            return text
        return origin + ("()" if head.endswith("()") else "") + dot + rest

    def builds_row(self, func: cst.BaseExpression) -> bool:
        """Whether calling ``func`` builds a row of a project model (``Invitation(...)``), asked once per text."""
        if not isinstance(func, (cst.Name, cst.Attribute)):
            return False
        text = dotted_name(func)
        if not text or text.startswith(("self.", "cls")):
            return self.model_of(func) is not None  # depends on the class the method runs in
        found = self._constructors.get(text)
        if found is None:
            found = self._constructors[text] = self.model_of(func) is not None
        return found

    def model_of(self, node: cst.BaseExpression) -> str | None:
        """The project model a Name/Attribute refers to, or None.

        ``self.org_model`` and ``self.get_org_model()`` resolve through the class hierarchy when the class
        (or a project base) declares ``org_model = Organization``.
        """
        text = dotted_name(node)
        if text == "cls" and self.scope.klass is not None:
            text = self.scope.klass.name.value  # `cls.query` in a model's classmethod
        if text.startswith("self.") and text.count(".") == 1 and self.scope.klass is not None:
            target = self.index.class_alias(self.scope.klass.name.value, text[5:])
            if target:
                text = target
            else:
                # set by the classes whose instances run the method: the tenant-owned one if any is (in a
                # queryset hook, the view's class attribute: judged on each view class that sets it)
                func = self.scope.outer_function
                if func is not None and func.name.value in self.knowledge["requests.queryset_hooks"]:
                    return None
                bound = self.index.bound_models(self.scope.klass.name.value, text[5:])
                owned = [m for m in bound if self.index.is_tenant_owned(m)]
                return (owned or list(bound))[0] if bound else None
        elif isinstance(node, cst.Call) or not text:
            return None
        candidate = self.resolve(text) if "." not in text else text.rsplit(".", 1)[-1]
        if candidate not in self.index.models:
            return None
        if candidate in self.index.homonyms and self.index.foreign_homonym(candidate, self._origin_module(text)):
            return None  # the same-named class of another module, which no tenant owns
        return candidate

    def _origin_module(self, text: str) -> str:
        """The module a model name written as ``text`` comes from: its import, or this file's own module."""
        head = text.partition(".")[0]
        if head not in self.imports:
            return self.module_name if "." not in text else ""
        return self.qualified(text).rpartition(".")[0]


def file_module(index: ProjectIndex, relpath: str) -> str:
    """The module a file is (the index's name for it, or the one its path gives)."""
    return index.modules.get(relpath) or vocab.module_name(relpath)


def collect_imports(module: cst.Module, module_name: str = "", is_package: bool = False) -> dict[str, str]:
    """Local name -> dotted origin, from module-level imports (no metadata providers needed); a relative
    import is made absolute when the file's ``module_name`` is given (as the index scan reads it)."""
    out: dict[str, str] = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
                base = dotted_name(small.module) if small.module else ""
                if small.relative and module_name:
                    base = vocab.absolute_module(module_name, is_package, len(small.relative), base or None)
                for alias in small.names:
                    name = dotted_name(alias.name)
                    local = (
                        alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else name
                    )
                    out[local] = f"{base}.{name}" if base else name
            elif isinstance(small, cst.Import):
                for alias in small.names:
                    name = dotted_name(alias.name)
                    if alias.asname and isinstance(alias.asname.name, cst.Name):
                        out[alias.asname.name.value] = name
    return out


def _plain_imports(module: cst.Module) -> set[str]:
    """Modules imported under their own name at module level (``import stripe``, ``import flask.json``)."""
    out: set[str] = set()
    for stmt in _module_statements(module.body):
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Import):
                    out.update(dotted_name(alias.name) for alias in small.names)
    return out


def _module_statements(body: Sequence[cst.CSTNode]) -> Iterator[cst.CSTNode]:
    """Statements at module (or class) level, including those in ``if``/``try``/``with`` blocks, in the
    order the index scan reads them (engine/scan.py ``_module_statements``)."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, cst.If):
            yield from _module_statements(_suite(stmt.body))
            orelse = stmt.orelse
            if isinstance(orelse, cst.If):
                yield from _module_statements([orelse])
            elif isinstance(orelse, cst.Else):
                yield from _module_statements(_suite(orelse.body))
        elif isinstance(stmt, (cst.Try, cst.TryStar)):
            yield from _module_statements(_suite(stmt.body))
            if stmt.orelse is not None:
                yield from _module_statements(_suite(stmt.orelse.body))
            if stmt.finalbody is not None:
                yield from _module_statements(_suite(stmt.finalbody.body))
            for handler in stmt.handlers:
                yield from _module_statements(_suite(handler.body))
        elif isinstance(stmt, cst.With):
            yield from _module_statements(_suite(stmt.body))


def _suite(suite: cst.BaseSuite) -> Sequence[cst.CSTNode]:
    return suite.body if isinstance(suite, cst.IndentedBlock) else []


def function_qualnames(module: cst.Module, module_name: str) -> dict[int, str]:
    """``id(FunctionDef)`` -> qualified name, numbered as the index scan numbers redefinitions."""
    out: dict[int, str] = {}
    seen: dict[str, int] = {}

    def add(func: cst.FunctionDef, klass: str) -> None:
        qual = f"{klass}.{func.name.value}" if klass else func.name.value
        seen[qual] = seen.get(qual, 0) + 1
        if seen[qual] > 1:
            qual = f"{qual}#{seen[qual]}"
        out[id(func)] = f"{module_name}.{qual}"

    def visit_class(node: cst.ClassDef, outer: str) -> None:
        qual = f"{outer}.{node.name.value}" if outer else node.name.value
        for item in _module_statements(_suite(node.body)):
            if isinstance(item, cst.FunctionDef):
                add(item, qual)
            elif isinstance(item, cst.ClassDef):
                visit_class(item, qual)

    for stmt in list(_module_statements(module.body)):
        if isinstance(stmt, cst.FunctionDef):
            add(stmt, "")
        elif isinstance(stmt, cst.ClassDef):
            visit_class(stmt, "")
    return out
