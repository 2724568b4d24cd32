"""The host app's membership check: role name, or None for non-members and unknown orgs."""

from __future__ import annotations

from rt_djapp.models import Membership


def membership(user, org_id):
    try:
        org_pk = int(org_id)
    except (TypeError, ValueError):
        return None
    return Membership.objects.filter(user=user, organization_id=org_pk).values_list("role", flat=True).first()
