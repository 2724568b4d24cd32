"""ORG302 global-query-in-job: an unscoped query on tenant models inside a background job or command."""

from __future__ import annotations

from orgguard.checkers._surface import SurfaceQueryChecker
from orgguard.engine.facts import Surface
from orgguard.engine.queries import QueryChain

WRITES = frozenset({"update", "delete", "create", "bulk_update", "bulk_create", "update_or_create", "values"})


class JobQueryChecker(SurfaceQueryChecker):
    """A job runs for whoever enqueued it: it must receive the org and scope every query by it."""

    codes = ("ORG302",)
    surface = Surface.JOB
    where = "in job"
    fix = "pass the org to the job (orgguard.runtime.jobs.org_job) and filter by {field}"

    def report_query(self, chain: QueryChain, where: str, by: str) -> None:
        facts = self.analysis.current_facts()
        writes = any(link.name in WRITES for link in chain.links) or chain.base_name in ("update", "delete")
        if facts is not None and facts.command and not writes:
            # an operator command reading across tenants (a status report, a migration listing) is by
            # design; a command that changes every tenant's rows is not
            return
        super().report_query(chain, where, by)
