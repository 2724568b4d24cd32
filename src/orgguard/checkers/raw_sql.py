"""ORG601 raw-sql-without-org: raw SQL on tenant tables with no tenant predicate.

Which calls: the names in the knowledge packs' ``queries.raw_sql_calls`` — DB-API ``cursor.execute`` /
``executemany`` (Django, psycopg, sqlite3), SQLAlchemy ``conn.execute("...")``, ``exec_driver_sql`` and
``text(...)``, Django ``Model.objects.raw(...)``, ``RawSQL(...)`` and ``.extra(where=[...])``.
Alembic's ``op.execute`` is a migration and is skipped (migrations are excluded anyway).

Which code: raw SQL is its own category, so ORG601 is reported wherever the SQL runs in application
code — request handlers, jobs, webhooks, exports and helpers alike (tests, seeds and migrations are
exempt by the engine). The path class does not change the code: a raw statement is either scoped to a
tenant or it is not, and the fix (a tenant predicate in the SQL) is the same everywhere.

Which line: the call that runs or declares the SQL (``cursor.execute(``, ``text(``, ``.raw(``). A
``text()`` statement is reported where it is built, not again where it is executed.

What SQL: string literals, implicit and ``+`` concatenation, ``%`` and ``.format()`` on literals,
f-strings, ``textwrap.dedent``/``str.join``/``.strip()`` of those, and names bound to such values:
a local variable (its one reaching assignment plus straight-line ``+=``), a module or class constant.
Parts that do not resolve are fragments (see :mod:`orgguard.engine.sql`): a fragment in a value
position is fine, anywhere else the statement is not judged. SQL that does not resolve at all is
never reported (precision first).

Fragments of an ORM query: ``RawSQL(...)`` and ``.extra(select=..., where=...)`` are read as embedded
(``embedded=True``): a table compared with a column of the outer query's row (``WHERE
ipam_prefix.prefix <<= ipam_aggregate.prefix``, the outer table named nowhere in the fragment) is
correlated and not reported, like the same count written as ``Subquery(... OuterRef(...))``. Text run
on its own (``cursor.execute``, ``.raw``, ``text``) never is: there an unknown qualifier is no outer row.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import libcst as cst

from orgguard.checkers.base import Analysis, Checker
from orgguard.engine import sql as sqlr
from orgguard.engine import walk
from orgguard.engine.context import dotted_name
from orgguard.engine.facts import Surface
from orgguard.engine.records import ProjectIndex
from orgguard.knowledge import Knowledge

FRAG = sqlr.FRAGMENT
SQL_KEYWORDS = ("sql", "query", "raw_query", "statement", "stmt", "operation", "sql_query")
PARAM_KEYWORDS = ("params", "parameters", "args", "vars")
ID_CASTS = frozenset({"str", "int", "UUID", "uuid.UUID"})
MIGRATION_RECEIVERS = frozenset({"op"})  # alembic's op.execute: schema/data migrations
EMBEDDED = frozenset({"RawSQL"})  # SQL fragments of an ORM query (with .extra(select=/where=))
METHOD_ONLY = frozenset({"execute", "executemany", "executescript", "exec_driver_sql", "raw", "extra"})
STRING_HELPERS = frozenset({"dedent", "cleandoc", "str"})
CASE_METHODS = frozenset({"strip", "lstrip", "rstrip", "upper", "lower"})
MAX_DEPTH = 40
MAX_SQL = 200_000  # characters: longer "SQL" is generated data, not a statement to judge
VERBS = frozenset({"read", "update", "delete", "insert"})  # statement kinds, each a `verb_<kind>` part of ORG601


# -- the tenant schema, from the project index -------------------------------------------------------


def _default_table(path: str, name: str) -> str:
    app = path.rsplit("/", 2)[-2] if path.count("/") >= 1 else ""
    return f"{app}_{name.lower()}" if app else name.lower()


def table_names(index: ProjectIndex, model: str) -> tuple[str, ...]:
    """Every name the model's table may carry in SQL (lower case)."""
    info = index.models.get(model)
    if info is None:
        return ()
    names = [info.table.lower()]
    if info.table == _default_table(info.path, model):
        parts = info.path.split("/")
        if len(parts) >= 3 and parts[-2] == "models":
            names.append(f"{parts[-3]}_{model.lower()}".lower())  # a Django models/ package
        if "SQLModel" in index.base_names(model) or "SQLModel" in {b.rsplit(".", 1)[-1] for b in info.bases}:
            names.append(model.lower())  # SQLModel's default __tablename__
    return tuple(dict.fromkeys(names))


