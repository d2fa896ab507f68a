"""Job control against the real Temporal dev server: cancel, pause/resume, review with corrections,
idempotent submits, deadlines, priorities, ETAs and every wrong-state call."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from temporalio.testing import WorkflowEnvironment

from genmedia.domain.errors import details_of
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2
from tests.conftest import venv_bin
from tests.integration.jobstack import (
    EventLog,
    Stack,
    add_api,
    add_workers,
    configure_env,
    job_services,
    slow_stack,
)

pytestmark = pytest.mark.timeout(240)

IMAGE = pb.JobSpec(image=pb.ImageSpec(prompt="a quiet harbour", width=64, height=64))
VIDEO = pb.JobSpec(video=pb.VideoSpec(prompt="a lighthouse", width=96, height=64, duration_seconds=1, fps=12))
SLOW_VIDEO = pb.JobSpec(video=pb.VideoSpec(prompt="a long pan", width=96, height=64, duration_seconds=6, fps=12))


@pytest.fixture
async def stack(temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    async with slow_stack(temporal, tmp_path, monkeypatch) as stack:  # SLOW_VIDEO renders for about 6 s
        yield stack


async def _refused(call, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    return info.value


def _of(type_: int, step: int = 0):
    return lambda e: e.type == type_ and (not step or e.step == step)


def _files(root: Path) -> list[str]:
    """The assets in a job's folder (not the store's records of them, `.<name>.meta`)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def _temporaries(stack: Stack, job_id: str) -> list[str]:
    """The job's temporary and scratch files in the asset store, of any service."""
    return [p.name for p in (stack.var / "assets" / ".tmp").rglob(f"{job_id}.*")]


# -- cancel --

