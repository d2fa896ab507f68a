"""The job commands behind JobService: create a job (record it, start its workflow) and read it live.
(Over 300 lines: every command on one job shares JobManager's lookups of the stored job, the live workflow
and its owner, so they are one class.)"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import grpc
from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import Priority, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from genmedia.domain import notify, specs
from genmedia.domain.errors import NotFound, ServiceError, check
from genmedia.domain.jobrequests import DEFAULT_REVIEW_TIMEOUT, RequestRules, check_create_job, idempotent_id
from genmedia.domain.jobrules import ACTIVE_STATES, DEFAULT_PRIORITY, TERMINAL_STATES, job_id_violations
from genmedia.serving import logs
from genmedia.serving.auth import Principal
from genmedia.serving.ratelimit import RoleLimits
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2, progress_service_pb2, progress_service_pb2_grpc
from services.orchestrator.api.backends import BackendDirectory
from services.orchestrator.config import Settings, StepPolicy
from services.orchestrator.failures import silent_failure
from services.orchestrator.model import JOB_VERSION, JobInput, NotifyPolicyInput, ReviewInput, StepPolicyInput
from services.orchestrator.progress import ProgressCalls, created_request
from services.orchestrator.snapshot import status_to_job
from services.orchestrator.worker.workflows import GenerationJobWorkflow

log = logging.getLogger(__name__)

QUERY_TIMEOUT = timedelta(seconds=3)
UPDATE_TIMEOUT = timedelta(seconds=10)  # an update waits for a worker to take it
MAX_FEEDBACK, MAX_REASON = 2000, 500
STEER_PARALLEL = 16  # children of a batch paused or resumed at once
# The job state of a workflow that has closed.
CLOSED_STATES = {
    WorkflowExecutionStatus.COMPLETED: pb.JOB_STATE_COMPLETED,
    WorkflowExecutionStatus.CANCELED: pb.JOB_STATE_CANCELLED,
    WorkflowExecutionStatus.FAILED: pb.JOB_STATE_FAILED,
    WorkflowExecutionStatus.TERMINATED: pb.JOB_STATE_FAILED,
    WorkflowExecutionStatus.TIMED_OUT: pb.JOB_STATE_FAILED,
}


def unavailable(what: str, cause: object) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAVAILABLE, f"{what} is unavailable, try again: {cause}",
                        f"{what.upper().replace(' ', '_')}_UNAVAILABLE")


def step_policy(policy: StepPolicy, task_queue: str) -> StepPolicyInput:
    return StepPolicyInput(
        initial_interval_s=policy.initial_interval.total_seconds(), backoff=policy.backoff,
        max_interval_s=policy.max_interval.total_seconds(),
        schedule_to_close_s=policy.schedule_to_close.total_seconds(),
        start_to_close_s=policy.start_to_close.total_seconds(),
        heartbeat_s=policy.heartbeat.total_seconds(), task_queue=task_queue,
    )


def request_rules(settings: Settings) -> RequestRules:
    """What this server allows in a CreateJob or CreateBatch beyond the API's bounds."""
    return RequestRules(refuse_private=settings.notify.refuse_private, sends_email=bool(settings.notify.smtp.host),
                        content_policy=settings.content_policy)


def notify_policy(settings: Settings) -> NotifyPolicyInput:
    n = settings.notify
    return NotifyPolicyInput(
        initial_interval_s=n.retry_initial.total_seconds(), backoff=n.retry_backoff,
        max_interval_s=n.retry_max.total_seconds(), give_up_s=n.give_up.total_seconds(),
        timeout_s=n.timeout.total_seconds(),
    )


