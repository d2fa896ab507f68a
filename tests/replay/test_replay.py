"""The workflows replay the histories recorded from real runs (tests/replay/histories, made by
`python -m tests.replay.record`), so a change that would break a job already running fails here, not in
production; and a deliberately changed copy of a workflow is refused, which shows the check bites.
docs/architecture.md says how to change a workflow safely."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from services.orchestrator.worker.batch_workflow import BatchJobWorkflow
from services.orchestrator.worker.notify_workflows import NotificationWorkflow, RedeliveryWorkflow
from services.orchestrator.worker.retention import RetentionWorkflow
from services.orchestrator.worker.workflows import GenerationJobWorkflow
from tests.replay.changed import ChangedWorkflow, PatchedWorkflow

HISTORIES = Path(__file__).resolve().parent / "histories"
WORKFLOWS = [GenerationJobWorkflow, BatchJobWorkflow, NotificationWorkflow, RedeliveryWorkflow, RetentionWorkflow]
RECORDED = {"image_job": "GenerationJob", "video_job_two_reviews": "GenerationJob", "batch": "BatchJob",
            "notification": "Notification", "redelivery": "Redelivery", "retention": "Retention"}


def history(name: str):
    from temporalio.client import WorkflowHistory

    return WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())


def workflow_type(name: str) -> str:
    started = json.loads((HISTORIES / f"{name}.json").read_text())["events"][0]
    return started["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]


def test_each_workflow_type_has_a_recorded_history():
    assert {path.stem for path in HISTORIES.glob("*.json")} == set(RECORDED)
    assert {name: workflow_type(name) for name in RECORDED} == RECORDED


@pytest.mark.parametrize("name", sorted(RECORDED))
async def test_the_workflows_replay_a_recorded_history(name: str):
    result = await Replayer(workflows=WORKFLOWS).replay_workflow(history(name))
    assert result.replay_failure is None


# The job workflow changed as a developer might: one more timer before every report. Unguarded, every
# recorded job history refuses it; behind workflow.patched it replays (tests/replay/changed.py).
@pytest.mark.parametrize("name", ["image_job", "video_job_two_reviews"])
async def test_an_unpatched_change_is_refused_by_the_recorded_history(name: str):
    with pytest.raises(NondeterminismError):
        await Replayer(workflows=[ChangedWorkflow]).replay_workflow(history(name))


@pytest.mark.parametrize("name", ["image_job", "video_job_two_reviews"])
async def test_the_same_change_behind_workflow_patched_replays(name: str):
    result = await Replayer(workflows=[PatchedWorkflow]).replay_workflow(history(name))
    assert result.replay_failure is None
