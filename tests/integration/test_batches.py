"""Batches against the real Temporal dev server and the real progress store: the concurrency cap and the
order, checked from the children's recorded events; fail_fast; cancel; RetryBatch; the batch's aggregate."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.testing import WorkflowEnvironment

from genmedia.client import GenmediaClient
from genmedia.domain.errors import details_of
from genmedia.domain.jobrules import TERMINAL_STATES
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2
from genmedia.v1 import progress_service_pb2 as ps
from tests.integration.jobstack import EventLog, Stack, full_stack

pytestmark = pytest.mark.timeout(240)

TERMINAL = TERMINAL_STATES
ENDINGS = (pb.EVENT_TYPE_COMPLETED, pb.EVENT_TYPE_FAILED, pb.EVENT_TYPE_CANCELLED)


def null(seconds: float = 0.2, fail_with: str = "", **fields) -> job_service_pb2.CreateJobRequest:
    duration = Duration()
    duration.FromNanoseconds(int(seconds * 1e9))
    return job_service_pb2.CreateJobRequest(spec=pb.JobSpec(null=pb.NullSpec(duration=duration, fail_with=fail_with)),
                                            **fields)


@pytest.fixture
async def stack(temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    async with full_stack(temporal, tmp_path, monkeypatch) as stack:
        yield stack


async def children(client: GenmediaClient, batch_id: str) -> list[pb.Job]:
    """Every child of a batch (every attempt), in batch order."""
    jobs, token = [], ""
    while True:
        page = await client.list_jobs(100, token, ps.JobFilter(batch_id=batch_id), oldest_first=True)
        jobs += page.jobs
        if not (token := page.next_page_token):
            return jobs


async def timelines(client: GenmediaClient, jobs: list[pb.Job]) -> dict[str, list[pb.JobEvent]]:
    return {job.id: [e async for e in client.job_events(job.id)] for job in jobs}


def running_intervals(events: dict[str, list[pb.JobEvent]]) -> dict[str, tuple[float, float]]:
    """Each started child's time running: from its STARTED event to its terminal event (store times)."""
    out = {}
    for job_id, timeline in events.items():
        started = [e for e in timeline if e.type == pb.EVENT_TYPE_STARTED]
        if started:
            end = next(e for e in timeline if e.type in ENDINGS)
            out[job_id] = (started[0].time.ToNanoseconds() / 1e9, end.time.ToNanoseconds() / 1e9)
    return out


def most_at_once(intervals: dict[str, tuple[float, float]]) -> int:
    """The largest number of intervals open at one moment (an end at the same time as a start comes first)."""
    edges = sorted([(s, 1) for s, _ in intervals.values()] + [(e, -1) for _, e in intervals.values()])
    running = peak = 0
    for _, delta in edges:
        running += delta
        peak = max(peak, running)
    return peak


async def test_50_null_jobs_with_max_concurrent_5_never_run_more_than_5_and_all_complete(stack: Stack) -> None:
    batch = await stack.client.create_batch([null(0.2) for _ in range(50)], max_concurrent=5)
    assert batch.kind == pb.JOB_KIND_BATCH and batch.batch.total == 50 and batch.batch.max_concurrent == 5
    listed = await stack.client.list_jobs(100, filter=ps.JobFilter(batch_id=batch.id))
    assert listed.total_size == 50  # every child is listable at once, PENDING until its turn
    log = EventLog(stack.client, batch.id)
    events = await log.end(timeout=120)
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED, events[-1]
    assert events[-1].batch.completed == 50 and events[-1].percent == 100.0
    progress = [e for e in events if e.type == pb.EVENT_TYPE_PROGRESS]
    assert progress and max(e.batch.running for e in progress) <= 5
    assert [e.percent for e in progress] == sorted(e.percent for e in progress)  # the mean never goes back
    jobs = await children(stack.client, batch.id)
    assert [j.batch_index for j in jobs] == list(range(50)) and {j.state for j in jobs} == {pb.JOB_STATE_COMPLETED}
    intervals = running_intervals(await timelines(stack.client, jobs))
    assert len(intervals) == 50
    assert most_at_once(intervals) == 5  # the cap was used, and never exceeded
    final = (await stack.client.get_job(batch.id)).job
    assert final.state == pb.JOB_STATE_COMPLETED and final.batch.completed == 50 and final.percent == 100.0


