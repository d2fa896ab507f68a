"""ListJobs filters, order and pagination against a reference filter (property-based, hypothesis), and
ListJobEvents and PurgeJobs, over real gRPC on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import progress_service_pb2 as ps
from tests.integration.progress import Stub, created, failure, progress_stub, report, threaded_progress  # noqa: F401

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
TIMES = [T0 + dt.timedelta(minutes=m) for m in range(8)]  # few distinct times: many ties on create_time
STATES = [s for s in pb.JobState.values() if s]
LABELS = {"team": ["a", "b"], "env": ["prod", "dev"]}
# Events that bring a new job to each state.
PATHS = {
    pb.JOB_STATE_PENDING: [],
    pb.JOB_STATE_RUNNING: [pb.EVENT_TYPE_STARTED],
    pb.JOB_STATE_RETRYING: [pb.EVENT_TYPE_STARTED, pb.EVENT_TYPE_RETRYING],
    pb.JOB_STATE_AWAITING_REVIEW: [pb.EVENT_TYPE_STARTED, pb.EVENT_TYPE_AWAITING_REVIEW],
    pb.JOB_STATE_PAUSED: [pb.EVENT_TYPE_STARTED, pb.EVENT_TYPE_PAUSED],
    pb.JOB_STATE_COMPLETED: [pb.EVENT_TYPE_STARTED, pb.EVENT_TYPE_COMPLETED],
    pb.JOB_STATE_FAILED: [pb.EVENT_TYPE_FAILED],
    pb.JOB_STATE_CANCELLED: [pb.EVENT_TYPE_STARTED, pb.EVENT_TYPE_PAUSED, pb.EVENT_TYPE_CANCELLED],
}


async def populate(stub: Stub, count: int = 90, seed: int = 7) -> list[pb.Job]:
    rng = random.Random(seed)
    for i in range(count):
        job_id = f"job-{rng.randrange(10**6):06d}-{i}"
        labels = {k: rng.choice(v) for k, v in LABELS.items() if rng.random() < 0.6}
        await stub.ReportProgress(created(
            job_id, at=rng.choice(TIMES), kind=rng.choice([pb.JOB_KIND_IMAGE, pb.JOB_KIND_VIDEO]),
            batch_id=rng.choice(["", "", "b1", "b2"]), labels=labels,
        ))
        for n, type in enumerate(PATHS[rng.choice(STATES)]):
            await stub.ReportProgress(report(job_id, f"e{n}", type))
    listing = await stub.ListJobs(ps.ListJobsRequest(page_size=100))
    assert listing.total_size == count and not listing.next_page_token
    return list(listing.jobs)


@pytest.fixture(scope="module")
def jobs(threaded_progress) -> list[pb.Job]:  # noqa: F811
    return threaded_progress.run(populate(threaded_progress.stub))


def reference(jobs: list[pb.Job], f: ps.JobFilter, order: int) -> list[str]:
    """What ListJobs must return, computed plainly in Python."""
    def keep(job: pb.Job) -> bool:
        created_at = job.create_time.ToDatetime(tzinfo=dt.UTC)
        return ((not f.states or job.state in f.states) and (not f.kind or job.kind == f.kind)
                and (not f.batch_id or job.batch_id == f.batch_id)
                and all(k in job.labels and job.labels[k] == v for k, v in f.labels.items())
                and (not f.HasField("created_after") or created_at >= f.created_after.ToDatetime(tzinfo=dt.UTC))
                and (not f.HasField("created_before") or created_at < f.created_before.ToDatetime(tzinfo=dt.UTC)))

    chosen = sorted((j for j in jobs if keep(j)), key=lambda j: (j.create_time.ToDatetime(), j.id))
    ids = [j.id for j in chosen]
    return ids if order == ps.LIST_ORDER_OLDEST_FIRST else ids[::-1]


@st.composite
def filters(draw) -> ps.JobFilter:
    f = ps.JobFilter(
        states=draw(st.lists(st.sampled_from(STATES), max_size=3)),
        kind=draw(st.sampled_from([0, pb.JOB_KIND_IMAGE, pb.JOB_KIND_VIDEO])),
        batch_id=draw(st.sampled_from(["", "b1", "b2", "none"])),
        labels=draw(st.dictionaries(st.sampled_from(sorted(LABELS)), st.sampled_from(["a", "b", "prod", "dev"]),
                                    max_size=2)),
    )
    for name in ("created_after", "created_before"):
        if draw(st.booleans()):
            getattr(f, name).FromDatetime(draw(st.sampled_from(TIMES)))
    return f


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(f=filters(), order=st.sampled_from([0, ps.LIST_ORDER_NEWEST_FIRST, ps.LIST_ORDER_OLDEST_FIRST]),
       size=st.integers(1, 12))
def test_filtered_pages_are_exactly_the_reference(threaded_progress, jobs, f, order, size):  # noqa: F811
    expected = reference(jobs, f, order)
    seen, token = [], ""
    for _ in range(len(expected) + 2):
        page = threaded_progress.call("ListJobs", ps.ListJobsRequest(filter=f, order=order, page_size=size,
                                                                      page_token=token))
        assert page.total_size == len(expected) and len(page.jobs) <= size
        seen += [job.id for job in page.jobs]
        token = page.next_page_token
        if not token:
            break
    assert seen == expected


def test_a_token_from_other_filters_is_invalid(threaded_progress, jobs):  # noqa: F811
    first = threaded_progress.call("ListJobs", ps.ListJobsRequest(page_size=2, filter=ps.JobFilter(kind=1)))
    for changed in (ps.ListJobsRequest(page_size=2, page_token=first.next_page_token),
                    ps.ListJobsRequest(page_size=2, page_token=first.next_page_token, filter=ps.JobFilter(kind=1),
                                       order=ps.LIST_ORDER_OLDEST_FIRST)):
        with pytest.raises(grpc.RpcError) as caught:
            threaded_progress.call("ListJobs", changed)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "page_token" in caught.value.details()
    same = threaded_progress.call("ListJobs", ps.ListJobsRequest(page_size=2, page_token=first.next_page_token,
                                                                 filter=ps.JobFilter(kind=1)))
    assert {j.id for j in same.jobs}.isdisjoint(j.id for j in first.jobs)


@pytest.fixture
async def stub(database) -> AsyncIterator[Stub]:
    async with progress_stub(database) as stub:
        yield stub


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (ps.ListJobsRequest(filter=ps.JobFilter(states=[0, 99])), ["filter.states[0]", "filter.states[1]"]),
        (ps.ListJobsRequest(filter=ps.JobFilter(kind=7, batch_id="b" * 201)), ["filter.kind", "filter.batch_id"]),
        (ps.ListJobsRequest(filter=ps.JobFilter(labels={"": "x"})), ["filter.labels[]"]),
        (ps.ListJobsRequest(filter=ps.JobFilter(created_after={"seconds": 2**60})), ["filter.created_after"]),
        (ps.ListJobsRequest(order=9, page_size=-5), ["order"]),
    ],
)
async def test_bad_filters_name_their_fields(stub, request_, fields):
    code, _, violations = await failure(stub.ListJobs(request_))
    assert (code, [f for f, _ in violations]) == (grpc.StatusCode.INVALID_ARGUMENT, fields)


async def test_job_events_page_through_the_timeline(stub):
    await stub.ReportProgress(created("j1"))
    for i in range(9):
        await stub.ReportProgress(report("j1", f"p{i}", pb.EVENT_TYPE_PROGRESS, percent=i * 10, message=f"m{i}"))
    seen, token, pages = [], "", 0
    while True:
        page = await stub.ListJobEvents(ps.ListJobEventsRequest(job_id="j1", page_size=4, page_token=token))
        seen += list(page.events)
        pages, token = pages + 1, page.next_page_token
        if not token:
            break
    everything = await stub.ListJobEvents(ps.ListJobEventsRequest(job_id="j1"))
    assert ([e.sequence for e in seen], pages) == (list(range(1, 11)), 3)
    assert list(everything.events) == seen and not everything.next_page_token
    assert (seen[0].type, seen[5].message, seen[5].percent) == (pb.EVENT_TYPE_CREATED, "m4", 40)


@pytest.mark.parametrize(
    ("request_", "code", "fields"),
    [
        (ps.ListJobEventsRequest(), grpc.StatusCode.INVALID_ARGUMENT, ["job_id"]),
        (ps.ListJobEventsRequest(job_id="j1", page_size=-1), grpc.StatusCode.INVALID_ARGUMENT, ["page_size"]),
        (ps.ListJobEventsRequest(job_id="j1", page_token="bad"), grpc.StatusCode.INVALID_ARGUMENT, ["page_token"]),
        (ps.ListJobEventsRequest(job_id="j1", page_token="WyJqMiIsIDFd"), grpc.StatusCode.INVALID_ARGUMENT,
         ["page_token"]),  # ["j2", 1]: another job's token
        (ps.ListJobEventsRequest(job_id="nope"), grpc.StatusCode.NOT_FOUND, []),
    ],
)
async def test_job_events_errors(stub, request_, code, fields):
    await stub.ReportProgress(created("j1"))
    got, _, violations = await failure(stub.ListJobEvents(request_))
    assert (got, [f for f, _ in violations]) == (code, fields)


async def test_purge_deletes_only_old_terminal_jobs_with_their_events(stub):
    for job_id, last in (("done", pb.EVENT_TYPE_COMPLETED), ("failed", pb.EVENT_TYPE_FAILED), ("live", None)):
        await stub.ReportProgress(created(job_id))
        if last:
            await stub.ReportProgress(report(job_id, "end", last))
    kept = await stub.PurgeJobs(ps.PurgeJobsRequest(ended_before={"seconds": 1}))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    request = ps.PurgeJobsRequest(limit=1)
    request.ended_before.FromDatetime(later)
    first, second, third = [await stub.PurgeJobs(request) for _ in range(3)]
    remaining = await stub.ListJobs(ps.ListJobsRequest())
    events = await failure(stub.ListJobEvents(ps.ListJobEventsRequest(job_id="done")))
    watch = await failure(stub.WatchJob(ps.WatchJobRequest(job_id="failed")).read())
    assert list(kept.job_ids) == [] and len(first.job_ids) == len(second.job_ids) == 1
    assert sorted([*first.job_ids, *second.job_ids]) == ["done", "failed"] and list(third.job_ids) == []
    assert [j.id for j in remaining.jobs] == ["live"] and remaining.total_size == 1
    ended = ps.JobFilter(states=[pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED, pb.JOB_STATE_PENDING])
    assert (await stub.ListJobs(ps.ListJobsRequest(filter=ended))).total_size == 1  # job_counts followed the purge
    assert events[:2] == watch[:2] == (grpc.StatusCode.NOT_FOUND, "JOB_NOT_FOUND")
    assert (await stub.GetJob(js.GetJobRequest(job_id="live"))).state == pb.JOB_STATE_PENDING


async def test_purge_needs_a_time(stub):
    code, _, violations = await failure(stub.PurgeJobs(ps.PurgeJobsRequest(limit=-1)))
    assert (code, [f for f, _ in violations]) == (grpc.StatusCode.INVALID_ARGUMENT, ["ended_before"])
