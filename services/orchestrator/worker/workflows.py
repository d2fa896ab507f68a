"""GenerationJobWorkflow: drives one job through its steps (image generation, an optional human review,
video rendering), steered by cancellation, pause/resume and review updates, within an optional deadline.

(Over 300 lines: one workflow class, whose updates, main loop and reports share its state.)
No I/O here: every effect is an activity. The workflow keeps the job's status for the `status` query
(the live view JobService.GetJob reads) and reports each transition to the progress service."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from google.protobuf import json_format

    from genmedia.v1 import common_pb2 as pb
    from services.orchestrator.model import (
        JOB_VERSION,
        EventInput,
        EventsInput,
        JobInput,
        JobStatus,
        NotifyInput,
        ReviewInput,
        StepInput,
        StepPolicyInput,
    )
    from services.orchestrator.snapshot import status_to_job
    from services.orchestrator.worker.activities import JobActivities
    from services.orchestrator.worker.notify_workflows import notify_event
    from services.orchestrator.worker.recorded import RecordedActivities
    from services.orchestrator.worker.reports import JobReports

WORKFLOW_NAME = "GenerationJob"
# Share of the job's percent each step covers: (image generation, video rendering).
VIDEO_SPLIT = (0.0, 30.0, 95.0)
IMAGE_SPLIT = (0.0, 95.0)
EVENT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))
# Spec fields review corrections may change, and where they apply in an image or a video spec.
CORRECTABLE = ("prompt", "negative_prompt", "seed", "style", "width", "height")
PAUSABLE = (pb.JOB_STATE_PENDING, pb.JOB_STATE_RUNNING, pb.JOB_STATE_RETRYING)
# Patches (workflow.patched): histories recorded before a change replay as they ran.
READS_PROGRESS_AT_END = "reads-progress-at-end"  # an ending in a step reads back the step's percent
RESUME_WAITS = "resume-waits-for-the-job"  # the resume update answers once the job runs again
# STARTED goes out with the first STEP_STARTED (and the steps' estimate), a STEP_FINISHED with the report
# after it: one local activity each (JobReports.report_events), not one per event and one for the estimate.
# Asked for only by jobs started without a version: a patch costs every job a marker and a search attribute.
REPORTS_COALESCED = "reports-coalesced"


class JobFailed(Exception):
    """Ends the job FAILED with a stable reason (REJECTED, REVIEW_TIMEOUT, DEADLINE_EXCEEDED...), naming the
    provider and its request id when a provider call failed."""

    def __init__(self, code: str, message: str, provider: str = "", provider_request_id: str = "") -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.provider, self.provider_request_id = provider, provider_request_id


def refuse(message: str, reason: str) -> ApplicationError:
    """An update refused by its validator: JobService answers FAILED_PRECONDITION with this reason."""
    return ApplicationError(message, {"reason": reason}, type="FAILED_PRECONDITION", non_retryable=True)


def name_of(state: int) -> str:
    return pb.JobState.Name(state).removeprefix("JOB_STATE_")


@workflow.defn(name=WORKFLOW_NAME)
class GenerationJobWorkflow:
    @workflow.init
    def __init__(self, job: JobInput) -> None:
        self.job = job
        self.status = JobStatus(job=job, state=pb.JOB_STATE_PENDING, step=pb.JOB_STEP_UNSPECIFIED,
                                percent=0.0, message="queued", spec=dict(job.spec))
        self.decision: ReviewInput | None = None  # set by the review update, taken by the main loop
        self.applied = 0  # review decisions the main loop has acted on
        self.pauses = 0
        self.resumes = 0  # pauses that have ended (RESUMED recorded)
        self.deadline_passed = False
        self.stopping = False  # cancelled or past the deadline: no new step, report or wait may begin
        self.estimates = (0.0, 0.0)  # expected seconds of (image generation, video rendering)
        self.in_step = False  # a step's activity was started and has not returned
        self.coalesce = False  # REPORTS_COALESCED
        self.held: list[EventInput] = []  # events that go out with the next report
        self.held_notice: dict[str, Any] | None = None  # the STARTED notification, once STARTED is recorded

    @workflow.query(name="status")
    def get_status(self) -> JobStatus:
        return self.status

    # -- steering: updates whose validators refuse wrong-state calls before anything is recorded --

    @workflow.update(name="pause")
    def pause(self) -> JobStatus:
        if not self.status.pause_requested:
            self.status.pause_requested = True
            if self.status.state != pb.JOB_STATE_PAUSED:
                self.status.message = "pausing after the current step"
        return self.status

    @pause.validator
    def _check_pause(self) -> None:
        if self.status.state not in PAUSABLE:
            raise refuse(f"job is {name_of(self.status.state)}; only a pending or running job can be paused",
                         "JOB_NOT_PAUSABLE")

    @workflow.update(name="resume")
    async def resume(self) -> JobStatus:
        self.status.pause_requested = False
        if self.status.state != pb.JOB_STATE_PAUSED:
            self.status.message = "running"  # the pause had not begun: it is called off
        elif workflow.patched(RESUME_WAITS):  # answer as the job is now, not as it was (PAUSED)
            ended = self.pauses
            await workflow.wait_condition(lambda: self.resumes >= ended or self.stopping)
        return self.status

    @resume.validator
    def _check_resume(self) -> None:
        if self.status.state != pb.JOB_STATE_PAUSED and not self.status.pause_requested:
            raise refuse(f"job is {name_of(self.status.state)}, not PAUSED", "JOB_NOT_PAUSED")

    @workflow.update(name="review")
    async def review(self, decision: ReviewInput) -> JobStatus:
        self.decision = decision
        done = self.applied + 1
        await workflow.wait_condition(lambda: self.applied >= done)  # the decision is recorded and acted on
        return self.status

    @review.validator
    def _check_review(self, decision: ReviewInput) -> None:
        if self.status.state != pb.JOB_STATE_AWAITING_REVIEW or self.decision is not None:
            raise refuse(f"job is {name_of(self.status.state)}, not AWAITING_REVIEW", "JOB_NOT_AWAITING_REVIEW")
        if decision.round and decision.round != self.status.review_round:
            raise refuse(f"round {decision.round} was decided already; the job awaits the review of round "
                         f"{self.status.review_round}", "REVIEW_ROUND_MISMATCH")

    # -- the job --

    @workflow.run
    async def run(self, job: JobInput) -> JobStatus:
        self.status.start_time = workflow.now().isoformat()
        body = asyncio.create_task(self._body(job))
        try:
            await self._within_deadline(body, job.deadline)
            assets = body.result()
        except GeneratorExit:  # the run's coroutine is being closed (a worker dropped it): nothing ended
            raise
        except BaseException as exc:  # every ending is reported, then re-raised or mapped
            await self._stop(body)
            await self._progress_so_far()
            if self.deadline_passed:
                failure = JobFailed("DEADLINE_EXCEEDED", f"the job passed its deadline {job.deadline}")
            elif is_cancelled_exception(exc) or workflow.cancellation_reason() is not None:
                await self._end(pb.EVENT_TYPE_CANCELLED, "cancelled", pb.JOB_STATE_CANCELLED, "cancelled")
                raise asyncio.CancelledError("the job was cancelled") from None
            elif isinstance(exc, ActivityError):
                failure = _step_failure(exc)
            elif isinstance(exc, JobFailed):
                failure = exc
            else:
                raise
            self.status.error = {"code": failure.code, "message": failure.message, "retryable": False}
            if failure.provider:
                self.status.error.update(provider=failure.provider, provider_request_id=failure.provider_request_id)
            await self._end(pb.EVENT_TYPE_FAILED, "failed", pb.JOB_STATE_FAILED, f"failed: {failure.message}",
                            error=self.status.error)
            raise ApplicationError(failure.message, type=failure.code, non_retryable=True) from None
        self.status.assets = assets
        await self._end(pb.EVENT_TYPE_COMPLETED, "completed", pb.JOB_STATE_COMPLETED, "completed",
                        percent=100.0, assets=assets)
        return self.status

    async def _within_deadline(self, body: asyncio.Task, deadline: str) -> None:
        if not deadline:
            await workflow.wait([body])
            return
        left = (datetime.fromisoformat(deadline) - workflow.now()).total_seconds()
        try:
            await workflow.wait_condition(body.done, timeout=max(left, 0.001))
        except TimeoutError:
            self.deadline_passed = True
            raise

    async def _stop(self, body: asyncio.Task) -> None:
        """Cancels the job's work and waits until its running step has stopped and cleaned up. A step that
        finishes anyway (its result raced the cancel) returns normally, so the body also stops at its next
        checkpoint."""
        self.stopping = True
        if not body.done():
            body.cancel()
        await workflow.wait([body])
        if not body.cancelled():
            body.exception()  # retrieved: the caller maps the ending from the exception it already holds

    async def _body(self, job: JobInput) -> list[dict[str, Any]]:
        if job.version < JOB_VERSION:
            self.coalesce = workflow.patched(REPORTS_COALESCED)
        else:
            self.coalesce = True
            if workflow.unsafe.is_replaying():
                # A worker of a release before versions ignores the field and may have recorded the patch's
                # marker here: a replay must take it. Without one, the call answers False and records nothing.
                workflow.patched(REPORTS_COALESCED)
        await self._report(pb.EVENT_TYPE_STARTED, "started", pb.JOB_STATE_RUNNING, pb.JOB_STEP_VALIDATING,
                           "started", hold=True)
        if not self.coalesce:
            await self._notify(pb.EVENT_TYPE_STARTED, "started")
        elif job.notify and job.notify_policy is not None:
            self.held_notice = self._notice(pb.EVENT_TYPE_STARTED, "started")
        if job.kind == pb.JOB_KIND_NULL:  # a dry run: one step on the job queue, no service is called
            null = self.status.spec.get("null", {})
            seconds = float(null.get("duration", "0s").removesuffix("s"))
            self.estimates = (0.0, seconds)
            policy = job.image_policy and replace(
                job.image_policy, task_queue=workflow.info().task_queue,
                start_to_close_s=max(job.image_policy.start_to_close_s, seconds + 60),
                schedule_to_close_s=max(job.image_policy.schedule_to_close_s, seconds + 60))
            assets = await self._step(JobActivities.run_null, policy, pb.JOB_STEP_VALIDATING, null, *IMAGE_SPLIT)
            await self._pause_point()
            return assets
        while True:
            images = await self._generate_images(job)
            if not job.review or await self._review(job, images):
                break
        if job.kind == pb.JOB_KIND_VIDEO:
            video = self.status.spec["video"]
            images = images + await self._step(JobActivities.render_video, job.video_policy,
                                               pb.JOB_STEP_VIDEO_GENERATION, video, VIDEO_SPLIT[1], VIDEO_SPLIT[2],
                                               image_uri=images[0]["uri"])
        await self._pause_point()  # a pause asked for in the last step holds the job before it completes
        return images

    async def _generate_images(self, job: JobInput) -> list[dict[str, Any]]:
        spec = self.status.spec
        if job.kind == pb.JOB_KIND_IMAGE:
            image_spec, (start, end) = spec["image"], IMAGE_SPLIT
        else:
            video = spec["video"]
            image_spec = {k: video[k] for k in ("prompt", "negative_prompt", "seed", "style") if k in video}
            image_spec.update(width=video["width"], height=video["height"], num_images=1)
            start, end = VIDEO_SPLIT[0], VIDEO_SPLIT[1]
        if self.coalesce:  # estimated by the step's first report
            return await self._step(JobActivities.generate_images, job.image_policy, pb.JOB_STEP_IMAGE_GENERATION,
                                    image_spec, start, end, specs=[image_spec, spec.get("video")])
        self.estimates = tuple(await workflow.execute_local_activity_method(
            JobActivities.estimate_steps, [image_spec, spec.get("video")],
            start_to_close_timeout=timedelta(seconds=10),
        ))
        return await self._step(JobActivities.generate_images, job.image_policy, pb.JOB_STEP_IMAGE_GENERATION,
                                image_spec, start, end)

    async def _review(self, job: JobInput, images: list[dict[str, Any]]) -> bool:
        """Waits for a decision on the candidate images: True to go on, False to regenerate."""
        status = self.status
        status.review_round += 1
        rnd = status.review_round
        status.assets, status.eta = images, ""
        await self._report(pb.EVENT_TYPE_AWAITING_REVIEW, f"review.{rnd}:awaiting", pb.JOB_STATE_AWAITING_REVIEW,
                           pb.JOB_STEP_REVIEW, f"awaiting review (round {rnd})", assets=images, review_round=rnd)
        await self._notify(pb.EVENT_TYPE_AWAITING_REVIEW, f"review-{rnd}")
        try:
            await workflow.wait_condition(lambda: self.decision is not None or self.stopping,
                                          timeout=timedelta(seconds=job.review_timeout_s))
        except TimeoutError:
            raise JobFailed("REVIEW_TIMEOUT", f"no review decision within {_human(job.review_timeout_s)}") from None
        self._checkpoint()
        decision, self.decision = self.decision, None
        assert decision is not None
        record = {"round": rnd, "decision": pb.ReviewDecision.Name(decision.decision), "reviewer": decision.reviewer,
                  "time": workflow.now().isoformat().replace("+00:00", "Z"), "feedback": decision.feedback,
                  "corrections": decision.corrections}
        status.reviews.append(record)
        approved = decision.decision == pb.REVIEW_DECISION_APPROVE
        corrected = not approved and bool(decision.corrections)
        if corrected:
            status.spec = _corrected(status.spec, decision.corrections)
        verdict = "approved" if approved else "rejected with corrections" if corrected else "rejected"
        await self._report(pb.EVENT_TYPE_REVIEWED, f"review.{rnd}:decided", pb.JOB_STATE_RUNNING, pb.JOB_STEP_REVIEW,
                           f"round {rnd} {verdict}" + (f": {decision.feedback}" if decision.feedback else ""),
                           review=record, review_round=rnd, spec=status.spec if corrected else None)
        self.applied += 1
        if not approved and not corrected:
            raise JobFailed("REJECTED", f"rejected in review round {rnd}"
                            + (f": {decision.feedback}" if decision.feedback else ""))
        return approved

    async def _pause_point(self) -> None:
        """Between steps: a requested pause begins here and lasts until resumed (or cancelled)."""
        status = self.status
        if not status.pause_requested:
            return
        self.pauses += 1
        before = (status.step, status.eta)
        status.eta = ""
        await self._report(pb.EVENT_TYPE_PAUSED, f"paused.{self.pauses}", pb.JOB_STATE_PAUSED, status.step, "paused")
        await workflow.wait_condition(lambda: not status.pause_requested or self.stopping)
        self._checkpoint()
        status.eta = before[1]
        await self._report(pb.EVENT_TYPE_RESUMED, f"resumed.{self.pauses}", pb.JOB_STATE_RUNNING, before[0],
                           "resumed")
        self.resumes = self.pauses

    async def _step(self, fn, policy: StepPolicyInput | None, step: int, spec: dict[str, Any],
                    start: float, end: float, image_uri: str = "",
                    specs: list[dict[str, Any] | None] | None = None) -> list[dict[str, Any]]:
        """Runs one step; `specs` (image and video) has the step's report estimate the steps first."""
        await self._pause_point()
        assert policy is not None
        name = pb.JobStep.Name(step).removeprefix("JOB_STEP_").lower()
        rnd = self.status.review_round + 1 if step == pb.JOB_STEP_IMAGE_GENERATION else 1
        estimate, later = self._estimated(step)
        self.status.eta = (workflow.now() + timedelta(seconds=estimate + later)).isoformat()
        self.status.attempt = 1
        estimates = await self._report(pb.EVENT_TYPE_STEP_STARTED, f"{name}.{rnd}:started", pb.JOB_STATE_RUNNING,
                                       step, f"{name.replace('_', ' ')} started", percent=start, specs=specs,
                                       eta_steps=[0] if self.job.review else [0, 1])
        if specs is not None:
            self.estimates = (estimates[0], estimates[1])
            estimate, later = self._estimated(step)
            self.status.eta = (workflow.now() + timedelta(seconds=estimate + later)).isoformat()
        self.in_step = True  # until the step returns: an ending meanwhile reads back the step's progress
        assets = await workflow.execute_activity_method(
            fn,
            StepInput(job_id=self.status.job.job_id, spec=spec, step=step, percent_from=start,
                      percent_to=end, image_uri=image_uri, round=rnd, estimate_s=estimate, later_s=later),
            task_queue=policy.task_queue,
            schedule_to_close_timeout=timedelta(seconds=policy.schedule_to_close_s),
            start_to_close_timeout=timedelta(seconds=policy.start_to_close_s),
            heartbeat_timeout=timedelta(seconds=policy.heartbeat_s),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=policy.initial_interval_s),
                backoff_coefficient=policy.backoff,
                maximum_interval=timedelta(seconds=policy.max_interval_s),
            ),
            # A cancelled job waits for the step to stop, so the service has removed its partial files.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        self.in_step = False
        self.status.eta = (workflow.now() + timedelta(seconds=later)).isoformat() if later else ""
        # The job's assets so far (a video keeps the image it was made from; a new image round replaces the
        # last): what the store and every view of the job show from now on.
        kept = self.status.assets if step == pb.JOB_STEP_VIDEO_GENERATION else []
        self.status.assets = [*kept, *assets]
        await self._report(pb.EVENT_TYPE_STEP_FINISHED, f"{name}.{rnd}:finished", pb.JOB_STATE_RUNNING, step,
                           f"{name.replace('_', ' ')} finished", percent=end, assets=self.status.assets, hold=True)
        return assets

    def _estimated(self, step: int) -> tuple[float, float]:
        """Expected seconds of the step, and of the steps after it."""
        if step != pb.JOB_STEP_IMAGE_GENERATION:
            return self.estimates[1], 0.0
        # The time after a review is unknown until it is decided.
        return self.estimates[0], 0.0 if self.job.review else self.estimates[1]

    async def _progress_so_far(self) -> None:
        """A job ending in the middle of a step (cancelled, failed, past its deadline) got further than this
        status says: the step's progress went to the store, not here. Read back, so that the ended job shows
        one percent everywhere (GetJob, ListJobs, its last event, notifications). If the store does not
        answer, the store keeps the furthest percent anyway: only this status lags."""
        if not self.in_step or not workflow.patched(READS_PROGRESS_AT_END):
            return
        try:
            percent = await workflow.execute_local_activity_method(
                RecordedActivities.recorded_percent, self.job.job_id, start_to_close_timeout=timedelta(seconds=5),
                schedule_to_close_timeout=timedelta(seconds=15), retry_policy=EVENT_RETRY)
        except (ActivityError, asyncio.CancelledError):
            return
        self.status.percent = max(self.status.percent, percent)

    async def _end(self, type_: int, key: str, state: int, message: str, **fields: Any) -> None:
        self.status.end_time = workflow.now().isoformat()
        self.status.eta = ""
        self.status.pause_requested = False
        while True:  # the terminal event must be recorded: a cancel arriving now is too late to matter
            try:
                await self._report(type_, key, state, self.status.step, message, final=True, **fields)
                break
            except asyncio.CancelledError:
                continue
        await self._notify(type_, key, final=True)

    async def _notify(self, event: int, key: str, final: bool = False) -> None:
        """Tells the job's notify targets (a child workflow of its own: it never delays or fails the job)."""
        if self.job.notify and self.job.notify_policy is not None:
            await notify_event(NotifyInput(**self._notice(event, key)), final)

    def _notice(self, event: int, key: str) -> dict[str, Any]:
        """A notification of the job as it is now (NotifyInput's fields)."""
        job = self.job
        snapshot = json_format.MessageToDict(status_to_job(self.status), preserving_proto_field_name=True)
        return dict(job_id=job.job_id, owner=job.owner, notify=job.notify, event=event,
                    time=workflow.now().isoformat().replace("+00:00", "Z"), job=snapshot, key=key,
                    policy=job.notify_policy)

    def _checkpoint(self) -> None:
        if self.stopping:
            raise asyncio.CancelledError("the job is stopping")

    async def _report(self, type_: int, key: str, state: int, step: int, message: str,
                      percent: float | None = None, assets: list | None = None, error: dict | None = None,
                      review: dict | None = None, review_round: int = 0, spec: dict | None = None,
                      final: bool = False, hold: bool = False, specs: list | None = None,
                      eta_steps: list[int] | None = None) -> list[float]:
        """Records an event (with the held ones before it), or with `hold` (REPORTS_COALESCED) keeps it for the
        next report; answers the steps' estimates when `specs` asks for them."""
        if not final:
            self._checkpoint()
        status = self.status
        status.state, status.step, status.message = state, step, message
        if percent is not None:
            status.percent = max(status.percent, percent)
        event = EventInput(job_id=status.job.job_id, key=key, type=type_, state=state, step=step,
                           percent=status.percent, message=message, assets=assets or [], error=error,
                           review=review, review_round=review_round, eta=status.eta, spec=spec)
        timeouts: dict[str, Any] = dict(schedule_to_close_timeout=timedelta(hours=1),
                                        start_to_close_timeout=timedelta(seconds=10), retry_policy=EVENT_RETRY)
        if not self.coalesce:
            await workflow.execute_local_activity_method(JobActivities.report_event, event, **timeouts)
            return []
        if hold:
            self.held.append(event)
            return []
        events, self.held = [*self.held, event], []
        record = self.job.record if events[0].key == "started" else None
        try:
            estimates = await workflow.execute_local_activity_method(
                JobReports.report_events, EventsInput(events, record, specs, eta_steps or []), **timeouts)
        except BaseException as exc:
            # The held events go with the next report (a repeat is a duplicate the store ignores); but a job
            # cancelled before its first step began never started, as before this patch.
            unstarted = isinstance(exc, asyncio.CancelledError) and not final
            self.held = [e for e in events[:-1] if not (unstarted and e.type == pb.EVENT_TYPE_STARTED)]
            self.held_notice = None if unstarted else self.held_notice
            raise
        if self.held_notice is not None:
            notice, self.held_notice = self.held_notice, None
            await notify_event(NotifyInput(**notice), final)
        return estimates


def _step_failure(err: ActivityError) -> JobFailed:
    cause = err.cause
    details = cause.details if isinstance(cause, ApplicationError) else ()
    if details and isinstance(details[0], dict) and "code" in details[0]:
        info = details[0]
        return JobFailed(info["code"], info["message"], info.get("provider", ""), info.get("provider_request_id", ""))
    if isinstance(cause, TemporalTimeoutError):
        return JobFailed("STEP_TIMEOUT", "the step did not finish within its time limit")
    return JobFailed(getattr(cause, "type", None) or "STEP_FAILED", str(cause or err))


def _corrected(spec: dict[str, Any], corrections: dict[str, Any]) -> dict[str, Any]:
    """The job spec with the review's corrections applied (they were validated by the API)."""
    kind = "image" if "image" in spec else "video"
    params = dict(spec[kind])
    params.update({k: v for k, v in corrections.items() if k in CORRECTABLE})
    return {**spec, kind: params}


def _human(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
