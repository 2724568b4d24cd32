"""The SQL reader (orgguard.engine.sql) and ORG601's reading of Python strings."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from orgguard.engine.runner import load_project, run
from orgguard.engine.sql import (
    FRAGMENT,
    TableRule,
    TenantSchema,
    analyse,
    is_statement,
    normalise,
    param_keys,
    param_style,
    tables,
    tokenize,
)

F = FRAGMENT

SCHEMA = TenantSchema(
    tables={
        "billing_invoice": TableRule("billing_invoice", "Invoice", ("organization_id",)),
        "billing_subscription": TableRule("billing_subscription", "Subscription", ("organization_id",)),
        "billing_lineitem": TableRule("billing_lineitem", "LineItem", (), (("invoice_id", "billing_invoice"),)),
        "billing_refund": TableRule("billing_refund", "Refund", (), (("line_item_id", "billing_lineitem"),)),
        "accounts_membership": TableRule(
            "accounts_membership", "Membership", ("organization_id",), owner_columns=("user_id",)
        ),
        "invoices": TableRule("invoices", "Invoice", ("org_id",)),
    },
    tenant_tables=frozenset({"accounts_organization"}),
)


def unscoped(sql: str, **kwargs: object) -> list[str]:
    report = analyse(sql, SCHEMA, **kwargs)  # type: ignore[arg-type]
    return sorted({u.table for u in report.unscoped})


# -- tokens -----------------------------------------------------------------------------------------


def test_tokenize_drops_comments_and_keeps_literals_whole() -> None:
    toks = tokenize("SELECT 'a -- b', \"Col\" /* c */ FROM t -- tail\nWHERE x = $$it's$$")
    kinds = [(t.kind, t.text) for t in toks]
    assert ("string", "'a -- b'") in kinds
    assert ("ident", '"Col"') in kinds
    assert ("string", "$$it's$$") in kinds
    assert not any("tail" in t.text or "/*" in t.text for t in toks)


@pytest.mark.parametrize(
    "text",
    ["%s", "%(org_id)s", ":org", "?", "?1", "$1", "@org"],
)
def test_parameter_styles_are_one_token(text: str) -> None:
    toks = tokenize(f"SELECT * FROM t WHERE a = {text}")
    assert toks[-1].kind == "param" and toks[-1].text == text


def test_casts_are_not_named_parameters() -> None:
    toks = tokenize("SELECT x::text, :name FROM t")
    assert [t.text for t in toks if t.kind == "param"] == [":name"]
    assert any(t.kind == "op" and t.text == "::" for t in toks)


def test_quoted_identifier_names_unquote_and_fold() -> None:
    toks = tokenize('"Billing""Invoice" `orders` plain')
    assert [t.name for t in toks] == ['billing"invoice', "orders", "plain"]


def test_escaped_quotes_in_strings() -> None:
    toks = tokenize("SELECT 'it''s', E'a\\'b' FROM t")
    assert [t.text for t in toks if t.kind == "string"] == ["'it''s'", "E'a\\'b'"]


def test_normalise() -> None:
    sql = "select  a,b -- c\n from   t /* x */ where (a = %s)"
    assert normalise(sql) == "SELECT a, b FROM t WHERE (a = %s)"
    assert normalise(f"SELECT * FROM t WHERE {F}") == "SELECT * FROM t WHERE {...}"


@pytest.mark.parametrize(
    ("sql", "style"),
    [
        ("SELECT 1 WHERE a = %s", "%s"),
        ("SELECT 1 WHERE a = %(x)s", "%(org_id)s"),
        ("SELECT 1 WHERE a = :x", ":org_id"),
        ("SELECT 1 WHERE a = ?", "?"),
        ("SELECT 1 WHERE a = $1", "$n"),
        ("SELECT 1", "%s"),
    ],
)
def test_param_style(sql: str, style: str) -> None:
    assert param_style(sql) == style


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", True),
        ("  (select * from t)", True),
        ("WITH x AS (SELECT 1) SELECT * FROM x", True),
        ("insert into t values (1)", True),
        ("-- comment\nUPDATE t SET a = 1", True),
        ("DELETE FROM t", True),
        ("CREATE TABLE t (id int)", False),
        ("organization_id = :org", False),
        ("Select the invoices you want to pay", True),
        ("", False),
    ],
)
def test_is_statement(sql: str, expected: bool) -> None:
    assert is_statement(sql) is expected


# -- tables -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM a", {"a"}),
        ("SELECT * FROM a, b AS bb, c cc", {"a", "b", "c"}),
        ("SELECT * FROM a JOIN b ON b.id = a.b_id LEFT OUTER JOIN c USING (id)", {"a", "b", "c"}),
        ("SELECT * FROM a NATURAL JOIN b CROSS JOIN c", {"a", "b", "c"}),
        ('SELECT * FROM "public"."Billing_Invoice" i', {"billing_invoice"}),
        ("SELECT * FROM `shop`.`orders`", {"orders"}),
        ("SELECT * FROM public.a JOIN other.b ON true", {"a", "b"}),
        ("SELECT * FROM (SELECT * FROM a) sub JOIN b ON b.x = sub.x", {"a", "b"}),
        ("WITH x AS (SELECT * FROM a), y AS (SELECT * FROM x) SELECT * FROM y JOIN b ON true", {"a", "b"}),
        ("SELECT (SELECT max(id) FROM a) FROM b WHERE c_id IN (SELECT id FROM c)", {"a", "b", "c"}),
        ("SELECT * FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.a = a.id)", {"a", "b"}),
        ("SELECT * FROM a UNION ALL SELECT * FROM b", {"a", "b"}),
        ("SELECT * FROM generate_series(1, 3) g JOIN a ON a.id = g", {"a"}),
        ("SELECT extract(year FROM created) FROM a", {"a"}),
        ("SELECT * FROM a LEFT JOIN (b JOIN c ON c.id = b.c_id) ON b.a_id = a.id", {"a", "b", "c"}),
        ("UPDATE a SET x = 1 FROM b WHERE b.id = a.b_id", {"a", "b"}),
        ("UPDATE a JOIN b ON b.id = a.b_id SET a.x = 1", {"a", "b"}),
        ("DELETE FROM a USING b WHERE b.id = a.b_id", {"a", "b"}),
        ("DELETE a FROM a JOIN b ON b.id = a.b_id", {"a", "b"}),
        ("INSERT INTO a (x) SELECT y FROM b", {"a", "b"}),
        ("INSERT INTO a (x) VALUES ((SELECT max(y) FROM b))", {"a", "b"}),
        ("SELECT 1", set()),
        ("SELECT * FROM a; SELECT * FROM b", {"a", "b"}),
        ("SELECT * FROM a WHERE note = 'FROM b JOIN c'", {"a"}),
        ("SELECT * FROM a -- JOIN b\n", {"a"}),
        ("SELECT * FROM a LEFT JOIN b ON LEFT(b.code, 2) = a.code", {"a", "b"}),
        ("SELECT * FROM a JOIN LATERAL (SELECT * FROM b WHERE b.a = a.id) l ON true", {"a", "b"}),
    ],
)
def test_tables(sql: str, expected: set[str]) -> None:
    assert tables(sql) == expected


def test_operations_and_aliases() -> None:
    report = analyse(
        "UPDATE billing_invoice i SET status = 'x' FROM accounts_organization o WHERE o.id = i.organization_id"
    )
    ops = {(u.table, u.alias, u.operation) for u in report.uses}
    assert ops == {("billing_invoice", "i", "update"), ("accounts_organization", "o", "read")}
    report = analyse("DELETE FROM billing_invoice WHERE id = 1; INSERT INTO b (x) VALUES (1)")
    assert [(u.table, u.operation, u.statement) for u in report.uses] == [
        ("billing_invoice", "delete", 0),
        ("b", "insert", 1),
    ]
    assert report.statements == 2


# -- tenant scoping ---------------------------------------------------------------------------------

SCOPED = [
    # a tenant predicate, every placeholder style
    "SELECT * FROM billing_invoice WHERE organization_id = %s",
    "SELECT * FROM billing_invoice WHERE organization_id = %(org)s",
    "SELECT * FROM billing_invoice WHERE organization_id = :org_id",
    "SELECT * FROM billing_invoice WHERE organization_id = ?",
    "SELECT * FROM billing_invoice WHERE organization_id = $1",
    "SELECT * FROM billing_invoice WHERE organization_id = 42",
    "SELECT * FROM billing_invoice WHERE organization_id = '6f1c'",
    "SELECT * FROM billing_invoice WHERE %s = organization_id",
    "SELECT * FROM billing_invoice WHERE organization_id = %s::uuid",
    "SELECT * FROM billing_invoice WHERE organization_id = CAST(%s AS integer)",
    "SELECT * FROM billing_invoice WHERE organization_id IN (%s, %s)",
    "SELECT * FROM billing_invoice WHERE organization_id IN %s",
    "SELECT * FROM billing_invoice WHERE organization_id = ANY(%s)",
    "SELECT * FROM billing_invoice WHERE organization_id IS NOT DISTINCT FROM %s",
    "SELECT * FROM billing_invoice WHERE organization_id = current_setting('app.org_id')::int",
    "SELECT * FROM billing_invoice WHERE (organization_id, id) = (%s, %s)",
    "select * from BILLING_INVOICE where ORGANIZATION_ID = %s",
    'SELECT * FROM "public"."billing_invoice" AS "i" WHERE "i"."organization_id" = $1',
    "SELECT * FROM `billing_invoice` WHERE `organization_id` = ?",
    "SELECT * FROM public.billing_invoice i WHERE public.i.organization_id = %s",
    # aliases, conjunctions, grouping
    "SELECT i.* FROM billing_invoice i WHERE i.status = 'open' AND i.organization_id = :org",
    "SELECT * FROM billing_invoice AS i WHERE (i.organization_id = %s AND i.status = 'open')",
    "SELECT * FROM billing_invoice WHERE created BETWEEN %s AND %s AND organization_id = %s",
    "SELECT * FROM billing_invoice WHERE (organization_id = %s AND a) OR (organization_id = %s AND b)",
    "SELECT * FROM billing_invoice i WHERE CASE WHEN a AND b THEN 1 ELSE 0 END = 1 AND i.organization_id = %s",
    "SELECT status, count(*) FROM billing_invoice WHERE organization_id = %s GROUP BY status HAVING count(*) > 1",
    "SELECT * FROM billing_invoice WHERE organization_id = %s ORDER BY id LIMIT 10 FOR UPDATE",
    # joins
    "SELECT * FROM billing_invoice i JOIN billing_subscription s ON s.organization_id = i.organization_id "
    "WHERE i.organization_id = %s",
    "SELECT * FROM billing_invoice i, billing_subscription s "
    "WHERE s.organization_id = i.organization_id AND i.organization_id = %s",
    "SELECT * FROM billing_invoice i JOIN billing_subscription s USING (organization_id) WHERE i.organization_id = %s",
    "SELECT * FROM billing_invoice i JOIN billing_subscription s ON s.organization_id = %s AND i.organization_id = %s",
    "SELECT i.* FROM billing_invoice i JOIN accounts_organization o ON o.id = i.organization_id WHERE o.slug = %s",
    "SELECT i.* FROM accounts_organization o JOIN billing_invoice i ON i.organization_id = o.id WHERE o.id = %s",
    # owned through a parent
    "SELECT li.* FROM billing_lineitem li JOIN billing_invoice i ON i.id = li.invoice_id WHERE i.organization_id = %s",
    "SELECT li.* FROM billing_invoice i JOIN billing_lineitem li ON li.invoice_id = i.id WHERE i.organization_id = %s",
    "SELECT r.* FROM billing_refund r JOIN billing_lineitem li ON li.id = r.line_item_id "
    "JOIN billing_invoice i ON i.id = li.invoice_id WHERE i.organization_id = %s",
    "SELECT * FROM billing_lineitem WHERE invoice_id IN (SELECT id FROM billing_invoice WHERE organization_id = %s)",
    "SELECT * FROM billing_lineitem li WHERE EXISTS "
    "(SELECT 1 FROM billing_invoice i WHERE i.id = li.invoice_id AND i.organization_id = %s)",
    "SELECT * FROM billing_invoice i WHERE i.organization_id = %s "
    "AND EXISTS (SELECT 1 FROM billing_lineitem li WHERE li.invoice_id = i.id)",
    "SELECT (SELECT count(*) FROM billing_lineitem li WHERE li.invoice_id = i.id) FROM billing_invoice i "
    "WHERE i.organization_id = %s",
    # membership guards
    "SELECT * FROM billing_invoice WHERE organization_id IN "
    "(SELECT organization_id FROM accounts_membership WHERE user_id = %s)",
    "SELECT * FROM billing_invoice i WHERE EXISTS (SELECT 1 FROM accounts_membership m "
    "WHERE m.organization_id = i.organization_id AND m.user_id = %s)",
    "SELECT * FROM billing_invoice i JOIN accounts_membership m ON m.organization_id = i.organization_id "
    "WHERE m.user_id = %s",
    "SELECT organization_id FROM accounts_membership WHERE user_id = %s",
    # CTEs and derived tables
    "WITH x AS (SELECT * FROM billing_invoice WHERE organization_id = %s) SELECT * FROM x",
    "WITH x AS (SELECT * FROM billing_invoice) SELECT * FROM x WHERE x.organization_id = %s",
    "WITH x (org, n) AS (SELECT organization_id, number FROM billing_invoice) SELECT * FROM x WHERE org = %s",
    "SELECT * FROM (SELECT id, organization_id FROM billing_invoice) sub WHERE sub.organization_id = %s",
    "SELECT * FROM (SELECT * FROM billing_invoice WHERE organization_id = %s) AS sub",
    "WITH mine AS (SELECT id FROM billing_invoice WHERE organization_id = :org) "
    "SELECT li.* FROM billing_lineitem li JOIN mine ON mine.id = li.invoice_id",
    "SELECT li.* FROM billing_lineitem li JOIN (SELECT id FROM billing_invoice WHERE organization_id = %s) s "
    "ON s.id = li.invoice_id",
    "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5) SELECT n FROM t",
    # UNION: every branch scoped
    "SELECT id FROM billing_invoice WHERE organization_id = %s UNION SELECT id FROM billing_subscription "
    "WHERE organization_id = %s",
    # writes
    "UPDATE billing_invoice SET status = 'void' WHERE id = %s AND organization_id = %s",
    "UPDATE billing_lineitem SET amount_cents = 0 FROM billing_invoice i "
    "WHERE i.id = billing_lineitem.invoice_id AND i.organization_id = %s",
    "DELETE FROM billing_subscription WHERE organization_id = %s AND id = %s",
    "DELETE FROM billing_lineitem USING billing_invoice i WHERE i.id = billing_lineitem.invoice_id "
    "AND i.organization_id = %s",
    "INSERT INTO billing_invoice (organization_id, number) VALUES (%s, %s)",
    "INSERT INTO billing_invoice VALUES (%s, %s, %s)",
    "INSERT INTO billing_lineitem (invoice_id, amount_cents) VALUES (%s, %s)",
    "INSERT INTO billing_invoice (organization_id, number) VALUES (%s, %s) "
    "ON CONFLICT (organization_id, number) DO UPDATE SET number = EXCLUDED.number",
    "INSERT INTO billing_invoice SET organization_id = %s, number = %s",
    "INSERT INTO billing_subscription (organization_id, status) "
    "SELECT organization_id, 'trial' FROM billing_invoice WHERE organization_id = %s",
    # other tenant columns and shared tables
    "SELECT * FROM invoices WHERE org_id = :org",
    "SELECT * FROM plans",
    "SELECT * FROM accounts_organization WHERE id = %s",
    "SELECT * FROM accounts_organization",
    "SELECT 1",
    "SELECT now()",
    # correlated with a table outside the string (RawSQL / .extra() select)
    "SELECT COUNT(*) FROM billing_lineitem WHERE billing_lineitem.invoice_id = billing_invoice.id",
    "SELECT SUM(amount_cents) FROM billing_lineitem li WHERE li.invoice_id = U0.id",
]

UNSCOPED = [
    ("SELECT * FROM billing_invoice", ["billing_invoice"]),
    ("SELECT * FROM billing_invoice WHERE id = %s", ["billing_invoice"]),
    ("SELECT * FROM billing_invoice WHERE number = :number", ["billing_invoice"]),
    ("SELECT organization_id, count(*) FROM billing_invoice GROUP BY organization_id", ["billing_invoice"]),
    ("SELECT * FROM billing_invoice ORDER BY organization_id", ["billing_invoice"]),
    ("SELECT * FROM billing_invoice WHERE organization_id = %s OR status = 'draft'", ["billing_invoice"]),
    ("SELECT * FROM billing_invoice WHERE NOT (organization_id = %s)", ["billing_invoice"]),
    ("SELECT * FROM billing_invoice WHERE organization_id <> %s", ["billing_invoice"]),
    ("SELECT * FROM billing_invoice WHERE organization_id != %s", ["billing_invoice"]),
    ("SELECT * FROM billing_invoice WHERE organization_id > 0", ["billing_invoice"]),
    ("SELECT * FROM billing_invoice WHERE organization_id IS NOT NULL", ["billing_invoice"]),
    ("SELECT * FROM billing_invoice WHERE organization_id NOT IN (%s)", ["billing_invoice"]),
    ("SELECT * FROM billing_invoice WHERE organization_id IS DISTINCT FROM %s", ["billing_invoice"]),
    ("SELECT * FROM billing_invoice WHERE organization_id LIKE %s", ["billing_invoice"]),
    ("SELECT * FROM billing_invoice WHERE organization_id = organization_id", ["billing_invoice"]),
    ("SELECT * FROM billing_invoice WHERE lower(organization_id) = %s", ["billing_invoice"]),
    ("SELECT * FROM billing_invoice -- WHERE organization_id = %s", ["billing_invoice"]),
    ("SELECT * FROM billing_invoice /* WHERE organization_id = 1 */", ["billing_invoice"]),
    ("SELECT * FROM billing_invoice WHERE note = 'AND organization_id = 1'", ["billing_invoice"]),
    ("SELECT * FROM billing_invoice WHERE \"organization_id\" = 'x' OR 1 = 1", ["billing_invoice"]),
    # joins that do not carry the tenant
    (
        "SELECT * FROM billing_invoice i JOIN billing_subscription s ON s.id = i.id WHERE i.organization_id = %s",
        ["billing_subscription"],
    ),
    (
        "SELECT * FROM billing_invoice i LEFT JOIN billing_subscription s ON s.organization_id = %s",
        ["billing_invoice"],
    ),
    (
        "SELECT * FROM billing_subscription s RIGHT JOIN billing_invoice i ON s.organization_id = %s",
        ["billing_invoice"],
    ),
    (
        "SELECT * FROM billing_invoice i FULL JOIN billing_subscription s "
        "ON s.organization_id = i.organization_id AND i.organization_id = %s",
        ["billing_invoice", "billing_subscription"],
    ),
    ("SELECT * FROM plans p JOIN billing_subscription s ON s.plan_id = p.id WHERE p.id = %s", ["billing_subscription"]),
    ("SELECT i.* FROM billing_invoice i JOIN accounts_organization o ON o.id = i.organization_id", ["billing_invoice"]),
    # owned through a parent: the parent's id alone is an object id, not the tenant
    ("SELECT * FROM billing_lineitem WHERE invoice_id = %s", ["billing_lineitem"]),
    ("SELECT * FROM billing_lineitem WHERE id = %s", ["billing_lineitem"]),
    (
        "SELECT li.* FROM billing_lineitem li JOIN billing_invoice i ON i.id = li.invoice_id WHERE i.id = %s",
        ["billing_invoice", "billing_lineitem"],
    ),
    (
        "SELECT li.* FROM billing_lineitem li LEFT JOIN billing_invoice i "
        "ON i.id = li.invoice_id AND i.organization_id = %s",
        ["billing_lineitem"],
    ),
    (
        "SELECT * FROM billing_lineitem WHERE invoice_id IN (SELECT id FROM billing_invoice WHERE status = 'open')",
        ["billing_invoice", "billing_lineitem"],
    ),
    (
        "SELECT * FROM billing_lineitem li WHERE NOT EXISTS "
        "(SELECT 1 FROM billing_invoice i WHERE i.id = li.invoice_id AND i.organization_id = %s)",
        ["billing_lineitem"],
    ),
    (
        "SELECT r.* FROM billing_refund r JOIN billing_lineitem li ON li.id = r.line_item_id WHERE li.invoice_id = %s",
        ["billing_lineitem", "billing_refund"],
    ),
    # membership table read without the user
    ("SELECT * FROM accounts_membership WHERE role = 'owner'", ["accounts_membership"]),
    (
        "SELECT * FROM billing_invoice i WHERE EXISTS (SELECT 1 FROM accounts_membership m "
        "WHERE m.organization_id = i.organization_id)",
        ["accounts_membership", "billing_invoice"],
    ),
    # subqueries, CTEs, UNION branches
    ("SELECT * FROM billing_invoice WHERE id = (SELECT max(id) FROM billing_invoice)", ["billing_invoice"]),
    (
        "SELECT * FROM billing_invoice WHERE organization_id = (SELECT organization_id FROM billing_invoice "
        "WHERE id = %s)",
        ["billing_invoice"],
    ),
    ("WITH x AS (SELECT * FROM billing_invoice) SELECT * FROM x", ["billing_invoice"]),
    ("WITH x AS (SELECT * FROM billing_invoice) SELECT * FROM x WHERE x.id = %s", ["billing_invoice"]),
    ("SELECT * FROM (SELECT * FROM billing_invoice) sub WHERE sub.status = 'open'", ["billing_invoice"]),
    (
        "SELECT (SELECT count(*) FROM billing_subscription) AS n FROM billing_invoice WHERE organization_id = %s",
        ["billing_subscription"],
    ),
    (
        "SELECT id FROM billing_invoice WHERE organization_id = %s UNION SELECT id FROM billing_subscription",
        ["billing_subscription"],
    ),
    # writes
    ("UPDATE billing_invoice SET status = 'void' WHERE id = %s", ["billing_invoice"]),
    ("UPDATE billing_invoice SET organization_id = %s WHERE id = %s", ["billing_invoice"]),
    ("UPDATE billing_invoice SET status = 'overdue'", ["billing_invoice"]),
    ("DELETE FROM billing_subscription WHERE id = %s", ["billing_subscription"]),
    ("DELETE FROM billing_lineitem WHERE invoice_id = %s", ["billing_lineitem"]),
    ("INSERT INTO billing_invoice (number, status) VALUES (%s, 'draft')", ["billing_invoice"]),
    ("INSERT INTO archive (id) SELECT id FROM billing_invoice WHERE status = 'void'", ["billing_invoice"]),
    # several statements
    (
        "SELECT * FROM billing_invoice WHERE organization_id = %s; DELETE FROM billing_subscription",
        ["billing_subscription"],
    ),
    # fragments in value positions are values
    (f"SELECT * FROM billing_invoice WHERE id = {F}", ["billing_invoice"]),
    (f"SELECT * FROM billing_invoice WHERE id IN ({F})", ["billing_invoice"]),
    (f"SELECT {F} FROM billing_invoice", ["billing_invoice"]),
    (f"SELECT * FROM billing_invoice ORDER BY {F} LIMIT {F}", ["billing_invoice"]),
    (f"SELECT * FROM billing_invoice WHERE name = '{F}'", ["billing_invoice"]),
    (f"UPDATE billing_invoice SET status = {F} WHERE id = %s", ["billing_invoice"]),
]

OPAQUE = [
    f"SELECT * FROM billing_invoice WHERE {F}",
    f"SELECT * FROM billing_invoice WHERE status = 'open' AND {F}",
    f"SELECT * FROM billing_invoice WHERE status = 'open' {F}",
    f"SELECT * FROM billing_invoice {F}",
    f"SELECT * FROM {F} WHERE id = %s",
    f"SELECT * FROM billing_{F} WHERE id = %s",
    f"SELECT * FROM {F}.billing_invoice WHERE id = %s",
    f"SELECT * FROM billing_invoice i JOIN billing_lineitem li ON {F}",
    f"SELECT * FROM billing_invoice WHERE id = %s AND {F} = %s",
    f"INSERT INTO {F} (number) VALUES (%s)",
    "SELECT * FROM billing_invoice WHERE (id = %s",
]


@pytest.mark.parametrize("sql", SCOPED)
def test_scoped(sql: str) -> None:
    report = analyse(sql, SCHEMA)
    assert not report.unscoped, [u.table for u in report.unscoped]


@pytest.mark.parametrize(("sql", "expected"), UNSCOPED)
def test_unscoped(sql: str, expected: list[str]) -> None:
    assert unscoped(sql) == expected


@pytest.mark.parametrize("sql", OPAQUE)
def test_unresolved_structure_is_not_judged(sql: str) -> None:
    report = analyse(sql, SCHEMA)
    assert report.opaque and not report.unscoped


def test_assume_scoped_stands_for_an_orm_query() -> None:
    sql = "SELECT (SELECT count(*) FROM billing_lineitem WHERE invoice_id = billing_invoice.id) FROM billing_invoice"
    assert unscoped(sql) == ["billing_invoice", "billing_lineitem"]
    assert unscoped(sql, assume_scoped=["billing_invoice"]) == []


# a fragment of an ORM query (RawSQL, .extra()) compared with a column of the outer query's row
CORRELATED = [
    # the outer table is named nowhere in the fragment: a containment test, not a foreign key
    "SELECT COUNT(*) FROM billing_invoice WHERE billing_invoice.number <<= billing_plan.prefix",
    "SELECT COUNT(*) FROM billing_invoice WHERE number <<= billing_plan.prefix",
    "SELECT COUNT(*) FROM billing_invoice i WHERE i.number LIKE billing_plan.pattern",
    "SELECT COUNT(*) FROM billing_invoice i WHERE i.created_at BETWEEN billing_plan.start AND billing_plan.stop",
    "SELECT COUNT(*) FROM billing_invoice i WHERE i.total_cents > billing_plan.monthly_cents AND i.status = 'paid'",
    "SELECT COUNT(*) FROM billing_invoice i WHERE i.number <<= billing_plan.prefix OR i.number = billing_plan.prefix",
    "(SELECT COUNT(*) FROM billing_invoice WHERE billing_invoice.number <<= billing_plan.prefix)",
    # Django's U0 alias hides the table's own name: "billing_invoice"."number" is the outer row
    'SELECT COUNT(DISTINCT U0."number") AS "c" FROM "billing_invoice" U0 '
    'WHERE (U0."number" >> "billing_invoice"."number" '
    'AND COALESCE(U0."status", 0) = COALESCE("billing_invoice"."status", 0))',
    # correlated in an EXISTS that narrows the fragment's table
    "SELECT COUNT(*) FROM billing_invoice i WHERE EXISTS "
    "(SELECT 1 FROM plans p WHERE p.id = i.plan_id AND i.number <<= billing_plan.prefix)",
    # rows joined to the correlated row by its id are that row's share
    "SELECT SUM(li.amount_cents) FROM billing_invoice i JOIN billing_lineitem li ON li.invoice_id = i.id "
    "WHERE i.number <<= billing_plan.prefix",
    # ...and so is the row its foreign key points to (its parent), and that row's parent in turn
    "SELECT i.number FROM billing_lineitem li JOIN billing_invoice i ON i.id = li.invoice_id "
    "WHERE li.amount_cents = billing_plan.price_cents",
]

NOT_CORRELATED = [
    # no outer column at all, or not in a narrowing position
    ("SELECT COUNT(*) FROM billing_invoice WHERE status = 'paid'", ["billing_invoice"]),
    ("SELECT billing_plan.name, COUNT(*) FROM billing_invoice", ["billing_invoice"]),
    (
        "SELECT COUNT(*) FROM billing_invoice i WHERE i.number <<= billing_plan.prefix OR i.status = 'x'",
        ["billing_invoice"],
    ),
    ("SELECT COUNT(*) FROM billing_invoice i WHERE NOT (i.number <<= billing_plan.prefix)", ["billing_invoice"]),
    ("SELECT COUNT(*) FROM billing_invoice i WHERE i.number <> billing_plan.prefix", ["billing_invoice"]),
    ("SELECT COUNT(*) FROM billing_invoice i WHERE i.number != billing_plan.prefix", ["billing_invoice"]),
    (
        "SELECT COUNT(*) FROM billing_invoice i WHERE i.number NOT IN (billing_plan.a, billing_plan.b)",
        ["billing_invoice"],
    ),
    ("SELECT COUNT(*) FROM billing_invoice i WHERE i.number NOT LIKE billing_plan.pattern", ["billing_invoice"]),
    ("SELECT COUNT(*) FROM billing_invoice i WHERE i.number IS DISTINCT FROM billing_plan.n", ["billing_invoice"]),
    ("SELECT COUNT(*) FROM billing_invoice i WHERE lower(billing_plan.name) = 'x'", ["billing_invoice"]),
    # only the compared table is the outer row's share: a cross-joined table is every tenant's
    (
        "SELECT COUNT(*) FROM billing_invoice i, billing_subscription s WHERE i.number <<= billing_plan.prefix",
        ["billing_subscription"],
    ),
    # a LEFT JOIN's ON narrows the joined table only
    (
        "SELECT COUNT(*) FROM billing_invoice i LEFT JOIN billing_subscription s ON s.number <<= billing_plan.prefix",
        ["billing_invoice"],
    ),
    # correlated with a table of the fragment itself is not the outer row
    (
        "SELECT COUNT(*) FROM billing_invoice i WHERE i.id IN "
        "(SELECT invoice_id FROM billing_lineitem li WHERE li.amount_cents > i.total_cents)",
        ["billing_invoice", "billing_lineitem"],
    ),
    # joined to the correlated row by a column that is no key of either: every tenant's rows
    (
        "SELECT i.number FROM billing_lineitem li JOIN billing_invoice i ON i.number = li.note "
        "WHERE li.amount_cents = billing_plan.price_cents",
        ["billing_invoice"],
    ),
    # a qualifier naming a table of the fragment, in its FROM: no outer row
    (
        "SELECT COUNT(*) FROM billing_invoice, plans WHERE billing_invoice.number <<= plans.prefix",
        ["billing_invoice"],
    ),
]


@pytest.mark.parametrize("sql", CORRELATED)
def test_correlated_fragments_of_an_orm_query_are_the_outer_rows_share(sql: str) -> None:
    assert unscoped(sql, embedded=True) == []
    # the same text run on its own (cursor.execute): the unknown qualifier is no outer row
    assert unscoped(sql) != []


@pytest.mark.parametrize(("sql", "expected"), NOT_CORRELATED)
def test_uncorrelated_fragments_stay_judged(sql: str, expected: list[str]) -> None:
    assert unscoped(sql, embedded=True) == expected
    assert set(expected) <= set(unscoped(sql))  # run on its own, nothing is correlated


def test_extra_select_is_correlated_with_the_orm_querys_table() -> None:
    # the SQL orgguard builds for Invoice.objects.extra(select={"n": ...}): the model table is outside the string
    inner = "SELECT COUNT(*) FROM billing_subscription s WHERE s.number <<= billing_invoice.number"
    sql = f"SELECT ({inner}) FROM billing_invoice"
    assert unscoped(sql, assume_scoped=["billing_invoice"]) == ["billing_subscription"]
    assert unscoped(sql, assume_scoped=["billing_invoice"], embedded=True) == []
    # not the model table, and not an enclosing scope: the tables= and where= of .extra() are judged
    sql = "SELECT * FROM billing_invoice, billing_subscription s WHERE s.number <<= billing_invoice.number"
    assert unscoped(sql, assume_scoped=["billing_invoice"], embedded=True) == ["billing_subscription"]
    inner = "SELECT COUNT(*) FROM billing_lineitem li WHERE li.amount_cents > s.monthly_cents"
    sql = f"SELECT ({inner}) FROM billing_invoice, billing_subscription s WHERE s.organization_id = %s"
    assert unscoped(sql, assume_scoped=["billing_invoice"], embedded=True) == ["billing_lineitem"]


def test_containment_operators_are_one_token() -> None:
    assert [t.text for t in tokenize("a <<= b >>= c << d >> e")] == ["a", "<<=", "b", ">>=", "c", "<<", "d", ">>", "e"]
    assert normalise("SELECT 1 FROM t WHERE p <<= q") == "SELECT 1 FROM t WHERE p <<= q"


@pytest.mark.parametrize(
    ("sql", "held", "expected"),
    [
        ("SELECT * FROM billing_lineitem WHERE invoice_id = %s", ["0"], []),
        ("SELECT * FROM billing_lineitem WHERE invoice_id = %s", [], ["billing_lineitem"]),
        ("SELECT * FROM billing_lineitem WHERE status = %s AND invoice_id = %s", ["0"], ["billing_lineitem"]),
        ("SELECT * FROM billing_lineitem WHERE status = %s AND invoice_id = %s", ["1"], []),
        ("SELECT * FROM billing_lineitem WHERE invoice_id = :inv", ["inv"], []),
        ("SELECT * FROM billing_lineitem WHERE invoice_id = %(inv)s", ["inv"], []),
        ("SELECT * FROM billing_lineitem WHERE invoice_id = $2 AND a = $1", ["1"], []),
        ("UPDATE billing_invoice SET status = 'x' WHERE id = %s", ["0"], []),
        ("UPDATE billing_invoice SET status = 'x' WHERE number = %s", ["0"], ["billing_invoice"]),
        (
            "SELECT r.* FROM billing_refund r JOIN billing_lineitem li ON li.id = r.line_item_id "
            "WHERE li.invoice_id = %s",
            ["0"],
            [],
        ),
        # the parent of a row reached from the object in hand, and rows joined to that parent
        (
            "SELECT i.number, r.id FROM billing_invoice i JOIN billing_lineitem li ON li.invoice_id = i.id "
            "JOIN billing_refund r ON r.line_item_id = li.id WHERE li.id = %s",
            ["0"],
            [],
        ),
        (
            "SELECT i.number FROM billing_invoice i JOIN billing_lineitem li ON li.invoice_id = i.id WHERE li.id = %s",
            [],
            ["billing_invoice", "billing_lineitem"],
        ),
        # a join on another column (an email, a name) leaves the held object's relations
        (
            "SELECT i.number FROM billing_invoice i JOIN billing_lineitem li ON li.description = i.number "
            "WHERE li.id = %s",
            ["0"],
            ["billing_invoice"],
        ),
    ],
)
def test_ids_of_objects_in_hand(sql: str, held: list[str], expected: list[str]) -> None:
    assert unscoped(sql, held_params=held) == expected


def test_param_keys() -> None:
    toks = tokenize("a = %s AND b = %(x)s AND c = ? AND d = :y AND e = $3 AND f = %s")
    assert list(param_keys(toks).values()) == ["0", "x", "1", "y", "2", "2"]  # $3 is the third, 0-based


def test_report_carries_the_rule() -> None:
    (use,) = analyse("DELETE FROM billing_lineitem WHERE id = %s", SCHEMA).unscoped
    assert use.operation == "delete" and use.rule is not None and use.rule.model == "LineItem"
    assert use.rule.parents == (("invoice_id", "billing_invoice"),)


def test_does_not_blow_up_on_garbage() -> None:
    for sql in ["(((", ")))", "SELECT FROM WHERE", "WITH", "WITH x AS", "INSERT INTO", "UPDATE SET", "'", '"', "$$"]:
        analyse(sql, SCHEMA)
    deep = "SELECT * FROM billing_invoice WHERE " + "(" * 200 + "organization_id = %s" + ")" * 200
    assert not analyse(deep, SCHEMA).unscoped


# -- ORG601 end to end: which calls, which strings ----------------------------------------------------

DJANGO_MODELS = """
from django.db import models


