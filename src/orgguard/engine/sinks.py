"""Where a tenant is picked: the sinks shared by the org-source rules (ORG102, ORG105, ORG201).

A *tenant sink* is a lookup that selects the tenant: a lookup on the tenant model itself
(``Organization.objects.get(pk=...)``), a tenant predicate on a tenant-owned model
(``Invoice.objects.filter(organization_id=...)``), or a call to a project helper that looks the tenant
up without checking membership. The rules differ only in the kind of source reaching the sink.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from orgguard.engine import vocab
from orgguard.engine.context import FileContext, dotted_name
from orgguard.engine.facts import FunctionFacts
from orgguard.engine.flow import Taint
from orgguard.engine.queries import QueryChain, QueryModel
from orgguard.engine.vocab import lookup_key_scopes


@dataclass(frozen=True)
class TenantSink:
    """Untrusted input reaching a lookup that selects the tenant; the message shows ``call`` and ``key``
    through the rule's ``sink_<kind>`` template."""

    node: cst.CSTNode
    taint: Taint
    kind: str  # "lookup" (a tenant predicate), "write" (the tenant a write stores), "resolver" (a project helper)
    call: str  # the query as written, or the helper's name
    key: str  # the lookup or write key, or the helper's parameter
    model: str


def _tenant_writes(ctx: FileContext, chain: QueryChain) -> list[tuple[str, cst.BaseExpression]]:
    """``update(organization_id=...)``, ``create(organization=...)``: the tenant a write puts rows in."""
    paths = [p for p in ctx.index.tenant_paths.get(chain.model, ()) if "__" not in p]
    out: list[tuple[str, cst.BaseExpression]] = []
    for link in chain.links:
        if link.call is None or link.name not in ctx.knowledge["queries.write_methods"]:
            continue
        for arg in link.call.args:
            if arg.keyword is not None and lookup_key_scopes(arg.keyword.value, paths):
                out.append((arg.keyword.value, arg.value))
            elif arg.keyword is not None and arg.keyword.value == "defaults" and isinstance(arg.value, cst.Dict):
                for el in arg.value.elements:
                    if isinstance(el, cst.DictElement) and isinstance(el.key, cst.SimpleString):
                        key = el.key.evaluated_value
                        if isinstance(key, str) and lookup_key_scopes(key, paths):
                            out.append((key, el.value))
    return out


def _discarded_fetch(ctx: FileContext, chain: QueryChain, stmt: cst.CSTNode | None) -> bool:
    """A fetch of one row whose statement throws the row away (``Workspace.objects.get(slug=slug)`` as a
    statement of its own, in a ``try`` that answers "not found" or "not a member"): it tells whether such a row
    exists, as ``exists()`` does, and hands nothing of it on. A write (``delete()``, ``update()``) is no fetch."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1 or not isinstance(stmt.body[0], cst.Expr):
        return False
    value = stmt.body[0].value
    if isinstance(value, cst.Await):
        value = value.expression
    if value is not chain.top:
        return False
    last = next((link.name for link in reversed(chain.links) if link.call is not None), "")
    if chain.via == "shortcut":
        return "list" not in chain.base_name  # get_object_or_404(Workspace, slug=slug): one row, or a 404
    return last in ctx.knowledge["queries.row_fetches"] or (chain.via == "manager" and last == "get")


def find_tenant_sinks(
    ctx: FileContext, queries: QueryModel, facts: FunctionFacts | None, call: cst.Call
) -> list[TenantSink]:
    """Untrusted values reaching a tenant sink at ``call`` (empty inside membership-guarded handlers).

    ``facts``: those of the outermost function around ``call`` (None at module or class level).
    """
    if facts is None or facts.guarded:
        return []
    flow = facts.flow(ctx, queries)
    stmt = ctx.scope.statement
    out: list[TenantSink] = []
    chain = queries.chain(call)
    if chain is not None and chain.links and chain.links[-1].name in vocab.AGGREGATES:
        return out  # `Organization.objects.filter(slug=slug).exists()`: a yes or no, no tenant resolved
    if chain is not None and _discarded_fetch(ctx, chain, stmt):
        return out  # `Workspace.objects.get(slug=slug)` alone, to pick an error message: a yes or no too
    if chain is not None:
        written = _tenant_writes(ctx, chain)
        for key, expr in written:
            value = flow.value(expr, stmt)
            taint = value.first() if value.tainted else None
            if taint is not None:
                return [TenantSink(chain.anchor, taint, "write", chain.display, key, chain.model)]
        if queries.account_lookup(chain):
            return out  # sign-in finds the account by its login first: the tenant is the one it signs in to
        owned = ctx.index.is_tenant_owned(chain.model)
        if owned and queries.own_rows(chain):
            return out  # `UserFavorite.objects.filter(user=request.user, workspace__slug=slug)`: the user's own rows
        if chain.model in ctx.index.tenant_models and any(
            vocab.is_key_lookup(key) and flow.value(expr, stmt).trusted for key, expr in queries.lookups(chain)
        ):
            return out  # `Organization.objects.get(id=request.org.id, name=name)`: the verified tenant, or none
        if (owned or chain.model in ctx.index.tenant_models) and not flow.is_membership_query(call):
            for key, expr in queries.tenant_lookups(chain):
                value = flow.value(expr, stmt)
                taint = value.first() if value.tainted else None
                if taint is not None:
                    out.append(TenantSink(chain.anchor, taint, "lookup", chain.display, key, chain.model))
                    break
        return out
    summary = flow.summary_for(call)
    if summary is None or not summary.resolves_unverified:
        return out
    offset = 1 if isinstance(call.func, cst.Attribute) and summary.params[:1] in (("self",), ("cls",)) else 0
    for index, arg in enumerate(call.args):
        if arg.star:
            continue
        param = (
            arg.keyword.value
            if arg.keyword
            else (summary.params[index + offset] if index + offset < len(summary.params) else "")
        )
        if param not in summary.resolves_unverified:
            continue
        value = flow.value(arg.value, stmt)
        taint = value.first() if value.tainted else None
        if taint is not None:
            tenant = sorted(ctx.index.tenant_models)[0] if ctx.index.tenant_models else "tenant"
            name = dotted_name(call.func) or summary.name
            # the rule's message says what is missing ("without a membership check"); the sink names the lookup
            out.append(TenantSink(call, taint, "resolver", name, param, tenant))
            break
    return out
