"""ORG302 global-query-in-job: an unscoped query on tenant models inside a background job or command."""

from __future__ import annotations

from orgguard.checkers._surface import SurfaceQueryChecker
from orgguard.engine.facts import Surface


class JobQueryChecker(SurfaceQueryChecker):
    """A job runs for whoever enqueued it: it must receive the org and scope every query by it."""

    codes = ("ORG302",)
    surface = Surface.JOB
    where = "in job"
    fix = "pass the org to the job (orgguard.runtime.jobs.org_job) and filter by {field}"
