"""orgguard.runtime.exports and orgguard.runtime.jobs."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import queue
import threading
from dataclasses import dataclass

import pytest
from rt_support import make_ctx

from orgguard.runtime import Actor, CrossOrgAccess, NoActiveOrg, NotAMember, bind, current_org
from orgguard.runtime.exports import export_rows
from orgguard.runtime.jobs import JOB_CTX_KWARG, context_from_job, job_kwargs, org_job

# --------------------------------------------------------------------------- exports


@dataclass
class Row:
    organization_id: object
    number: str


@dataclass
class OrgObj:
    pk: int


@dataclass
class FkRow:
    organization: OrgObj
    number: str


def test_export_rows_passes_own_rows_through():
    rows = [{"organization_id": 10, "number": "a"}, {"organization_id": "10", "number": "b"}]
    assert list(export_rows(rows, org=10)) == rows
    objs = [Row(10, "a"), Row(10, "b")]
    assert list(export_rows(objs, org=make_ctx(10))) == objs
    fk = [FkRow(OrgObj(10), "a")]
    assert list(export_rows(fk, org=10, org_attr="organization")) == fk
    assert list(export_rows([], org=10)) == []


@pytest.mark.parametrize(
    "foreign",
    [
        {"organization_id": 11, "number": "x"},
        {"organization_id": None, "number": "x"},
        {"organization_id": True, "number": "x"},
        {"number": "x"},
        Row(11, "x"),
        Row(None, "x"),
        object(),
    ],
)
def test_export_rows_raises_on_any_foreign_row(foreign):
    rows = [{"organization_id": 10, "number": "a"}, foreign, {"organization_id": 10, "number": "c"}]
    iterator = export_rows(rows, org=10)
    assert next(iterator)["number"] == "a"
    with pytest.raises(CrossOrgAccess):
        next(iterator)


def test_export_stream_stops_before_writing_a_foreign_row():
    def rows():
        yield {"organization_id": 10, "number": "own-1"}
        yield {"organization_id": 10, "number": "own-2"}
        yield {"organization_id": 11, "number": "FOREIGN"}

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["organization_id", "number"])
    with pytest.raises(CrossOrgAccess):
        writer.writerows(export_rows(rows(), org=make_ctx(10)))
    assert "own-2" in out.getvalue() and "FOREIGN" not in out.getvalue()


def test_export_rows_checks_its_arguments_at_the_call():
    for bad in (None, "", 0):
        with pytest.raises(NoActiveOrg):
            export_rows([], org=bad)
    with pytest.raises(ValueError):
        export_rows([], org=10, org_attr="")


# --------------------------------------------------------------------------- jobs


def test_org_job_binds_the_serialized_context():
    calls = []

    @org_job
    def send_dunning(*, days: int) -> int:
        ctx = current_org()
        calls.append((ctx.org_id, ctx.actor, ctx.role, ctx.source, days))
        return days * 2

    ctx = make_ctx(10, user_id=7, role="owner")
    kwargs = json.loads(json.dumps(job_kwargs(ctx)))  # what a broker does to the arguments
    assert send_dunning(days=3, **kwargs) == 6
    assert calls == [(10, Actor("user", 7), "owner", "job", 3)]
    with pytest.raises(NoActiveOrg):
        current_org()  # no leak after the job


def test_org_job_refuses_to_run_without_an_org():
    ran = []

    @org_job
    def nightly() -> None:
        ran.append(True)

    with pytest.raises(NoActiveOrg):
        nightly()
    assert ran == []


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "10",
        {},
        {"org_id": 10},
        {"org_id": "", "actor": {"kind": "user", "id": 1}, "role": "member"},
        {"org_id": 10, "actor": {"kind": "", "id": 1}, "role": "member"},
        {"org_id": 10, "actor": {"kind": "user", "id": None}, "role": "member"},
        {"org_id": 10, "actor": {"kind": "user", "id": 1}, "role": ""},
        {"org_id": [10], "actor": {"kind": "user", "id": 1}, "role": "member"},
    ],
)
def test_malformed_job_contexts_are_refused(payload):
    @org_job
    def job() -> None:
        raise AssertionError("must not run")

    with pytest.raises(NoActiveOrg):
        job(**{JOB_CTX_KWARG: payload})
    if payload is not None:
        with pytest.raises(NoActiveOrg):
            context_from_job(payload)


def test_org_id_kwarg_for_fanned_out_jobs():
    @org_job
    def wants_org_id(*, org_id: int) -> tuple[object, object, str]:
        ctx = current_org()
        return org_id, ctx.org_id, str(ctx.actor)

    @org_job
    def ignores_org_id() -> object:
        return current_org().org_id

    value, bound, actor = wants_org_id(org_id=12)
    assert (value, bound) == (12, 12)
    assert actor == f"system:{__name__}.test_org_id_kwarg_for_fanned_out_jobs.<locals>.wants_org_id"
    assert ignores_org_id(org_id=13) == 13
    with pytest.raises(CrossOrgAccess):
        wants_org_id(org_id=14, **job_kwargs(make_ctx(15)))
    assert wants_org_id(org_id=15, **job_kwargs(make_ctx(15)))[1] == 15
    for bad in (None, "", 0, 1.5):
        with pytest.raises(NoActiveOrg):
            ignores_org_id(org_id=bad)

    @org_job(org_id_kwarg=None)
    def strict() -> None:
        pass

    with pytest.raises(NoActiveOrg):
        strict()


def test_verify_hook_and_eager_runs_inside_another_org():
    still_member = {10}

    @org_job(verify=lambda ctx: ctx.org_id in still_member)
    def job() -> object:
        return current_org().org_id

    assert job(**job_kwargs(make_ctx(10))) == 10
    still_member.clear()
    with pytest.raises(NotAMember):
        job(**job_kwargs(make_ctx(10)))

    @org_job
    def eager() -> object:
        return current_org().org_id

    with bind(make_ctx(20)):
        assert eager(**job_kwargs(make_ctx(20))) == 20
        with pytest.raises(CrossOrgAccess):
            eager(**job_kwargs(make_ctx(21)))


def test_async_jobs():
    @org_job
    async def job(*, n: int) -> tuple[object, int]:
        await asyncio.sleep(0)
        return current_org().org_id, n

    async def main():
        results = await asyncio.gather(*(job(n=i, **job_kwargs(make_ctx(i))) for i in range(1, 51)))
        with pytest.raises(NoActiveOrg):
            await job(n=0)
        return results

    assert asyncio.run(main()) == [(i, i) for i in range(1, 51)]


def test_worker_pool_runs_jobs_for_many_orgs():
    """A minimal broker: JSON messages on a queue, consumed by worker threads."""
    broker: queue.Queue[str | None] = queue.Queue()
    results: dict[int, object] = {}
    lock = threading.Lock()

    @org_job
    def rebuild_report(*, report: int) -> None:
        with lock:
            results[report] = current_org().org_id

    def worker() -> None:
        while (message := broker.get()) is not None:
            rebuild_report(**json.loads(message))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for org in range(1, 101):
        broker.put(json.dumps({"report": org, **job_kwargs(make_ctx(org))}))
    for _ in threads:
        broker.put(None)
    for thread in threads:
        thread.join(timeout=30)
    assert results == {org: org for org in range(1, 101)}


def test_job_kwargs_needs_a_context():
    with pytest.raises(TypeError):
        job_kwargs(10)


def test_job_signature_advertises_the_org_keywords():
    import inspect

    @org_job
    def job(report: int, *, days: int = 1) -> None:
        pass

    @org_job
    def takes_org_id(*, org_id: int, **extra: object) -> None:
        pass

    params = inspect.signature(job).parameters
    assert list(params) == ["report", "days", JOB_CTX_KWARG, "org_id"]
    assert params[JOB_CTX_KWARG].kind is inspect.Parameter.KEYWORD_ONLY
    assert list(inspect.signature(takes_org_id).parameters) == ["org_id", JOB_CTX_KWARG, "extra"]
    inspect.signature(job).bind(1, days=2, **job_kwargs(make_ctx(1)))  # what a queue's argument check does