class JobManager:
    def __init__(self, client: Client, progress: progress_service_pb2_grpc.ProgressServiceStub,
                 settings: Settings, limits: dict[str, RoleLimits] | None = None) -> None:
        """`limits` per role (max_active_jobs); default: those of the API's authentication settings."""
        self.client, self.settings = client, settings
        self.progress = ProgressCalls(progress, settings.rpc_timeout)
        self.backends = BackendDirectory(settings)
        self.rules = request_rules(settings)
        auth = settings.serving.auth
        if limits is None and auth is not None and auth.enabled and auth.limiter is not None:
            limits = auth.limiter.limits
        self.limits = limits or {}

    async def check_quota(self, principal: Principal) -> None:
        """At most max_active_jobs unfinished jobs per user (checked at submit: concurrent submits of one
        user can overshoot it by the number in flight)."""
        limit = getattr(self.limits.get(principal.role), "max_active_jobs", 0)
        if not limit:
            return
        # A batch counts once: its children wait their turn inside it (at most max_concurrent run).
        flt = progress_service_pb2.JobFilter(owner=principal.user, states=ACTIVE_STATES, top_level=True)
        try:
            active = (await self.progress.list_jobs(progress_service_pb2.ListJobsRequest(filter=flt, page_size=1))
                      ).total_size
        except grpc.aio.AioRpcError as err:
            raise unavailable("progress service", err.details()) from err
        if active >= limit:
            violation = error_details_pb2.QuotaFailure.Violation(
                subject=f"user:{principal.user}", description=f"{active} of {limit} active jobs")
            raise ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"you have {active} unfinished jobs, the most allowed is {limit}; "
                               "wait for one to end or cancel one", "ACTIVE_JOBS_QUOTA",
                               metadata={"limit": str(limit)},
                               details=[error_details_pb2.QuotaFailure(violations=[violation])])

    async def create(self, request: job_service_pb2.CreateJobRequest, principal: Principal) -> pb.Job:
        spec = check_create_job(request, self.rules)
        await self.backends.check(spec)
        owner = principal.user
        job_id = idempotent_id(owner, request.request_id)
        job = pb.Job(id=job_id, kind=spec.kind, state=pb.JOB_STATE_PENDING, owner=owner, spec=spec,
                     labels=request.labels, request_id=request.request_id, message="queued",
                     priority=request.priority or DEFAULT_PRIORITY, review=request.review)
        if request.review:
            job.review_timeout.CopyFrom(request.review_timeout if request.HasField("review_timeout") else
                                        duration_of(DEFAULT_REVIEW_TIMEOUT))
        if request.HasField("deadline"):
            job.deadline.CopyFrom(request.deadline)
        if request.notify.ListFields():
            job.notify.CopyFrom(request.notify)
            job.notify.fingerprint = notify.fingerprint(request.notify, self.settings.notify.master_secret)
        job.create_time.GetCurrentTime()
        job.update_time.CopyFrom(job.create_time)
        if self.limits and (not request.request_id or not await self.exists(job_id)):
            await self.check_quota(principal)  # a repeat of a request_id does not count again
        record = json_format.MessageToDict(job, preserving_proto_field_name=True)  # notify settings unredacted
        settings = json_format.MessageToDict(job.notify, preserving_proto_field_name=True)
        created = created_request(job)  # the store keeps the notify settings unredacted
        job.notify.CopyFrom(notify.redacted(job.notify))  # as users see it, and as the store answers
        s = self.settings
        job_input = JobInput(
            job_id=job_id, kind=spec.kind, spec=json_format.MessageToDict(spec, preserving_proto_field_name=True),
            owner=owner, create_time=job.create_time.ToJsonString(), labels=dict(request.labels),
            request_id=request.request_id, image_policy=step_policy(s.image_policy, s.image_task_queue),
            video_policy=step_policy(s.video_policy, s.video_task_queue), priority=job.priority,
            deadline=job.deadline.ToJsonString() if job.HasField("deadline") else "", review=job.review,
            review_timeout_s=job.review_timeout.ToTimedelta().total_seconds() if job.review else 0.0,
            notify=settings or None, notify_policy=notify_policy(s) if settings else None, record=record,
            version=JOB_VERSION,
        )
        # The record and the start at once (docs/orchestration.md, "Creating a job"): the workflow records the
        # job itself if the API's record never lands, so a started job is never lost to the store.
        repeated, started = await asyncio.gather(self._record_created(created), self._start(job_input),
                                                  return_exceptions=True)
        if isinstance(repeated, BaseException):
            transient = isinstance(repeated, ServiceError) and repeated.code == grpc.StatusCode.UNAVAILABLE
            if started is True and (not request.request_id or not transient):
                await self._undo_start(job, f"the job could not be recorded: {repeated}")
            raise repeated  # with a request_id, a repeat answers the job its workflow records
        # A repeated request_id: the same job (its workflow is started if the first request could not), or
        # ALREADY_EXISTS when it asks for something else.
        try:
            existing = await self._existing(job) if repeated else None
        except ServiceError as err:
            if started is True and err.code == grpc.StatusCode.ALREADY_EXISTS:
                # The first request's start had failed, and this one started another spec under its id.
                await self._undo_start(job, f"its request_id was used again for another job: {err.message}")
            raise
        if isinstance(started, RPCError):
            if not request.request_id:
                await self.record_start_failure(job, started)  # nobody can retry this job: don't leave it PENDING
            raise unavailable("temporal", started) from started
        if isinstance(started, BaseException):
            raise started
        if existing is not None:
            return existing
        log.info("job created: %s", pb.JobKind.Name(spec.kind), **logs.job(job_id))
        return job

    async def _start(self, job_input: JobInput) -> bool:
        """Starts the job's workflow: True, or False when it was started before (a repeated request_id)."""
        s = self.settings
        try:
            # Activities inherit the workflow's priority, so a backlog on any task queue is served by it.
            await self.client.start_workflow(GenerationJobWorkflow.run, job_input, id=job_input.job_id,
                                             task_queue=s.task_queue,
                                             id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                                             priority=Priority(priority_key=job_input.priority),
                                             rpc_timeout=timedelta(seconds=s.rpc_timeout),
                                             # A worker of this process (role "all") takes the first workflow
                                             # task in the start's answer, instead of polling for it.
                                             request_eager_start=True)
        except WorkflowAlreadyStartedError:
            log.info("job already started (repeated request_id)", **logs.job(job_input.job_id))
            return False
        return True

    async def _undo_start(self, job: pb.Job, why: str) -> None:
        """Ends a workflow this request started for a job it then refused, and marks the job FAILED, in case
        the workflow recorded it meanwhile (a repeat of its request_id then answers it, FAILED)."""
        log.warning("ending the job this request started: %s", why, **logs.job(job.id))
        try:
            await self.client.get_workflow_handle(job.id).terminate(why, rpc_timeout=QUERY_TIMEOUT)
        except RPCError as err:
            log.warning("could not end the job's workflow: %s", err, **logs.job(job.id))
        await self.record_start_failure(job, why)

    async def record_start_failure(self, job: pb.Job, err: object) -> None:
        """Marks a job FAILED whose workflow could not be started (or was ended at once). A job with a
        request_id whose start failed stays PENDING instead: repeating the request (same id) starts it."""
        error = pb.JobError(code="START_FAILED", message=f"the job could not be started: {err}", retryable=True)
        event = pb.JobEvent(job_id=job.id, type=pb.EVENT_TYPE_FAILED, error=error, message=error.message)
        request = progress_service_pb2.ReportProgressRequest(event=event, idempotency_key="failed")
        try:
            await self.progress.report(request)
        except grpc.aio.AioRpcError as report_err:
            log.warning("could not mark the unstarted job FAILED: %s", report_err.details(), **logs.job(job.id))

    async def _existing(self, job: pb.Job) -> pb.Job:
        """The job a repeated request_id made before; ALREADY_EXISTS when this request asks otherwise."""
        stored = await self.stored(job.id)
        fields = ("spec", "labels", "review", "review_timeout", "priority", "deadline", "notify")
        differing = [name for name in fields if getattr(stored, name) != getattr(job, name)]
        if differing:
            raise ServiceError(
                grpc.StatusCode.ALREADY_EXISTS,
                f"request_id {job.request_id} was used for job {job.id} with a different {' and '.join(differing)}; "
                "use a new request_id for a new job", "REQUEST_ID_REUSED",
                metadata={"job_id": job.id, "request_id": job.request_id},
            )
        return stored

    async def exists(self, job_id: str) -> bool:
        try:
            await self.stored(job_id)
            return True
        except NotFound:
            return False

    async def stored(self, job_id: str) -> pb.Job:
        try:
            return await self.progress.get_job(job_id)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound("job", job_id) from None
            raise unavailable("progress service", err.details()) from err

    async def _record_created(self, request: progress_service_pb2.ReportProgressRequest) -> bool:
        """Records the job; True when it had been recorded before (a repeated request_id, or its workflow's
        record came first)."""
        try:
            response = await self.progress.report(request)
            return response.duplicate
        except grpc.aio.AioRpcError as err:
            if err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise unavailable("progress service", err.details()) from err
            raise ServiceError(grpc.StatusCode.INTERNAL, f"the progress service refused the job: {err.details()}",
                               "PROGRESS_REFUSED") from err

    async def get(self, job_id: str, principal: Principal) -> job_service_pb2.GetJobResponse:
        check(job_id_violations(job_id))
        job, source = await self.find(job_id, principal)
        return job_service_pb2.GetJobResponse(job=job, source=source)

    async def find(self, job_id: str, principal: Principal) -> tuple[pb.Job, int]:
        """The job as its workflow sees it (the store, when the workflow is gone or Temporal is not
        answering) and which source answered. Another user's job is NOT_FOUND, exactly like an unknown id."""
        try:
            job, source = await self._live(job_id), job_service_pb2.GetJobResponse.SOURCE_WORKFLOW
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                log.warning("live view unavailable (%s); answering from the store", err, **logs.job(job_id))
            job, source = await self.stored(job_id), job_service_pb2.GetJobResponse.SOURCE_STORE
        if not principal.admin and job.owner != principal.user:
            raise NotFound("job", job_id)
        return job, source

    async def _live(self, job_id: str) -> pb.Job:
        handle = self.client.get_workflow_handle(job_id)
        status = await handle.query(GenerationJobWorkflow.get_status, rpc_timeout=QUERY_TIMEOUT)
        job = status_to_job(status)
        if job.kind == pb.JOB_KIND_BATCH:
            return batch_view(job, await self.stored(job_id))
        if job.state not in (pb.JOB_STATE_RUNNING, pb.JOB_STATE_RETRYING):
            return job
        description = await handle.describe(rpc_timeout=QUERY_TIMEOUT)
        for pending in description.raw_description.pending_activities:
            await self._merge_pending(job, pending)
        return job

    async def _merge_pending(self, job: pb.Job, pending) -> None:
        """The running step's heartbeat carries its latest percent; a failed attempt waiting for its
        retry shows as RETRYING with the last error."""
        job.attempt = pending.attempt
        if pending.heartbeat_details.payloads:
            (details,) = await self.client.data_converter.decode(pending.heartbeat_details.payloads)
            job.percent = max(job.percent, float(details.get("percent", 0)))
            job.message = details.get("message") or job.message
            if details.get("eta"):
                job.estimated_completion_time.FromDatetime(datetime.fromisoformat(details["eta"]))
        if pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED and pending.attempt > 1:
            job.state = pb.JOB_STATE_RETRYING
            failure = pending.last_failure
            code, message = silent_failure(failure) or (failure.application_failure_info.type or "RETRYING",
                                                         failure.message)
            job.error.CopyFrom(pb.JobError(code=code, message=message, retryable=True))


    # -- steering --

    async def cancel(self, request: job_service_pb2.CancelJobRequest, principal: Principal) -> pb.Job:
        """Requests Temporal cancellation: it reaches the running step through its heartbeat, the step
        stops its service call, and the workflow reports CANCELLED. A repeat is harmless."""
        violations = job_id_violations(request.job_id)
        if len(request.reason) > MAX_REASON:
            violations.append(("reason", f"must be at most {MAX_REASON} characters"))
        check(violations)
        job_id = request.job_id
        # The workflow reports its end before it closes: its own status says whether it is ending.
        job, _ = await self.find(job_id, principal)
        if job.state in TERMINAL_STATES:
            raise _not_in_state(job_id, job.state, "cancelled", "a pending, running, paused or awaiting-review job")
        try:
            await self.client.get_workflow_handle(job_id).cancel(rpc_timeout=QUERY_TIMEOUT)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise unavailable("temporal", err) from err
            return await self._cancel_unstarted(job_id)
        log.info("cancel requested%s", f": {request.reason}" if request.reason else "", **logs.job(job_id))
        job.message = "cancelling" + (f": {request.reason}" if request.reason else "")
        return job

    async def _cancel_unstarted(self, job_id: str) -> pb.Job:
        """A job whose workflow is gone or never started (its start failed; it has a request_id)."""
        job = await self.stored(job_id)
        if job.state in TERMINAL_STATES:
            raise _not_in_state(job_id, job.state, "cancelled", "a pending, running, paused or awaiting-review job")
        event = pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_CANCELLED, message="cancelled before it started")
        request = progress_service_pb2.ReportProgressRequest(event=event, idempotency_key="cancelled")
        try:
            if job.kind == pb.JOB_KIND_BATCH:
                await self.progress.cancel_pending(job_id, "cancelled before it started")
            await self.progress.report(request)
        except grpc.aio.AioRpcError as err:
            raise unavailable("progress service", err.details()) from err
        return await self.stored(job_id)

    async def pause(self, job_id: str, principal: Principal) -> pb.Job:
        check(job_id_violations(job_id))
        job, _ = await self.find(job_id, principal)
        answer = await self._update(job_id, GenerationJobWorkflow.pause, None, "paused", "a pending or running job")
        return await self._steer_children(job, answer, GenerationJobWorkflow.pause)

    async def resume(self, job_id: str, principal: Principal) -> pb.Job:
        check(job_id_violations(job_id))
        job, _ = await self.find(job_id, principal)
        answer = await self._update(job_id, GenerationJobWorkflow.resume, None, "resumed", "a PAUSED job")
        return await self._steer_children(job, answer, GenerationJobWorkflow.resume)

    async def _steer_children(self, job: pb.Job, answer: pb.Job, update) -> pb.Job:
        """A batch pauses or resumes the children it is running now (it starts no new one while paused);
        a child that ended meanwhile, or is not in a state for it, is left as it is."""
        if job.kind != pb.JOB_KIND_BATCH:
            return answer
        status = await self.client.get_workflow_handle(job.id).query(GenerationJobWorkflow.get_status,
                                                                      rpc_timeout=QUERY_TIMEOUT)
        gate = asyncio.Semaphore(STEER_PARALLEL)

        async def steer(child_id: str) -> None:
            async with gate:
                try:
                    await self._update(child_id, update, None, "steered", "a running child")
                except ServiceError as err:
                    if err.code == grpc.StatusCode.UNAVAILABLE:
                        raise

        await asyncio.gather(*(steer(child_id) for child_id in status.running_children))
        return batch_view(answer, await self.stored(job.id), answer.message)

    async def review(self, request: job_service_pb2.ReviewJobRequest, principal: Principal) -> pb.Job:
        violations = job_id_violations(request.job_id)
        if request.decision not in (pb.REVIEW_DECISION_APPROVE, pb.REVIEW_DECISION_REJECT):
            violations.append(("decision", "must be REVIEW_DECISION_APPROVE or REVIEW_DECISION_REJECT"))
        if len(request.feedback) > MAX_FEEDBACK:
            violations.append(("feedback", f"must be at most {MAX_FEEDBACK} characters"))
        if request.round < 0:
            violations.append(("round", f"must not be negative, got {request.round}"))
        corrections = request.corrections if request.HasField("corrections") else None
        if corrections is not None and corrections.ListFields() and request.decision != pb.REVIEW_DECISION_REJECT:
            violations.append(("corrections", "are only allowed with REVIEW_DECISION_REJECT"))
        check(violations)
        job, _ = await self.find(request.job_id, principal)
        if job.kind == pb.JOB_KIND_BATCH:
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION, f"job {job.id} is a batch; review its children",
                               "JOB_NOT_AWAITING_REVIEW", metadata={"job_id": job.id})
        if corrections is not None and corrections.ListFields():
            check(specs.correction_violations(corrections, job.kind))
            self.settings.content_policy.check([("corrections.prompt", corrections.prompt),
                                                ("corrections.negative_prompt", corrections.negative_prompt)])
        decision = ReviewInput(
            decision=request.decision, reviewer=principal.user, feedback=request.feedback, round=request.round,
            corrections=json_format.MessageToDict(corrections, preserving_proto_field_name=True)
            if corrections is not None else {},
        )
        return await self._update(request.job_id, GenerationJobWorkflow.review, decision, "reviewed",
                                  "a job AWAITING_REVIEW")

    async def _update(self, job_id: str, update, arg: object, verb: str, needs: str) -> pb.Job:
        """Runs a workflow update; its validator's refusal becomes FAILED_PRECONDITION naming the state."""
        handle = self.client.get_workflow_handle(job_id)
        args = [] if arg is None else [arg]
        try:
            status = await handle.execute_update(update, *args, rpc_timeout=UPDATE_TIMEOUT)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == "FAILED_PRECONDITION":
                reason = cause.details[0].get("reason", "FAILED_PRECONDITION") if cause.details else ""
                raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION, f"job {job_id} cannot be {verb}: "
                                   f"{cause.message}", reason or "FAILED_PRECONDITION",
                                   metadata={"job_id": job_id}) from None
            raise ServiceError(grpc.StatusCode.ABORTED, f"the job could not be {verb}: {err.cause or err}",
                               "UPDATE_FAILED", metadata={"job_id": job_id}) from None
        except WorkflowUpdateRPCTimeoutOrCancelledError as err:
            raise unavailable("temporal", "no worker took the request in time") from err
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise unavailable("temporal", err) from err
            raise await self._closed(handle, verb, needs) from None
        return status_to_job(status)

    async def _closed(self, handle: WorkflowHandle, verb: str, needs: str) -> ServiceError:
        """The error for a command on a job whose workflow has ended or never existed."""
        try:
            description = await handle.describe(rpc_timeout=QUERY_TIMEOUT)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                return unavailable("temporal", err)
            job = await self.stored(handle.id)  # NOT_FOUND when there is no such job
            return _not_in_state(handle.id, job.state, verb, needs)
        return _not_in_state(handle.id, CLOSED_STATES.get(description.status, pb.JOB_STATE_FAILED), verb, needs)

    async def _view(self, handle: WorkflowHandle) -> pb.Job:
        try:
            return await self._live(handle.id)
        except RPCError:
            return await self.stored(handle.id)


def batch_view(live: pb.Job, stored: pb.Job, message: str = "") -> pb.Job:
    """A batch with the aggregate the store keeps of its children (percent, counts, ETA, and their summary as
    its message), in the state its workflow is in; `message` (e.g. "pausing...") replaces the summary."""
    job = pb.Job()
    job.CopyFrom(stored)
    if live.state != stored.state:  # the workflow is ahead of the store by a transition it is reporting
        job.state, job.message = live.state, live.message
        if live.state not in TERMINAL_STATES:
            job.ClearField("end_time")
    job.message = message or job.message
    return job


def _not_in_state(job_id: str, state: int, verb: str, needs: str) -> ServiceError:
    name = pb.JobState.Name(state).removeprefix("JOB_STATE_")
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                        f"job {job_id} is {name}; only {needs} can be {verb}",
                        "JOB_TERMINAL" if state in TERMINAL_STATES else "JOB_NOT_STARTED",
                        metadata={"job_id": job_id, "state": name})


def duration_of(value: timedelta) -> Duration:
    duration = Duration()
    duration.FromTimedelta(value)
    return duration
