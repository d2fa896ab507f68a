"""Every view of a job tells the same story, as a user sees it with `genmedia get`, `list`, `history` and
the answers of `cancel`, `pause` and `resume`: the live view (JobService.GetJob, from the workflow) and the
store's (ListJobs, the job's events) agree on percent and assets, and a command answers with the job as it
is once the command has taken effect."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2
from genmedia.v1 import progress_service_pb2 as ps
from tests.integration.jobstack import EventLog, Stack, slow_stack
from tests.integration.test_job_control import SLOW_VIDEO

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
async def stack(temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    async with slow_stack(temporal, tmp_path, monkeypatch) as stack:
        yield stack


async def views(stack: Stack, job_id: str) -> tuple[pb.Job, pb.Job]:
    """The job as `genmedia get` shows it (JobService.GetJob) and as `genmedia list` does (ListJobs)."""
    live = await stack.client.get_job(job_id)
    assert live.source == job_service_pb2.GetJobResponse.SOURCE_WORKFLOW
    (listed,) = (await stack.client.list_jobs(filter=ps.JobFilter(states=[live.job.state]))).jobs
    return live.job, listed


def uris(job: pb.Job | pb.JobEvent) -> list[str]:
    return [asset.uri for asset in job.assets]


async def test_a_job_cancelled_mid_step_shows_one_percent_and_its_image_everywhere(stack: Stack) -> None:
    job = await stack.client.create_job(SLOW_VIDEO)
    log = EventLog(stack.client, job.id)
    image_done = await log.wait_for(lambda e: e.type == pb.EVENT_TYPE_STEP_FINISHED)
    await log.wait_for(lambda e: e.step == pb.JOB_STEP_VIDEO_GENERATION and e.percent >= 36)
    await stack.client.cancel_job(job.id)
    events = await log.end()
    assert events[-1].type == pb.EVENT_TYPE_CANCELLED
    live, listed = await views(stack, job.id)
    assert live.state == listed.state == pb.JOB_STATE_CANCELLED
    assert live.percent == listed.percent == events[-1].percent and live.percent >= 36, (
        live.percent, listed.percent, events[-1].percent)
    (png,) = uris(image_done)
    assert png.endswith(".png") and uris(live) == uris(listed) == [png]


async def test_pause_and_resume_answer_the_job_as_it_is_and_a_paused_job_keeps_its_assets(stack: Stack) -> None:
    job = await stack.client.create_job(SLOW_VIDEO)
    log = EventLog(stack.client, job.id)
    await log.wait_for(lambda e: e.type == pb.EVENT_TYPE_STEP_STARTED and e.step == pb.JOB_STEP_VIDEO_GENERATION)
    await stack.client.pause_job(job.id)  # the video step finishes, then the job waits before it completes
    await log.wait_for(lambda e: e.type == pb.EVENT_TYPE_PAUSED)
    live, listed = await views(stack, job.id)
    assert live.state == listed.state == pb.JOB_STATE_PAUSED
    assert live.percent == listed.percent == 95
    assert [u.rsplit(".", 1)[-1] for u in uris(live)] == ["png", "mp4"] and uris(live) == uris(listed)
    resumed = await stack.client.resume_job(job.id)
    assert resumed.state != pb.JOB_STATE_PAUSED, resumed
    events = await log.end()
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED and uris(events[-1]) == uris(live)


async def test_resume_answers_a_running_job_that_lists_as_running(stack: Stack) -> None:
    job = await stack.client.create_job(SLOW_VIDEO)
    log = EventLog(stack.client, job.id)
    await log.wait_for(lambda e: e.type == pb.EVENT_TYPE_STEP_STARTED)
    await stack.client.pause_job(job.id)  # after the image step
    await log.wait_for(lambda e: e.type == pb.EVENT_TYPE_PAUSED)
    resumed = await stack.client.resume_job(job.id)
    assert resumed.state == pb.JOB_STATE_RUNNING, resumed  # (its message: "resumed", or the next step's)
    (listed,) = (await stack.client.list_jobs(filter=ps.JobFilter(states=[pb.JOB_STATE_RUNNING]))).jobs
    assert listed.id == job.id
    await stack.client.cancel_job(job.id)
    await log.end()
