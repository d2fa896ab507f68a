"""The job workflow stays replay-safe: histories recorded by an earlier version (tests/integration/histories:
a null, an image and a video job, recorded before the reports-coalesced patch) replay with today's code, and
so do the histories of jobs run now. The CREATED record the API lost is made good by the job's workflow."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from genmedia.v1 import common_pb2 as pb
from services.orchestrator.api.jobs import JobManager
from services.orchestrator.worker.workflows import GenerationJobWorkflow
from tests.integration.jobstack import (
    Stack,
    full_stack,
    watch_to_end,
)

pytestmark = pytest.mark.timeout(120)
HISTORIES = Path(__file__).parent / "histories"


def replayer() -> Replayer:
    """The worker runs workflows unsandboxed; replays run them in Temporal's sandbox with none of genmedia's own
    modules passed through, so that a clock, random or I/O call in a workflow fails the replay."""
    return Replayer(workflows=[GenerationJobWorkflow], workflow_runner=SandboxedWorkflowRunner())


@pytest.mark.parametrize("name", ["null-job", "image-job", "video-job"])
async def test_histories_of_the_earlier_version_replay(name: str) -> None:
    history = WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


@pytest.fixture
async def stack(temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    async with full_stack(temporal, tmp_path, monkeypatch) as stack:
        yield stack


async def test_jobs_run_now_replay_and_send_two_reports(stack: Stack, temporal: WorkflowEnvironment) -> None:
    specs = [pb.JobSpec(null=pb.NullSpec()), pb.JobSpec(image=pb.ImageSpec(prompt="a kite", width=64, height=64)),
             pb.JobSpec(video=pb.VideoSpec(prompt="a lighthouse", width=128, height=96, duration_seconds=1, fps=12))]
    for spec in specs:
        job = await stack.client.create_job(spec)
        handle = temporal.client.get_workflow_handle(job.id)
        await handle.result()  # its history is complete
        events = await watch_to_end(stack.client, job.id)
        types = [e.type for e in events if e.type != pb.EVENT_TYPE_PROGRESS]
        steps = 2 if spec.HasField("video") else 1
        assert types == [pb.EVENT_TYPE_STARTED, *[pb.EVENT_TYPE_STEP_STARTED, pb.EVENT_TYPE_STEP_FINISHED] * steps,
                         pb.EVENT_TYPE_COMPLETED], types
        if not spec.HasField("null"):  # the step's ETA comes with its first report
            assert events[1].HasField("estimated_completion_time"), events[1]
        history = await handle.fetch_history()
        markers = [e for e in history.events if e.HasField("marker_recorded_event_attributes")]
        local = [e for e in markers if e.marker_recorded_event_attributes.marker_name == "core_local_activity"]
        assert len(local) == steps + 1, f"{len(local)} local activities"
        # Versioned by its input (JobInput.version): no patch marker, no search attribute upserted.
        assert len(markers) == len(local), [e.marker_recorded_event_attributes.marker_name for e in markers]
        assert not [e for e in history.events if e.HasField("upsert_workflow_search_attributes_event_attributes")]
        result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, result.replay_failure


async def test_a_job_started_without_a_version_coalesces_by_its_patch_and_replays_as_a_versioned_one(
        stack: Stack, temporal: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job the API started before versions takes the patch. The same history with version 1 in its input is
    what a rolling upgrade makes when an older worker (which ignores the field) runs a new API's job first: a
    new worker replaying it must take that marker too."""
    monkeypatch.setattr("services.orchestrator.api.jobs.JOB_VERSION", 0)  # as the API started jobs before
    job = await stack.client.create_job(pb.JobSpec(null=pb.NullSpec()))
    handle = temporal.client.get_workflow_handle(job.id)
    await handle.result()
    history = await handle.fetch_history()
    names = [e.marker_recorded_event_attributes.marker_name for e in history.events
             if e.HasField("marker_recorded_event_attributes")]
    assert names == ["core_patch", "core_local_activity", "core_local_activity"], names
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure

    recorded = json.loads(history.to_json())
    payload = recorded["events"][0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
    started = json.loads(base64.b64decode(payload["data"]))
    payload["data"] = base64.b64encode(json.dumps({**started, "version": 1}).encode()).decode()
    result = await replayer().replay_workflow(WorkflowHistory.from_json(job.id, json.dumps(recorded)),
                                              raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def test_a_created_record_the_api_lost_is_made_by_the_workflow(
        stack: Stack, temporal: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch) -> None:
    async def lost(self: JobManager, request) -> bool:  # as if the API died after starting the workflow
        return False

    monkeypatch.setattr(JobManager, "_record_created", lost)
    job = await stack.client.create_job(pb.JobSpec(null=pb.NullSpec()), labels={"team": "kites"})
    await temporal.client.get_workflow_handle(job.id).result()
    events = await watch_to_end(stack.client, job.id)
    assert events[0].sequence == 2 and events[-1].type == pb.EVENT_TYPE_COMPLETED
    stored = (await stack.client.get_job(job.id)).job
    assert (stored.owner, dict(stored.labels), stored.kind) == ("anonymous", {"team": "kites"}, pb.JOB_KIND_NULL)
    assert stored.create_time == job.create_time