class Organization(models.Model):
    name = models.CharField(max_length=100)


class Invoice(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    number = models.CharField(max_length=20)


class LineItem(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE)
"""

SA_MODELS = """
from sqlalchemy import ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Organization(Base):
    __tablename__ = "orgs"
    id: Mapped[int] = mapped_column(primary_key=True)


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
"""


def findings(project: Path, files: dict[str, str]) -> list[tuple[str, int, str]]:
    for rel, text in files.items():
        target = project / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    loaded = load_project(project, select=["ORG601"])
    result = run(loaded, [project], jobs=1, cwd=project)
    assert not result.errors
    return [(f.path, f.line, f.message) for f in result.findings]


def lines(project: Path, source: str, models: str = DJANGO_MODELS, rel: str = "billing/queries.py") -> list[int]:
    found = findings(project, {"billing/__init__.py": "", "billing/models.py": models, rel: source})
    return [line for path, line, _ in found if path.endswith(rel.rsplit("/", 1)[-1])]


def test_default_table_name_and_message(project: Path) -> None:
    src = """
    from django.db import connection


    def totals(status):
        with connection.cursor() as cursor:
            cursor.execute("SELECT sum(x) FROM billing_invoice WHERE status = %s", [status])
    """
    found = findings(project, {"billing/__init__.py": "", "billing/models.py": DJANGO_MODELS, "billing/q.py": src})
    assert len(found) == 1
    path, line, message = found[0]
    assert (path, line) == ("billing/q.py", 6)
    assert "billing_invoice (Invoice)" in message and "organization_id" in message
    assert "in totals()" in message and 'add "AND organization_id = %s" bound to current_org().org_id' in message
    assert ".for_org(current_org())" in message


def test_owned_through_parent_message(project: Path) -> None:
    src = """
    def items(cursor, pk):
        cursor.execute("SELECT * FROM billing_lineitem li WHERE li.invoice_id = %s", [pk])
    """
    found = findings(project, {"billing/__init__.py": "", "billing/models.py": DJANGO_MODELS, "billing/q.py": src})
    (message,) = [m for _, _, m in found]
    assert "billing_lineitem (LineItem) with no join to a tenant-scoped billing_invoice (through invoice_id)" in message
    assert "join billing_invoice ON billing_invoice.id = li.invoice_id" in message


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # literals, concatenation, implicit concatenation
        ('def f(c):\n    c.execute("SELECT * FROM billing_invoice")\n', [2]),
        ('def f(c):\n    c.execute("SELECT * " "FROM billing_invoice")\n', [2]),
        ('def f(c):\n    c.execute("SELECT * " + "FROM billing_invoice WHERE id = " + str(1))\n', [2]),
        # a local variable: one reaching assignment, straight-line +=
        ('def f(c):\n    q = "SELECT * FROM billing_invoice"\n    c.execute(q)\n', [3]),
        (
            'def f(c):\n    q = "SELECT * FROM billing_invoice"\n    q += " WHERE organization_id = %s"\n    c.execute(q)\n',
            [],
        ),
        ('def f(c):\n    q = "SELECT * FROM billing_invoice"\n    q += " WHERE id = %s"\n    c.execute(q)\n', [4]),
        # changed on one path only, or assigned in one branch: not resolved
        (
            'def f(c, org):\n    q = "SELECT * FROM billing_invoice"\n    if org:\n'
            '        q += " WHERE organization_id = %s"\n    c.execute(q)\n',
            [],
        ),
        (
            'def f(c, a):\n    if a:\n        q = "SELECT * FROM billing_invoice"\n    else:\n'
            '        q = "SELECT 1"\n    c.execute(q)\n',
            [],
        ),
        ("def f(c, q):\n    c.execute(q)\n", []),
        ("def f(c):\n    for q in QUERIES:\n        c.execute(q)\n", []),
        # the value at the call, not a later one
        ('def f(c):\n    q = "SELECT 1"\n    c.execute(q)\n    q = "SELECT * FROM billing_invoice"\n', []),
        # module and class constants
        ('Q = "SELECT * FROM billing_invoice"\n\n\ndef f(c):\n    c.execute(Q)\n', [5]),
        ('Q = "SELECT * FROM billing_invoice"\nQ = "SELECT 1"\n\n\ndef f(c):\n    c.execute(Q)\n', []),
        ('class R:\n    Q = "SELECT * FROM billing_invoice"\n\n    def f(self, c):\n        c.execute(self.Q)\n', [5]),
        # %, .format(), f-strings, dedent, join
        ('def f(c, pk):\n    c.execute("SELECT * FROM billing_invoice WHERE id = %d" % pk)\n', [2]),
        ('def f(c, t):\n    c.execute("SELECT * FROM %s WHERE id = 1" % t)\n', []),
        ('def f(c, org):\n    c.execute("SELECT * FROM billing_invoice WHERE organization_id = %s" % org)\n', []),
        ('def f(c, w):\n    c.execute("SELECT * FROM billing_invoice WHERE {}".format(w))\n', []),
        ('def f(c, pk):\n    c.execute("SELECT * FROM billing_invoice WHERE id = {pk}".format(pk=pk))\n', [2]),
        ('def f(c, pk):\n    c.execute(f"SELECT * FROM billing_invoice WHERE id = {pk}")\n', [2]),
        ('def f(c, w):\n    c.execute(f"SELECT * FROM billing_invoice WHERE {w}")\n', []),
        ('def f(c, t):\n    c.execute(f"SELECT * FROM {t} WHERE id = 1")\n', []),
        ('T = "billing_invoice"\n\n\ndef f(c):\n    c.execute(f"SELECT * FROM {T}")\n', [5]),
        ("def f(c):\n    c.execute(f\"SELECT * FROM billing_invoice WHERE a = '{{x}}'\")\n", [2]),
        (
            'import textwrap\n\n\ndef f(c):\n    c.execute(textwrap.dedent("""\n        SELECT *\n'
            '        FROM billing_invoice\n    """))\n',
            [5],
        ),
        ('def f(c):\n    c.execute(" ".join(["SELECT *", "FROM billing_invoice"]))\n', [2]),
        # SQL keyword arguments and executemany
        ('def f(c):\n    c.executemany(sql="DELETE FROM billing_invoice WHERE id = %s", seq_of_parameters=[])\n', [2]),
        # not SQL, or not a statement
        ('def f(c):\n    c.execute("organization_id = 1")\n', []),
        ('def f(c):\n    c.execute(["SELECT * FROM billing_invoice"])\n', []),
        # strings that are not executed: docstrings, comments, other calls
        ('def f(c):\n    """SELECT * FROM billing_invoice"""\n    # c.execute("SELECT * FROM billing_invoice")\n', []),
        ('def f(log):\n    log.info("SELECT * FROM billing_invoice")\n', []),
        # a bare function named execute is not a cursor
        ('def f():\n    execute("SELECT * FROM billing_invoice")\n', []),
        # alembic's op.execute is a migration
        ('from alembic import op\n\n\ndef upgrade():\n    op.execute("UPDATE billing_invoice SET number = 1")\n', []),
    ],
)
def test_string_resolution(project: Path, source: str, expected: list[int]) -> None:
    assert lines(project, source) == expected


