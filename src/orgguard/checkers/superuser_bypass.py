"""ORG202 superuser-membership-bypass: a staff/superuser flag that grants access without membership.

Each access condition that mentions both a staff flag (``is_superuser``, ``is_staff``) and a membership
check is evaluated as a small boolean formula: it is a bypass when, with membership failing, the staff
flag alone flips the decision to "allow". ``member or superuser`` is a bypass; ``member and staff``
(staff *adds* to membership) is not.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import libcst as cst

from orgguard.checkers.base import Checker
from orgguard.engine import walk
from orgguard.engine.context import dotted_name
from orgguard.engine.flow import refuses
from orgguard.engine.records import ProjectIndex
from orgguard.engine.vocab import is_signed_in_user
from orgguard.knowledge import Knowledge

DECIDERS = ("has_permission", "has_object_permission", "test_func", "check_permissions", "can_access")
DECIDER_PREFIXES = ("can_", "has_", "may_", "user_can", "is_allowed", "allowed_")
MAX_OTHER_ATOMS = 6


class SuperuserBypassChecker(Checker):
    """``if not org.is_member(user) and not user.is_superuser: raise`` lets every superuser into every org."""

    codes = ("ORG202",)

    @classmethod
    def triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        return [f".{attr}" for attr in knowledge["admin.staff_attrs"]]  # read as the user's attribute only

    @classmethod
    def statement_triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        return [f".{attr}" for attr in knowledge["admin.staff_attrs"]]

    def visit_If(self, node: cst.If) -> None:
        self._judge(node.test, deny=refuses(node.body, strict=True))
        self._early_allow(node)

    def _early_allow(self, node: cst.If) -> None:
        """``if user.is_staff: return True`` ahead of the membership check of a permission decider."""
        func = self.ctx.scope.function
        if func is None or not (func.name.value in DECIDERS or func.name.value.startswith(DECIDER_PREFIXES)):
            return
        if not _returns_true(node.body):
            return
        atoms: list[tuple[str, cst.BaseExpression]] = []
        _collect(node.test, atoms)
        kinds = [self._kind(expr) for _, expr in atoms]
        if "staff" not in kinds or any(k in ("member", "member-neg") for k in kinds):
            return
        if isinstance(node.test, cst.BooleanOperation) and isinstance(node.test.operator, cst.And):
            return  # `staff and <something else>`: not the flag alone
        later = [
            sub
            for sub in walk.iter_tree(func.body)
            if isinstance(sub, (cst.Call, cst.Comparison)) and self._kind(sub) in ("member", "member-neg")
        ]
        if not later:
            return
        flag = atoms[kinds.index("staff")][1]
        if isinstance(flag, cst.Attribute) and flag.attr.value in self.ctx.knowledge["admin.operator_flags"]:
            return
        self.ctx.report(
            "ORG202",
            flag,
            flag=dotted_name(flag) or self.ctx.phrase("ORG202", "flag_unnamed"),
            check=self._describe([(t, e) for t, e in [("", later[0])]], [0]),
        )

    def visit_Return(self, node: cst.Return) -> None:
        func = self.ctx.scope.function
        if (
            node.value is not None
            and func is not None
            and (func.name.value in DECIDERS or func.name.value.startswith(DECIDER_PREFIXES))
        ):
            self._judge(node.value, deny=False)

    def _judge(self, cond: cst.BaseExpression, *, deny: bool) -> None:
        atoms: list[tuple[str, cst.BaseExpression]] = []
        _collect(cond, atoms)
        staff_attrs = self.ctx.knowledge["admin.staff_attrs"]
        if not any(isinstance(expr, cst.Attribute) and expr.attr.value in staff_attrs for _, expr in atoms):
            return  # no staff flag: nothing to judge (the other atoms' kinds would cost the function's flow)
        kinds = [self._kind(expr) for _, expr in atoms]
        staff = [i for i, k in enumerate(kinds) if k == "staff"]
        member = [i for i, k in enumerate(kinds) if k in ("member", "member-neg")]
        failed = {i: kinds[i] == "member-neg" for i in member}  # the atom's value when membership fails
        if not staff or not member:
            return
        others = [i for i, k in enumerate(kinds) if k == "other"][:MAX_OTHER_ATOMS]
        for values in itertools.product((False, True), repeat=len(others)):
            env = dict(zip(others, values, strict=True))
            env.update(failed)
            with_staff = _allow(cond, atoms, {**env, **{i: True for i in staff}}, deny)
            without = _allow(cond, atoms, {**env, **{i: False for i in staff}}, deny)
            if with_staff and not without:
                flag = atoms[staff[0]][1]
                if isinstance(flag, cst.Attribute) and flag.attr.value in self.ctx.knowledge["admin.operator_flags"]:
                    return  # the app reserves this flag for its platform operators: seeing every tenant is by design
                self.ctx.report(
                    "ORG202",
                    flag,
                    flag=dotted_name(flag) or self.ctx.phrase("ORG202", "flag_unnamed"),
                    check=self._describe(atoms, member),
                )
                return

    def _describe(self, atoms: list[tuple[str, cst.BaseExpression]], member: list[int]) -> str:
        expr = atoms[member[0]][1]
        if isinstance(expr, cst.Call):
            return dotted_name(expr.func) + "()"
        return self.ctx.phrase("ORG202", "check_unnamed")

    def _kind(self, expr: cst.BaseExpression) -> str:
        k = self.ctx.knowledge
        if isinstance(expr, cst.Attribute) and expr.attr.value in k["admin.staff_attrs"]:
            return "staff"
        call = expr
        if isinstance(call, cst.Call):
            name = dotted_name(call.func).rsplit(".", 1)[-1]
            if name in k["admin.membership_checks"] or name in k["guards.functions"]:
                return "member"
            flow = self.analysis.flow()
            summary = flow.summary_for(call) if flow is not None else None
            if summary is not None and summary.verifies:
                return "member"
            inner = call.func.value if isinstance(call.func, cst.Attribute) and name == "exists" else call
            if flow is not None and isinstance(inner, cst.Call) and flow.is_membership_query(inner):
                return "member"
        # an ownership check: `org.owner.user != request.user`
        if isinstance(expr, cst.Comparison) and all(
            isinstance(c.operator, (cst.Equal, cst.NotEqual)) for c in expr.comparisons
        ):
            operands = [expr.left, *(c.comparator for c in expr.comparisons)]
            others = [op for op in operands if not is_signed_in_user(dotted_name(op))]
            # `request.user == user` compares two users (a profile's own page), not a tenant's owner:
            # ownership of a tenant reads through an object (`org.owner.user != request.user`)
            if (
                any(is_signed_in_user(dotted_name(op)) for op in operands)
                and others
                and all(isinstance(op, cst.Attribute) for op in others)
            ):
                # `!=` holds when the user is NOT the owner: the check passes when the atom is false
                return "member-neg" if isinstance(expr.comparisons[0].operator, cst.NotEqual) else "member"
        # `membership is not None` / `membership` where membership came from a membership lookup
        var = expr.left if isinstance(expr, cst.Comparison) else expr
        if isinstance(var, cst.Name) and "member" in var.value.lower():
            if isinstance(expr, cst.Comparison) and isinstance(expr.comparisons[0].operator, (cst.Is, cst.Equal)):
                return "member-neg"  # `membership is None`
            return "member"
        if isinstance(expr, cst.Comparison) and any(
            isinstance(c.operator, (cst.In, cst.NotIn)) for c in expr.comparisons
        ):
            text = cst.Module([]).code_for_node(expr)
            if any(f".{attr}" in text for attr in self.ctx.index.membership_attrs):
                return "member"
        return "other"


def _returns_true(body: cst.BaseSuite) -> bool:
    stmts = body.body if isinstance(body, cst.IndentedBlock) else [body]
    for stmt in stmts[:1]:
        smalls = stmt.body if isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)) else []
        for small in smalls:
            if isinstance(small, cst.Return) and isinstance(small.value, cst.Name) and small.value.value == "True":
                return True
    return False


def _collect(expr: cst.BaseExpression, atoms: list[tuple[str, cst.BaseExpression]]) -> None:
    if isinstance(expr, cst.BooleanOperation):
        _collect(expr.left, atoms)
        _collect(expr.right, atoms)
    elif isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
        _collect(expr.expression, atoms)
    else:
        atoms.append((str(len(atoms)), expr))


def _allow(
    cond: cst.BaseExpression, atoms: list[tuple[str, cst.BaseExpression]], env: dict[int, bool], deny: bool
) -> bool:
    index = {id(expr): i for i, (_, expr) in enumerate(atoms)}

    def ev(expr: cst.BaseExpression) -> bool:
        if isinstance(expr, cst.BooleanOperation):
            if isinstance(expr.operator, cst.And):
                return ev(expr.left) and ev(expr.right)
            return ev(expr.left) or ev(expr.right)
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
            return not ev(expr.expression)
        return env.get(index[id(expr)], True)

    value = ev(cond)
    return not value if deny else value