async def test_cancel_during_rendering_ends_cancelled_within_2s_and_leaves_no_partial_file(stack: Stack) -> None:
    job = await stack.client.create_job(SLOW_VIDEO)
    log = EventLog(stack.client, job.id)
    await log.wait_for(lambda e: e.type == pb.EVENT_TYPE_PROGRESS and e.step == pb.JOB_STEP_VIDEO_GENERATION
                       and e.percent > 40)
    assets = stack.var / "assets" / job.id
    assert not any(name.endswith(".mp4") for name in _files(assets))  # under way: stored only once whole
    started = time.monotonic()
    answer = await stack.client.cancel_job(job.id, reason="changed my mind")
    assert answer.message.startswith("cancelling")
    events = await log.end(timeout=10)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"cancelled after {elapsed:.2f}s"
    terminal = [e for e in events if e.state in (pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED)]
    assert [e.type for e in terminal] == [pb.EVENT_TYPE_CANCELLED]
    assert _files(assets) == ["image-0.png"]  # the finished image stays; no video, no partial file
    assert _temporaries(stack, job.id) == []
    live = await stack.client.get_job(job.id)
    assert live.job.state == pb.JOB_STATE_CANCELLED
    # Repeating the cancel of an ended job names its state.
    error = await _refused(stack.client.cancel_job(job.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert "CANCELLED" in error.details() and details_of(error)[0] == "JOB_TERMINAL"


async def test_cancel_is_refused_once_the_job_completed(stack: Stack) -> None:
    done = await stack.client.create_job(IMAGE)
    await EventLog(stack.client, done.id).end()
    error = await _refused(stack.client.cancel_job(done.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert f"job {done.id} is COMPLETED" in error.details()
    await _refused(stack.client.cancel_job(str(uuid.uuid4())), grpc.StatusCode.NOT_FOUND)
    await _refused(stack.client.cancel_job(""), grpc.StatusCode.INVALID_ARGUMENT)


async def test_a_pending_job_is_cancelled_before_any_step_runs_and_a_repeat_is_harmless(
        temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configure_env(monkeypatch, tmp_path)
    async with job_services(tmp_path) as stack:
        await add_api(stack, temporal)  # no worker yet: the job waits in Temporal
        job = await stack.client.create_job(VIDEO)
        answer = await stack.client.cancel_job(job.id)
        assert answer.state == pb.JOB_STATE_PENDING and answer.message == "cancelling"
        again = await stack.client.cancel_job(job.id)  # still cancelling: a repeat is not an error
        assert again.message == "cancelling"
        await add_workers(stack, temporal)
        events = await EventLog(stack.client, job.id).end()
        assert [e.type for e in events] == [pb.EVENT_TYPE_CANCELLED]
        assert not (stack.var / "assets" / job.id).exists()


# -- pause / resume --

async def test_pause_finishes_the_current_step_then_waits_until_resumed(stack: Stack) -> None:
    job = await stack.client.create_job(VIDEO)
    log = EventLog(stack.client, job.id)
    await log.wait_for(_of(pb.EVENT_TYPE_STEP_STARTED, pb.JOB_STEP_IMAGE_GENERATION))
    pausing = await stack.client.pause_job(job.id)
    assert pausing.message == "pausing after the current step"
    again = await stack.client.pause_job(job.id)  # a repeat while pausing is harmless
    assert again.id == job.id
    await log.wait_for(_of(pb.EVENT_TYPE_PAUSED))
    await asyncio.sleep(1.0)  # no new step starts while paused
    live = await stack.client.get_job(job.id)
    assert live.job.state == pb.JOB_STATE_PAUSED
    assert not [e for e in log.events if e.step == pb.JOB_STEP_VIDEO_GENERATION]
    error = await _refused(stack.client.pause_job(job.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert "PAUSED" in error.details() and details_of(error)[0] == "JOB_NOT_PAUSABLE"
    resumed = await stack.client.resume_job(job.id)
    assert resumed.id == job.id
    events = await log.end()
    types = [e.type for e in events]
    finished = types.index(pb.EVENT_TYPE_STEP_FINISHED)
    assert types[finished + 1:finished + 4] == [pb.EVENT_TYPE_PAUSED, pb.EVENT_TYPE_RESUMED,
                                                pb.EVENT_TYPE_STEP_STARTED]
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED
    error = await _refused(stack.client.resume_job(job.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert "COMPLETED" in error.details()
    await _refused(stack.client.pause_job(job.id), grpc.StatusCode.FAILED_PRECONDITION)


async def test_a_pause_in_the_last_step_holds_the_job_before_it_completes(stack: Stack) -> None:
    job = await stack.client.create_job(pb.JobSpec(image=pb.ImageSpec(prompt="hold", width=128, height=128)))
    log = EventLog(stack.client, job.id)
    await log.wait_for(_of(pb.EVENT_TYPE_STEP_STARTED))
    await stack.client.pause_job(job.id)
    paused = await log.wait_for(_of(pb.EVENT_TYPE_PAUSED))
    assert paused.state == pb.JOB_STATE_PAUSED and paused.percent == 95
    await asyncio.sleep(0.5)
    assert (await stack.client.get_job(job.id)).job.state == pb.JOB_STATE_PAUSED
    await stack.client.resume_job(job.id)
    events = await log.end()
    assert [e.type for e in events[-4:]] == [pb.EVENT_TYPE_STEP_FINISHED, pb.EVENT_TYPE_PAUSED,
                                             pb.EVENT_TYPE_RESUMED, pb.EVENT_TYPE_COMPLETED]


async def test_a_paused_job_can_be_cancelled(stack: Stack) -> None:
    job = await stack.client.create_job(VIDEO)
    log = EventLog(stack.client, job.id)
    await log.wait_for(_of(pb.EVENT_TYPE_STEP_STARTED))
    await stack.client.pause_job(job.id)
    await log.wait_for(_of(pb.EVENT_TYPE_PAUSED))
    await stack.client.cancel_job(job.id)
    events = await log.end()
    assert events[-1].type == pb.EVENT_TYPE_CANCELLED
    assert not [e for e in events if e.step == pb.JOB_STEP_VIDEO_GENERATION]


async def test_wrong_state_calls_are_failed_precondition(stack: Stack) -> None:
    job = await stack.client.create_job(SLOW_VIDEO)
    log = EventLog(stack.client, job.id)
    await log.wait_for(_of(pb.EVENT_TYPE_STEP_STARTED))
    error = await _refused(stack.client.resume_job(job.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert "RUNNING, not PAUSED" in error.details() and details_of(error)[0] == "JOB_NOT_PAUSED"
    error = await _refused(stack.client.review_job(job.id, approve=True), grpc.StatusCode.FAILED_PRECONDITION)
    assert "not AWAITING_REVIEW" in error.details() and details_of(error)[0] == "JOB_NOT_AWAITING_REVIEW"
    await stack.client.cancel_job(job.id)
    await log.end()
    for call in (stack.client.pause_job(job.id), stack.client.resume_job(job.id),
                 stack.client.review_job(job.id, approve=False), stack.client.cancel_job(job.id)):
        error = await _refused(call, grpc.StatusCode.FAILED_PRECONDITION)
        assert "CANCELLED" in error.details()
    for call in (stack.client.pause_job(str(uuid.uuid4())), stack.client.review_job(str(uuid.uuid4()), True)):
        await _refused(call, grpc.StatusCode.NOT_FOUND)


# -- review --

async def test_review_approve_renders_the_video(stack: Stack) -> None:
    job = await stack.client.create_job(VIDEO, review=True)
    assert job.review and job.review_timeout.ToTimedelta() == timedelta(hours=24)
    log = EventLog(stack.client, job.id)
    awaiting = await log.wait_for(_of(pb.EVENT_TYPE_AWAITING_REVIEW))
    assert awaiting.review_round == 1 and [a.mime_type for a in awaiting.assets] == ["image/png"]
    live = await stack.client.get_job(job.id)
    assert live.job.state == pb.JOB_STATE_AWAITING_REVIEW and live.job.assets[0].mime_type == "image/png"
    reviewed = await stack.client.review_job(job.id, approve=True, feedback="lovely")
    assert reviewed.state == pb.JOB_STATE_RUNNING and reviewed.step == pb.JOB_STEP_VIDEO_GENERATION
    assert [(r.round, r.decision, r.reviewer, r.feedback) for r in reviewed.reviews] == [
        (1, pb.REVIEW_DECISION_APPROVE, "anonymous", "lovely")]
    events = await log.end()
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED
    assert [a.mime_type for a in events[-1].assets] == ["image/png", "video/mp4"]
    decided = [e for e in events if e.type == pb.EVENT_TYPE_REVIEWED]
    assert len(decided) == 1 and decided[0].review.decision == pb.REVIEW_DECISION_APPROVE


async def test_review_reject_with_corrections_regenerates_then_approve(stack: Stack) -> None:
    job = await stack.client.create_job(IMAGE, review=True)
    log = EventLog(stack.client, job.id)
    first = await log.wait_for(_of(pb.EVENT_TYPE_AWAITING_REVIEW))
    corrections = pb.ReviewCorrections(prompt="a stormy harbour", seed=7, width=96)
    # Corrections are checked like a spec, naming the field.
    error = await _refused(stack.client.review_job(job.id, approve=False,
                                                   corrections=pb.ReviewCorrections(width=5000)),
                           grpc.StatusCode.INVALID_ARGUMENT)
    assert details_of(error)[1][0][0] == "corrections.width"
    await _refused(stack.client.review_job(job.id, approve=True, corrections=corrections),
                   grpc.StatusCode.INVALID_ARGUMENT)
    answer = await stack.client.review_job(job.id, approve=False, feedback="too calm", corrections=corrections)
    assert answer.spec.image.prompt == "a stormy harbour" and answer.spec.image.width == 96
    second = await log.wait_for(lambda e: e.type == pb.EVENT_TYPE_AWAITING_REVIEW and e.review_round == 2)
    assert second.assets[0].sha256 != first.assets[0].sha256 and second.assets[0].width == 96
    assert first.assets[0].uri.endswith("/image-0.png") and second.assets[0].uri.endswith("/image-2-0.png")
    assert _files(stack.var / "assets" / job.id) == ["image-0.png", "image-2-0.png"]  # round 1's candidate stays
    stale = await _refused(stack.client.review_job(job.id, approve=True, round=1), grpc.StatusCode.FAILED_PRECONDITION)
    assert details_of(stale)[0] == "REVIEW_ROUND_MISMATCH"
    await stack.client.review_job(job.id, approve=True, round=2)
    events = await log.end()
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED and events[-1].assets[0].sha256 == second.assets[0].sha256
    decisions = [(e.review.round, e.review.decision) for e in events if e.type == pb.EVENT_TYPE_REVIEWED]
    assert decisions == [(1, pb.REVIEW_DECISION_REJECT), (2, pb.REVIEW_DECISION_APPROVE)]
    live = (await stack.client.get_job(job.id)).job
    assert live.review_round == 2 and [r.feedback for r in live.reviews] == ["too calm", ""]
    assert live.reviews[0].corrections.prompt == "a stormy harbour" and live.reviews[0].time.seconds > 0
    stored = await stack.client.progress.GetJob(job_service_pb2.GetJobRequest(job_id=job.id))
    assert list(stored.reviews) == list(live.reviews) and stored.review_round == 2  # kept in the store too
    assert stored.spec.image.prompt == "a stormy harbour"


async def test_review_reject_without_corrections_fails_the_job_rejected(stack: Stack) -> None:
    job = await stack.client.create_job(VIDEO, review=True)
    log = EventLog(stack.client, job.id)
    await log.wait_for(_of(pb.EVENT_TYPE_AWAITING_REVIEW))
    answer = await stack.client.review_job(job.id, approve=False, feedback="not what we want")
    assert answer.state == pb.JOB_STATE_FAILED and answer.error.code == "REJECTED"
    events = await log.end()
    assert events[-1].type == pb.EVENT_TYPE_FAILED and events[-1].error.code == "REJECTED"
    assert "not what we want" in events[-1].error.message
    assert not [e for e in events if e.step == pb.JOB_STEP_VIDEO_GENERATION]


async def test_review_options_are_validated(stack: Stack) -> None:
    error = await _refused(stack.client.create_job(IMAGE, review_timeout=timedelta(hours=1)),
                           grpc.StatusCode.INVALID_ARGUMENT)
    assert details_of(error)[1][0][0] == "review_timeout"
    error = await _refused(stack.client.create_job(IMAGE, review=True, review_timeout=timedelta(seconds=5)),
                           grpc.StatusCode.INVALID_ARGUMENT)
    assert "between 1 minute and 30 days" in error.details()
    job = await stack.client.create_job(IMAGE, review=True, review_timeout=timedelta(minutes=90))
    assert job.review_timeout.ToTimedelta() == timedelta(minutes=90)
    await stack.client.cancel_job(job.id)
    error = await _refused(stack.client.jobs.ReviewJob(pb_review(job.id, decision=0)), grpc.StatusCode.INVALID_ARGUMENT)
    assert details_of(error)[1][0][0] == "decision"


def pb_review(job_id: str, decision: int):
    from genmedia.v1 import job_service_pb2

    return job_service_pb2.ReviewJobRequest(job_id=job_id, decision=decision)


# -- idempotent submit --

async def test_100_concurrent_duplicates_make_one_job_and_one_workflow(stack: Stack, temporal) -> None:
    request_id = str(uuid.uuid4())
    jobs = await asyncio.gather(*(stack.client.create_job(IMAGE, request_id=request_id) for _ in range(100)))
    assert len({j.id for j in jobs}) == 1
    job_id = jobs[0].id
    await EventLog(stack.client, job_id).end()
    runs = [w async for w in temporal.client.list_workflows(f'WorkflowId = "{job_id}"')]
    assert len(runs) == 1
    again = await stack.client.create_job(IMAGE, request_id=request_id)
    assert again.id == job_id and again.state == pb.JOB_STATE_COMPLETED  # the stored job, not a new one
    other = pb.JobSpec(image=pb.ImageSpec(prompt="something else", width=64, height=64))
    error = await _refused(stack.client.create_job(other, request_id=request_id), grpc.StatusCode.ALREADY_EXISTS)
    assert job_id in error.details() and details_of(error)[0] == "REQUEST_ID_REUSED"
    error = await _refused(stack.client.create_job(IMAGE, request_id=request_id, priority=1),
                           grpc.StatusCode.ALREADY_EXISTS)
    assert "different priority" in error.details()


# -- deadline --

async def test_a_job_past_its_deadline_stops_and_fails_deadline_exceeded(stack: Stack) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=3)
    job = await stack.client.create_job(SLOW_VIDEO, deadline=deadline)
    assert abs(job.deadline.ToDatetime(tzinfo=UTC) - deadline) < timedelta(milliseconds=1)
    events = await EventLog(stack.client, job.id).end(timeout=30)
    assert events[-1].type == pb.EVENT_TYPE_FAILED and events[-1].error.code == "DEADLINE_EXCEEDED"
    assert datetime.now(UTC) - deadline < timedelta(seconds=3)
    assert not list((stack.var / "assets" / job.id).glob("*.mp4"))
    assert _temporaries(stack, job.id) == []
    error = await _refused(stack.client.create_job(IMAGE, deadline=datetime.now(UTC) - timedelta(seconds=1)),
                           grpc.StatusCode.INVALID_ARGUMENT)
    assert details_of(error)[1][0][0] == "deadline"


# -- ETA --

async def test_a_running_job_carries_an_eta(stack: Stack) -> None:
    job = await stack.client.create_job(SLOW_VIDEO)
    log = EventLog(stack.client, job.id)
    await log.wait_for(lambda e: e.type == pb.EVENT_TYPE_PROGRESS and e.step == pb.JOB_STEP_VIDEO_GENERATION
                       and e.percent > 50)
    live = (await stack.client.get_job(job.id)).job
    assert live.HasField("estimated_completion_time")
    left = live.estimated_completion_time.ToDatetime(tzinfo=UTC) - datetime.now(UTC)
    assert timedelta(0) < left < timedelta(seconds=10)
    progress = [e for e in log.events if e.type == pb.EVENT_TYPE_PROGRESS]
    assert all(e.HasField("estimated_completion_time") for e in progress)
    events = await log.end()
    assert not events[-1].HasField("estimated_completion_time")


# -- priority --

async def test_with_a_backlog_a_priority_1_job_starts_before_earlier_priority_5_jobs(
        temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configure_env(monkeypatch, tmp_path)
    monkeypatch.setenv("GENMEDIA_IMAGE_STEP_DELAY_SECONDS", "0.05")
    async with job_services(tmp_path) as stack:
        stack.settings = replace(stack.settings, image_slots=1)
        await add_api(stack, temporal)
        await add_workers(stack, temporal)
        blocker = await stack.client.create_job(pb.JobSpec(image=pb.ImageSpec(prompt="busy", num_images=4)))
        blocking = EventLog(stack.client, blocker.id)
        await blocking.wait_for(_of(pb.EVENT_TYPE_PROGRESS))  # it holds the only image slot
        # One after the other, each job's image task queued before the next job is created: equal priorities
        # are served in the order their tasks were queued, and jobs created a few ms apart race to queue them.
        low, logs = [], {}
        for priority in (5, 5, 5, 5, 1):
            job = await stack.client.create_job(IMAGE, priority=priority)
            logs[job.id] = EventLog(stack.client, job.id)
            await logs[job.id].wait_for(_of(pb.EVENT_TYPE_STEP_STARTED))
            await _image_task_queued(temporal, job.id)  # it waits in the backlog
            low.append(job)
        high = low.pop()
        assert (low[0].priority, high.priority) == (5, 1)
        assert not [e for e in blocking.events if e.type == pb.EVENT_TYPE_STEP_FINISHED], "the backlog never formed"
        started = {}
        for job_id, log in logs.items():
            first = await log.wait_for(_of(pb.EVENT_TYPE_PROGRESS))  # its image step got the slot
            started[job_id] = first.time.ToDatetime()
            await log.end()
        order = sorted(started, key=started.__getitem__)
        names = {high.id: "high", **{j.id: f"low{i}" for i, j in enumerate(low)}}
        assert order[0] == high.id, [(names[k], started[k].time()) for k in order]
        assert order[1:] == [j.id for j in low], "equal priorities keep their order"
        await blocking.end()
        error = await _refused(stack.client.create_job(IMAGE, priority=9), grpc.StatusCode.INVALID_ARGUMENT)
        assert details_of(error)[1][0][0] == "priority"


async def _image_task_queued(temporal: WorkflowEnvironment, job_id: str) -> None:
    handle = temporal.client.get_workflow_handle(job_id)
    async with asyncio.timeout(30):
        while True:
            pending = (await handle.describe()).raw_description.pending_activities
            if any(a.activity_type.name == "generate_images" for a in pending):
                return
            await asyncio.sleep(0.02)


# -- review timeout, on the time-skipping server --

@pytest.fixture
async def skipping() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(venv_bin("temporal-test-server")))
    yield env
    await env.shutdown()


async def test_an_unreviewed_job_fails_review_timeout(skipping: WorkflowEnvironment, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    configure_env(monkeypatch, tmp_path)
    async with job_services(tmp_path) as stack:
        await add_api(stack, skipping)
        await add_workers(stack, skipping)
        job = await stack.client.create_job(IMAGE, review=True)  # the default review timeout: 24 h
        log = EventLog(stack.client, job.id)
        await log.wait_for(_of(pb.EVENT_TYPE_AWAITING_REVIEW))
        await skipping.sleep(timedelta(hours=23, minutes=59))
        assert (await stack.client.get_job(job.id)).job.state == pb.JOB_STATE_AWAITING_REVIEW
        await skipping.sleep(timedelta(minutes=2))
        events = await log.end()
        assert [e.type for e in events[-2:]] == [pb.EVENT_TYPE_AWAITING_REVIEW, pb.EVENT_TYPE_FAILED]
        assert events[-1].error.code == "REVIEW_TIMEOUT" and "24 h" in events[-1].error.message
        short = await stack.client.create_job(IMAGE, review=True, review_timeout=timedelta(minutes=5))
        log = EventLog(stack.client, short.id)
        await log.wait_for(_of(pb.EVENT_TYPE_AWAITING_REVIEW))
        await skipping.sleep(timedelta(minutes=6))
        last = (await log.end())[-1]
        assert last.error.code == "REVIEW_TIMEOUT" and "5 min" in last.error.message


async def test_cancels_racing_short_steps_always_end_the_job_once(
        temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cancel that reaches a step just as it finishes must still stop the job (never hang it), and a
    job always ends with exactly one terminal event."""
    configure_env(monkeypatch, tmp_path)  # image steps of a few milliseconds
    async with job_services(tmp_path) as stack:
        await add_api(stack, temporal)
        await add_workers(stack, temporal)
        jobs = [await stack.client.create_job(IMAGE, review=True) for _ in range(8)]
        for job in jobs:
            try:
                await stack.client.cancel_job(job.id)
            except grpc.aio.AioRpcError as err:
                assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err.details()
        for job in jobs:
            events = await EventLog(stack.client, job.id).end(timeout=30)
            terminal = [e.type for e in events if e.type in (pb.EVENT_TYPE_COMPLETED, pb.EVENT_TYPE_FAILED,
                                                             pb.EVENT_TYPE_CANCELLED)]
            assert terminal == [pb.EVENT_TYPE_CANCELLED], [e.type for e in events]
