"""The progress store's side of batches, over real gRPC on SQLite and PostgreSQL: a batch recorded with its
children in one report, the aggregate kept in the children's transactions (counts, mean, coalesced batch
PROGRESS events, ETA), and RetryBatch's reopening."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import progress_service_pb2 as ps
from tests.integration.progress import Stub, created, failure, progress_stub, report


@pytest.fixture
async def stub(database) -> AsyncIterator[Stub]:
    async with progress_stub(database) as stub:
        yield stub


def batch_created(batch_id: str, count: int) -> ps.ReportProgressRequest:
    job = pb.Job(id=batch_id, kind=pb.JOB_KIND_BATCH, owner="ann", spec=pb.JobSpec(kind=pb.JOB_KIND_BATCH),
                 batch=pb.BatchSummary(strategy=pb.BATCH_STRATEGY_PARALLEL, max_concurrent=2, digest="d"))
    job.create_time.GetCurrentTime()
    children = []
    for i in range(count):
        child = pb.Job(id=f"{batch_id}_{i}", kind=pb.JOB_KIND_NULL, owner="ann", batch_id=batch_id, batch_index=i,
                       spec=pb.JobSpec(kind=pb.JOB_KIND_NULL, null=pb.NullSpec(fail_with="X")), labels={"n": str(i)})
        child.create_time.FromNanoseconds(job.create_time.ToNanoseconds() + i * 1000)
        children.append(child)
    event = pb.JobEvent(job_id=batch_id, type=pb.EVENT_TYPE_CREATED)
    return ps.ReportProgressRequest(event=event, idempotency_key="created", job=job, children=children)


async def get(stub: Stub, job_id: str) -> pb.Job:
    return await stub.GetJob(js.GetJobRequest(job_id=job_id))


async def events(stub: Stub, job_id: str) -> list[pb.JobEvent]:
    return list((await stub.ListJobEvents(ps.ListJobEventsRequest(job_id=job_id))).events)


async def test_a_batch_and_its_children_are_recorded_together_and_listed_in_order(stub):
    first = await stub.ReportProgress(batch_created("b", 3))
    assert first.sequence == 1 and not first.duplicate
    assert (await stub.ReportProgress(batch_created("b", 3))).duplicate
    batch = await get(stub, "b")
    assert batch.state == pb.JOB_STATE_PENDING
    assert (batch.batch.total, batch.batch.pending, batch.batch.attempt) == (3, 3, 1)
    oldest_first = ps.ListJobsRequest(filter=ps.JobFilter(batch_id="b"), order=ps.LIST_ORDER_OLDEST_FIRST)
    listed = await stub.ListJobs(oldest_first)
    assert [j.id for j in listed.jobs] == ["b_0", "b_1", "b_2"] and listed.total_size == 3
    assert [j.batch_index for j in listed.jobs] == [0, 1, 2] and {j.batch_attempt for j in listed.jobs} == {1}
    assert {j.state for j in listed.jobs} == {pb.JOB_STATE_PENDING} and listed.jobs[2].labels == {"n": "2"}
    assert [e.type for e in await events(stub, "b_1")] == [pb.EVENT_TYPE_CREATED]
    top = await stub.ListJobs(ps.ListJobsRequest(filter=ps.JobFilter(top_level=True)))
    assert [j.id for j in top.jobs] == ["b"]


async def test_children_events_keep_the_batch_aggregate_and_coalesce_its_events(stub):
    await stub.ReportProgress(batch_created("b", 4))
    await stub.ReportProgress(report("b", "started", pb.EVENT_TYPE_STARTED))
    await stub.ReportProgress(report("b_0", "started", pb.EVENT_TYPE_STARTED))
    await stub.ReportProgress(report("b_0", "p50", pb.EVENT_TYPE_PROGRESS, percent=50))
    await stub.ReportProgress(report("b_0", "p52", pb.EVENT_TYPE_PROGRESS, percent=52))  # +0.5 on the mean: quiet
    await stub.ReportProgress(report("b_0", "done", pb.EVENT_TYPE_COMPLETED, percent=100))
    await stub.ReportProgress(report("b_1", "started", pb.EVENT_TYPE_STARTED))
    await stub.ReportProgress(report("b_1", "failed", pb.EVENT_TYPE_FAILED, error=pb.JobError(code="X")))
    timeline = await events(stub, "b")
    progress = [e for e in timeline if e.type == pb.EVENT_TYPE_PROGRESS]
    assert [(e.batch.running, e.batch.completed, e.batch.failed, e.percent) for e in progress] == [
        (1, 0, 0, 0.0), (1, 0, 0, 12.5), (0, 1, 0, 25.0), (1, 1, 0, 25.0), (0, 1, 1, 25.0)]
    assert all(e.state == pb.JOB_STATE_RUNNING and e.batch.total == 4 for e in progress)
    assert progress[1].HasField("estimated_completion_time")  # extrapolated from the mean
    batch = await get(stub, "b")
    assert (batch.batch.pending, batch.batch.completed, batch.batch.failed) == (2, 1, 1) and batch.percent == 25.0
    assert batch.message == "1/4 completed, 2 pending, 1 failed"
    again = await stub.ReportProgress(report("b_1", "failed", pb.EVENT_TYPE_FAILED))
    assert again.duplicate and len(await events(stub, "b")) == len(timeline)  # a repeated report counts once


async def test_concurrent_children_reports_are_all_counted(stub):
    await stub.ReportProgress(batch_created("b", 20))
    await stub.ReportProgress(report("b", "started", pb.EVENT_TYPE_STARTED))

    async def run(i: int) -> None:
        for key, type_ in (("s", pb.EVENT_TYPE_STARTED), ("c", pb.EVENT_TYPE_COMPLETED)):
            await stub.ReportProgress(report(f"b_{i}", key, type_, percent=100 if key == "c" else 0))

    await asyncio.gather(*(run(i) for i in range(20)))
    batch = await get(stub, "b")
    assert (batch.batch.completed, batch.batch.running, batch.batch.pending, batch.percent) == (20, 0, 0, 100.0)
    assert [e.sequence for e in await events(stub, "b")] == list(range(1, batch.last_sequence + 1))


async def test_retried_reopens_an_ended_batch_with_new_children_for_the_failed_ones(stub):
    await stub.ReportProgress(batch_created("b", 3))
    retry = report("b", "retried.2", pb.EVENT_TYPE_RETRIED)
    code, reason, _ = await failure(stub.ReportProgress(retry))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "BATCH_NOT_ENDED")
    await stub.ReportProgress(report("b", "started", pb.EVENT_TYPE_STARTED))
    await stub.ReportProgress(report("b_0", "done", pb.EVENT_TYPE_COMPLETED, percent=100))
    await stub.ReportProgress(report("b_1", "failed", pb.EVENT_TYPE_FAILED, percent=40))
    await stub.ReportProgress(report("b_2", "cancelled", pb.EVENT_TYPE_CANCELLED))
    await stub.ReportProgress(report("b", "failed", pb.EVENT_TYPE_FAILED, error=pb.JobError(code="CHILDREN_FAILED")))
    ended = await get(stub, "b")
    assert ended.state == pb.JOB_STATE_FAILED and ended.percent == pytest.approx(46.7, abs=0.05)
    reopened = await stub.ReportProgress(retry)
    batch = await get(stub, "b")
    assert batch.state == pb.JOB_STATE_PENDING and not batch.HasField("end_time") and not batch.error.code
    assert (batch.batch.attempt, batch.batch.pending, batch.batch.completed, batch.batch.failed) == (2, 2, 1, 0)
    assert batch.percent == pytest.approx(33.3, abs=0.05)
    assert (await events(stub, "b"))[-1].message == "attempt 2: rerunning 2 of 3 children"
    listed = await stub.ListJobs(ps.ListJobsRequest(filter=ps.JobFilter(batch_id="b", states=[pb.JOB_STATE_PENDING])))
    assert sorted(j.id for j in listed.jobs) == ["b_1_2", "b_2_2"]
    assert {(j.batch_attempt, j.spec.null.fail_with) for j in listed.jobs} == {(2, "X")}
    assert (await stub.ReportProgress(retry)).sequence == reopened.sequence  # a repeat reopens nothing more
    for child in ("b_1_2", "b_2_2"):
        await stub.ReportProgress(report(child, "done", pb.EVENT_TYPE_COMPLETED, percent=100))
    await stub.ReportProgress(report("b", "done", pb.EVENT_TYPE_COMPLETED))
    done = await get(stub, "b")
    assert (done.state, done.batch.completed, done.percent) == (pb.JOB_STATE_COMPLETED, 3, 100.0)
    code, reason, _ = await failure(stub.ReportProgress(report("b", "retried.3", pb.EVENT_TYPE_RETRIED)))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "BATCH_COMPLETED")
    # Refused inside a transaction shared with other reports: it leaves no trace, the others are written.
    await stub.ReportProgress(created("other"))
    shared = await stub.ReportProgressBatch(ps.ReportProgressBatchRequest(reports=[
        report("b", "retried.3", pb.EVENT_TYPE_RETRIED), report("other", "s", pb.EVENT_TYPE_STARTED)]))
    assert [r.WhichOneof("outcome") for r in shared.results] == ["error", "recorded"]
    after = await get(stub, "b")
    assert (after.state, after.last_sequence, after.batch) == (done.state, done.last_sequence, done.batch)
    assert (await stub.ListJobs(ps.ListJobsRequest(filter=ps.JobFilter(batch_id="b")))).total_size == 5
    code, reason, _ = await failure(stub.ReportProgress(report("b_0", "retried", pb.EVENT_TYPE_RETRIED)))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "JOB_TERMINAL")


async def test_children_are_refused_without_a_batch_or_when_malformed(stub):
    request = batch_created("b", 2)
    request.job.kind = pb.JOB_KIND_IMAGE
    code, _, violations = await failure(stub.ReportProgress(request))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and [f for f, _ in violations] == ["children"]
    request = batch_created("b", 2)
    request.children[1].id = "b_0"
    request.children[0].batch_id = "other"
    code, _, violations = await failure(stub.ReportProgress(request))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in violations} == {"children[1].id", "children[0].batch_id"}
