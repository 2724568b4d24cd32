"""Read-only traversal of LibCST trees.

``CSTNode.visit`` is built for transformers: every node it passes is rebuilt (``_visit_and_replace_children``
makes a new node, validates it, re-checks every field's type), so walking a parsed module costs several
times its parse. The checkers only read. This module walks the same nodes in the same order without
rebuilding anything: each node type's child fields are read once, in the order LibCST's own traversal
visits them (recorded from LibCST itself, so it follows the installed version), and whitespace, comments,
brackets and operator tokens are not entered: no checker looks at them, and they hold no other node.

tests/test_walk.py proves the order: on every fixture file and a sample of real code, the nodes this
walk yields are exactly the non-trivia nodes ``CSTNode.visit`` passes, in the same order.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import libcst as cst
from libcst._nodes import op as _op
from libcst._nodes import whitespace as _whitespace


def _trivia_types() -> frozenset[type]:
    found: set[type] = set()
    for module in (_op, _whitespace):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, cst.CSTNode) and value.__module__ == module.__name__:
                found.add(value)
    found.update(
        (
            cst.LeftParen,
            cst.RightParen,
            cst.LeftSquareBracket,
            cst.RightSquareBracket,
            cst.LeftCurlyBrace,
            cst.RightCurlyBrace,
            cst.Asynchronous,
            cst.ParamStar,
            cst.ParamSlash,
        )
    )
    return frozenset(found)


TRIVIA: frozenset[type] = _trivia_types()
"""Node types that are tokens or layout (whitespace, comments, commas, brackets, operators)."""


class _FieldOrder(cst.CSTVisitor):
    """Records which fields LibCST's traversal visits on one node, in order, without going deeper."""

    def __init__(self, root: cst.CSTNode) -> None:
        super().__init__()
        self.root = root
        self.fields: list[str] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        return node is self.root

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        if node is self.root and attribute not in self.fields:
            self.fields.append(attribute)


class _Orders(dict[type, tuple[str, ...]]):
    """Child fields per node type, learnt from the first node of each type (a pure function of the type)."""

    def of(self, node: cst.CSTNode) -> tuple[str, ...]:
        kind = type(node)
        found = self.get(kind)
        if found is None:
            recorder = _FieldOrder(node)
            node.visit(recorder)
            # a field LibCST visits only when it is set (an f-string's ``format_spec``) comes last
            rest = [f.name for f in dataclasses.fields(node) if f.name not in recorder.fields]
            hints = _hints(kind)
            # fields typed to hold trivia only (``lpar``, ``whitespace_after_func``) are not even read
            found = self[kind] = tuple(
                name for name in (*recorder.fields, *rest) if name not in hints or _may_hold_node(hints[name])
            )
        return found


