"""A small, dependency-free SQL reader: which tables a statement touches, and whether it is tenant-scoped.

It is not a SQL parser. It reads enough of the common dialects (PostgreSQL, MySQL, SQLite) to answer
two questions about a statement found in Python code:

* which tables does it read or write (``FROM``/``JOIN``/``UPDATE``/``INSERT INTO``/``DELETE FROM``,
  with aliases, schema-qualified and quoted names, subqueries, derived tables and CTEs), and
* for every tenant-owned table, do the ``WHERE``/``ON`` clauses pin its tenant column to one value
  (``organization_id = %s``, ``i.org_id = :org``, ``organization_id IN (...)``), or reach it through
  a join to a scoped table (``JOIN billing_invoice i ON i.id = li.invoice_id ... WHERE
  i.organization_id = %s``)?

Facts are collected as equalities between columns and bindings of columns to values, only from
conjunctive positions (an ``OR`` keeps only what all its branches agree on; ``NOT`` keeps nothing), and
directed where SQL is directed (a ``LEFT JOIN``'s ``ON`` narrows the joined table only; a correlated
subquery narrows its outer query only under ``EXISTS``/``IN`` in a conjunct). A tenant-owned table
is then scoped when its tenant column is bound, or when the column pointing at its owning parent is
equal to the primary key of a scoped parent row.

A fragment embedded in an ORM query (``RawSQL``, ``.extra()``) may be *correlated*: compared with a
column of the outer query's row, a table it names nowhere (``WHERE ipam_prefix.prefix <<=
ipam_aggregate.prefix``). Such a table yields one outer row's share and is not judged here, like an
ORM ``Subquery`` over ``OuterRef``: the outer query is judged where it is built.

Parts of the Python string that could not be resolved are passed in as :data:`FRAGMENT`. A fragment
in a value position (``id = {pk}``) is just a value; anywhere else (``FROM {table}``, ``WHERE {cond}``)
the statement is *opaque*: nothing is reported about it, because the missing part may be the predicate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

FRAGMENT = "\ue000"  # stands for a part of the statement that is not known statically

# -- tokens ---------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<dollar>\$(?P<tag>[A-Za-z_]\w*)?\$.*?(?:\$(?P=tag)\$|\Z))
  | (?P<string>(?:[Ee]'(?:[^'\\]|\\.|'')*|[NnBbXxUu]?'(?:[^']|'')*)(?:'|\Z))
  | (?P<ident>"(?:[^"]|"")*(?:"|\Z)|`(?:[^`]|``)*(?:`|\Z))
  | (?P<param>%\([^)\s]*\)[sdfbtr]|%[sdfbtr]|\?\d*|\$\d+|(?<!:):(?!:)[A-Za-z_]\w*|@[A-Za-z_]\w*)
  | (?P<frag>\ue000)
  | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>[^\W\d][\w$]*)
  | (?P<op>::|<=>|<<=|>>=|<<|>>|<>|<=|>=|!=|==|\|\||->>|->|\#>>|\#>|@>|<@|&&|[-+*/%<>=~!@#^&|])
  | (?P<punct>[(),.;\[\]{}])
  | (?P<other>.)
    """,
    re.X | re.S,
)


@dataclass(frozen=True)
class Token:
    """One lexical token; ``kind`` is word, ident, string, number, param, op, punct, frag or other."""

    kind: str
    text: str

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""

    @property
    def name(self) -> str:
        """The identifier it names: unquoted words fold to lower case, quoted ones are unquoted."""
        if self.kind == "ident":
            quote = self.text[0]
            body = self.text[1:-1] if len(self.text) > 1 and self.text[-1] == quote else self.text[1:]
            return body.replace(quote * 2, quote).lower()
        return self.text.lower()


def tokenize(sql: str) -> list[Token]:
    """The tokens of ``sql``, comments and whitespace dropped."""
    out: list[Token] = []
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup or "other"
        if kind in ("ws", "comment"):
            continue
        out.append(Token("string" if kind == "dollar" else kind, m.group(0)))
    return out


_SPACE_BEFORE_NOT = {",", ")", ".", "]", ";"}
_SPACE_AFTER_NOT = {"(", ".", "["}


def normalise(sql: str) -> str:
    """One line, comments dropped, keywords upper-cased, single spaces (for messages and tests)."""
    parts: list[str] = []
    prev = ""
    for tok in tokenize(sql):
        text = tok.text.upper() if tok.kind == "word" and tok.text.upper() in KEYWORDS else tok.text
        if tok.kind == "frag":
            text = "{...}"
        if parts and text not in _SPACE_BEFORE_NOT and prev not in _SPACE_AFTER_NOT:
            parts.append(" ")
        parts.append(text)
        prev = text
    return "".join(parts)


def param_style(sql: str, default: str = "%s") -> str:
    """A placeholder for the tenant id in the style the statement already uses (``%s``, ``:org_id``...)."""
    for tok in tokenize(sql):
        if tok.kind != "param":
            continue
        if tok.text.startswith("%("):
            return "%(org_id)s"
        if tok.text.startswith(":"):
            return ":org_id"
        if tok.text.startswith("?"):
            return "?"
        if tok.text.startswith("$"):
            return "$n"
        if tok.text.startswith("@"):
            return "@org_id"
        return "%s"
    return default


# -- nesting: parentheses and CASE ... END become groups --------------------------------------------


@dataclass(eq=False)
class Group:
    """A parenthesised (or ``CASE ... END``) run of items."""

    items: list[Item]
    kind: str = "paren"  # "paren", "bracket", "case"


Item = Token | Group