def _target_model(index: ProjectIndex, target: str) -> str:
    if target.startswith("table:"):
        return index.tables.get(target[6:], target)
    return target


def fk_column(index: ProjectIndex, model: str, fld: str) -> str:
    """The database column behind a relation field (``organization`` -> ``organization_id``)."""
    info = index.models.get(model)
    relations = dict(info.relations) if info is not None else {}
    target = relations.get(fld)
    if target is None or fld.endswith("_id") or target.startswith("table:"):
        return fld  # a bare tenant column, or a SQLAlchemy Column(ForeignKey(...)) named for itself
    return f"{fld}_id"


def tenant_schema(index: ProjectIndex) -> sqlr.TenantSchema:
    """The tenant-owned tables of the project and how each reaches the tenant.

    ``tenant-fields`` columns are already folded into ``index.tenant_paths`` as direct paths.
    """
    rules: dict[str, sqlr.TableRule] = {}
    users = {"User", *(m for m in index.models if m.endswith("User") and m not in index.membership_models)}
    for model, paths in index.tenant_paths.items():
        info = index.models.get(model)
        if info is None or info.abstract or model in index.tenant_models:
            continue
        relations = dict(info.relations)
        columns: list[str] = []
        parents: list[tuple[str, str]] = []
        for path in paths:
            head, _, rest = path.partition("__")
            column = fk_column(index, model, head)
            if not rest:
                columns.append(column)
                continue
            parent = _target_model(index, relations.get(head, ""))
            for name in table_names(index, parent):
                parents.append((column, name))
        owners: list[str] = []
        if model in index.membership_models:
            owners = [fk_column(index, model, f) for f, t in info.relations if _target_model(index, t) in users]
        declared = frozenset({*info.columns, *(fk_column(index, model, f) for f, _ in info.relations)})
        for name in table_names(index, model):
            rules[name] = sqlr.TableRule(
                table=name,
                model=model,
                tenant_columns=tuple(dict.fromkeys(columns)),
                parents=tuple(dict.fromkeys(parents)),
                owner_columns=tuple(dict.fromkeys(owners)),
                columns=declared,
            )
    tenant_tables = {name for model in index.tenant_models for name in table_names(index, model)}
    return sqlr.TenantSchema(rules, frozenset(tenant_tables))


# -- constant propagation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Binding:
    order: int  # statement order in its body
    block: int  # the statement list holding it
    chain: tuple[int, ...]  # every block enclosing it
    kind: str  # "assign", "aug" (+=), "other" (loop target, unpacking, import, ...)
    value: cst.BaseExpression | None


_STATEMENTS = walk.Kinds(cst.SimpleStatementLine, cst.BaseCompoundStatement)
_BLOCKS = walk.Kinds(cst.IndentedBlock, cst.SimpleStatementSuite)
_SCOPES = walk.Kinds(cst.FunctionDef, cst.ClassDef)
_LAMBDA = walk.Kinds(cst.Lambda)


