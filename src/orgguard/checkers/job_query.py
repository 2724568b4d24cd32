"""ORG302 global-query-in-job: an unscoped query on tenant models inside a background job or command."""

from __future__ import annotations

from orgguard.checkers._surface import SurfaceQueryChecker
from orgguard.engine.facts import Surface
from orgguard.engine.findings import TraceStep
from orgguard.engine.queries import QueryChain
from orgguard.engine.records import Reach

WRITES = frozenset({"update", "delete", "create", "bulk_update", "bulk_create", "update_or_create", "values"})


def _writes(chain: QueryChain) -> bool:
    return any(link.name in WRITES for link in chain.links) or chain.base_name in ("update", "delete")


class JobQueryChecker(SurfaceQueryChecker):
    """A job runs for whoever enqueued it: it must receive the org and scope every query by it."""

    codes = ("ORG302",)
    surface = Surface.JOB
    where = "in job"
    fix = "pass the org to the job (orgguard.runtime.jobs.org_job) and filter by {field}"

    def accepts(self, reach: Reach, chain: QueryChain) -> bool:
        # an operator command reading across tenants (a status report) is by design; writing is not
        return super().accepts(reach, chain) and (not reach.command or _writes(chain))

    def report_query(self, chain: QueryChain, where: str, by: str, trace: tuple[TraceStep, ...] = ()) -> None:
        facts = self.analysis.current_facts()
        if not trace and facts is not None and facts.command and not _writes(chain):
            # an operator command reading across tenants (a status report, a migration listing) is by
            # design; a command that changes every tenant's rows is not
            return
        super().report_query(chain, where, by, trace)
