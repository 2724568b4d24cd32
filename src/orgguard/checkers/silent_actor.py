"""ORG501 silent-superuser-actor: an audit write whose actor is a placeholder, not the real principal.

An audit write is a call named in ``audit.log_calls`` (``LogEntry.objects.log_action``, ``audit.emit``,
``log_action``...), the construction of an audit model (a class whose name holds one of
``audit.model_markers``: ``AuditLog(...)``, ``AuditEvent(...)``), or one of the write methods of
``audit.log_calls`` on such a model (``AuditLog.objects.create``). Its actor keyword
(``audit.actor_kwargs``) is silent when it is ``None`` or a string in ``audit.silent_actors`` (compared
stripped and case-insensitively, as ``orgguard.runtime.audit.system_actor`` does), directly, through a
module-level constant, or as one branch of a conditional expression. The finding sits on the silent value.
"""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from orgguard.checkers._names import (
    ModuleConstants,
    entry_triggers,
    qualified_name,
    statement_words,
    string_value,
)
from orgguard.checkers.base import Analysis, Checker
from orgguard.engine.context import dotted_name
from orgguard.engine.records import ProjectIndex
from orgguard.engine.vocab import matches_any
from orgguard.knowledge import Knowledge


class SilentActorChecker(Checker):
    """Flags audit records attributed to "system", "admin", "root", None... instead of who acted."""

    codes = ("ORG501",)

    @classmethod
    def triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        return [*knowledge["audit.model_markers"], *entry_triggers(knowledge["audit.log_calls"], part="first")]

    @classmethod
    def statement_triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        # a marker inside an audit model's name (AuditLog), or the call's name
        return [*(f"*{m}" for m in knowledge["audit.model_markers"]), *statement_words(knowledge["audit.log_calls"])]

    def __init__(self, analysis: Analysis) -> None:
        super().__init__(analysis)
        knowledge = self.ctx.knowledge
        self.log_calls = knowledge["audit.log_calls"]
        self.write_methods = {entry.rsplit(".", 1)[-1] for entry in self.log_calls if "*" not in entry}
        self.markers = knowledge["audit.model_markers"]
        self.actor_kwargs = knowledge["audit.actor_kwargs"]
        self.silent = {value.strip().casefold() for value in knowledge["audit.silent_actors"]}
        self.constants = ModuleConstants(self.ctx.module)

    def _is_audit_write(self, qualified: str) -> bool:
        if matches_any(qualified, self.log_calls):
            return True
        parts = qualified.split(".")
        for i, part in enumerate(parts):
            if part[:1].isupper() and any(marker in part for marker in self.markers):
                # AuditLog(...) itself, or AuditLog.objects.create(...) / AuditLog.create(...)
                return i == len(parts) - 1 or parts[-1] in self.write_methods
        return False

    def visit_Call(self, node: cst.Call) -> None:
        if not any(arg.keyword is not None and arg.keyword.value in self.actor_kwargs for arg in node.args):
            return
        qualified = qualified_name(self.ctx, node.func)
        if not self._is_audit_write(qualified):
            return
        for arg in node.args:
            if arg.keyword is None or arg.keyword.value not in self.actor_kwargs:
                continue
            for value, shown in self._silent_values(arg.value):
                self.ctx.report(
                    "ORG501",
                    value,
                    call=f"{dotted_name(node.func)}(...)",
                    kwarg=arg.keyword.value,
                    value=shown,
                )

    def _silent_values(self, expr: cst.BaseExpression) -> list[tuple[cst.BaseExpression, str]]:
        """The parts of an actor expression that name nobody, with how to show them."""
        if isinstance(expr, cst.IfExp):
            return self._silent_values(expr.body) + self._silent_values(expr.orelse)
        literal = self.constants.resolve(expr)
        shown = self.ctx.module.code_for_node(expr)
        if literal is not expr:
            shown = f"{shown} (= {self.ctx.module.code_for_node(literal)})"
        if isinstance(literal, cst.Name) and literal.value == "None":
            return [(expr, shown)]
        text = string_value(literal)
        if text is not None and text.strip().casefold() in self.silent:
            return [(expr, shown)]
        return []