async def test_sequential_runs_one_child_at_a_time_in_order(stack: Stack) -> None:
    batch = await stack.client.create_batch([null(0.1) for _ in range(5)], sequential=True)
    assert batch.batch.strategy == pb.BATCH_STRATEGY_SEQUENTIAL and batch.batch.max_concurrent == 1
    events = await EventLog(stack.client, batch.id).end()
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED
    jobs = await children(stack.client, batch.id)
    intervals = running_intervals(await timelines(stack.client, jobs))
    spans = [intervals[job.id] for job in jobs]  # in batch order
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:], strict=False)), spans


async def test_fail_fast_cancels_the_rest_at_the_first_failure(stack: Stack) -> None:
    jobs = [null(0.1, fail_with="BROKEN_INPUT")] + [null(1.5) for _ in range(5)]
    batch = await stack.client.create_batch(jobs, max_concurrent=2, fail_fast=True)
    events = await EventLog(stack.client, batch.id).end()
    end = events[-1]
    assert end.type == pb.EVENT_TYPE_FAILED and end.error.code == "CHILDREN_FAILED", end
    assert (end.batch.failed, end.batch.cancelled, end.batch.completed) == (1, 5, 0), end.batch
    found = await children(stack.client, batch.id)
    assert found[0].state == pb.JOB_STATE_FAILED and found[0].error.code == "BROKEN_INPUT"
    assert {j.state for j in found[1:]} == {pb.JOB_STATE_CANCELLED}
    started = running_intervals(await timelines(stack.client, found))
    assert len(started) <= 3  # the first two, and at most one more before the failure was seen


async def test_retry_batch_reruns_only_the_failed_children(stack: Stack) -> None:
    jobs = [null(0.1, fail_with="FLAKY"), null(0.1), null(0.1, fail_with="FLAKY"), null(0.1)]
    batch = await stack.client.create_batch(jobs, max_concurrent=4)
    first = (await EventLog(stack.client, batch.id).end())[-1]
    assert first.type == pb.EVENT_TYPE_FAILED and (first.batch.completed, first.batch.failed) == (2, 2)
    before = await timelines(stack.client, await children(stack.client, batch.id))
    retried = await stack.client.retry_batch(batch.id)
    assert retried.state == pb.JOB_STATE_PENDING and retried.batch.attempt == 2 and retried.batch.pending == 2
    again = await stack.client.retry_batch(batch.id, attempt=1)  # a repeat of the same retry starts nothing
    assert again.batch.attempt == 2
    # A reopened batch's timeline holds one ending per attempt: follow this one from its RETRIED event.
    events = await EventLog(stack.client, batch.id, retried.last_sequence - 1).end()
    assert events[0].type == pb.EVENT_TYPE_RETRIED and events[0].message == "attempt 2: rerunning 2 of 4 children"
    assert events[-1].type == pb.EVENT_TYPE_FAILED and events[-1].batch.attempt == 2
    assert (events[-1].batch.completed, events[-1].batch.failed, events[-1].batch.total) == (2, 2, 4)
    jobs = await children(stack.client, batch.id)
    new = [j for j in jobs if j.batch_attempt == 2]
    assert sorted(j.id for j in new) == [f"{batch.id}_0_2", f"{batch.id}_2_2"]
    assert {j.batch_index for j in new} == {0, 2} and {j.state for j in new} == {pb.JOB_STATE_FAILED}
    after = await timelines(stack.client, [j for j in jobs if j.batch_attempt == 1])
    assert after == before  # the completed children (and the failed first attempts) were not touched
    error = await _refused(stack.client.retry_batch(batch.id, attempt=5), grpc.StatusCode.FAILED_PRECONDITION)
    assert details_of(error)[0] == "BATCH_ATTEMPT_MISMATCH"