class _Bindings(cst.CSTVisitor):
    """Every binding of a simple name in one body (nested functions and classes are their own)."""

    def __init__(self, root: cst.CSTNode) -> None:
        super().__init__()
        self.root = root
        self.names: dict[str, list[_Binding]] = {}
        self.order: dict[int, int] = {}
        self.chains: dict[int, tuple[int, ...]] = {}
        self.blocks: list[int] = [id(root)]
        self.current = 0
        self.counter = 0

    def scan(self) -> _Bindings:
        if isinstance(self.root, (cst.FunctionDef, cst.ClassDef)):
            walk.visit(self.root.body, self)
        else:
            walk.visit(self.root, self)
        return self

    def _bind(self, name: str, kind: str, value: cst.BaseExpression | None = None) -> None:
        self.names.setdefault(name, []).append(_Binding(self.current, self.blocks[-1], tuple(self.blocks), kind, value))

    def _bind_target(self, target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        if isinstance(target, cst.Name):
            self._bind(target.value, "assign" if value is not None else "other", value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bind_target(element.value, None)
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value, None)

    def _statement(self, node: cst.CSTNode) -> None:
        self.counter += 1
        self.current = self.counter
        self.order[id(node)] = self.counter
        self.chains[id(node)] = tuple(self.blocks)

    def on_visit(self, node: cst.CSTNode) -> bool:
        kind = type(node)
        if _STATEMENTS[kind]:
            self._statement(node)
        if _BLOCKS[kind]:
            self.blocks.append(id(node))
        if node is not self.root and _SCOPES[kind]:
            self._bind(cast("cst.FunctionDef | cst.ClassDef", node).name.value, "other")
            return False
        return not _LAMBDA[kind] and super().on_visit(node)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if _BLOCKS[type(original_node)] and len(self.blocks) > 1:
            self.blocks.pop()
        super().on_leave(original_node)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind_target(target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._bind_target(node.target, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name):
            kind = "aug" if isinstance(node.operator, cst.AddAssign) else "other"
            self._bind(node.target.value, kind, node.value)

    def visit_For(self, node: cst.For) -> None:
        self._bind_target(node.target, None)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._bind_target(node.asname.name, None)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._bind_target(node.target, None)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self._bind_target(node.name.name, None)

    def visit_Global(self, node: cst.Global) -> None:
        for item in node.names:
            self._bind(item.name.value, "other")

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        for item in node.names:
            self._bind(item.name.value, "other")

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            name = alias.asname.name if alias.asname else alias.name
            if isinstance(name, cst.Name):
                self._bind(name.value, "other")

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = alias.asname.name if alias.asname else alias.name
            if isinstance(name, cst.Name):
                self._bind(name.value, "other")


@dataclass(frozen=True)
class _Env:
    """Where a name is looked up: the bindings of one body, at one statement, then the enclosing ones."""

    scan: _Bindings
    at: int  # statement order of the use (bindings before it reach it)
    chain: tuple[int, ...]  # blocks enclosing the use
    outer: _Env | None
    ordered: bool  # False for enclosing bodies: only a name bound exactly once resolves


_PERCENT = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<conv>[diouxXeEfFgGcrsab%])"
)
_FIELD = re.compile(r"\{\{|\}\}|\{(?P<field>[^{}!:]*)(?:![rsa])?(?::[^{}]*)?\}")


def _percent(fmt: str, args: Sequence[str | None] | None, kwargs: dict[str, str | None] | None) -> str:
    out: list[str] = []
    pos = 0
    index = 0
    for m in _PERCENT.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        if m.group("conv") == "%":
            out.append("%")
            continue
        key = m.group("key")
        if key is not None:
            value = (kwargs or {}).get(key)
        else:
            value = args[index] if args is not None and index < len(args) else None
            index += 1
        out.append(value if value is not None else FRAG)
    out.append(fmt[pos:])
    return "".join(out)


def _format(fmt: str, args: Sequence[str | None], kwargs: dict[str, str | None]) -> str:
    auto = 0

    def field_value(m: re.Match[str]) -> str:
        nonlocal auto
        text = m.group(0)
        if text in ("{{", "}}"):
            return text[0]
        name = m.group("field") or ""
        head = re.split(r"[.\[]", name, maxsplit=1)[0]
        if head != name:
            return FRAG  # {obj.attr}, {seq[0]}
        if head == "":
            value = args[auto] if auto < len(args) else None
            auto += 1
        elif head.isdigit():
            value = args[int(head)] if int(head) < len(args) else None
        else:
            value = kwargs.get(head)
        return value if value is not None else FRAG

    return _FIELD.sub(field_value, fmt)