def test_django_raw_rawsql_and_extra(project: Path) -> None:
    src = """
    from django.db.models.expressions import RawSQL

    from billing.models import Invoice, LineItem

    COUNT = RawSQL("SELECT count(*) FROM billing_lineitem WHERE billing_lineitem.invoice_id = billing_invoice.id", ())
    TOTAL = RawSQL("SELECT count(*) FROM billing_invoice", ())


    def f(org, pk):
        a = Invoice.objects.raw("SELECT * FROM billing_invoice WHERE id = %s", [pk])
        b = Invoice.objects.raw("SELECT * FROM billing_invoice WHERE organization_id = %s", [org])
        c = Invoice.objects.filter(organization=org).extra(where=["number LIKE 'A%%'"])
        d = Invoice.objects.filter(organization=org).extra(
            select={"n": "SELECT count(*) FROM billing_lineitem WHERE billing_lineitem.invoice_id = billing_invoice.id"}
        )
        e = LineItem.objects.extra(tables=["billing_invoice"], where=["billing_invoice.number = %s"])
        return a, b, c, d, e
    """
    assert lines(project, src) == [6, 10, 16]


def test_correlated_rawsql_and_extra_are_not_reported_but_the_same_text_run_alone_is(project: Path) -> None:
    src = """
    from django.db import connection
    from django.db.models.expressions import RawSQL

    from billing.models import Invoice, Organization

    NEAR = RawSQL("SELECT COUNT(*) FROM billing_invoice WHERE billing_invoice.number LIKE billing_organization.name || '%%'", ())
    COUNT = "SELECT COUNT(*) FROM billing_invoice i WHERE i.number <<= billing_organization.name"


    def f(org):
        a = Organization.objects.filter(pk=org.pk).annotate(n=RawSQL(COUNT, ()))
        b = Organization.objects.filter(pk=org.pk).extra(select={"n": COUNT})
        c = Organization.objects.extra(select={"n": "SELECT COUNT(*) FROM billing_invoice WHERE status = 'x'"})
        d = Invoice.objects.raw(COUNT)
        with connection.cursor() as cursor:
            cursor.execute(COUNT)
        return a, b, c, d
    """
    assert lines(project, src) == [13, 14, 16]