def _hints(kind: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(kind)
    except Exception:  # an annotation that does not resolve: read every field
        return {}


def _may_hold_node(hint: Any) -> bool:
    """Whether a field of this type can hold a node the walk enters (unsure: True)."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal or origin is typing.ClassVar:
        return False
    if origin is not None:
        return any(_may_hold_node(arg) for arg in typing.get_args(hint) if arg is not Ellipsis)
    if isinstance(hint, type):
        return issubclass(hint, cst.CSTNode) and hint not in TRIVIA
    return hint is not None and hint is not type(None)


_ORDERS = _Orders()

_SKIP, _NODE, _MANY = 0, 1, 2


class _Kinds(dict[type, int]):
    """What a field value's type is to the walk: a node to enter, a sequence of nodes, or nothing to enter
    (trivia, None, a sentinel, a string). ``isinstance`` against LibCST's abstract base classes goes through
    ``ABCMeta`` and is slow; this asks once per type."""

    def of(self, kind: type) -> int:
        found = self.get(kind)
        if found is None:
            if kind is tuple or kind is list:
                found = _MANY
            elif issubclass(kind, cst.CSTNode) and kind not in TRIVIA:
                found = _NODE
            else:
                found = _SKIP
            self[kind] = found
        return found


_KINDS = _Kinds()


class Kinds(dict[type, bool]):
    """``isinstance(node, classes)`` asked once per node type: ``kinds[type(node)]``.

    LibCST's node classes derive from an abstract base class, so ``isinstance`` on a node that is not of
    the very class asked for runs ``ABCMeta.__instancecheck__`` (a Python call) for every class of the
    tuple; the sub-walks of the checkers ask it of every node they pass."""

    def __init__(self, *classes: type) -> None:
        super().__init__()
        self.classes = classes

    def __missing__(self, kind: type) -> bool:
        found = self[kind] = issubclass(kind, self.classes)
        return found


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The node's children that are not trivia, in LibCST's visiting order."""
    out: list[cst.CSTNode] = []
    kinds, trivia = _KINDS, TRIVIA
    for name in _ORDERS.get(type(node)) or _ORDERS.of(node):
        value = getattr(node, name)
        kind = kinds.get(type(value))
        if kind is None:
            kind = kinds.of(type(value))
        if kind == _NODE:
            out.append(value)
        elif kind == _MANY:
            out.extend(child for child in value if type(child) not in trivia)
    return out


def iter_tree(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """``node`` and every non-trivia node below it, in preorder."""
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


class Visitor(Protocol):
    """What :func:`visit` drives: ``cst.CSTVisitor``'s own ``on_visit``/``on_leave`` protocol."""

    def on_visit(self, node: cst.CSTNode) -> bool: ...

    def on_leave(self, original_node: cst.CSTNode) -> None: ...


def visit(node: cst.CSTNode, visitor: Visitor) -> None:
    """Walk ``node`` with a ``cst.CSTVisitor`` (its ``visit_*`` may return False to skip a subtree).

    A visitor that keeps LibCST's own ``on_visit``/``on_leave`` is driven by the ``visit_<Type>`` and
    ``leave_<Type>`` methods its class overrides, looked up once per node type (LibCST's dispatch formats
    and looks up both names on every node, and calls the no-op defaults of every other type).
    """
    kind = type(visitor)
    if kind.on_visit is not _ON_VISIT or kind.on_leave is not _ON_LEAVE:
        _visit_generic(node, visitor)
        return
    hooks = _HOOKS.get(kind)
    if hooks is None:
        hooks = _HOOKS[kind] = {}
    _visit_fast(node, visitor, hooks)


_ON_VISIT = cst.CSTVisitor.on_visit
_ON_LEAVE = cst.CSTVisitor.on_leave
Hooks = tuple[Callable[[Any, cst.CSTNode], Any] | None, Callable[[Any, cst.CSTNode], Any] | None]
_HOOKS: dict[type, dict[type, Hooks]] = {}  # visitor class -> node type -> (visit_<Type>, leave_<Type>)


def _hook(visitor_class: type, name: str) -> Callable[[Any, cst.CSTNode], Any] | None:
    """The class's own ``visit_<Type>``/``leave_<Type>`` function, None where it keeps LibCST's no-op."""
    found = getattr(visitor_class, name, None)
    if found is None or found is getattr(cst.CSTVisitor, name, None):  # LibCST's do-nothing default
        return None
    return found  # type: ignore[no-any-return]


def _visit_fast(node: cst.CSTNode, visitor: Visitor, hooks: dict[type, Hooks]) -> None:
    kind = type(node)
    pair = hooks.get(kind)
    if pair is None:
        cls = type(visitor)
        pair = hooks[kind] = (_hook(cls, f"visit_{kind.__name__}"), _hook(cls, f"leave_{kind.__name__}"))
    enter, leave = pair
    if enter is None or enter(visitor, node) is not False:
        for child in children(node):
            _visit_fast(child, visitor, hooks)
    if leave is not None:
        leave(visitor, node)


def _visit_generic(node: cst.CSTNode, visitor: Visitor) -> None:
    if visitor.on_visit(node):
        for child in children(node):
            _visit_generic(child, visitor)
    visitor.on_leave(node)


Method = Callable[[cst.CSTNode], Any]


def visit_batched(
    node: cst.CSTNode,
    methods: Mapping[str, Sequence[Method]],
    before_visit: Method,
    after_leave: Method,
) -> None:
    """One walk of ``node`` calling ``methods["visit_<Type>"]`` and ``methods["leave_<Type>"]`` (results
    ignored, as ``libcst.visit_batched`` ignores them), with ``before_visit``/``after_leave`` around each node."""
    enter: dict[type, Sequence[Method]] = {}
    leave: dict[type, Sequence[Method]] = {}
    orders, kinds, trivia = _ORDERS, _KINDS, TRIVIA

    def walk(current: cst.CSTNode) -> None:
        kind = type(current)
        on_enter = enter.get(kind)
        if on_enter is None:
            on_enter = enter[kind] = tuple(methods.get(f"visit_{kind.__name__}", ()))
            leave[kind] = tuple(methods.get(f"leave_{kind.__name__}", ()))
        before_visit(current)
        for method in on_enter:
            method(current)
        for name in orders.get(kind) or orders.of(current):
            value = getattr(current, name)
            what = kinds.get(type(value))
            if what is None:
                what = kinds.of(type(value))
            if what == _NODE:
                walk(value)
            elif what == _MANY:
                for child in value:
                    if type(child) not in trivia:
                        walk(child)
        for method in leave[kind]:
            method(current)
        after_leave(current)

    walk(node)
