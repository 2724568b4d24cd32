"""The read-only walk visits exactly the nodes LibCST's own traversal visits (trivia aside), in the same order."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import libcst as cst
import pytest

from orgguard.engine import walk

from .conftest import FIXTURES

EVERY_SHAPE = '''
import os, sys as system
from . import a
from ..b import (c as d, e)
from m import *

@decorator(arg, key=value)
@other.attr
async def f(a, /, b: int = 1, *args: str, c, d=2, **kw) -> "T":
    global g
    x: list[int] = [i * 2 for i in range(3) if i if not i]
    y = {k: v for k, v in kw.items()}
    z = {i async for i in aiter()}
    w = (yield from gen()) if a else (lambda q, *r, s=1, **t: q)(1)
    async with ctx() as (p, q), other():
        await thing(*args, **kw)
    async for i in items:
        break
    else:
        pass
    try:
        raise ValueError("x") from None
    except (TypeError, ValueError) as exc:
        del exc
    else:
        assert a, "message"
    finally:
        return f"{a!r} {a:>{b}} {c=}"
    try:
        pass
    except* OSError:
        pass
    while (n := next(it)) > 0 and not n or -n < ~n <= n is not None:
        continue
    match command.split():
        case [Point(x=0, y=0)] | {"k": _, **rest} if rest:
            nonlocal_thing = 1
        case [first, *others] as whole:
            pass
        case str() | None | 1.5 | -1 | 2j | b"x":
            pass
    s = a[1:2:3, ...][::-1]
    t = *a, *b
    a += 1; b @= c; c **= 2
    print("x" "y" f"z{a}", sep="")
    type Alias = list[int]

class K(Base, metaclass=Meta):
    """doc"""
    attr: int
    def method(self, *, x): return self.x[0].y(x)
    def generic[T](self, x: T) -> T: ...
'''


def _samples() -> list[tuple[str, str]]:
    out = [("every_shape", EVERY_SHAPE)]
    for path in sorted(FIXTURES.rglob("*.py")):
        if path.parent.name == "broken_files":
            continue
        out.append((str(path.relative_to(FIXTURES)), path.read_text(encoding="utf-8", errors="replace")))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in ("ast.py", "dataclasses.py", "typing.py", "asyncio/tasks.py", "email/_header_value_parser.py"):
        out.append((f"stdlib/{name}", (stdlib / name).read_text(encoding="utf-8")))
    return out


class _Trace(cst.CSTVisitor):
    """Records LibCST's traversal: ('visit'|'leave', node), optionally pruning at some node types."""

    def __init__(self, prune: tuple[type, ...] = ()) -> None:
        super().__init__()
        self.events: list[tuple[str, cst.CSTNode]] = []
        self.prune = prune

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.events.append(("visit", node))
        return not isinstance(node, self.prune)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.events.append(("leave", original_node))


def _without_trivia(events: list[tuple[str, cst.CSTNode]]) -> list[tuple[str, int]]:
    return [(kind, id(node)) for kind, node in events if type(node) not in walk.TRIVIA]


@pytest.mark.parametrize(("name", "source"), _samples(), ids=[n for n, _ in _samples()])
def test_walk_matches_libcst_order(name: str, source: str) -> None:
    module = cst.parse_module(source)
    libcst_trace = _Trace()
    module.visit(libcst_trace)
    ours = _Trace()
    walk.visit(module, ours)
    # the same nodes entered and left in the same order; trivia never holds anything else
    assert [(k, id(n)) for k, n in ours.events] == _without_trivia(libcst_trace.events)
    assert [id(n) for n in walk.iter_tree(module)] == [
        id(n) for k, n in libcst_trace.events if k == "visit" and type(n) not in walk.TRIVIA
    ]
    # visit_* returning False prunes the same subtrees
    pruned_libcst, pruned_ours = _Trace((cst.Call, cst.FunctionDef)), _Trace((cst.Call, cst.FunctionDef))
    module.visit(pruned_libcst)
    walk.visit(module, pruned_ours)
    assert [(k, id(n)) for k, n in pruned_ours.events] == _without_trivia(pruned_libcst.events)


def test_batched_walk_calls_methods_like_libcst() -> None:
    module = cst.parse_module(EVERY_SHAPE)

    class Names(cst.BatchableCSTVisitor):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        def visit_Name(self, node: cst.Name) -> None:
            self.seen.append("v:" + node.value)

        def visit_Call(self, node: cst.Call) -> None:
            self.seen.append("call")

        def leave_Call(self, original_node: cst.Call) -> None:
            self.seen.append("/call")

    theirs, ours = Names(), Names()
    module.visit(_BatchedThroughLibcst([theirs]))
    hooks: list[str] = []
    methods: dict[str, list[walk.Method]] = {}
    for name, method in ours.get_visitors().items():
        methods.setdefault(name, []).append(method)
    walk.visit_batched(module, methods, lambda n: hooks.append("in"), lambda n: hooks.append("out"))
    assert ours.seen == theirs.seen
    assert len(ours.seen) > 50
    assert hooks.count("in") == hooks.count("out") == len(list(walk.iter_tree(module)))


class _BatchedThroughLibcst(cst.CSTVisitor):
    """LibCST's own batched dispatch, without ``visit_batched``'s module-level metadata resolution."""

    def __init__(self, visitors: list[cst.BatchableCSTVisitor]) -> None:
        super().__init__()
        self.visitors = visitors

    def on_visit(self, node: cst.CSTNode) -> bool:
        for v in self.visitors:
            method = v.get_visitors().get(f"visit_{type(node).__name__}")
            if method is not None:
                method(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        for v in self.visitors:
            method = v.get_visitors().get(f"leave_{type(original_node).__name__}")
            if method is not None:
                method(original_node)


def test_trivia_is_only_tokens_and_layout() -> None:
    names = {t.__name__ for t in walk.TRIVIA}
    assert {"Comma", "SimpleWhitespace", "Comment", "LeftParen", "Add", "Colon"} <= names
    assert not names & {"Name", "Call", "Attribute", "Param", "Arg", "Expr", "Decorator", "Annotation"}


class _Hooks(cst.CSTVisitor):
    """Plain visit_<Type>/leave_<Type> methods (walk.visit drives these without LibCST's on_visit)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, int]] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.events.append(("def", id(node)))
        return node.name.value != "method"  # prune one subtree

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.events.append(("/def", id(original_node)))

    def visit_Call(self, node: cst.Call) -> None:
        self.events.append(("call", id(node)))

    def visit_Name(self, node: cst.Name) -> None:
        self.events.append(("name", id(node)))

    def leave_If(self, original_node: cst.If) -> None:
        self.events.append(("/if", id(original_node)))


@pytest.mark.parametrize(("name", "source"), _samples()[:12], ids=[n for n, _ in _samples()[:12]])
def test_visit_dispatches_overridden_methods_like_libcst(name: str, source: str) -> None:
    module = cst.parse_module(source)
    theirs, ours = _Hooks(), _Hooks()
    module.visit(theirs)
    walk.visit(module, ours)
    assert ours.events == theirs.events
    assert ours.events or not source.strip()