def _fstring_text(text: str, prefix: str) -> str:
    text = text.replace("{{", "{").replace("}}", "}")
    if "\\" in text and "r" not in prefix.lower() and text.isascii():
        try:
            return codecs.decode(text, "unicode_escape")
        except UnicodeDecodeError:
            return text
    return text


class _Strings:
    """Resolves Python expressions to SQL text, with :data:`FRAG` for the parts that do not resolve."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self.scans: dict[int, _Bindings] = {}
        self.memo: dict[tuple[int, str, int, tuple[int, ...]], str | None] = {}

    def scan(self, node: cst.CSTNode) -> _Bindings:
        key = id(node)
        if key not in self.scans:
            self.scans[key] = _Bindings(node).scan()
        return self.scans[key]

    def env(
        self, functions: Sequence[cst.FunctionDef], statement: cst.CSTNode | None, klass: cst.ClassDef | None
    ) -> _Env:
        """The lookup chain at ``statement`` inside ``functions`` (outermost first)."""
        env = _Env(self.scan(self.module), 1 << 30, (), None, False)
        if klass is not None:
            env = _Env(self.scan(klass), 1 << 30, (), env, False)
        for k, func in enumerate(functions):
            innermost = k == len(functions) - 1
            bindings = self.scan(func)
            if innermost and statement is not None and id(statement) in bindings.order:
                at, chain = bindings.order[id(statement)], bindings.chains[id(statement)]
            else:
                at, chain = 1 << 30, ()
            env = _Env(bindings, at, chain, env, innermost)
        return env

    # ---- names ---------------------------------------------------------------------------------
    def _name(self, name: str, env: _Env | None, depth: int) -> str | None:
        while env is not None:
            found = env.scan.names.get(name)
            if found:
                key = (id(env.scan), name, env.at, env.chain)
                if key not in self.memo:
                    self.memo[key] = None  # a cycle resolves to nothing
                    self.memo[key] = self._from_bindings(found, env, depth)
                return self.memo[key]
            env = env.outer
        return None

    def _from_bindings(self, found: list[_Binding], env: _Env, depth: int) -> str | None:
        if not env.ordered:
            if len(found) != 1 or found[0].kind != "assign" or found[0].value is None:
                return None
            return self.value(found[0].value, _Env(env.scan, found[0].order, (), env.outer, False), depth + 1)
        before = [b for b in found if b.order < env.at]
        last = max((k for k, b in enumerate(before) if b.kind == "assign"), default=-1)
        if last < 0:
            return None
        first = before[last]
        if first.block not in env.chain:
            return None  # assigned in a branch that does not enclose the use
        if any(b.kind != "aug" or b.block != first.block for b in before[last + 1 :]):
            return None  # changed on some path only
        parts: list[str] = []
        for binding in before[last:]:
            assert binding.value is not None
            text = self.value(binding.value, _Env(env.scan, binding.order, binding.chain, env.outer, True), depth + 1)
            if binding is first and text is None:
                return None
            parts.append(text if text is not None else FRAG)
        return "".join(parts)

    def _class_attr(self, node: cst.Attribute, env: _Env | None, depth: int) -> str | None:
        while env is not None:
            if isinstance(env.scan.root, cst.ClassDef):
                found = env.scan.names.get(node.attr.value)
                return self._from_bindings(found, env, depth) if found else None
            env = env.outer
        return None

    # ---- expressions ---------------------------------------------------------------------------
    def value(self, node: cst.BaseExpression, env: _Env | None, depth: int = 0) -> str | None:
        """The text of ``node``; None when nothing of it is known."""
        if depth > MAX_DEPTH:
            return None
        text = self._value(node, env, depth)
        return text if text is None or len(text) <= MAX_SQL else None

    def _value(self, node: cst.BaseExpression, env: _Env | None, depth: int) -> str | None:
        if isinstance(node, cst.SimpleString):
            try:
                raw = node.evaluated_value
            except Exception:  # an exotic literal libcst cannot evaluate
                return None
            return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if isinstance(node, cst.ConcatenatedString):
            return self._join([node.left, node.right], env, depth)
        if isinstance(node, cst.FormattedString):
            parts: list[str] = []
            for part in node.parts:
                if isinstance(part, cst.FormattedStringText):
                    parts.append(_fstring_text(part.value, node.prefix))
                elif isinstance(part, cst.FormattedStringExpression):
                    text = self.value(part.expression, env, depth + 1)
                    parts.append(text if text is not None else FRAG)
            return "".join(parts)
        if isinstance(node, (cst.Integer, cst.Float)):
            return node.value
        if isinstance(node, cst.BinaryOperation):
            if isinstance(node.operator, cst.Add):
                return self._join([node.left, node.right], env, depth)
            if isinstance(node.operator, cst.Modulo):
                return self._modulo(node, env, depth)
            return None
        if isinstance(node, cst.Name):
            return self._name(node.value, env, depth)
        if isinstance(node, cst.Attribute) and dotted_name(node.value) in ("self", "cls"):
            return self._class_attr(node, env, depth)
        if isinstance(node, cst.Call):
            return self._call(node, env, depth)
        return None

    def _join(self, nodes: Sequence[cst.BaseExpression], env: _Env | None, depth: int) -> str | None:
        texts = [self.value(n, env, depth + 1) for n in nodes]
        if all(t is None for t in texts):
            return None
        return "".join(t if t is not None else FRAG for t in texts)

    def _modulo(self, node: cst.BinaryOperation, env: _Env | None, depth: int) -> str | None:
        fmt = self.value(node.left, env, depth + 1)
        if fmt is None:
            return None
        right = node.right
        if isinstance(right, cst.Tuple):
            args = [self.value(e.value, env, depth + 1) for e in right.elements]
            return _percent(fmt, args, None)
        if isinstance(right, cst.Dict):
            kwargs: dict[str, str | None] = {}
            for element in right.elements:
                if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString):
                    key = element.key.evaluated_value
                    if isinstance(key, str):
                        kwargs[key] = self.value(element.value, env, depth + 1)
            return _percent(fmt, None, kwargs)
        return _percent(fmt, [self.value(right, env, depth + 1)], None)

    def _call(self, node: cst.Call, env: _Env | None, depth: int) -> str | None:
        func = node.func
        positional = [a.value for a in node.args if a.keyword is None and not a.star]
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method == "format":
                fmt = self.value(func.value, env, depth + 1)
                if fmt is None:
                    return None
                args = [self.value(a, env, depth + 1) for a in positional]
                kwargs = {
                    a.keyword.value: self.value(a.value, env, depth + 1) for a in node.args if a.keyword is not None
                }
                return _format(fmt, args, kwargs)
            if method in CASE_METHODS:
                return self.value(func.value, env, depth + 1)
            if method == "join" and len(positional) == 1 and isinstance(positional[0], (cst.List, cst.Tuple)):
                sep = self.value(func.value, env, depth + 1)
                if sep is None:
                    return None
                items = [self.value(e.value, env, depth + 1) for e in positional[0].elements]
                return sep.join(t if t is not None else FRAG for t in items)
        name = dotted_name(func).rsplit(".", 1)[-1]
        if name in STRING_HELPERS and len(positional) == 1:
            return self.value(positional[0], env, depth + 1)
        return None


# -- the checker ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Finding:
    """Which ORG601 message (``message``, ``insert`` or ``join``) and the names it shows."""

    shape: str
    values: dict[str, str]


class RawSqlChecker(Checker):
    """Flags raw SQL statements that read or write tenant-owned tables without a tenant predicate."""

    codes = ("ORG601",)

    @classmethod
    def triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        if not index.tenant_paths:
            return []
        names = knowledge["queries.raw_sql_calls"]
        out = {f"{name}(" for name in names if name != "text"}
        if "text" in names:
            out |= {"sqlalchemy", "sqlmodel", ".text("}
        return sorted(out)

    @classmethod
    def statement_triggers(cls, knowledge: Knowledge, index: ProjectIndex) -> Iterable[str]:
        if not index.tenant_paths:
            return []
        # a call of one of the names (a statement reads SQL only there: `text` alone is a variable), or the import
        return [*(f"{name}(" for name in knowledge["queries.raw_sql_calls"]), "sqlalchemy", "sqlmodel"]

    def __init__(self, analysis: Analysis) -> None:
        super().__init__(analysis)
        self._schema: sqlr.TenantSchema | None = None
        self._strings: _Strings | None = None
        self.calls = self.ctx.knowledge["queries.raw_sql_calls"]
        self._request_names = {n.split(".")[-1] for n in self.ctx.knowledge["sources.request_names"]} | {"request"}
        self._request_attrs = self.ctx.knowledge["sources.request_attrs"]
        self._text_params: dict[int, cst.BaseExpression] = {}  # text(...) call -> the params it runs with
        self._migration = False

    @property
    def schema(self) -> sqlr.TenantSchema:
        if self._schema is None:
            self._schema = tenant_schema(self.ctx.index)
        return self._schema

    @property
    def strings(self) -> _Strings:
        if self._strings is None:
            self._strings = _Strings(self.ctx.module)
        return self._strings

    # ---- which calls ---------------------------------------------------------------------------
    def _call_name(self, node: cst.Call) -> tuple[str, str | None]:
        """(name, receiver) of a call: ``cursor.execute`` -> ("execute", "cursor"); ``text`` -> ("text", None)."""
        func = node.func
        if isinstance(func, cst.Attribute):
            return func.attr.value, dotted_name(func.value)
        if isinstance(func, cst.Name):
            return self.ctx.resolve(func.value), None
        return "", None

    def _is_sql_call(self, node: cst.Call) -> bool:
        name, receiver = self._call_name(node)
        if name not in self.calls:
            return False
        if receiver is None and name in METHOD_ONLY:
            return False
        if name == "text" and receiver is None:
            assert isinstance(node.func, cst.Name)
            origin = self.ctx.imports.get(node.func.value, "")
            return "sqlalchemy" in origin or "sqlmodel" in origin
        return receiver not in MIGRATION_RECEIVERS

    @staticmethod
    def _sql_arg(node: cst.Call) -> cst.BaseExpression | None:
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.value in SQL_KEYWORDS:
                return arg.value
        for arg in node.args:
            if arg.keyword is None and not arg.star:
                return arg.value
        return None

    @staticmethod
    def _params_arg(node: cst.Call) -> cst.BaseExpression | None:
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.value in PARAM_KEYWORDS:
                return arg.value
        positional = [a for a in node.args if a.keyword is None and not a.star]
        return positional[1].value if len(positional) >= 2 else None

    def _held_id(self, expr: cst.BaseExpression) -> bool:
        """``x.id``, ``self.pk``, ``task.project_id``: the id of an object the code already holds."""
        if isinstance(expr, cst.Call) and len(expr.args) == 1 and dotted_name(expr.func) in ID_CASTS:
            expr = expr.args[0].value
        if not isinstance(expr, cst.Attribute):
            return False
        attr = expr.attr.value
        if attr not in ("id", "pk") and not attr.endswith("_id"):
            return False
        parts = dotted_name(expr.value).split(".")
        if not parts[0] or parts[0] in self._request_names or any(p in self._request_attrs for p in parts):
            return False
        return not (len(parts) >= 2 and parts[0] == "self" and parts[1] in self._request_names)

    def _held_params(self, params: cst.BaseExpression | None) -> set[str]:
        if isinstance(params, (cst.List, cst.Tuple)):
            return {str(i) for i, e in enumerate(params.elements) if self._held_id(e.value)}
        if isinstance(params, cst.Dict):
            out = set()
            for element in params.elements:
                if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString):
                    key = element.key.evaluated_value
                    if isinstance(key, str) and self._held_id(element.value):
                        out.add(key)
            return out
        if isinstance(params, cst.Call) and dotted_name(params.func) == "dict":
            return {a.keyword.value for a in params.args if a.keyword is not None and self._held_id(a.value)}
        return set()

    def _env(self) -> _Env:
        scope = self.ctx.scope
        functions = [f.node for f in scope.frames if isinstance(f.node, cst.FunctionDef)]
        outer = scope.outer_function
        klass = scope.class_of(outer) if outer is not None else scope.klass
        return self.strings.env(functions, scope.statement, klass)

    def _resolve(self, expr: cst.BaseExpression) -> str | None:
        return self.strings.value(expr, self._env())

    def visit_Module(self, node: cst.Module) -> bool:
        # an Alembic migration script: whole-table data fixes are what migrations are for
        self._migration = any(origin.split(".", 1)[0] == "alembic" for origin in self.ctx.imports.values())
        return True

    def visit_Call(self, node: cst.Call) -> None:
        if self._migration or not self._is_sql_call(node):
            return
        name, _receiver = self._call_name(node)
        if name == "extra":
            self._extra(node)
            return
        arg = self._sql_arg(node)
        if arg is None:
            return
        params = self._params_arg(node) if name != "text" else self._text_params.get(id(node))
        if isinstance(arg, cst.Call) and self._is_sql_call(arg):
            # session.execute(text(...), params): reported where the text() is built, with these params
            if params is not None:
                self._text_params[id(arg)] = params
            return
        text = self._resolve(arg)
        if text is None or not sqlr.is_statement(text):
            return
        default_style = ":org_id" if name in ("text", "exec_driver_sql") else "%s"
        if name in EMBEDDED and self._only_excludes(node):
            return
        # RawSQL is an expression of an ORM query: it may be correlated with the outer query's row
        self._judge(node, text, (), default_style, self._held_params(params), embedded=name in EMBEDDED)

    def _only_excludes(self, node: cst.Call) -> bool:
        """A fragment the function returns to callers that only ``.exclude()`` with it (a deny-list): it
        can remove rows from a query, never add another tenant's."""
        if not self.analysis.returned(node):
            return False
        facts = self.analysis.current_facts()
        if facts is None or facts.info is None:
            return False
        reaches = self.ctx.index.reaches(facts.info.qualname)
        return bool(reaches) and all(r.fate == "checked" for r in reaches)

    def _extra(self, node: cst.Call) -> None:
        """Django ``.extra(select=..., where=[...], tables=[...])``: a statement around the ORM query."""
        where: list[str] = []
        tables: list[str] = []
        selects: list[str] = []
        for arg in node.args:
            if arg.keyword is None:
                continue
            key = arg.keyword.value
            if key in ("where", "tables") and isinstance(arg.value, (cst.List, cst.Tuple)):
                texts = [self._resolve(e.value) for e in arg.value.elements]
                target = where if key == "where" else tables
                target.extend(t if t is not None else FRAG for t in texts)
            elif key in ("where", "tables"):
                (where if key == "where" else tables).append(FRAG)
            elif key == "select" and isinstance(arg.value, cst.Dict):
                for element in arg.value.elements:
                    if isinstance(element, cst.DictElement):
                        text = self._resolve(element.value)
                        selects.append(text if text is not None else "NULL")
        if not tables and not selects:
            return  # where=[...] alone narrows the ORM query, which the query rules judge
        base = self._extra_base(node)
        sources = [base or "orgguard_orm_query", *tables]
        sql = f"SELECT {', '.join(f'({s})' for s in selects) or '*'} FROM {', '.join(sources)}"
        if where:
            sql += " WHERE " + " AND ".join(f"({w})" for w in where)
        self._judge(node, sql, (base or "orgguard_orm_query",), "%s", embedded=True)

    def _extra_base(self, node: cst.Call) -> str:
        """The table of the model the ``.extra()`` query starts from (``Invoice.objects...``)."""
        expr: cst.BaseExpression = node.func
        while True:
            if isinstance(expr, cst.Call):
                expr = expr.func
            elif isinstance(expr, cst.Attribute):
                if expr.attr.value in self.ctx.knowledge["models.managers"]:
                    model = self.ctx.model_of(expr.value)
                    names = table_names(self.ctx.index, model) if model else ()
                    return names[0] if names else ""
                expr = expr.value
            else:
                return ""

    # ---- judgement -----------------------------------------------------------------------------
    def _judge(
        self,
        node: cst.Call,
        text: str,
        assume: Sequence[str],
        default_style: str,
        held: Iterable[str] = (),
        *,
        embedded: bool = False,
    ) -> None:
        try:
            report = sqlr.analyse(text, self.schema, assume_scoped=assume, held_params=held, embedded=embedded)
        except RecursionError:
            return  # nested too deep to read: not judged
        unscoped = report.unscoped
        if not unscoped or self._operator_statistics(text):
            return
        style = sqlr.param_style(text, default_style)
        has_where = any(t.upper == "WHERE" for t in sqlr.tokenize(text))
        finding = self._describe(unscoped, style, "AND" if has_where else "WHERE")
        operation = unscoped[0].operation
        func = self.ctx.scope.function
        call = dotted_name(node.func) or (f".{node.func.attr.value}" if isinstance(node.func, cst.Attribute) else "")
        if len(call) > 40 and isinstance(node.func, cst.Attribute):
            call = f"...{node.func.attr.value}"
        self.ctx.report(
            "ORG601",
            node,
            shape=finding.shape,
            call=f"{call}()",
            verb=self.ctx.phrase("ORG601", f"verb_{operation if operation in VERBS else 'read'}"),
            where=self.ctx.phrase("ORG601", "in_function", function=func.name.value) if func is not None else "",
            fields=finding.values,
        )

    def _operator_statistics(self, text: str) -> bool:
        """Counts across every tenant in code that only jobs and commands reach (an instance-wide usage
        report): operator statistics by design, as ORG302 treats aggregates in jobs."""
        tokens = sqlr.tokenize(text)
        words = [t.upper for t in tokens]
        if not words or words[0] != "SELECT":
            return False
        aggregates = {"COUNT", "SUM", "AVG", "MIN", "MAX"}
        if not any(w in aggregates and nxt.text == "(" for w, nxt in zip(words, tokens[1:], strict=False)):
            return False
        facts = self.analysis.current_facts()
        if facts is None or facts.info is None or facts.surface not in (Surface.JOB, Surface.OTHER):
            return False
        reaches = self.ctx.index.reaches(facts.info.qualname)
        return facts.surface is Surface.JOB or (bool(reaches) and all(r.surface == "job" for r in reaches))

    def _describe(self, unscoped: Sequence[sqlr.TableUse], style: str, keyword: str) -> _Finding:
        first = unscoped[0]
        rule = first.rule
        assert rule is not None
        names = list(dict.fromkeys(f"{u.table} ({u.rule.model})" if u.rule else u.table for u in unscoped))
        tables = ", ".join(names)
        alias = first.written_alias or first.alias
        qualifier = f"{alias}." if first.alias != first.table else ""
        shown = {"tables": tables, "keyword": keyword, "style": style, "alias": alias, "qualifier": qualifier}
        if first.operation == "insert":
            column = rule.tenant_columns[0] if rule.tenant_columns else (rule.parents[0][0] if rule.parents else "")
            return _Finding("insert", {**shown, "column": column})
        if rule.tenant_columns:
            return _Finding("message", {**shown, "column": rule.tenant_columns[0]})
        fk, parent = rule.parents[0]
        parent_rule = self.schema.tables.get(parent)
        pcol = parent_rule.tenant_columns[0] if parent_rule and parent_rule.tenant_columns else "organization_id"
        return _Finding("join", {**shown, "parent": parent, "fk": fk, "parent_column": pcol})
