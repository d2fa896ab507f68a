"""WatchJobs (one resumable stream across jobs), GetStats and heartbeats while busy, over real gRPC on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import grpc
import pytest

from genmedia.domain.errors import details_of
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from tests.integration.progress import Stub, created, failure, progress_stub, report


@pytest.fixture
async def stub(database) -> AsyncIterator[Stub]:
    async with progress_stub(database, heartbeat_seconds=0.2) as stub:
        yield stub


async def collect(call, count: int, until: tuple[str, int] | None = None) -> list[ps.WatchJobsResponse]:
    """The first `count` events of a WatchJobs stream (or all up to the event `until`; heartbeats skipped),
    then the call is cancelled."""
    events = []
    async with asyncio.timeout(60):
        while (response := await call.read()) is not grpc.aio.EOF:
            if response.HasField("event"):
                events.append(response)
                if len(events) == count or (response.event.job_id, response.event.sequence) == until:
                    break
    call.cancel()
    return events


async def subscribed(*calls) -> None:
    """Reads each stream's first message: the heartbeat that says it is subscribed."""
    for call in calls:
        assert (await call.read()).HasField("heartbeat")


def ids(responses) -> list[tuple[str, int]]:
    return [(r.event.job_id, r.event.sequence) for r in responses]


async def test_one_stream_follows_every_matching_job_in_order(stub):
    await stub.ReportProgress(created("old"))  # before the watch: not part of "from now on"
    images = stub.WatchJobs(ps.WatchJobsRequest(filter=ps.JobFilter(kind=pb.JOB_KIND_IMAGE, labels={"team": "a"})))
    everything = stub.WatchJobs(ps.WatchJobsRequest())
    await subscribed(images, everything)
    await stub.ReportProgress(created("i1"))
    await stub.ReportProgress(created("v1", kind=pb.JOB_KIND_VIDEO))
    await stub.ReportProgress(created("i2", labels={"team": "b"}))
    for n in range(3):
        for job_id in ("i1", "v1", "i2"):
            await stub.ReportProgress(report(job_id, f"p{n}", pb.EVENT_TYPE_PROGRESS, percent=n))
    await stub.ReportProgress(report("old", "s", pb.EVENT_TYPE_STARTED))
    got_images, got_all = await collect(images, 4), await collect(everything, 100, until=("old", 2))
    assert ids(got_images) == [("i1", 1), ("i1", 2), ("i1", 3), ("i1", 4)]
    expected = [("i1", 1), ("v1", 1), ("i2", 1)] + [(j, n) for n in (2, 3, 4) for j in ("i1", "v1", "i2")]
    # ("old", 1) was committed before the watch began; on PostgreSQL it may still show while an older
    # transaction (any, in the whole cluster) runs: "from now on" never means fewer.
    assert [i for i in ids(got_all) if i != ("old", 1)] == [*expected, ("old", 2)]


async def test_resuming_from_a_cursor_misses_and_repeats_nothing(stub):
    first = stub.WatchJobs(ps.WatchJobsRequest())
    await subscribed(first)
    await stub.ReportProgress(created("j1"))
    for n in range(6):
        await stub.ReportProgress(report("j1", f"p{n}", pb.EVENT_TYPE_PROGRESS, percent=n))
    seen = await collect(first, 3)
    await stub.ReportProgress(created("j2"))
    resumed = await collect(stub.WatchJobs(ps.WatchJobsRequest(cursor=seen[-1].cursor)), 5)
    assert ids(seen) + ids(resumed) == [("j1", n) for n in range(1, 8)] + [("j2", 1)]


async def test_state_filter_uses_the_state_after_each_event(stub):
    await stub.ReportProgress(created("j1"))
    finished = stub.WatchJobs(ps.WatchJobsRequest(filter=ps.JobFilter(
        states=[pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED])))
    await subscribed(finished)
    await stub.ReportProgress(report("j1", "s", pb.EVENT_TYPE_STARTED))
    await stub.ReportProgress(report("j1", "c", pb.EVENT_TYPE_COMPLETED))
    (event,) = await collect(finished, 1)
    assert (event.event.sequence, event.event.state) == (3, pb.JOB_STATE_COMPLETED)


async def test_stream_starts_and_idles_with_heartbeats_carrying_its_cursor(stub):
    call = stub.WatchJobs(ps.WatchJobsRequest())
    first, idle = await call.read(), await call.read()  # at once, then after the 0.2 s interval
    call.cancel()
    assert first.HasField("heartbeat") and idle.HasField("heartbeat") and first.cursor == idle.cursor


async def test_watch_job_heartbeats_even_while_events_flow(stub):
    await stub.ReportProgress(created("j1"))
    call = stub.WatchJob(ps.WatchJobRequest(job_id="j1"))
    await call.read()

    async def reporter() -> None:
        for n in range(40):  # an event every 25 ms for a second, heartbeats due every 200 ms
            await stub.ReportProgress(report("j1", f"p{n}", pb.EVENT_TYPE_PROGRESS, percent=n))
            await asyncio.sleep(0.025)
        await stub.ReportProgress(report("j1", "done", pb.EVENT_TYPE_COMPLETED))

    task = asyncio.create_task(reporter())
    kinds = []
    while (response := await call.read()) is not grpc.aio.EOF:
        kinds.append(response.WhichOneof("payload"))
    await task
    assert kinds.count("event") == 41 and kinds.count("heartbeat") >= 3


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (ps.WatchJobsRequest(cursor="nonsense"), ["cursor"]),
        (ps.WatchJobsRequest(filter=ps.JobFilter(states=[42])), ["filter.states[0]"]),
    ],
)
async def test_watch_jobs_rejects_bad_requests(stub, request_, fields):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.WatchJobs(request_).read()
    assert (caught.value.code(), [f for f, _ in details_of(caught.value)[1]]) == (
        grpc.StatusCode.INVALID_ARGUMENT, fields)