KEYWORDS = frozenset(
    re.findall(
        r"\w+",
        """
        ALL AND ANY ARRAY AS ASC BETWEEN BY CASE CAST CROSS CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP
        CURRENT_USER DEFAULT DELETE DESC DISTINCT DO ELSE END EXCEPT EXISTS FALSE FETCH FOR FROM FULL GROUP
        HAVING ILIKE IN INNER INSERT INTERSECT INTO IS JOIN LATERAL LEFT LIKE LIMIT NATURAL NOT NULL OFFSET
        ON ONLY OR ORDER OUTER RECURSIVE REPLACE RETURNING RIGHT SELECT SET SIMILAR STRAIGHT_JOIN THEN TRUE
        UNION UPDATE USING VALUES WHEN WHERE WINDOW WITH CONFLICT DUPLICATE MATERIALIZED QUALIFY USE FORCE
        IGNORE INDEX NOTHING
        """,
    )
)
_ALIAS_STOP = KEYWORDS | {"TABLESAMPLE", "PARTITION", "KEY"}
_VALUE_WORDS = frozenset(
    {
        "NULL",
        "TRUE",
        "FALSE",
        "DEFAULT",
        "CURRENT_DATE",
        "CURRENT_TIME",
        "CURRENT_TIMESTAMP",
        "CURRENT_USER",
        "SESSION_USER",
        "LOCALTIME",
        "LOCALTIMESTAMP",
        "INTERVAL",
        "DATE",
        "TIME",
        "TIMESTAMP",
        "UNKNOWN",
    }
)
_JOIN_WORDS = frozenset({"JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS", "NATURAL", "OUTER", "STRAIGHT_JOIN"})
_STATEMENT_WORDS = frozenset({"SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "REPLACE", "VALUES", "MERGE", "TABLE"})


def _join_word(items: Sequence[Item], i: int) -> bool:
    """Whether ``items[i]`` starts or continues a join (``LEFT(...)`` is the string function)."""
    item = items[i]
    if not _is_word(item, *_JOIN_WORDS):
        return False
    nxt = items[i + 1] if i + 1 < len(items) else None
    return not (_is_word(item, "LEFT", "RIGHT") and isinstance(nxt, Group))


def _nest(tokens: Sequence[Token]) -> tuple[list[Item], bool]:
    """Items with groups nested; the flag is False when brackets do not balance."""
    root: list[Item] = []
    stack: list[tuple[list[Item], str]] = [(root, "root")]
    balanced = True
    for tok in tokens:
        if tok.kind == "punct" and tok.text in "([":
            group = Group([], "paren" if tok.text == "(" else "bracket")
            stack[-1][0].append(group)
            stack.append((group.items, group.kind))
        elif tok.kind == "punct" and tok.text in ")]":
            want = "paren" if tok.text == ")" else "bracket"
            while len(stack) > 1 and stack[-1][1] == "case":
                stack.pop()  # an unterminated CASE inside brackets
                balanced = False
            if len(stack) > 1 and stack[-1][1] == want:
                stack.pop()
            else:
                balanced = False
        elif tok.upper == "CASE":
            group = Group([], "case")
            stack[-1][0].append(group)
            stack.append((group.items, "case"))
            group.items.append(tok)
        elif tok.upper == "END" and stack[-1][1] == "case":
            stack[-1][0].append(tok)
            stack.pop()
        else:
            stack[-1][0].append(tok)
    if len(stack) > 1:
        balanced = False
    return root, balanced


def _is_word(item: Item | None, *words: str) -> bool:
    return isinstance(item, Token) and item.kind == "word" and item.upper in words


def _is_punct(item: Item | None, text: str) -> bool:
    return isinstance(item, Token) and item.kind == "punct" and item.text == text


def _is_name(item: Item | None) -> bool:
    return isinstance(item, Token) and item.kind in ("word", "ident")


def _first_word(items: Sequence[Item]) -> str:
    for item in items:
        if isinstance(item, Group):
            return _first_word(item.items) if item.kind == "paren" else ""
        return item.upper
    return ""


def _is_query_group(item: Item | None) -> bool:
    return isinstance(item, Group) and item.kind == "paren" and _first_word(item.items) in ("SELECT", "WITH", "VALUES")


def _split(items: Sequence[Item], sep: str) -> list[list[Item]]:
    parts: list[list[Item]] = [[]]
    for item in items:
        if (isinstance(item, Token) and item.kind == "punct" and item.text == sep) or (
            sep.isalpha() and _is_word(item, sep)
        ):
            parts.append([])
        else:
            parts[-1].append(item)
    return parts


def _tokens_in(items: Iterable[Item]) -> Iterator[Token]:
    for item in items:
        if isinstance(item, Group):
            yield from _tokens_in(item.items)
        else:
            yield item


def is_statement(sql: str) -> bool:
    """Whether ``sql`` starts like a DML statement (SELECT, WITH, INSERT, UPDATE, DELETE, ...)."""
    items, _ = _nest(tokenize(sql))
    return _first_word(items) in _STATEMENT_WORDS


def tables(sql: str) -> frozenset[str]:
    """Every table name a statement reads or writes (lower case, schema dropped; CTE names excluded)."""
    return frozenset(use.table for use in analyse(sql).uses)


# -- the schema the checker passes in ---------------------------------------------------------------


@dataclass(frozen=True)
class TableRule:
    """How one tenant-owned table reaches the tenant."""

    table: str
    model: str = ""
    tenant_columns: tuple[str, ...] = ()  # columns holding the tenant id (organization_id)
    parents: tuple[tuple[str, str], ...] = ()  # (foreign key column, parent table) for owned-through tables
    owner_columns: tuple[str, ...] = ()  # membership tables: a bound user column also scopes (user_id)
    pk: str = "id"
    columns: frozenset[str] = frozenset()  # its other declared columns: an unqualified name is found by them

    def knows(self, column: str) -> bool:
        return (
            column == self.pk
            or column in self.tenant_columns
            or column in self.owner_columns
            or any(column == fk for fk, _ in self.parents)
            or column in self.columns
        )


@dataclass(frozen=True)
class TenantSchema:
    """Tenant-owned tables by lower-case name, and the tenant's own tables (their pk is the tenant id)."""

    tables: Mapping[str, TableRule] = field(default_factory=dict)
    tenant_tables: frozenset[str] = frozenset()
    tenant_pk: str = "id"

    def rule(self, table: str, qualified: str = "") -> TableRule | None:
        return self.tables.get(qualified) or self.tables.get(table)


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableUse:
    """One table occurrence in a statement."""

    table: str  # lower case, schema dropped
    qualified: str  # as written, lower case, with its schema
    alias: str
    operation: str  # "read", "update", "delete", "insert"
    statement: int  # 0-based index of the statement in the string
    tenant_owned: bool = False
    scoped: bool = True  # only meaningful for tenant-owned tables
    rule: TableRule | None = None
    written_alias: str = ""  # the alias as written in the statement (for messages)


@dataclass(frozen=True)
class SqlReport:
    """What :func:`analyse` found in one string (possibly several statements)."""

    uses: tuple[TableUse, ...] = ()
    statements: int = 0
    opaque: tuple[int, ...] = ()  # statements that could not be read with certainty

    @property
    def unscoped(self) -> tuple[TableUse, ...]:
        """Tenant-owned table occurrences with no tenant predicate, in statements read with certainty."""
        return tuple(u for u in self.uses if u.tenant_owned and not u.scoped and u.statement not in self.opaque)

    @property
    def tables(self) -> frozenset[str]:
        return frozenset(u.table for u in self.uses)


# -- the analysis ---------------------------------------------------------------------------------

Key = tuple[int, str]  # (occurrence id, column)
_EXTERNAL = "external"


@dataclass(eq=False)
class _Scope:
    parent: _Scope | None
    restricts_parent: bool
    occs: list[_Occ] = field(default_factory=list)
    children: list[_Scope] = field(default_factory=list)
    proj: dict[str, list[Key]] = field(default_factory=dict)
    proj_order: list[str] = field(default_factory=list)
    stars: list[str | None] = field(default_factory=list)


@dataclass(eq=False)
class _Occ:
    id: int
    table: str
    qualified: str
    alias: str
    scope: _Scope
    op: str = "read"
    virtual: list[_Scope] | None = None  # CTE reference or derived table: the scopes producing it
    virtual_columns: tuple[str, ...] = ()
    function: bool = False
    insert_columns: tuple[str, ...] | None = None
    assumed: bool = False


@dataclass(frozen=True)
class _Fact:
    kind: str  # "eq", "val", "sub", "ext", "held", "cor"
    a: Key
    b: Key | None = None
    sub: int = 0  # id() of the subquery's scope list


class _Statement:
    """Reads one statement into scopes and facts, then decides which tenant-owned occurrences are scoped."""

    def __init__(
        self,
        schema: TenantSchema,
        assume_scoped: frozenset[str],
        held: frozenset[int] = frozenset(),
        embedded: bool = False,
    ) -> None:
        self.schema = schema
        self.assume = assume_scoped
        self.embedded = embedded  # the string is a fragment of an outer (ORM) query
        self.correlated: set[int] = set()  # occurrences narrowed to the outer query's current row
        self.held_tokens = held  # id() of parameter tokens bound to the id of an object in hand
        self.held: set[Key] = set()
        self.written: dict[str, str] = {}  # alias -> as written (a quoted "U0" stays quoted)
        self.occs: list[_Occ] = []
        self.edges: dict[Key, set[Key]] = {}
        self.values: set[Key] = set()
        self.external: set[Key] = set()
        self.subs: list[tuple[Key, list[_Scope]]] = []
        self.sub_scopes: dict[int, list[_Scope]] = {}
        self.parsed: dict[int, list[_Scope]] = {}
        self.virtual_done: set[Key] = set()
        self.opaque = False

    # ---- entry -------------------------------------------------------------------------------
    def read(self, items: list[Item]) -> list[_Scope]:
        return self._query(items, None, False, {})

    # ---- queries -----------------------------------------------------------------------------
    def _query(
        self, items: list[Item], parent: _Scope | None, restricts: bool, env: Mapping[str, _Cte]
    ) -> list[_Scope]:
        """A query expression: [WITH ...] branch [UNION branch ...] or a DML statement."""
        while len(items) == 1 and isinstance(items[0], Group) and items[0].kind == "paren":
            items = items[0].items
        env = dict(env)
        if _is_word(items[0] if items else None, "WITH"):
            items = self._with(items, parent, env)
        head = _first_word(items)
        if head in ("INSERT", "REPLACE"):
            return [self._insert(items, parent, restricts, env)]
        if head == "UPDATE":
            return [self._update(items, parent, restricts, env)]
        if head == "DELETE":
            return [self._delete(items, parent, restricts, env)]
        if head == "MERGE":
            return [self._merge(items, parent, restricts, env)]
        scopes: list[_Scope] = []
        branch: list[Item] = []
        i = 0
        while i <= len(items):
            item = items[i] if i < len(items) else None
            if item is None or _is_word(item, "UNION", "INTERSECT", "EXCEPT", "MINUS"):
                if branch:
                    scopes.extend(self._branch(branch, parent, restricts, env))
                branch = []
                i += 1
                while i < len(items) and _is_word(items[i], "ALL", "DISTINCT"):
                    i += 1
                continue
            branch.append(item)
            i += 1
        return scopes

    def _branch(
        self, items: list[Item], parent: _Scope | None, restricts: bool, env: Mapping[str, _Cte]
    ) -> list[_Scope]:
        if len(items) >= 1 and isinstance(items[0], Group) and items[0].kind == "paren":
            # (SELECT ...) ORDER BY ... LIMIT ...
            return self._query(list(items[0].items), parent, restricts, env)
        head = _first_word(items)
        if head == "SELECT":
            return [self._select(items, parent, restricts, env)]
        scope = _Scope(parent, restricts)
        self._attach(scope)
        if head == "VALUES":
            self._expressions(items, scope, env)
        elif head == "TABLE":  # PostgreSQL's `TABLE name`: SELECT * FROM name
            self._from(items[1:], scope, env)
        elif items:
            self._structural_fragments(items)
        return [scope]

    def _attach(self, scope: _Scope) -> None:
        if scope.parent is not None:
            scope.parent.children.append(scope)

    def _with(self, items: list[Item], parent: _Scope | None, env: dict[str, _Cte]) -> list[Item]:
        i = 1
        if _is_word(items[i] if i < len(items) else None, "RECURSIVE"):
            i += 1
        while i < len(items):
            if not _is_name(items[i]):
                break
            tok = items[i]
            assert isinstance(tok, Token)
            name = tok.name
            i += 1
            columns: tuple[str, ...] = ()
            if i < len(items) and isinstance(items[i], Group) and not _is_query_group(items[i]):
                group = items[i]
                assert isinstance(group, Group)
                columns = tuple(t.name for t in group.items if isinstance(t, Token) and _is_name(t))
                i += 1
            while i < len(items) and _is_word(items[i], "AS", "NOT", "MATERIALIZED"):
                i += 1
            if i >= len(items) or not isinstance(items[i], Group):
                self.opaque = True
                return items[i:]
            body = items[i]
            assert isinstance(body, Group)
            cte = _Cte(name, columns, [])
            env[name] = cte  # visible in its own body (WITH RECURSIVE) and after
            cte.scopes.extend(self._query(list(body.items), parent, False, env))
            i += 1
            if i < len(items) and _is_punct(items[i], ","):
                i += 1
                continue
            break
        return items[i:]

    # ---- SELECT ------------------------------------------------------------------------------
    def _clauses(self, items: Sequence[Item], starts: frozenset[str]) -> dict[str, list[Item]]:
        """Split a statement at its top-level clause keywords (``GROUP BY`` -> "GROUP")."""
        out: dict[str, list[Item]] = {}
        current = ""
        for i, item in enumerate(items):
            word = item.upper if isinstance(item, Token) else ""
            if word in starts and not self._in_expression(items, i, word):
                current = word
                out.setdefault(current, [])
                continue
            out.setdefault(current, []).append(item)
        return out

    @staticmethod
    def _in_expression(items: Sequence[Item], i: int, word: str) -> bool:
        nxt = items[i + 1] if i + 1 < len(items) else None
        prev = items[i - 1] if i > 0 else None
        if word == "FROM":
            # IS [NOT] DISTINCT FROM
            return _is_word(prev, "DISTINCT") and i > 1 and _is_word(items[i - 2], "IS", "NOT")
        if word in ("GROUP", "ORDER"):
            return not _is_word(nxt, "BY")
        if word == "FOR":
            return not _is_word(nxt, "UPDATE", "SHARE", "NO", "KEY")
        if word == "USING":
            return isinstance(nxt, Group)  # JOIN ... USING (col), not DELETE ... USING other
        return False

    _SELECT_CLAUSES = frozenset(
        {"SELECT", "FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "OFFSET", "FETCH", "FOR", "WINDOW"}
        | {"QUALIFY", "INTO"}
    )

    def _select(self, items: list[Item], parent: _Scope | None, restricts: bool, env: Mapping[str, _Cte]) -> _Scope:
        scope = _Scope(parent, restricts)
        self._attach(scope)
        clauses = self._clauses(items, self._SELECT_CLAUSES)
        if clauses.get(""):
            self._structural_fragments(clauses[""])
        if "FROM" in clauses:
            self._from(clauses["FROM"], scope, env)
        for name in ("WHERE", "HAVING", "QUALIFY"):
            if name in clauses:
                self._where(clauses[name], scope, env)
        self._projection(clauses.get("SELECT", []), scope, env)
        for name in ("GROUP", "ORDER", "LIMIT", "OFFSET", "FETCH", "WINDOW", "INTO", "FOR"):
            if name in clauses:
                self._expressions(clauses[name], scope, env)
        return scope

    def _projection(self, items: list[Item], scope: _Scope, env: Mapping[str, _Cte]) -> None:
        self._expressions(items, scope, env)
        for raw in _split(items, ","):
            part = raw
            while part and _is_word(part[0], "DISTINCT", "ALL", "TOP"):
                part = part[1:]
                if part and _is_word(part[0], "ON") and len(part) > 1 and isinstance(part[1], Group):
                    part = part[2:]
            if not part:
                continue
            if len(part) == 1 and isinstance(part[0], Token) and part[0].text == "*":
                scope.stars.append(None)
                continue
            if len(part) == 3 and _is_name(part[0]) and _is_punct(part[1], ".") and _is_op(part[2], "*"):
                assert isinstance(part[0], Token)
                scope.stars.append(part[0].name)
                continue
            alias = ""
            expr = part
            if len(part) >= 2 and _is_name(part[-1]) and not _is_punct(part[-2], "."):
                last = part[-1]
                assert isinstance(last, Token)
                if _is_word(part[-2], "AS"):
                    alias, expr = last.name, part[:-2]
                elif last.upper not in KEYWORDS and not _is_op(part[-2], "::"):
                    alias, expr = last.name, part[:-1]
            ref = _column_ref(_strip_cast(expr))
            name = alias or (ref[-1] if ref else "")
            if not name:
                continue
            scope.proj[name] = list(self._resolve(ref, scope).keys) if ref else []
            scope.proj_order.append(name)

    # ---- FROM --------------------------------------------------------------------------------
    def _from(self, items: list[Item], scope: _Scope, env: Mapping[str, _Cte], op: str = "read") -> list[_Occ]:
        made: list[_Occ] = []
        for part in _split(items, ","):
            made.extend(self._from_item(part, scope, env, op))
        return made

    def _from_item(self, items: list[Item], scope: _Scope, env: Mapping[str, _Cte], op: str) -> list[_Occ]:
        left: list[_Occ] = []
        i = 0
        n = len(items)
        first = True
        while i < n:
            join = ""
            if not first:
                # a join: [NATURAL] [INNER|LEFT|RIGHT|FULL|CROSS] [OUTER] JOIN
                words: list[str] = []
                while i < n and _join_word(items, i):
                    tok = items[i]
                    assert isinstance(tok, Token)
                    words.append(tok.upper)
                    i += 1
                    if words[-1] in ("JOIN", "STRAIGHT_JOIN"):
                        break
                if not words:
                    # table hints and anything else this reader does not know: skip it
                    if any(t.kind == "frag" for t in _tokens_in([items[i]])):
                        self.opaque = True
                    i += 1
                    continue
                join = next((w for w in ("LEFT", "RIGHT", "FULL") if w in words), "INNER")
            i, right = self._table_ref(items, i, scope, env, op if first else "read")
            first = False
            if i < n and _is_word(items[i], "ON"):
                j = i + 1
                while j < n and not _join_word(items, j):
                    j += 1
                cond = items[i + 1 : j]
                allowed: frozenset[int] | None = None
                if join == "LEFT":
                    allowed = frozenset(o.id for o in right)
                elif join == "RIGHT":
                    allowed = frozenset(o.id for o in left)
                elif join == "FULL":
                    allowed = frozenset()
                self._apply(self._conjunction(cond, scope, env, allowed is None), scope, allowed)
                i = j
            elif i < n and _is_word(items[i], "USING") and i + 1 < n and isinstance(items[i + 1], Group):
                group = items[i + 1]
                assert isinstance(group, Group)
                for tok in group.items:
                    if isinstance(tok, Token) and _is_name(tok):
                        self._using(tok.name, left, right, join, scope)
                i += 2
            left.extend(right)
        return left

    def _using(self, column: str, left: list[_Occ], right: list[_Occ], join: str, scope: _Scope) -> None:
        if not left or not right:
            return
        lefts = [o for o in left if self._knows(o, column)] or left[-1:]
        for r in right:
            for lo in lefts:
                a, b = (lo.id, column), (r.id, column)
                self._touch(a)
                self._touch(b)
                if join in ("INNER", "LEFT"):
                    self._edge(a, b)
                if join in ("INNER", "RIGHT"):
                    self._edge(b, a)

    def _table_ref(
        self, items: list[Item], i: int, scope: _Scope, env: Mapping[str, _Cte], op: str
    ) -> tuple[int, list[_Occ]]:
        n = len(items)
        lateral = False
        while i < n and _is_word(items[i], "ONLY", "LATERAL"):
            lateral = lateral or _is_word(items[i], "LATERAL")
            i += 1
        if i >= n:
            return i, []
        item = items[i]
        if isinstance(item, Group):
            if _is_query_group(item):
                inner = self._query(list(item.items), scope if lateral else scope.parent, False, env)
                i += 1
                i, alias, columns = self._alias(items, i)
                occ = self._occ("", "", alias, scope, op)
                occ.virtual, occ.virtual_columns = inner, columns
                return i, [occ]
            # a parenthesised join
            made = self._from_item(list(item.items), scope, env, op)
            i += 1
            i, _alias, _ = self._alias(items, i)
            return i, made
        if isinstance(item, Token) and item.kind == "frag":
            self.opaque = True
            return i + 1, []
        if not _is_name(item):
            return i + 1, []
        parts: list[str] = []
        while i < n and _is_name(items[i]):
            tok = items[i]
            assert isinstance(tok, Token)
            parts.append(tok.name)
            if (
                i + 2 < n
                and _is_punct(items[i + 1], ".")
                and (_is_name(items[i + 2]) or (isinstance(items[i + 2], Token) and items[i + 2].kind == "frag"))
            ):
                if isinstance(items[i + 2], Token) and items[i + 2].kind == "frag":
                    self.opaque = True
                i += 2
                continue
            i += 1
            break
        if i < n and isinstance(items[i], Group) and items[i].kind == "paren":
            # a table function: unnest(...), generate_series(...), json_to_recordset(...)
            group = items[i]
            assert isinstance(group, Group)
            self._expressions(group.items, scope, env)
            i += 1
            i, alias, _ = self._alias(items, i)
            occ = self._occ(parts[-1], ".".join(parts), alias or parts[-1], scope, op)
            occ.function = True
            return i, [occ]
        if i < n and isinstance(items[i], Token) and items[i].kind == "frag":
            self.opaque = True  # FROM billing_{...}
        i, alias, _ = self._alias(items, i)
        table = parts[-1]
        qualified = ".".join(parts)
        if len(parts) == 1 and table in env:
            cte = env[table]
            occ = self._occ("", "", alias or table, scope, op)
            occ.virtual, occ.virtual_columns = cte.scopes, cte.columns
            return i, [occ]
        return i, [self._occ(table, qualified, alias or table, scope, op)]

    def _alias(self, items: list[Item], i: int) -> tuple[int, str, tuple[str, ...]]:
        n = len(items)
        explicit = i < n and _is_word(items[i], "AS")
        if explicit:
            i += 1
        alias = ""
        columns: tuple[str, ...] = ()
        if i < n and _is_name(items[i]):
            tok = items[i]
            assert isinstance(tok, Token)
            if explicit or tok.kind == "ident" or tok.upper not in _ALIAS_STOP:
                alias = tok.name
                self.written[alias] = tok.text
                i += 1
                if i < n and isinstance(items[i], Group) and not _is_query_group(items[i]):
                    group = items[i]
                    assert isinstance(group, Group)
                    columns = tuple(t.name for t in group.items if isinstance(t, Token) and _is_name(t))
                    i += 1
        return i, alias, columns

    def _occ(self, table: str, qualified: str, alias: str, scope: _Scope, op: str) -> _Occ:
        occ = _Occ(len(self.occs), table, qualified, alias, scope, op)
        occ.assumed = bool(table) and (table in self.assume or qualified in self.assume)
        self.occs.append(occ)
        scope.occs.append(occ)
        return occ

    # ---- DML ---------------------------------------------------------------------------------
    def _update(self, items: list[Item], parent: _Scope | None, restricts: bool, env: Mapping[str, _Cte]) -> _Scope:
        scope = _Scope(parent, restricts)
        self._attach(scope)
        clauses = self._clauses(items, frozenset({"UPDATE", "SET", "FROM", "WHERE", "RETURNING", "ORDER", "LIMIT"}))
        targets = self._from(clauses.get("UPDATE", []), scope, env, op="read")
        if targets:
            targets[0].op = "update"
        if "FROM" in clauses:
            self._from(clauses["FROM"], scope, env)
        if "WHERE" in clauses:
            self._where(clauses["WHERE"], scope, env)
        for name in ("SET", "RETURNING", "ORDER", "LIMIT"):
            if name in clauses:
                self._expressions(clauses[name], scope, env)
        return scope

    def _delete(self, items: list[Item], parent: _Scope | None, restricts: bool, env: Mapping[str, _Cte]) -> _Scope:
        scope = _Scope(parent, restricts)
        self._attach(scope)
        clauses = self._clauses(items, frozenset({"DELETE", "FROM", "USING", "WHERE", "RETURNING", "ORDER", "LIMIT"}))
        named = {t.name for t in clauses.get("DELETE", []) if isinstance(t, Token) and _is_name(t)}
        made = self._from(clauses.get("FROM", []), scope, env)
        if "USING" in clauses:
            made += self._from(clauses["USING"], scope, env)
        for occ in made:
            if (named and (occ.alias in named or occ.table in named)) or (not named and occ is made[0]):
                occ.op = "delete"
        if "WHERE" in clauses:
            self._where(clauses["WHERE"], scope, env)
        for name in ("RETURNING", "ORDER", "LIMIT"):
            if name in clauses:
                self._expressions(clauses[name], scope, env)
        return scope

    def _merge(self, items: list[Item], parent: _Scope | None, restricts: bool, env: Mapping[str, _Cte]) -> _Scope:
        """``MERGE INTO target USING source ON cond WHEN [NOT] MATCHED [AND ...] THEN UPDATE/DELETE/INSERT``:
        the target is written, the source read; the ``ON`` condition picks the target rows, as a ``WHERE``."""
        scope = _Scope(parent, restricts)
        self._attach(scope)
        using = next((i for i, item in enumerate(items) if _is_word(item, "USING")), len(items))
        on = next((i for i in range(using, len(items)) if _is_word(items[i], "ON")), len(items))
        when = next((i for i in range(on, len(items)) if _is_word(items[i], "WHEN")), len(items))
        start = 2 if _is_word(items[1] if len(items) > 1 else None, "INTO") else 1
        targets = self._from(items[start:using], scope, env, op="read")
        if targets:
            targets[0].op = "update"
        if using < len(items):
            self._from(items[using + 1 : on], scope, env)
        if on < len(items):
            self._where(items[on + 1 : when], scope, env)
        if when < len(items):
            self._expressions(items[when:], scope, env)
        return scope

    def _insert(self, items: list[Item], parent: _Scope | None, restricts: bool, env: Mapping[str, _Cte]) -> _Scope:
        scope = _Scope(parent, restricts)
        self._attach(scope)
        i = 1
        n = len(items)
        while i < n and _is_word(items[i], "INTO", "IGNORE", "OR", "REPLACE", "ABORT", "FAIL", "ROLLBACK"):
            i += 1
        parts: list[str] = []
        while i < n and _is_name(items[i]) and not _is_word(items[i], "VALUES", "SELECT", "SET", "DEFAULT", "WITH"):
            tok = items[i]
            assert isinstance(tok, Token)
            parts.append(tok.name)
            i += 1
            if i < n and _is_punct(items[i], "."):
                i += 1
                continue
            break
        if i < n and isinstance(items[i], Token) and items[i].kind == "frag":
            self.opaque = True
        if not parts:
            self._structural_fragments(items)
            return scope
        if i < n and _is_word(items[i], "AS"):
            i += 2
        columns: tuple[str, ...] | None = None
        if i < n and isinstance(items[i], Group) and not _is_query_group(items[i]):
            group = items[i]
            assert isinstance(group, Group)
            columns = tuple(t.name for t in group.items if isinstance(t, Token) and _is_name(t))
            if any(t.kind == "frag" for t in _tokens_in(group.items)):
                columns = None  # unknown columns: assume the tenant column may be among them
            i += 1
        occ = self._occ(parts[-1], ".".join(parts), parts[-1], scope, "insert")
        rest = items[i:]
        if rest and _is_word(rest[0], "SET"):
            # MySQL INSERT ... SET col = value, ...
            columns = tuple(
                p[0].name for p in _split(rest[1:], ",") if p and isinstance(p[0], Token) and _is_name(p[0])
            )
        occ.insert_columns = columns
        head = _first_word(rest)
        if head in ("SELECT", "WITH") or (rest and _is_query_group(rest[0])):
            end = next(
                (
                    k
                    for k, it in enumerate(rest)
                    if _is_word(it, "RETURNING")
                    or (_is_word(it, "ON") and k + 1 < len(rest) and _is_word(rest[k + 1], "CONFLICT", "DUPLICATE"))
                ),
                len(rest),
            )
            self._query(list(rest[:end]), parent, False, env)
            self._expressions(rest[end:], scope, env)
        else:
            self._expressions(rest, scope, env)
        return scope

    # ---- expressions and predicates -------------------------------------------------------------
    def _expressions(self, items: Sequence[Item], scope: _Scope, env: Mapping[str, _Cte]) -> None:
        """Find the subqueries in a clause that is not a predicate (they narrow nothing outside)."""
        for item in items:
            if isinstance(item, Group):
                if _is_query_group(item):
                    self._subquery(item, scope, env, False)
                else:
                    self._expressions(item.items, scope, env)

    def _structural_fragments(self, items: Sequence[Item]) -> None:
        if any(t.kind == "frag" for t in _tokens_in(items)):
            self.opaque = True

    def _subquery(self, group: Group, scope: _Scope, env: Mapping[str, _Cte], restricts: bool) -> list[_Scope]:
        key = id(group)
        if key not in self.parsed:
            self.parsed[key] = self._query(list(group.items), scope, restricts, env)
            self.sub_scopes[id(self.parsed[key])] = self.parsed[key]
        return self.parsed[key]

    def _where(self, items: list[Item], scope: _Scope, env: Mapping[str, _Cte]) -> None:
        self._apply(self._conjunction(items, scope, env, True), scope, None)

    def _conjunction(self, items: list[Item], scope: _Scope, env: Mapping[str, _Cte], restricts: bool) -> set[_Fact]:
        disjuncts = _split(items, "OR")
        if len(disjuncts) > 1:
            sets = [self._conjunction(d, scope, env, False) for d in disjuncts]
            common = set(sets[0])
            for other in sets[1:]:
                common &= other
            return common
        facts: set[_Fact] = set()
        for conjunct in _split_and(items):
            facts |= self._atom(conjunct, scope, env, restricts)
        return facts

    def _atom(self, items: list[Item], scope: _Scope, env: Mapping[str, _Cte], restricts: bool) -> set[_Fact]:
        if not items:
            return set()
        if len(items) == 1 and isinstance(items[0], Group) and not _is_query_group(items[0]):
            return self._conjunction(list(items[0].items), scope, env, restricts)
        if _is_word(items[0], "NOT"):
            self._expressions(items, scope, env)
            self._structural_fragments([t for t in items if not isinstance(t, Group)])
            return set()
        if _is_word(items[0], "EXISTS") and len(items) == 2 and _is_query_group(items[1]):
            group = items[1]
            assert isinstance(group, Group)
            self._subquery(group, scope, env, restricts)
            return set()
        op_at, op_len, binding = _comparison(items)
        if op_at < 0:
            self._expressions(items, scope, env)
            self._structural_fragments(items)
            return set()
        left_items, right_items = items[:op_at], items[op_at + op_len :]
        left = self._operand(left_items, scope, env, restricts and binding)
        right = self._operand(right_items, scope, env, restricts and binding)
        for side, part in ((left, left_items), (right, right_items)):
            if side.kind == "other":
                # a fragment in an operand we could not read: it may hold anything, a predicate too
                self._structural_fragments(part)
        if left.kind == "value" and right.kind == "value":
            # `{column} = %s`: a fragment compared with a value is most likely a column name
            self._structural_fragments(items)
        facts: set[_Fact] = set()
        if self.embedded and _narrows(items, op_at, op_len):
            facts = self._correlation((left_items, left), (right_items, right), scope)
        if not binding:
            return facts
        return facts | self._pair(left, right)

    # ---- correlation with the outer query (a fragment embedded in an ORM query) -----------------
    def _correlation(
        self, left: tuple[Sequence[Item], _Operand], right: tuple[Sequence[Item], _Operand], scope: _Scope
    ) -> set[_Fact]:
        """``cor`` facts for the columns compared with a column of the outer query's current row.

        Only for a fragment embedded in an ORM query (``RawSQL``, ``.extra(select=/where=)``): a
        qualifier naming no table in sight (``ipam_aggregate.prefix`` in ``SELECT COUNT(*) FROM
        ipam_prefix WHERE ipam_prefix.prefix <<= ipam_aggregate.prefix``), or a table narrowed outside
        the string (the model table of ``.extra()``) in an enclosing scope, is the outer row. Any
        narrowing comparison with it (``=``, ``<``, ``<<=``, ``LIKE``...) restricts the compared table
        to that one row's share, as ``OuterRef`` does in an ORM ``Subquery``.
        """
        sides = [self._column_refs(items, operand, scope) for items, operand in (left, right)]
        facts: set[_Fact] = set()
        for mine, theirs in ((sides[0], sides[1]), (sides[1], sides[0])):
            for ref in mine:
                for key in ref.keys:
                    if any(self._outer_to(other, key) for other in theirs):
                        facts.add(_Fact("cor", key))
        return facts

    def _outer_to(self, ref: _Operand, key: Key) -> bool:
        """Whether ``ref`` is a column of the outer query's row, seen from the occurrence of ``key``."""
        if ref.external:
            return True
        inner = self.occs[key[0]].scope
        for other in ref.keys:
            occ = self.occs[other[0]]
            if not occ.assumed or occ.id == key[0]:
                continue
            s = inner.parent
            while s is not None and s is not occ.scope:
                s = s.parent
            if s is not None:
                return True
        return False

    def _column_refs(self, items: Sequence[Item], operand: _Operand, scope: _Scope) -> list[_Operand]:
        """The column references an operand holds: itself, or those inside an expression (``COALESCE(t.a, 0)``)."""
        if operand.kind == "col":
            return [operand]
        if operand.kind in ("value", "sub"):
            return []
        out: list[_Operand] = []
        n = len(items)
        i = 0
        while i < n:
            item = items[i]
            if isinstance(item, Group):
                if not _is_query_group(item):
                    out.extend(self._column_refs(item.items, _Operand("other"), scope))
                i += 1
                continue
            if not _is_name(item):
                i += 1
                continue
            j = i + 1
            while j + 1 < n and _is_punct(items[j], ".") and _is_name(items[j + 1]):
                j += 2
            prev = items[i - 1] if i > 0 else None
            nxt = items[j] if j < n else None
            ref = _column_ref(items[i:j])
            if (
                ref is not None
                and not isinstance(nxt, Group)  # a function: lower(...), schema.fn(...)
                and not _is_punct(nxt, ".")
                and not _is_op(prev, "::")  # a type: x::pg_catalog.text
                and not _is_word(prev, "AS")  # CAST(x AS schema.type)
            ):
                out.append(self._resolve(ref, scope))
            i = j
        return out

    def _pair(self, left: _Operand, right: _Operand) -> set[_Fact]:
        facts: set[_Fact] = set()
        if left.kind == "tuple" and right.kind == "tuple" and len(left.parts) == len(right.parts):
            for a, b in zip(left.parts, right.parts, strict=True):
                facts |= self._pair(a, b)
            return facts
        if left.kind == "tuple" or right.kind == "tuple":
            whole, each = (right, left) if left.kind == "tuple" else (left, right)
            if whole.kind in ("value", "sub"):
                for part in each.parts:
                    facts |= self._pair(part, whole)
            return facts
        if right.kind == "col" and left.kind != "col":
            left, right = right, left
        if left.kind != "col":
            return facts
        if left.held:
            if right.kind == "col":
                facts.update(_Fact("held", k) for k in right.keys)
            return facts
        if left.external:
            if right.kind == "col":
                facts.update(_Fact("ext", k) for k in right.keys)
            return facts
        for k in left.keys:
            if right.kind == "value" and right.held:
                facts.add(_Fact("held", k))
            elif right.kind == "value":
                facts.add(_Fact("val", k))
            elif right.kind == "sub":
                facts.add(_Fact("sub", k, sub=right.sub))
            elif right.kind == "col" and right.external:
                facts.add(_Fact("ext", k))
            elif right.kind == "col":
                facts.update(_Fact("eq", k, k2) for k2 in right.keys if k2 != k)
        return facts

    def _operand(self, items: list[Item], scope: _Scope, env: Mapping[str, _Cte], restricts: bool) -> _Operand:
        items = _strip_cast(items)
        if not items:
            return _Operand("other")
        if len(items) == 1 and isinstance(items[0], Token) and id(items[0]) in self.held_tokens:
            return _Operand("value", held=True)
        if len(items) == 1 and _is_query_group(items[0]):
            group = items[0]
            assert isinstance(group, Group)
            return _Operand("sub", sub=id(self._subquery(group, scope, env, restricts)))
        if len(items) == 2 and _is_word(items[0], "ANY", "SOME", "ALL") and isinstance(items[1], Group):
            inner = items[1]
            if _is_query_group(inner):
                scopes = self._subquery(inner, scope, env, restricts and not _is_word(items[0], "ALL"))
                return _Operand("sub", sub=id(scopes))
            items = [inner]
        if len(items) == 1 and isinstance(items[0], Group) and items[0].kind == "paren":
            parts = [p for p in _split(items[0].items, ",") if p]
            if len(parts) > 1:
                operands = tuple(self._operand(p, scope, env, False) for p in parts)
                if all(o.kind == "value" for o in operands):
                    return _Operand("value")
                return _Operand("tuple", parts=operands)
            return self._operand(list(items[0].items), scope, env, restricts)
        ref = _column_ref(items)
        if ref is not None:
            return self._resolve(ref, scope)
        if _is_value(items):
            return _Operand("value")
        self._expressions(items, scope, env)
        return _Operand("other")

    # ---- columns -----------------------------------------------------------------------------
    def _knows(self, occ: _Occ, column: str) -> bool:
        if occ.virtual is not None:
            return bool(self._virtual_keys(occ, column))
        rule = self.schema.rule(occ.table, occ.qualified)
        if rule is not None:
            return rule.knows(column)
        return occ.table in self.schema.tenant_tables and column == self.schema.tenant_pk

    def _resolve(self, ref: Sequence[str], scope: _Scope) -> _Operand:
        """The column keys a reference names; a qualifier not in sight is a column outside the string."""
        column = ref[-1]
        if len(ref) >= 2:
            qualifier = ref[-2]
            s: _Scope | None = scope
            while s is not None:
                for occ in s.occs:
                    if occ.alias == qualifier or (occ.table == qualifier and occ.alias == occ.table):
                        return _Operand("col", keys=(self._touch((occ.id, column)),))
                s = s.parent
            return _Operand("col", external=True)
        s = scope
        while s is not None:
            if len(s.occs) == 1 and s is scope:
                return _Operand("col", keys=(self._touch((s.occs[0].id, column)),))
            knowing = [o for o in s.occs if self._knows(o, column)]
            if knowing:
                return _Operand("col", keys=tuple(self._touch((o.id, column)) for o in knowing))
            s = s.parent
        return _Operand("col")

    def _virtual_keys(self, occ: _Occ, column: str) -> list[Key]:
        keys: list[Key] = []
        for inner in occ.virtual or []:
            name = column
            if occ.virtual_columns and column in occ.virtual_columns:
                pos = occ.virtual_columns.index(column)
                name = inner.proj_order[pos] if pos < len(inner.proj_order) else column
            if name in inner.proj:
                keys.extend(inner.proj[name])
                continue
            for star in inner.stars:
                targets = [o for o in inner.occs if star is None or o.alias == star]
                if len(targets) == 1 or (star is None and targets and column):
                    known = [o for o in targets if len(targets) == 1 or self._knows(o, column)]
                    keys.extend((o.id, column) for o in known)
        return keys

    def _touch(self, key: Key) -> Key:
        """Register a column key; a column of a CTE or derived table is tied to its source columns."""
        if key in self.virtual_done:
            return key
        self.virtual_done.add(key)
        occ = self.occs[key[0]]
        if occ.virtual is not None:
            for inner in self._virtual_keys(occ, key[1]):
                self._touch(inner)
                self._edge(key, inner)
                self._edge(inner, key)
        return key

    def _edge(self, a: Key, b: Key) -> None:
        self.edges.setdefault(a, set()).add(b)

    def _receives(self, key: Key, scope: _Scope, allowed: frozenset[int] | None) -> bool:
        occ = self.occs[key[0]]
        if allowed is not None:
            return occ.id in allowed
        s: _Scope | None = scope
        while s is not None:
            if occ.scope is s:
                return True
            if not s.restricts_parent:
                return False
            s = s.parent
        return False

    def _apply(self, facts: Iterable[_Fact], scope: _Scope, allowed: frozenset[int] | None) -> None:
        for fact in facts:
            if fact.kind == "eq" and fact.b is not None:
                if self._receives(fact.b, scope, allowed):
                    self._edge(fact.a, fact.b)
                if self._receives(fact.a, scope, allowed):
                    self._edge(fact.b, fact.a)
            elif self._receives(fact.a, scope, allowed):
                if fact.kind == "val":
                    self.values.add(fact.a)
                elif fact.kind in ("ext", "held"):
                    self.values.add(fact.a)
                    self.external.add(fact.a)
                    if fact.kind == "held":
                        self.held.add(fact.a)
                elif fact.kind == "sub":
                    self.values.add(fact.a)
                    self.subs.append((fact.a, self.sub_scopes.get(fact.sub, [])))
                elif fact.kind == "cor":
                    self.correlated.add(fact.a[0])

    # ---- judgement ---------------------------------------------------------------------------
    def _closure(self, seeds: Iterable[Key]) -> set[Key]:
        out = set(seeds)
        todo = list(out)
        while todo:
            key = todo.pop()
            for nxt in self.edges.get(key, ()):
                if nxt not in out:
                    out.add(nxt)
                    todo.append(nxt)
        return out

    def _all_occs(self, scopes: Iterable[_Scope]) -> Iterator[_Occ]:
        for scope in scopes:
            yield from scope.occs
            yield from self._all_occs(scope.children)

    def scoped(self) -> dict[int, bool]:
        """occurrence id -> scoped, for tenant-owned occurrences."""
        bound = self._closure(self.values)
        scoped: dict[int, bool] = {}
        rules: dict[int, TableRule] = {}
        for occ in self.occs:
            if occ.virtual is not None or occ.function or not occ.table:
                continue
            rule = self.schema.rule(occ.table, occ.qualified)
            if rule is None:
                continue
            rules[occ.id] = rule
            scoped[occ.id] = occ.assumed or self._insert_scoped(occ, rule)
        # a row correlated with the outer query's row is, like an object in hand, one row: the rows its keys
        # reach (its parents by their id, its children by theirs) are reached through its relations
        held_seeds = set(self.held)
        for occ_id in self.correlated:
            rule = rules.get(occ_id)
            if rule is not None:
                held_seeds |= {(occ_id, rule.pk), *((occ_id, fk) for fk, _ in rule.parents)}
        held = self._closure(held_seeds)
        # rows reached through relations from an object in hand (`visualizations.query_id = :id`, then its
        # widgets, their dashboard, its api keys): like `query.visualizations.all()`, each is that object's
        held_reached: set[int] = set()
        if held:
            grew = True
            while grew:
                grew = False
                for occ_id, rule in rules.items():
                    if occ_id in held_reached or not any(
                        key[0] == occ_id and (key[1] == rule.pk or key[1] == "id" or key[1].endswith("_id"))
                        for key in held
                    ):
                        continue
                    held_reached.add(occ_id)
                    held = self._closure(held | {(occ_id, rule.pk), *((occ_id, fk) for fk, _ in rule.parents)})
                    grew = True
            for occ_id in held_reached:
                if self.occs[occ_id].op != "insert":
                    scoped[occ_id] = True
        changed = True
        while changed:
            changed = False
            seeds: set[Key] = set(self.external)
            for occ in self.occs:
                if scoped.get(occ.id):
                    rule = rules[occ.id]
                    seeds.update((occ.id, c) for c in (*rule.tenant_columns, rule.pk))
                elif occ.id in self.correlated and occ.id in rules:
                    # rows reached from the outer row's share (children joined by its id) are its share too;
                    # its tenant column is not pinned: the outer row may be any tenant's
                    seeds.add((occ.id, rules[occ.id].pk))
                elif occ.table in self.schema.tenant_tables and any(k[0] == occ.id for k in bound):
                    seeds.add((occ.id, self.schema.tenant_pk))  # the tenant row itself is pinned
            for key in bound:
                rule_of = rules.get(key[0])
                if rule_of is not None and key[1] in rule_of.tenant_columns:
                    seeds.add(key)
            for key, scopes in self.subs:
                inner = [o for o in self._all_occs(scopes) if o.id in scoped]
                if all(scoped[o.id] for o in inner):
                    seeds.add(key)
            tenant = self._closure(seeds)
            for occ_id, rule in rules.items():
                if scoped[occ_id]:
                    continue
                occ = self.occs[occ_id]
                if occ.op == "insert":
                    continue
                if (
                    (occ_id, rule.pk) in held
                    or any((occ_id, c) in bound or (occ_id, c) in tenant for c in rule.tenant_columns)
                    or any((occ_id, fk) in tenant for fk, _ in rule.parents)
                    or any((occ_id, c) in bound for c in rule.owner_columns)
                ):
                    scoped[occ_id] = True
                    changed = True
        for occ_id in self.correlated:
            if occ_id in scoped:
                scoped[occ_id] = True  # restricted to the outer query's row, which is judged where it is built
        return scoped

    @staticmethod
    def _insert_scoped(occ: _Occ, rule: TableRule) -> bool:
        if occ.op != "insert":
            return False
        if occ.insert_columns is None:
            return True
        wanted = {*rule.tenant_columns, *(fk for fk, _ in rule.parents)}
        return bool(wanted & set(occ.insert_columns)) or not wanted


@dataclass
class _Cte:
    name: str
    columns: tuple[str, ...]
    scopes: list[_Scope]


@dataclass(frozen=True)
class _Operand:
    """One side of a comparison: columns, a value, a subquery, a tuple of those, or something else."""

    kind: str  # "col", "value", "sub", "tuple", "other"
    keys: tuple[Key, ...] = ()
    external: bool = False  # a column of a table outside the string (a correlated RawSQL / .extra())
    held: bool = False  # a parameter bound to the id of an object the code already holds
    sub: int = 0
    parts: tuple[_Operand, ...] = ()


def _is_op(item: Item | None, *ops: str) -> bool:
    return isinstance(item, Token) and item.kind == "op" and item.text in ops


def _split_and(items: Sequence[Item]) -> list[list[Item]]:
    """Split at top-level AND, keeping ``BETWEEN x AND y`` together."""
    parts: list[list[Item]] = [[]]
    between = False
    for item in items:
        if _is_word(item, "BETWEEN"):
            between = True
        elif _is_word(item, "AND"):
            if between:
                between = False
            else:
                parts.append([])
                continue
        elif _is_op(item, "&&"):
            parts.append([])
            continue
        parts[-1].append(item)
    return [p for p in parts if p]


_NEGATED = ("NOT", "!")


_COMPARISON_OPS = frozenset({"<>", "!=", "<", ">", "<=", ">=", "~", "@>", "<@", "&&", "<<", ">>", "<<=", ">>="})


def _comparison(items: Sequence[Item]) -> tuple[int, int, bool]:
    """(index, length, binds) of the top-level comparison operator; binds: it pins a column to values."""
    for i, item in enumerate(items):
        if not isinstance(item, Token):
            continue
        if item.kind == "op" and item.text in ("=", "==", "<=>"):
            return i, 1, True
        if item.kind == "op" and item.text in _COMPARISON_OPS:
            return i, 1, False
        word = item.upper
        if word == "IN":
            negated = i > 0 and _is_word(items[i - 1], "NOT")
            return (i - 1, 2, False) if negated else (i, 1, True)
        if word == "IS":
            rest = [t.upper for t in items[i + 1 : i + 4] if isinstance(t, Token)]
            if rest == ["NOT", "DISTINCT", "FROM"]:
                return i, 4, True
            if rest[:1] == ["NULL"]:
                return i, 1, True
            return i, 1, False
        if word in ("LIKE", "ILIKE", "BETWEEN", "SIMILAR", "REGEXP", "RLIKE", "GLOB", "MATCH"):
            return i, 1, False
    return -1, 0, False


def _narrows(items: Sequence[Item], op_at: int, op_len: int) -> bool:
    """Whether the comparison at ``op_at`` keeps only rows that match (not ``<>``, ``NOT IN``, ``IS NOT NULL``...)."""
    op = items[op_at]
    if not isinstance(op, Token) or op_len == 2:
        return False  # NOT IN
    if op.kind == "op":
        return op.text not in ("<>", "!=")
    if op.upper == "IS":
        return op_len == 4  # IS NOT DISTINCT FROM; IS [NOT] NULL compares with nothing
    return not (op_at > 0 and _is_word(items[op_at - 1], "NOT"))  # NOT LIKE, NOT BETWEEN


def _strip_cast(items: list[Item]) -> list[Item]:
    """``x::uuid`` -> ``x``; ``CAST(x AS int)`` is left to the value test."""
    out = list(items)
    while len(out) >= 2 and _is_op(out[-2], "::") and _is_name(out[-1]):
        out = out[:-2]
    while len(out) >= 3 and isinstance(out[-1], Group) and _is_op(out[-3], "::"):
        out = out[:-3]  # ::varchar(10)
    return out


def _column_ref(items: Sequence[Item]) -> list[str] | None:
    """``col``, ``t.col``, ``schema.t.col`` as name parts, or None."""
    if not items or len(items) > 5 or len(items) % 2 == 0:
        return None
    parts: list[str] = []
    for k, item in enumerate(items):
        if k % 2 == 1:
            if not _is_punct(item, "."):
                return None
            continue
        if not _is_name(item):
            return None
        assert isinstance(item, Token)
        if item.kind == "word" and (item.upper in _VALUE_WORDS or item.upper in KEYWORDS):
            return None
        parts.append(item.name)
    return parts


_PREFIX_WORDS = frozenset({"AS", "ARRAY", "CAST", "INTERVAL", "DATE", "TIME", "TIMESTAMP", "ROW"})


def _is_value(items: Sequence[Item]) -> bool:
    """Whether an operand holds no column: parameters, literals, fragments, functions of those.

    Two values side by side with no operator between them (``'open' {extra}``) are not a value: the
    fragment may close the comparison and add predicates of its own.
    """
    seen_value = False
    after_value = False
    prev: Item | None = None
    for k, item in enumerate(items):
        nxt = items[k + 1] if k + 1 < len(items) else None
        is_value = False
        if isinstance(item, Group):
            if _is_query_group(item):
                return False
            inner = [p for p in _split(item.items, ",") if p]
            if inner and not all(_is_value(p) for p in inner):
                return False
            is_value = bool(inner) or (isinstance(prev, Token) and prev.kind == "word")
        elif item.kind in ("param", "string", "number", "frag"):
            is_value = True
        elif item.kind == "op" or (item.kind == "punct" and item.text == ","):
            after_value = False
        elif item.kind == "word":
            if item.upper in _PREFIX_WORDS or isinstance(nxt, Group) or _is_op(prev, "::") or _is_word(prev, "AS"):
                pass  # a function or type name, a typed literal's prefix
            elif item.upper in _VALUE_WORDS:
                is_value = True
            else:
                return False
        else:
            return False
        if is_value:
            if after_value and not (isinstance(item, Group) and isinstance(prev, Token) and prev.kind == "word"):
                return False
            seen_value = after_value = True
        prev = item
    return seen_value


# -- public entry point ---------------------------------------------------------------------------


def param_keys(tokens: Iterable[Token]) -> dict[int, str]:
    """id() of each parameter token -> its key: "0", "1"... for positional ones, the name for named ones."""
    keys: dict[int, str] = {}
    position = 0
    for tok in tokens:
        if tok.kind != "param":
            continue
        text = tok.text
        if text.startswith("%("):
            keys[id(tok)] = text[2 : text.index(")")]
        elif text[0] in ":@":
            keys[id(tok)] = text[1:]
        elif text[0] in "$?" and text[1:].isdigit():
            keys[id(tok)] = str(int(text[1:]) - 1)
        else:
            keys[id(tok)] = str(position)
            position += 1
    return keys


def analyse(
    sql: str,
    schema: TenantSchema | None = None,
    *,
    assume_scoped: Iterable[str] = (),
    held_params: Iterable[str] = (),
    embedded: bool = False,
) -> SqlReport:
    """Read ``sql`` (one or more statements) and judge every tenant-owned table it touches.

    ``assume_scoped`` names tables whose rows are narrowed outside the string (the model table of a
    Django ``.extra()`` call, whose ORM query the query rules judge). ``held_params`` names the
    parameters (positional index as a string, or name) bound to the id of an object the code already
    holds (``[self.id]``, ``{"invoice": invoice.pk}``): a row reached from it is reached through a
    relation, like ``invoice.line_items.all()``, and the object's own scoping was judged where it was
    loaded.

    ``embedded`` says the string is a fragment of an ORM query (``RawSQL(...)``, ``.extra(select=...,
    where=...)``), not a statement run on its own. A table the fragment compares with a column of the
    outer query's row (a qualifier naming no table in sight, or an ``assume_scoped`` table of an
    enclosing scope) is *correlated*: each value it yields is restricted to one outer row, which the
    ORM query scopes or not on its own, as it does for a ``Subquery(... OuterRef(...))``. A correlated
    table is not reported. Outside ORM queries an unknown qualifier is not a correlation (the statement
    runs on its own and such a name is an error or a typo), so ``cursor.execute`` text stays judged.
    """
    schema = schema or TenantSchema()
    assume = frozenset(t.lower() for t in assume_scoped)
    tokens = tokenize(sql)
    wanted = set(held_params)
    held = frozenset(k for k, key in param_keys(tokens).items() if key in wanted) if wanted else frozenset()
    items, balanced = _nest(tokens)
    uses: list[TableUse] = []
    opaque: list[int] = []
    statements = [part for part in _split(items, ";") if part]
    index = 0
    for part in statements:
        if _first_word(part) not in _STATEMENT_WORDS:
            continue
        reader = _Statement(schema, assume, held, embedded)
        reader.read(part)
        verdicts = reader.scoped()
        if reader.opaque or not balanced:
            opaque.append(index)
        for occ in reader.occs:
            if occ.virtual is not None or occ.function or not occ.table:
                continue
            rule = schema.rule(occ.table, occ.qualified)
            uses.append(
                TableUse(
                    table=occ.table,
                    qualified=occ.qualified,
                    alias=occ.alias,
                    written_alias=reader.written.get(occ.alias, occ.alias),
                    operation=occ.op,
                    statement=index,
                    tenant_owned=rule is not None,
                    scoped=verdicts.get(occ.id, True),
                    rule=rule,
                )
            )
        index += 1
    return SqlReport(tuple(uses), index, tuple(opaque))


__all__ = [
    "FRAGMENT",
    "SqlReport",
    "TableRule",
    "TableUse",
    "TenantSchema",
    "Token",
    "analyse",
    "is_statement",
    "normalise",
    "param_keys",
    "param_style",
    "tables",
    "tokenize",
]
