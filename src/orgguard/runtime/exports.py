"""Exports that cannot spill another tenant's rows into a file."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar

from orgguard.runtime._context import OrgContext, OrgId, check_org_id
from orgguard.runtime.errors import CrossOrgAccess

__all__ = ["export_rows"]

_Row = TypeVar("_Row")

_MISSING = object()


def _row_org(row: object, org_attr: str) -> object:
    if isinstance(row, Mapping):
        return row.get(org_attr, _MISSING)
    return getattr(row, org_attr, _MISSING)


def export_rows(rows: Iterable[_Row], *, org: OrgContext | OrgId, org_attr: str = "organization_id") -> Iterator[_Row]:
    """Yield ``rows`` unchanged, raising :class:`CrossOrgAccess` at the first foreign row.

    Each row (a mapping or an object) must carry ``org_attr`` equal to ``org``'s id.
    The value may be the id itself or a related object with a ``pk`` (e.g. Django's
    ``organization``); ints and their decimal strings compare equal.  A row without the
    attribute, or with ``None``, is treated as foreign: an export must prove every row
    belongs to the org, not merely fail to find evidence against it.

    The check is lazy, row by row, so it also guards streamed responses; wrap the
    iterator you write out, not a list you built earlier::

        writer.writerows(export_rows(invoices.values(), org=current_org()))
    """
    ctx_org = org.org_id if isinstance(org, OrgContext) else check_org_id(org)
    if not isinstance(org_attr, str) or not org_attr:
        raise ValueError("export_rows() needs the name of the org attribute")
    # Arguments are checked now, at the call; rows are checked as they are consumed.
    return _checked(rows, ctx_org, org_attr)


def _checked(rows: Iterable[_Row], ctx_org: OrgId, org_attr: str) -> Iterator[_Row]:
    expected = str(ctx_org)
    for index, row in enumerate(rows):
        value = _row_org(row, org_attr)
        if value is _MISSING:
            raise CrossOrgAccess(f"export row {index} has no {org_attr!r}; cannot prove it belongs to org {ctx_org!r}")
        pk = getattr(value, "pk", value)
        if pk is None or isinstance(pk, bool) or str(pk) != expected:
            raise CrossOrgAccess(f"export row {index} belongs to org {pk!r}, not {ctx_org!r}")
        yield row
