"""Helpers shared by the orgguard.runtime tests (importable: conftest puts this folder on sys.path)."""

from __future__ import annotations

from orgguard.runtime import Actor, OrgContext


def make_ctx(org_id: int | str, user_id: int | str = 1, role: str = "member") -> OrgContext:
    """A verified-looking OrgContext for tests (the resolvers are tested on their own)."""
    return OrgContext(org_id, Actor("user", user_id), role, "test")