def test_raw_is_judged_by_its_sql_not_as_an_orm_query(project: Path) -> None:
    src = """
    from billing.models import Invoice


    def invoice_detail(request, pk):
        a = Invoice.objects.raw("SELECT * FROM billing_invoice WHERE organization_id = %s AND id = %s", [1, pk])
        b = Invoice.objects.raw("SELECT * FROM billing_invoice WHERE id = %s", [pk])
        return a, b
    """
    files = {"billing/__init__.py": "", "billing/models.py": DJANGO_MODELS, "billing/views.py": src}
    for rel, text in files.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    loaded = load_project(project, select=["ORG101", "ORG601"])
    got = [(f.line, f.code) for f in run(loaded, [project], jobs=1, cwd=project).findings]
    assert got == [(6, "ORG601")]


def test_sqlalchemy_text_is_reported_where_it_is_built(project: Path) -> None:
    src = """
    import sqlalchemy as sa
    from sqlalchemy import text


    def f(session, conn, engine, pk, org):
        stmt = text("SELECT * FROM projects WHERE id = :id")
        session.execute(stmt, {"id": pk})
        session.execute(text("SELECT * FROM projects WHERE org_id = :org"), {"org": org})
        conn.execute(sa.text("DELETE FROM projects WHERE id = :id"), {"id": pk})
        conn.exec_driver_sql("UPDATE projects SET name = 'x' WHERE id = %s", (pk,))
        engine.execute("SELECT name FROM projects")
    """
    assert lines(project, src, SA_MODELS, rel="app/queries.py") == [6, 9, 10, 11]
    found = findings(project, {})
    messages = [m for _, line, m in found if line == 6]
    assert messages and 'add "AND org_id = :org_id"' in messages[0]


