"""ORG303 unverified-webhook: a Stripe event built without signature verification.

Three shapes, each reported once, on the call that builds the event:

* a call that builds an event without verifying it (``stripe.Event.construct_from(...)``,
  ``construct_event_without_verification(...)``: knowledge ``stripe.unverified_calls``);
* a verifying call whose replay window is switched off (``tolerance=0`` / ``None`` / negative);
* the request body parsed as JSON (``json.loads(request.body)``, ``request.get_json()``,
  ``await request.json()``, DRF ``request.data``) and used as the event in a Stripe webhook handler
  that never verifies a signature. When that JSON only feeds ``construct_from``, the
  ``construct_from`` call is the finding (root cause once).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import libcst as cst

from orgguard.checkers._names import (
    ModuleConstants,
    entry_triggers,
    qualified_name,
    short_code,
    statement_words,
    string_value,
    unwrap_await,
)
from orgguard.checkers.base import Analysis, Checker
from orgguard.engine import walk
from orgguard.engine.context import dotted_name
from orgguard.engine.records import ProjectIndex
from orgguard.engine.vocab import matches_any
from orgguard.knowledge import Knowledge

EVENT_KEYS = frozenset({"type", "data"})
# calls that only look at or parse a value (handing the payload to them is not using it as an event)
LOG_CALLS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log", "print"})
PASSIVE_CALLS = LOG_CALLS | {"dumps", "loads", "len", "repr"}
RAW_BODY_ATTRS = frozenset({"body", "data"})
RAW_BODY_METHODS = frozenset({"body", "get_data", "read"})
PARSED_METHODS = frozenset({"get_json", "json"})
PARSED_ATTRS = frozenset({"json", "data"})
REQUEST_NAMES = frozenset({"request", "req"})
EVENT_TYPE = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
POSITIONAL_TOLERANCE = 3  # construct_event(payload, sig_header, secret, tolerance)


@dataclass
class _Facts:
    """What one (outermost) function does with webhook payloads."""

    handler: bool = False
    stripe: bool = False
    verified: bool = False
    request_names: set[str] = field(default_factory=set)
    body_vars: set[str] = field(default_factory=set)
    event_vars: set[str] = field(default_factory=set)
    fed_vars: set[str] = field(default_factory=set)
    event_nodes: set[int] = field(default_factory=set)
    assigned: dict[int, str] = field(default_factory=dict)


def _is_type_access(expr: cst.BaseExpression) -> bool:
    """``x["type"]``, ``x.get("type")`` or ``x.type``."""
    if isinstance(expr, cst.Subscript):
        return _subscript_key(expr) == "type"
    if isinstance(expr, cst.Attribute):
        return expr.attr.value == "type"
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "get":
        return bool(expr.args) and string_value(expr.args[0].value) == "type"
    return False


def _subscript_key(node: cst.Subscript) -> str | None:
    if len(node.slice) != 1:
        return None
    index = node.slice[0].slice
    return string_value(index.value) if isinstance(index, cst.Index) else None


def _is_event_type(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.Tuple, cst.List, cst.Set)):
        return any(_is_event_type(el.value) for el in expr.elements)
    value = string_value(expr)
    return value is not None and EVENT_TYPE.match(value) is not None


class _Scan(cst.CSTVisitor):
    """One pass over a handler's body: assignments, event uses, type dispatch, verification."""

    def __init__(self, checker: UnverifiedWebhookChecker, facts: _Facts) -> None:
        super().__init__()
        self.checker = checker
        self.facts = facts

    def _mark(self, base: cst.BaseExpression) -> None:
        base = unwrap_await(base)
        if isinstance(base, cst.Name):
            self.facts.event_vars.add(base.value)
        elif isinstance(base, cst.Call):
            self.facts.event_nodes.add(id(base))

    def _assign(self, target: cst.BaseAssignTargetExpression, value: cst.BaseExpression) -> None:
        if not isinstance(target, cst.Name):
            return
        inner = unwrap_await(value)
        self.facts.assigned[id(inner)] = target.value
        if self.checker.is_raw_body(inner, self.facts):
            self.facts.body_vars.add(target.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) == 1:
            self._assign(node.targets[0].target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._assign(node.target, node.value)

    def visit_Subscript(self, node: cst.Subscript) -> None:
        if _subscript_key(node) in EVENT_KEYS:
            self._mark(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value in EVENT_KEYS:
            self._mark(node.value)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        get = isinstance(func, cst.Attribute) and func.attr.value == "get"
        if get and node.args and string_value(node.args[0].value) in EVENT_KEYS:
            assert isinstance(func, cst.Attribute)
            self._mark(func.value)
        qualified = qualified_name(self.checker.ctx, func)
        last = qualified.rsplit(".", 1)[-1] if qualified else ""
        if self.checker.is_verify_call(qualified) or "verify" in last.lower():
            self.facts.verified = True
        unverified = self.checker.is_unverified_call(qualified)
        for arg in node.args:
            value = unwrap_await(arg.value)
            if unverified:
                if isinstance(value, cst.Name):
                    self.facts.fed_vars.add(value.value)
            elif last not in PASSIVE_CALLS:
                self._mark(value)

    def visit_Return(self, node: cst.Return) -> None:
        if node.value is not None:
            self._mark(node.value)

    def visit_Comparison(self, node: cst.Comparison) -> None:
        left = node.left
        for target in node.comparisons:
            right = target.comparator
            if (_is_type_access(left) and _is_event_type(right)) or (_is_type_access(right) and _is_event_type(left)):
                self.facts.handler = True
            left = right

    def visit_Match(self, node: cst.Match) -> None:
        if not _is_type_access(node.subject):
            return
        for case in node.cases:
            patterns: list[cst.MatchPattern] = [case.pattern]
            while patterns:
                pattern = patterns.pop()
                if isinstance(pattern, cst.MatchValue) and _is_event_type(pattern.value):
                    self.facts.handler = True
                elif isinstance(pattern, cst.MatchOr):
                    patterns.extend(el.pattern for el in pattern.patterns)
                elif isinstance(pattern, cst.MatchAs) and pattern.pattern is not None:
                    patterns.append(pattern.pattern)


class UnverifiedWebhookChecker(Checker):
    """Flags Stripe events that reach the app without a verified signature and replay window."""

    codes = ("ORG303",)

    @classmethod
    def triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        # a JSON-body finding needs a Stripe context (an import of stripe/djstripe or "stripe" in the
        # handler's name or route); the other two shapes need their call's name
        return ["stripe", "Stripe", "tolerance", *entry_triggers(knowledge["stripe.unverified_calls"])]

    @classmethod
    def statement_triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        # an unverified or verifying call by its name (a switched-off `tolerance` is read in the verifying call:
        # the word alone is any numeric tolerance); a JSON body needs a Stripe context in the function ("stripe"
        # in its or its class's name or route, a webhook decorator) unless the module imports Stripe
        calls = [*knowledge["stripe.unverified_calls"], *knowledge["stripe.verify_calls"]]
        return ["*stripe", *statement_words([*calls, *knowledge["webhooks.decorators"]])]

    @classmethod
    def import_triggers(
        cls, knowledge: Knowledge, index: ProjectIndex
    ) -> Iterable[tuple[Iterable[str], Iterable[str]]]:
        return [(("stripe", "djstripe"), ("loads", "json", "data", "body"))]

    def __init__(self, analysis: Analysis) -> None:
        super().__init__(analysis)
        self.constants = ModuleConstants(self.ctx.module)
        self._facts: dict[int, _Facts] = {}
        self._fed: set[int] = set()
        self._stripe_module: bool | None = None
        self._local_defs: set[str] | None = None
        knowledge = self.ctx.knowledge
        self.verify_calls = knowledge["stripe.verify_calls"]
        self.unverified_calls = knowledge["stripe.unverified_calls"]
        self.decorators = knowledge["webhooks.decorators"]
        self.path_markers = {m.lower() for m in knowledge["webhooks.path_markers"]}
        self.name_markers = {m.lower() for m in knowledge["webhooks.name_markers"]} | {
            m for m in self.path_markers if m.replace("_", "").isalnum()
        }

    # --- what a call is -------------------------------------------------------------------------

    def is_verify_call(self, qualified: str) -> bool:
        return matches_any(qualified, self.verify_calls)

    def is_unverified_call(self, qualified: str) -> bool:
        if not matches_any(qualified, self.unverified_calls):
            return False
        # a helper defined in this module is judged by its own body, not at every call
        return "." in qualified or qualified not in self._module_functions()

    def _module_functions(self) -> set[str]:
        if self._local_defs is None:
            self._local_defs = {s.name.value for s in self.ctx.module.body if isinstance(s, cst.FunctionDef)}
        return self._local_defs

    def _is_request(self, expr: cst.BaseExpression, facts: _Facts) -> bool:
        if isinstance(expr, cst.Name):
            return expr.value in facts.request_names
        return dotted_name(expr) == "self.request"

    def is_raw_body(self, expr: cst.BaseExpression, facts: _Facts) -> bool:
        """``request.body``, ``request.data``, ``request.get_data()``, ``await request.body()``, a variable
        holding one, or its ``.decode()``."""
        expr = unwrap_await(expr)
        if isinstance(expr, cst.Name):
            return expr.value in facts.body_vars
        if isinstance(expr, cst.Attribute):
            return expr.attr.value in RAW_BODY_ATTRS and self._is_request(expr.value, facts)
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
            attr, base = expr.func.attr.value, expr.func.value
            if attr == "decode":
                return self.is_raw_body(base, facts)
            if attr in RAW_BODY_METHODS:
                if isinstance(base, cst.Attribute) and base.attr.value == "stream":
                    base = base.value
                return self._is_request(base, facts)
        return False

    # --- per-function facts -----------------------------------------------------------------------

    def _stripe_imported(self) -> bool:
        if self._stripe_module is None:
            found = False
            for stmt in self.ctx.module.body:
                if not isinstance(stmt, cst.SimpleStatementLine):
                    continue
                for small in stmt.body:
                    if isinstance(small, cst.Import):
                        names = [dotted_name(alias.name) for alias in small.names]
                    elif isinstance(small, cst.ImportFrom) and small.module is not None:
                        names = [dotted_name(small.module)]
                    else:
                        continue
                    found = found or any(n.split(".")[0] in ("stripe", "djstripe") for n in names)
            self._stripe_module = found
        return self._stripe_module

    def facts_of(self, func: cst.FunctionDef) -> _Facts:
        key = id(func)
        if key not in self._facts:
            self._facts[key] = self._compute(func)
        return self._facts[key]

    def _compute(self, func: cst.FunctionDef) -> _Facts:
        facts = _Facts(stripe=self._stripe_imported())
        names = [func.name.value]
        klass = self.ctx.scope.class_of(func)
        if klass is not None:
            names.append(klass.name.value)
        for text in names:
            low = text.lower()
            facts.handler = facts.handler or any(m in low for m in self.name_markers)
            facts.stripe = facts.stripe or "stripe" in low
        for dec in func.decorators:
            expr = dec.decorator
            call = expr if isinstance(expr, cst.Call) else None
            target = call.func if call is not None else expr
            if matches_any(qualified_name(self.ctx, target), self.decorators):
                facts.handler = facts.stripe = True
            path = self._route_path(call) if call is not None else None
            if path is not None:
                low = path.lower()
                facts.handler = facts.handler or any(m in low for m in self.path_markers)
                facts.stripe = facts.stripe or "stripe" in low
        params = func.params
        facts.request_names = set(REQUEST_NAMES)
        facts.request_names.update(
            name.rsplit(".", 1)[-1] for name in self.ctx.knowledge["sources.request_names"] if "." not in name
        )
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            ann = dotted_name(param.annotation.annotation) if param.annotation is not None else ""
            if ann.rsplit(".", 1)[-1].endswith("Request"):
                facts.request_names.add(param.name.value)
        walk.visit(func.body, _Scan(self, facts))
        return facts

    @staticmethod
    def _route_path(call: cst.Call) -> str | None:
        for arg in call.args:
            if arg.keyword is None or arg.keyword.value in ("path", "rule", "route"):
                value = string_value(arg.value)
                if value is not None:
                    return value
                if arg.keyword is None:
                    return None
        return None

    # --- the traversal ----------------------------------------------------------------------------

    def visit_Call(self, node: cst.Call) -> None:
        qualified = qualified_name(self.ctx, node.func)
        if self.is_unverified_call(qualified):
            self._fed.update(id(unwrap_await(arg.value)) for arg in node.args)
            self.ctx.report("ORG303", node, shape="construct", call=dotted_name(node.func))
            return
        if self.is_verify_call(qualified):
            self._check_tolerance(node)
            return
        if self._is_parse_call(node, qualified):
            self._judge_source(node)

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        if len(node.targets) != 1 or not isinstance(value, cst.Attribute):
            return
        if value.attr.value not in PARSED_ATTRS:
            return
        func = self.ctx.scope.outer_function
        if func is not None and self._is_request(value.value, self.facts_of(func)):
            self._judge_source(value)

    def _is_parse_call(self, node: cst.Call, qualified: str) -> bool:
        func = self.ctx.scope.outer_function
        if func is None:
            return False
        module, _, last = qualified.rpartition(".")
        if last == "loads" and "json" in module:
            return bool(node.args) and self.is_raw_body(node.args[0].value, self.facts_of(func))
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in PARSED_METHODS:
            return self._is_request(node.func.value, self.facts_of(func))
        return False

    def _judge_source(self, node: cst.BaseExpression) -> None:
        func = self.ctx.scope.outer_function
        if func is None or id(node) in self._fed:
            return
        facts = self.facts_of(func)
        if not (facts.handler and facts.stripe) or facts.verified:
            return
        name = facts.assigned.get(id(node))
        if name is not None:
            used = name in facts.event_vars and name not in facts.fed_vars
        else:
            used = id(node) in facts.event_nodes
        if not used:
            return
        klass = self.ctx.scope.class_of(func)
        where = f"{klass.name.value}.{func.name.value}" if klass is not None else func.name.value
        self.ctx.report("ORG303", node, source=short_code(self.ctx, node, 50), handler=where)

    def _check_tolerance(self, node: cst.Call) -> None:
        value: cst.BaseExpression | None = None
        positional = [arg for arg in node.args if arg.keyword is None and not arg.star]
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.value == "tolerance":
                value = arg.value
        if value is None and len(positional) > POSITIONAL_TOLERANCE:
            value = positional[POSITIONAL_TOLERANCE].value
        if value is None or not self._disables_window(value):
            return
        shown = short_code(self.ctx, value, 30)
        literal = self.constants.resolve(value)
        if literal is not value:
            shown = f"{shown} (= {short_code(self.ctx, literal, 10)})"
        self.ctx.report("ORG303", node, shape="tolerance", call=dotted_name(node.func), value=shown)

    def _disables_window(self, expr: cst.BaseExpression) -> bool:
        expr = self.constants.resolve(expr)
        if isinstance(expr, cst.Name):
            return expr.value in ("None", "False")
        if isinstance(expr, (cst.Integer, cst.Float)):
            return float(expr.evaluated_value) <= 0
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
            return isinstance(expr.expression, (cst.Integer, cst.Float))
        return False
