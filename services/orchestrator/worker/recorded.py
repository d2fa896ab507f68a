"""What the progress store recorded of a job that its workflow cannot know: the running step's progress
goes from the step's activity to the store (and to Temporal's heartbeat), never through the workflow.
A job that ends in the middle of a step reads it back, so its end shows how far it got."""

from __future__ import annotations

import grpc
from temporalio import activity

from services.orchestrator.progress import ProgressCalls


class RecordedActivities:
    def __init__(self, progress: ProgressCalls) -> None:
        self.progress = progress

    @activity.defn(name="recorded_percent")
    async def recorded_percent(self, job_id: str) -> float:
        """The job's percent as the store has it (it never goes backwards)."""
        try:
            job = await self.progress.get_job(job_id)
        except grpc.aio.AioRpcError as err:
            raise RuntimeError(f"the progress service did not answer: {err.code().name}") from None
        return job.percent