async def test_cancel_of_a_batch_cancels_its_running_children_then_retry_completes_it(stack: Stack) -> None:
    batch = await stack.client.create_batch([null(1.0) for _ in range(6)], max_concurrent=3)
    log = EventLog(stack.client, batch.id)
    await log.wait_for(lambda e: e.batch.running == 3)
    cancelling = await stack.client.cancel_job(batch.id, reason="stop it")
    assert cancelling.message.startswith("cancelling")
    events = await log.end(timeout=20)
    assert events[-1].type == pb.EVENT_TYPE_CANCELLED and events[-1].batch.cancelled == 6, events[-1]
    jobs = await children(stack.client, batch.id)
    started = running_intervals(await timelines(stack.client, jobs))
    assert len(started) == 3 and {j.state for j in jobs} == {pb.JOB_STATE_CANCELLED}  # 3 stopped, 3 never began
    error = await _refused(stack.client.cancel_job(batch.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert details_of(error)[0] == "JOB_TERMINAL"
    retried = await stack.client.retry_batch(batch.id)
    events = await EventLog(stack.client, batch.id, retried.last_sequence).end()
    assert events[0].type == pb.EVENT_TYPE_STARTED and events[-1].type == pb.EVENT_TYPE_COMPLETED
    assert events[-1].batch.completed == 6 and events[-1].batch.attempt == 2
    error = await _refused(stack.client.retry_batch(batch.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert details_of(error)[0] == "BATCH_COMPLETED"


async def test_pause_holds_new_children_and_pauses_the_running_ones_until_resumed(stack: Stack) -> None:
    batch = await stack.client.create_batch([null(0.6) for _ in range(4)], max_concurrent=2)
    log = EventLog(stack.client, batch.id)
    await log.wait_for(lambda e: e.batch.running == 2)
    pausing = await stack.client.pause_job(batch.id)
    assert pausing.message.startswith("pausing") and pausing.batch.total == 4
    await log.wait_for(lambda e: e.type == pb.EVENT_TYPE_PAUSED)
    await log.wait_for(lambda e: e.batch.paused == 2)  # the running children finished their step and wait
    await asyncio.sleep(0.5)
    held = (await stack.client.get_job(batch.id)).job
    assert held.state == pb.JOB_STATE_PAUSED and held.batch.pending == 2 and held.batch.completed == 0
    error = await _refused(stack.client.pause_job(batch.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert details_of(error)[0] == "JOB_NOT_PAUSABLE"
    resuming = await stack.client.resume_job(batch.id)
    assert resuming.message == "resuming"
    events = await log.end()
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED and events[-1].batch.completed == 4


async def test_create_batch_reports_every_bad_field_and_refuses_wrong_states(stack: Stack) -> None:
    bad = [null(0.1), job_service_pb2.CreateJobRequest(spec=pb.JobSpec(image=pb.ImageSpec(prompt=""))),
           null(-1), null(0.1, fail_with="lower"), null(0.1, request_id=str(uuid.uuid4()))]
    request = job_service_pb2.CreateBatchRequest(jobs=bad, strategy=pb.BATCH_STRATEGY_SEQUENTIAL, max_concurrent=3,
                                                 request_id="nope", priority=9)
    error = await _refused(stack.client.jobs.CreateBatch(request), grpc.StatusCode.INVALID_ARGUMENT)
    fields = {field for field, _ in details_of(error)[1]}
    assert fields == {"jobs[1].spec.image.prompt", "jobs[2].spec.null.duration", "jobs[3].spec.null.fail_with",
                      "jobs[4].request_id", "max_concurrent", "request_id", "priority"}, fields
    for count in (0, 1001):
        error = await _refused(stack.client.create_batch([null(0)] * count), grpc.StatusCode.INVALID_ARGUMENT)
        assert [f for f, _ in details_of(error)[1]] == ["jobs"]
    error = await _refused(stack.client.create_batch([null(0)], max_concurrent=1001), grpc.StatusCode.INVALID_ARGUMENT)
    assert [f for f, _ in details_of(error)[1]] == ["max_concurrent"]
    error = await _refused(stack.client.retry_batch(""), grpc.StatusCode.INVALID_ARGUMENT)
    assert [f for f, _ in details_of(error)[1]] == ["batch_id"]
    await _refused(stack.client.retry_batch(str(uuid.uuid4())), grpc.StatusCode.NOT_FOUND)
    single = await stack.client.create_job(null(0).spec)
    error = await _refused(stack.client.retry_batch(single.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert details_of(error)[0] == "JOB_NOT_A_BATCH"
    running = await stack.client.create_batch([null(1.0)])
    error = await _refused(stack.client.retry_batch(running.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert details_of(error)[0] == "BATCH_NOT_ENDED"
    error = await _refused(stack.client.review_job(running.id, approve=True), grpc.StatusCode.FAILED_PRECONDITION)
    assert details_of(error)[0] == "JOB_NOT_AWAITING_REVIEW"
    await EventLog(stack.client, running.id).end()


async def test_a_repeated_request_id_returns_the_same_batch_and_other_jobs_are_already_exists(stack: Stack) -> None:
    request_id = str(uuid.uuid4())
    jobs = [null(0.1), null(0.1, labels={"part": "b"})]
    first = await stack.client.create_batch(jobs, request_id=request_id, labels={"team": "web"})
    again = await stack.client.create_batch(jobs, request_id=request_id, labels={"team": "web"})
    assert again.id == first.id and again.batch.digest == first.batch.digest
    error = await _refused(stack.client.create_batch(jobs[:1], request_id=request_id, labels={"team": "web"}),
                           grpc.StatusCode.ALREADY_EXISTS)
    assert details_of(error)[0] == "REQUEST_ID_REUSED" and "jobs" in error.details()
    await EventLog(stack.client, first.id).end()
    jobs = await children(stack.client, first.id)
    assert len(jobs) == 2 and jobs[1].labels == {"team": "web", "part": "b"} and jobs[0].owner == first.owner


async def test_a_null_job_runs_the_normal_path_and_fails_with_its_code(stack: Stack) -> None:
    done = await stack.client.create_job(null(0.3).spec)
    assert done.kind == pb.JOB_KIND_NULL
    events = await EventLog(stack.client, done.id).end()
    types = [e.type for e in events]
    assert types[0] == pb.EVENT_TYPE_STARTED and types[-1] == pb.EVENT_TYPE_COMPLETED
    assert pb.EVENT_TYPE_PROGRESS in types and events[-1].percent == 100.0
    failing = await stack.client.create_job(null(0.1, fail_with="NO_GPU").spec)
    events = await EventLog(stack.client, failing.id).end()
    assert events[-1].type == pb.EVENT_TYPE_FAILED and events[-1].error.code == "NO_GPU"
    assert not (stack.var / "assets" / done.id).exists()  # nothing was generated
    too_long = null(3601)
    error = await _refused(stack.client.create_job(too_long.spec), grpc.StatusCode.INVALID_ARGUMENT)
    assert [f for f, _ in details_of(error)[1]] == ["spec.null.duration"]


async def _refused(call, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    return info.value


async def test_a_batch_continues_as_new_every_run_limit_children_and_keeps_its_cap(
        stack: Stack, temporal: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.orchestrator.api import batch_api

    monkeypatch.setattr(batch_api, "PAGE_SIZE", 2)  # as 100 and 200 do for 1,000 children, on a small scale
    monkeypatch.setattr(batch_api, "RUN_LIMIT", 4)
    batch = await stack.client.create_batch([null(0.05) for _ in range(11)], max_concurrent=3)
    events = await EventLog(stack.client, batch.id).end()
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED and events[-1].batch.completed == 11
    assert [e.type for e in events].count(pb.EVENT_TYPE_STARTED) == 1  # one STARTED across the runs
    description = await temporal.client.get_workflow_handle(batch.id).describe()
    assert description.run_id != description.raw_description.workflow_execution_info.first_run_id  # continued
    jobs = await children(stack.client, batch.id)
    intervals = running_intervals(await timelines(stack.client, jobs))
    assert len(intervals) == 11 and most_at_once(intervals) <= 3
