"""The job commands behind JobService: create a job (record it, start its workflow) and read it live."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf import json_format
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from genmedia import logs, specs
from genmedia.errors import NotFound, ServiceError, check, shorten
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2, progress_service_pb2, progress_service_pb2_grpc
from services.orchestrator.config import Settings, StepPolicy
from services.orchestrator.model import JobInput, JobStatus, StepPolicyInput
from services.orchestrator.workflows import GenerationJobWorkflow

log = logging.getLogger(__name__)

LABEL_KEY = re.compile(r"^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$")
MAX_LABELS = 32
QUERY_TIMEOUT = timedelta(seconds=3)
MAX_JOB_ID = 200


def _unavailable(what: str, cause: object) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAVAILABLE, f"{what} is unavailable, try again: {cause}",
                        f"{what.upper().replace(' ', '_')}_UNAVAILABLE")


def _policy(policy: StepPolicy, task_queue: str) -> StepPolicyInput:
    return StepPolicyInput(
        initial_interval_s=policy.initial_interval.total_seconds(), backoff=policy.backoff,
        max_interval_s=policy.max_interval.total_seconds(),
        schedule_to_close_s=policy.schedule_to_close.total_seconds(),
        start_to_close_s=policy.start_to_close.total_seconds(),
        heartbeat_s=policy.heartbeat.total_seconds(), task_queue=task_queue,
    )


def validate_request(request: job_service_pb2.CreateJobRequest) -> pb.JobSpec:
    spec = specs.normalized_job_spec(request.spec if request.HasField("spec") else None)
    violations = []
    if request.request_id:
        try:
            uuid.UUID(request.request_id)
        except ValueError:
            violations.append(("request_id", f"must be a UUID, got {shorten(request.request_id, 60)!r}"))
    if len(request.labels) > MAX_LABELS:
        violations.append(("labels", f"at most {MAX_LABELS} labels, got {len(request.labels)}"))
    for key, value in request.labels.items():
        if not LABEL_KEY.match(key):
            violations.append((f"labels[{key}]", "key must be 1-63 of a-z, 0-9, '_', '.', '-'"))
        if len(value) > 256 or not value.isprintable():
            violations.append((f"labels[{key}]", "value must be at most 256 printable characters"))
    check(violations)
    return spec


class JobManager:
    def __init__(self, client: Client, progress: progress_service_pb2_grpc.ProgressServiceStub,
                 settings: Settings) -> None:
        self.client, self.progress, self.settings = client, progress, settings

    async def create(self, request: job_service_pb2.CreateJobRequest, owner: str) -> pb.Job:
        spec = validate_request(request)
        job_id = (str(uuid.uuid5(uuid.NAMESPACE_URL, f"genmedia:{owner}:{request.request_id}"))
                  if request.request_id else str(uuid.uuid4()))
        job = pb.Job(id=job_id, kind=spec.kind, state=pb.JOB_STATE_PENDING, owner=owner, spec=spec,
                     labels=request.labels, request_id=request.request_id, message="queued")
        job.create_time.GetCurrentTime()
        job.update_time.CopyFrom(job.create_time)
        await self._record_created(job)
        s = self.settings
        job_input = JobInput(
            job_id=job_id, kind=spec.kind, spec=json_format.MessageToDict(spec, preserving_proto_field_name=True),
            owner=owner, create_time=job.create_time.ToJsonString(), labels=dict(request.labels),
            request_id=request.request_id, image_policy=_policy(s.image_policy, s.image_task_queue),
            video_policy=_policy(s.video_policy, s.video_task_queue),
        )
        try:
            await self.client.start_workflow(GenerationJobWorkflow.run, job_input, id=job_id,
                                             task_queue=s.task_queue,
                                             id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                                             rpc_timeout=timedelta(seconds=s.rpc_timeout))
        except WorkflowAlreadyStartedError:
            log.info("job already started (repeated request_id)", **logs.job(job_id))
        except RPCError as err:
            if not request.request_id:
                await self._record_start_failure(job, err)  # nobody can retry this job: don't leave it PENDING
            raise _unavailable("temporal", err) from err
        log.info("job created: %s", pb.JobKind.Name(spec.kind), **logs.job(job_id))
        return job

    async def _record_start_failure(self, job: pb.Job, err: RPCError) -> None:
        """Marks a job FAILED whose workflow could not be started. A job with a request_id stays
        PENDING instead: repeating the request (same id) starts it."""
        error = pb.JobError(code="START_FAILED", message=f"the job could not be started: {err}", retryable=True)
        event = pb.JobEvent(job_id=job.id, type=pb.EVENT_TYPE_FAILED, error=error, message=error.message)
        request = progress_service_pb2.ReportProgressRequest(event=event, idempotency_key="failed")
        try:
            await self.progress.ReportProgress(request, timeout=self.settings.rpc_timeout)
        except grpc.aio.AioRpcError as report_err:
            log.warning("could not mark the unstarted job FAILED: %s", report_err.details(), **logs.job(job.id))

    async def _record_created(self, job: pb.Job) -> None:
        event = pb.JobEvent(job_id=job.id, type=pb.EVENT_TYPE_CREATED, state=pb.JOB_STATE_PENDING,
                            message="queued")
        request = progress_service_pb2.ReportProgressRequest(event=event, idempotency_key="created", job=job)
        try:
            await self.progress.ReportProgress(request, timeout=self.settings.rpc_timeout)
        except grpc.aio.AioRpcError as err:
            if err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise _unavailable("progress service", err.details()) from err
            raise ServiceError(grpc.StatusCode.INTERNAL, f"the progress service refused the job: {err.details()}",
                               "PROGRESS_REFUSED") from err

    async def get(self, job_id: str) -> job_service_pb2.GetJobResponse:
        check([("job_id", "must not be empty")] if not job_id else
              [("job_id", f"must be at most {MAX_JOB_ID} characters")] if len(job_id) > MAX_JOB_ID else [])
        try:
            job = await self._live(job_id)
            return job_service_pb2.GetJobResponse(job=job, source=job_service_pb2.GetJobResponse.SOURCE_WORKFLOW)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                log.warning("live view unavailable (%s); answering from the store", err, **logs.job(job_id))
        try:
            job = await self.progress.GetJob(job_service_pb2.GetJobRequest(job_id=job_id),
                                             timeout=self.settings.rpc_timeout)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound("job", job_id) from None
            raise _unavailable("progress service", err.details()) from err
        return job_service_pb2.GetJobResponse(job=job, source=job_service_pb2.GetJobResponse.SOURCE_STORE)

    async def _live(self, job_id: str) -> pb.Job:
        handle = self.client.get_workflow_handle(job_id)
        status = await handle.query(GenerationJobWorkflow.get_status, rpc_timeout=QUERY_TIMEOUT)
        job = status_to_job(status)
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
            job.message = details.get("message", job.message)
        if pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED and pending.attempt > 1:
            job.state = pb.JOB_STATE_RETRYING
            code = pending.last_failure.application_failure_info.type or "RETRYING"
            job.error.CopyFrom(pb.JobError(code=code, message=pending.last_failure.message,
                                           retryable=True))


def _timestamp(job: pb.Job, name: str, value: str) -> None:
    if value:
        getattr(job, name).FromDatetime(datetime.fromisoformat(value).astimezone(UTC))


def status_to_job(status: JobStatus) -> pb.Job:
    source = status.job
    job = pb.Job(
        id=source.job_id, kind=source.kind, state=status.state, step=status.step, percent=status.percent,
        message=status.message, attempt=status.attempt, owner=source.owner, labels=source.labels,
        request_id=source.request_id, spec=json_format.ParseDict(source.spec, pb.JobSpec()),
        assets=[json_format.ParseDict(a, pb.Asset()) for a in status.assets],
    )
    if status.error:
        job.error.CopyFrom(json_format.ParseDict(status.error, pb.JobError()))
    job.create_time.FromJsonString(source.create_time)
    _timestamp(job, "start_time", status.start_time)
    _timestamp(job, "end_time", status.end_time)
    return job
