"""GenerationJobWorkflow: drives one job through its steps (image generation, then video rendering).

No I/O here: every effect is an activity. The workflow keeps the job's status for the `status` query
(the live view JobService.GetJob reads) and reports each transition to the progress service."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from genmedia.v1 import common_pb2 as pb
    from services.orchestrator.activities import JobActivities
    from services.orchestrator.model import EventInput, JobInput, JobStatus, StepInput, StepPolicyInput

WORKFLOW_NAME = "GenerationJob"
# Share of the job's percent each step covers: (image generation, video rendering).
VIDEO_SPLIT = (0.0, 30.0, 95.0)
IMAGE_SPLIT = (0.0, 95.0)
EVENT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))


@workflow.defn(name=WORKFLOW_NAME)
class GenerationJobWorkflow:
    @workflow.init
    def __init__(self, job: JobInput) -> None:
        self.status = JobStatus(job=job, state=pb.JOB_STATE_PENDING, step=pb.JOB_STEP_UNSPECIFIED,
                                percent=0.0, message="queued")

    @workflow.query(name="status")
    def get_status(self) -> JobStatus:
        return self.status

    @workflow.run
    async def run(self, job: JobInput) -> JobStatus:
        self.status.start_time = workflow.now().isoformat()
        await self._report(pb.EVENT_TYPE_STARTED, "started", pb.JOB_STATE_RUNNING, pb.JOB_STEP_VALIDATING,
                           "started")
        try:
            assets = await self._steps(job)
        except ActivityError as err:
            await self._fail(err)
            raise ApplicationError(self.status.message, type=self.status.error["code"],
                                   non_retryable=True) from None
        self.status.assets = assets
        self.status.end_time = workflow.now().isoformat()
        await self._report(pb.EVENT_TYPE_COMPLETED, "completed", pb.JOB_STATE_COMPLETED,
                           pb.JOB_STEP_FINALIZING, "completed", percent=100.0, assets=assets)
        return self.status

    async def _steps(self, job: JobInput) -> list[dict[str, Any]]:
        spec = job.spec
        if job.kind == pb.JOB_KIND_IMAGE:
            return await self._step(
                JobActivities.generate_images, job.image_policy, pb.JOB_STEP_IMAGE_GENERATION,
                spec["image"], IMAGE_SPLIT[0], IMAGE_SPLIT[1],
            )
        video = spec["video"]
        image_spec = {k: video[k] for k in ("prompt", "negative_prompt", "seed", "style") if k in video}
        image_spec.update(width=video["width"], height=video["height"], num_images=1)
        images = await self._step(
            JobActivities.generate_images, job.image_policy, pb.JOB_STEP_IMAGE_GENERATION,
            image_spec, VIDEO_SPLIT[0], VIDEO_SPLIT[1],
        )
        rendered = await self._step(
            JobActivities.render_video, job.video_policy, pb.JOB_STEP_VIDEO_GENERATION,
            video, VIDEO_SPLIT[1], VIDEO_SPLIT[2], image_uri=images[0]["uri"],
        )
        return images + rendered

    async def _step(self, fn, policy: StepPolicyInput | None, step: int, spec: dict[str, Any],
                    start: float, end: float, image_uri: str = "") -> list[dict[str, Any]]:
        name = pb.JobStep.Name(step).removeprefix("JOB_STEP_").lower()
        await self._report(pb.EVENT_TYPE_STEP_STARTED, f"{name}:started", pb.JOB_STATE_RUNNING, step,
                           f"{name.replace('_', ' ')} started", percent=start)
        assert policy is not None
        assets = await workflow.execute_activity_method(
            fn,
            StepInput(job_id=self.status.job.job_id, spec=spec, step=step, percent_from=start,
                      percent_to=end, image_uri=image_uri),
            task_queue=policy.task_queue,
            schedule_to_close_timeout=timedelta(seconds=policy.schedule_to_close_s),
            start_to_close_timeout=timedelta(seconds=policy.start_to_close_s),
            heartbeat_timeout=timedelta(seconds=policy.heartbeat_s),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=policy.initial_interval_s),
                backoff_coefficient=policy.backoff,
                maximum_interval=timedelta(seconds=policy.max_interval_s),
            ),
        )
        await self._report(pb.EVENT_TYPE_STEP_FINISHED, f"{name}:finished", pb.JOB_STATE_RUNNING, step,
                           f"{name.replace('_', ' ')} finished", percent=end, assets=assets)
        return assets

    async def _fail(self, err: ActivityError) -> None:
        cause = err.cause
        details = cause.details if isinstance(cause, ApplicationError) else ()
        if details and isinstance(details[0], dict):
            code, message = details[0]["code"], details[0]["message"]
        elif isinstance(cause, TemporalTimeoutError):
            code, message = "DEADLINE_EXCEEDED", "the step did not finish within its time limit"
        else:
            code = getattr(cause, "type", None) or "STEP_FAILED"
            message = str(cause or err)
        error = {"code": code, "message": message, "retryable": False}
        self.status.error = error
        self.status.end_time = workflow.now().isoformat()
        await self._report(pb.EVENT_TYPE_FAILED, "failed", pb.JOB_STATE_FAILED, self.status.step,
                           f"failed: {message}", error=error)

    async def _report(self, type_: int, key: str, state: int, step: int, message: str,
                      percent: float | None = None, assets: list | None = None, error: dict | None = None):
        status = self.status
        status.state, status.step, status.message = state, step, message
        if percent is not None:
            status.percent = max(status.percent, percent)
        await workflow.execute_local_activity_method(
            JobActivities.report_event,
            EventInput(job_id=status.job.job_id, key=key, type=type_, state=state, step=step,
                       percent=status.percent, message=message, assets=assets or [], error=error),
            schedule_to_close_timeout=timedelta(hours=1),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=EVENT_RETRY,
        )