def at(seconds: float) -> dict:
    return {"seconds": int(seconds), "nanos": int((seconds % 1) * 1e9)}


async def test_stats_over_a_window(stub):
    t0 = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    plan = {  # job: (kind, events)
        "a": (pb.JOB_KIND_IMAGE, [pb.EVENT_TYPE_STARTED, "step", pb.EVENT_TYPE_COMPLETED]),
        "b": (pb.JOB_KIND_IMAGE, [pb.EVENT_TYPE_STARTED, "step", "approve", pb.EVENT_TYPE_COMPLETED]),
        "c": (pb.JOB_KIND_VIDEO, [pb.EVENT_TYPE_STARTED, "reject", pb.EVENT_TYPE_FAILED]),
        "d": (pb.JOB_KIND_VIDEO, [pb.EVENT_TYPE_STARTED]),
        "e": (pb.JOB_KIND_VIDEO, []),
    }
    step = pb.JOB_STEP_IMAGE_GENERATION
    for job_id, (kind, events) in plan.items():
        await stub.ReportProgress(created(job_id, kind=kind, at=t0))
        for n, what in enumerate(events):
            if what == "step":
                await stub.ReportProgress(report(job_id, f"s{n}", pb.EVENT_TYPE_STEP_STARTED, step=step))
                await stub.ReportProgress(report(job_id, f"f{n}", pb.EVENT_TYPE_STEP_FINISHED, step=step))
            elif what in ("approve", "reject"):
                decision = pb.REVIEW_DECISION_APPROVE if what == "approve" else pb.REVIEW_DECISION_REJECT
                await stub.ReportProgress(report(job_id, f"r{n}", pb.EVENT_TYPE_REVIEWED,
                                                 review=pb.Review(round=1, decision=decision)))
            else:
                await stub.ReportProgress(report(job_id, f"e{n}", what))
    await stub.ReportProgress(created("outside", at=t0 - dt.timedelta(days=3)))
    stats = await stub.GetStats(ps.GetStatsRequest())
    images = await stub.GetStats(ps.GetStatsRequest(filter=ps.JobFilter(kind=pb.JOB_KIND_IMAGE)))
    counts = {c.state: c.count for c in stats.counts}
    assert stats.total_jobs == 5 and counts == {pb.JOB_STATE_COMPLETED: 2, pb.JOB_STATE_FAILED: 1,
                                                pb.JOB_STATE_RUNNING: 1, pb.JOB_STATE_PENDING: 1}
    assert stats.success_rate == pytest.approx(2 / 3) and stats.backlog == 3  # "outside" is pending too
    assert (stats.reviews, stats.review_approval_rate) == (2, 0.5)
    (kind,) = stats.kinds
    (step_stats,) = stats.steps
    assert (kind.kind, kind.duration.count, step_stats.step, step_stats.duration.count) == (
        pb.JOB_KIND_IMAGE, 2, step, 2)
    # The jobs were created an hour ago (create_time as sent) and completed just now.
    assert 3500 < kind.duration.mean.seconds < 3700 and kind.duration.p95.seconds >= kind.duration.mean.seconds
    assert step_stats.duration.p95.ToTimedelta() < dt.timedelta(seconds=5)
    assert (images.total_jobs, images.success_rate, images.reviews) == (2, 1.0, 1)


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (ps.GetStatsRequest(start_time=at(100), end_time=at(50)), ["start_time"]),
        (ps.GetStatsRequest(end_time={"seconds": 2**60}), ["end_time"]),
        (ps.GetStatsRequest(filter=ps.JobFilter(created_after=at(5))), ["filter.created_after"]),
    ],
)
async def test_stats_reject_bad_windows(stub, request_, fields):
    code, _, violations = await failure(stub.GetStats(request_))
    assert (code, [f for f, _ in violations]) == (grpc.StatusCode.INVALID_ARGUMENT, fields)


async def test_concurrent_reports_across_jobs_reach_the_feed_once_each_in_job_order(stub):
    jobs = [f"j{i}" for i in range(10)]
    call = stub.WatchJobs(ps.WatchJobsRequest())
    await subscribed(call)

    async def one_job(job_id: str) -> None:
        await stub.ReportProgress(created(job_id))
        for n in range(20):
            await stub.ReportProgress(report(job_id, f"p{n}", pb.EVENT_TYPE_PROGRESS, percent=n))

    reporting = asyncio.gather(*(one_job(j) for j in jobs))
    first = await collect(call, 100)  # cut mid-way, then resume from the cursor while reports go on
    rest = await collect(stub.WatchJobs(ps.WatchJobsRequest(cursor=first[-1].cursor)), 110)
    await reporting
    got = ids(first) + ids(rest)
    assert sorted(got) == sorted((j, n) for j in jobs for n in range(1, 22))
    for job_id in jobs:
        assert [n for j, n in got if j == job_id] == list(range(1, 22))