def test_ids_of_objects_in_hand_are_relations(project: Path) -> None:
    src = """
    from sqlalchemy import text

    from billing.models import Invoice


    class Report:
        def lines(self, cursor, invoice, invoice_id, request):
            cursor.execute("SELECT * FROM billing_lineitem WHERE invoice_id = %s", [invoice.id])
            cursor.execute("SELECT * FROM billing_lineitem WHERE invoice_id = %s", [str(invoice.pk)])
            cursor.execute("UPDATE billing_invoice SET number = %s WHERE id = %s", (invoice.number, invoice.pk))
            cursor.execute("SELECT * FROM billing_lineitem WHERE invoice_id = %s", [invoice_id])
            cursor.execute("SELECT * FROM billing_lineitem WHERE invoice_id = %s", [request.GET.id])
            cursor.execute("SELECT * FROM billing_lineitem WHERE invoice_id = %s", [self.request.id])
            cursor.execute("UPDATE billing_invoice SET number = %s WHERE id = %s", (invoice.pk, invoice.number))

        def by_text(self, session, invoice):
            session.execute(text("SELECT * FROM billing_lineitem WHERE invoice_id = :i"), {"i": invoice.id})
            session.execute(text("SELECT * FROM billing_lineitem WHERE invoice_id = :i"), {"j": invoice.id})
    """
    assert lines(project, src) == [11, 12, 13, 14, 18]


