"""Changed copies of the job workflow for the replay tests: the same change (one more timer before every
report, a command a recorded history does not have) made unguarded, and behind workflow.patched. Kept apart
from the test module because Temporal's sandbox imports a workflow's module again."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from services.orchestrator.model import JobInput, JobStatus
    from services.orchestrator.workflows import WORKFLOW_NAME, GenerationJobWorkflow

PATCH_ID = "test-timer-before-reports"


@workflow.defn(name=WORKFLOW_NAME)
class ChangedWorkflow(GenerationJobWorkflow):
    @workflow.run
    async def run(self, job: JobInput) -> JobStatus:
        return await super().run(job)

    async def _report(self, *args, **kwargs) -> None:
        await workflow.sleep(timedelta(milliseconds=1))
        await super()._report(*args, **kwargs)


@workflow.defn(name=WORKFLOW_NAME)
class PatchedWorkflow(GenerationJobWorkflow):
    @workflow.run
    async def run(self, job: JobInput) -> JobStatus:
        return await super().run(job)

    async def _report(self, *args, **kwargs) -> None:
        if workflow.patched(PATCH_ID):
            await workflow.sleep(timedelta(milliseconds=1))
        await super()._report(*args, **kwargs)
