"""A worker killed (SIGKILL) in the middle of a step, with the default heartbeat timeout and retry policy:
within 10 s the job shows RETRYING with a reason saying its worker was lost, whether one worker is
restarted in its place or a second worker was running all along; then the job completes."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from genmedia.v1 import common_pb2 as pb
from tests.integration.jobstack import EventLog, Stack, add_api, configure_env, job_services
from tests.integration.test_orchestrator_process import orchestrator

pytestmark = pytest.mark.timeout(240)
IMAGE = pb.JobSpec(image=pb.ImageSpec(prompt="stubborn", width=256, height=256))
NOTICED_WITHIN = 10.0


@pytest.fixture
async def stack(temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    configure_env(monkeypatch, tmp_path)
    for name in ("HEARTBEAT_TIMEOUT", "RETRY_INITIAL", "RETRY_MAX"):  # the defaults, as `make run` has them
        monkeypatch.delenv(f"GENMEDIA_IMAGE_{name}_SECONDS", raising=False)
    monkeypatch.setenv("GENMEDIA_IMAGE_STEP_DELAY_SECONDS", "0.5")  # an attempt lasts about 4.5 s
    async with job_services(tmp_path) as stack:
        await add_api(stack, temporal)
        yield stack


async def running_step(stack: Stack) -> tuple[str, EventLog]:
    job = await stack.client.create_job(IMAGE)
    log = EventLog(stack.client, job.id)
    await log.wait_for(lambda e: e.type == pb.EVENT_TYPE_PROGRESS and e.step == pb.JOB_STEP_IMAGE_GENERATION,
                       timeout=60)
    return job.id, log


async def step_worker_pid(temporal: WorkflowEnvironment, job_id: str) -> int:
    """The process running the job's step: Temporal knows its worker's identity, `pid@host`."""
    description = await temporal.client.get_workflow_handle(job_id).describe()
    (pending,) = description.raw_description.pending_activities
    return int(pending.last_worker_identity.split("@")[0])


async def noticed(log: EventLog, killed_at: float) -> pb.JobEvent:
    retrying = await log.wait_for(lambda e: e.type == pb.EVENT_TYPE_RETRYING, timeout=30)
    took = time.monotonic() - killed_at
    assert took < NOTICED_WITHIN, f"RETRYING came {took:.1f} s after the worker was killed"
    assert retrying.error.code == "WORKER_LOST" and "worker" in retrying.message, retrying
    assert retrying.state == pb.JOB_STATE_RETRYING and retrying.attempt == 1
    return retrying


async def completes(log: EventLog) -> None:
    events = await log.end(timeout=90)
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED
    types = [e.type for e in events]
    retried = types.index(pb.EVENT_TYPE_RETRYING)
    assert pb.EVENT_TYPE_PROGRESS in types[retried + 1:]  # attempt 2 ran (RUNNING again) after the report
    assert len([t for t in types if t == pb.EVENT_TYPE_RETRYING]) == 1


async def test_a_killed_worker_is_reported_lost_by_the_worker_restarted_in_its_place(
        stack: Stack, temporal: WorkflowEnvironment) -> None:
    with orchestrator(stack, temporal, "worker") as first:
        job_id, log = await running_step(stack)
        first.kill()
        killed_at = time.monotonic()
        await asyncio.to_thread(first.wait)
    with orchestrator(stack, temporal, "worker"):  # restarted at once, as `make run` does
        await noticed(log, killed_at)
        await completes(log)
    assert job_id


async def test_a_killed_worker_is_reported_lost_by_the_other_worker(stack: Stack,
                                                                   temporal: WorkflowEnvironment) -> None:
    with orchestrator(stack, temporal, "worker") as one, orchestrator(stack, temporal, "worker") as other:
        job_id, log = await running_step(stack)
        pid = await step_worker_pid(temporal, job_id)
        assert pid in (one.pid, other.pid)
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        await noticed(log, killed_at)
        await completes(log)