def test_alembic_scripts_are_migrations(project: Path) -> None:
    src = """
    import sqlalchemy as sa
    from alembic import op


    def upgrade():
        conn = op.get_bind()
        conn.execute(sa.text("UPDATE projects SET name = lower(name)"))
    """
    assert lines(project, src, SA_MODELS, rel="alembic/versions/0001_names.py") == []


def test_pathological_strings_do_not_hang_or_crash(project: Path) -> None:
    chain = "\n".join(f"A{i} = A{i - 1} + A{i - 1}" for i in range(1, 60))
    deep = "(" * 3000 + "1" + ")" * 3000
    src = f"""
A0 = "SELECT * FROM billing_invoice WHERE organization_id = %s "
{chain}
CYCLE_A = CYCLE_B
CYCLE_B = CYCLE_A


def f(c):
    c.execute(A59)
    c.execute(CYCLE_A)
    c.execute("SELECT * FROM billing_invoice WHERE organization_id = %s AND x = {deep}")
"""
    found = findings(project, {"billing/__init__.py": "", "billing/models.py": DJANGO_MODELS, "billing/q.py": src})
    assert [f for f in found if f[0] == "billing/q.py"] == []


def test_text_not_from_sqlalchemy_is_not_sql(project: Path) -> None:
    src = """
    from myapp.i18n import text


    def f():
        return text("SELECT * FROM projects")
    """
    assert lines(project, src, SA_MODELS, rel="app/labels.py") == []


