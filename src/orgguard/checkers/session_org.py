"""ORG105 unverified-session-org: an org id from the session used without re-checking membership."""

from __future__ import annotations

from orgguard.checkers.org_from_request import OrgFromRequestChecker
from orgguard.engine.flow import SESSION


class SessionOrgChecker(OrgFromRequestChecker):
    """The session remembers which org was active, not whether the user still belongs to it.

    The same tenant sinks as ORG102; only the kind of source differs (DESIGN: ORG105 replaces ORG102
    when the source is the session).
    """

    codes = ("ORG105",)
    kind = SESSION
