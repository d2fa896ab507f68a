"""Records the workflow histories the replay tests replay: `python -m tests.replay.record [NAME ...]` runs the
whole stack in this process on a fresh Temporal dev server and writes each named history (all of them when
none is named) to tests/replay/histories/<name>.json: an image job, a video job with two review rounds, a
batch, a job whose webhook fails once (its notification is retried), a redelivery refused once, and a
retention run. Record only a history that is missing: one recorded before a workflow change is what proves
the change is safe (docs/architecture.md)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from genmedia.domain.jobrequests import idempotent_id
from genmedia.launcher.stack import TEMPORAL_DEV_ARGS
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2
from services.orchestrator.worker.notify_workflows import notification_id, redelivery_id
from services.orchestrator.worker.retention import RetentionInput, RetentionWorkflow
from tests.conftest import venv_bin
from tests.integration.jobstack import EventLog, Stack, add_api, add_workers, configure_env, job_services
from tests.integration.receivers import receiver
from tests.integration.test_notifications import ended

HISTORIES = Path(__file__).resolve().parent / "histories"
IMAGE = pb.JobSpec(image=pb.ImageSpec(prompt="a quiet harbour", width=64, height=64))
VIDEO = pb.JobSpec(video=pb.VideoSpec(prompt="a lighthouse", width=96, height=64, duration_seconds=1, fps=12))


async def save(env: WorkflowEnvironment, workflow_id: str, name: str) -> None:
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
    print(f"{name}: {len(history.events)} events")


async def until_closed(env: WorkflowEnvironment, workflow_id: str) -> None:
    """Waits for the workflow to close, however it ends (a batch with a failed child fails)."""
    with contextlib.suppress(WorkflowFailureError):
        await env.client.get_workflow_handle(workflow_id).result()


async def image_job(env: WorkflowEnvironment, stack: Stack) -> None:
    job = await stack.client.create_job(IMAGE)
    await EventLog(stack.client, job.id).end()
    await save(env, job.id, "image_job")


async def video_job_two_reviews(env: WorkflowEnvironment, stack: Stack) -> None:
    client = stack.client
    job = await client.create_job(VIDEO, review=True)
    log = EventLog(client, job.id)
    for round_ in (1, 2):
        await log.wait_for(lambda e, r=round_: e.type == pb.EVENT_TYPE_AWAITING_REVIEW and e.review_round == r)
        if round_ == 1:
            await client.review_job(job.id, approve=False, feedback="stormier",
                                    corrections=pb.ReviewCorrections(prompt="a stormy lighthouse", seed=7))
        else:
            await client.review_job(job.id, approve=True, round=2)
    await log.end()
    await save(env, job.id, "video_job_two_reviews")


async def batch(env: WorkflowEnvironment, stack: Stack) -> None:
    duration = Duration(nanos=200_000_000)
    jobs = [job_service_pb2.CreateJobRequest(spec=pb.JobSpec(null=pb.NullSpec(duration=duration))) for _ in range(3)]
    jobs.append(job_service_pb2.CreateJobRequest(spec=pb.JobSpec(null=pb.NullSpec(fail_with="BROKEN"))))
    created = await stack.client.create_batch(jobs, max_concurrent=2)
    await until_closed(env, created.id)
    await save(env, created.id, "batch")


async def notification(env: WorkflowEnvironment, stack: Stack) -> None:
    with receiver(lambda n, path: (503, {}, 0.0) if n < 1 else (200, {}, 0.0)) as hook:
        job = await stack.client.create_job(IMAGE, notify=pb.Notify(webhook_url=hook.url()))
        await EventLog(stack.client, job.id).end()
        await hook.wait_for(2)  # refused, then accepted: the notification workflow ran both attempts
        workflow_id = notification_id(job.id, "completed")
        await until_closed(env, workflow_id)
    await save(env, workflow_id, "notification")


async def redelivery(env: WorkflowEnvironment, stack: Stack) -> None:
    """The job's COMPLETED webhook is accepted, then sent again: refused once, accepted on the retry."""
    client = stack.client
    with receiver(lambda n, path: (503, {}, 0.0) if n == 1 else (200, {}, 0.0)) as hook:
        job = await client.create_job(IMAGE, notify=pb.Notify(webhook_url=hook.url()))
        await EventLog(client, job.id).end()
        (first,) = await ended(stack, job.id, 1)
        request_id = str(uuid.uuid4())
        await client.redeliver(first.id, request_id=request_id)
        workflow_id = redelivery_id(first.id, idempotent_id(job.owner, request_id))
        await until_closed(env, workflow_id)
        assert len(hook.requests) == 3, hook.requests
    await save(env, workflow_id, "redelivery")


async def retention(env: WorkflowEnvironment, stack: Stack) -> None:
    """A run as the retention schedule starts it, on the job queue: it purges whatever ended 30 days ago."""
    workflow_id = f"retention-{uuid.uuid4().hex[:8]}"
    await env.client.execute_workflow(RetentionWorkflow.run, RetentionInput(30), id=workflow_id,
                                      task_queue=stack.settings.task_queue)
    await save(env, workflow_id, "retention")


RECORDINGS: dict[str, Callable[[WorkflowEnvironment, Stack], Awaitable[None]]] = {
    "image_job": image_job, "video_job_two_reviews": video_job_two_reviews, "batch": batch,
    "notification": notification, "redelivery": redelivery, "retention": retention}


async def main(names: list[str]) -> None:
    unknown = set(names) - set(RECORDINGS)
    if unknown:
        raise SystemExit(f"no such history: {', '.join(sorted(unknown))}; the histories: {', '.join(RECORDINGS)}")
    HISTORIES.mkdir(exist_ok=True)
    monkeypatch = pytest.MonkeyPatch()
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(venv_bin("temporal")),
                                                dev_server_log_level="error",
                                                dev_server_extra_args=list(TEMPORAL_DEV_ARGS))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            var = Path(tmp)
            configure_env(monkeypatch, var)
            monkeypatch.setenv("GENMEDIA_NOTIFY_PRIVATE_ADDRESSES", "allow")  # the receiver is on loopback
            monkeypatch.setenv("GENMEDIA_NOTIFY_RETRY_INITIAL_SECONDS", "0.2")
            async with job_services(var) as stack:
                await add_api(stack, env)
                await add_workers(stack, env)
                for name in names or RECORDINGS:
                    await RECORDINGS[name](env, stack)
    finally:
        monkeypatch.undo()
        await env.shutdown()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