def test_tests_and_migrations_are_exempt(project: Path) -> None:
    src = 'def test_it(c):\n    c.execute("SELECT * FROM billing_invoice")\n'
    assert lines(project, src, rel="tests/test_raw.py") == []
    assert lines(project, src, rel="billing/migrations/0002_data.py") == []


def test_no_tenant_models_no_findings(project: Path) -> None:
    src = 'def f(c):\n    c.execute("SELECT * FROM billing_invoice")\n'
    found = findings(project, {"app/q.py": src})
    assert found == []


def test_merge_writes_its_target_reads_its_source_and_on_scopes_it() -> None:
    """``MERGE`` (PostgreSQL 15, SQL Server, Oracle): the ``ON`` condition picks the target rows it updates
    or deletes, as an ``UPDATE``'s ``WHERE`` does; ``TABLE name`` is ``SELECT * FROM name``."""
    merge = "MERGE INTO billing_invoice t USING staging s ON t.id = s.id{extra} WHEN MATCHED THEN UPDATE SET total = s.total"
    assert unscoped(merge.format(extra="")) == ["billing_invoice"]
    assert unscoped(merge.format(extra=" AND t.organization_id = %s")) == []
    report = analyse(merge.format(extra=""), SCHEMA)
    assert {(u.table, u.operation) for u in report.uses} == {("billing_invoice", "update"), ("staging", "read")}
    assert is_statement("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE")
    assert unscoped("TABLE billing_invoice") == ["billing_invoice"]
