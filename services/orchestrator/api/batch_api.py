"""The batch commands behind JobService: CreateBatch (validate every job, record the batch with its children,
start its workflow) and RetryBatch (reopen an ended batch for a new attempt of its failed children)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import replace
from datetime import timedelta

import grpc
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.common import Priority, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from genmedia.domain import notify
from genmedia.domain.errors import ServiceError, check, details_of
from genmedia.domain.jobrequests import DEFAULT_CONCURRENCY, DEFAULT_REVIEW_TIMEOUT, check_create_batch, idempotent_id
from genmedia.domain.jobrules import DEFAULT_PRIORITY, TERMINAL_STATES, job_id_violations
from genmedia.domain.specs import child_id
from genmedia.serving import logs
from genmedia.serving.auth import Principal
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2
from genmedia.v1 import progress_service_pb2 as ps
from services.orchestrator.api.jobs import (
    QUERY_TIMEOUT,
    JobManager,
    duration_of,
    notify_policy,
    step_policy,
    unavailable,
)
from services.orchestrator.model import BatchInput
from services.orchestrator.worker.batch_workflow import BatchJobWorkflow

log = logging.getLogger(__name__)

START_PATIENCE = 50  # tries, 0.1 s apart, while the previous attempt's run is closing
PAGE_SIZE = 100  # children the batch workflow reads from the store at a time (ListJobs' largest page)
# Children one run of the batch workflow starts before it continues as new: about 6 history events each,
# so a run stays near 1,200 events, far below Temporal's limits (and its 10,240-event warning).
RUN_LIMIT = 2 * PAGE_SIZE


def digest(request: job_service_pb2.CreateBatchRequest) -> str:
    """SHA-256 of the jobs as sent, so a repeated request_id with other jobs is told apart."""
    h = hashlib.sha256()
    for job in request.jobs:
        data = job.SerializeToString(deterministic=True)
        h.update(len(data).to_bytes(4, "big") + data)
    return h.hexdigest()


class BatchCommands:
    def __init__(self, jobs: JobManager) -> None:
        self.jobs = jobs

    async def create(self, request: job_service_pb2.CreateBatchRequest, principal: Principal) -> pb.Job:
        m, s = self.jobs, self.jobs.settings
        found = check_create_batch(request, m.rules)
        owner = principal.user
        batch_id = idempotent_id(owner, request.request_id)
        strategy = request.strategy or pb.BATCH_STRATEGY_PARALLEL
        summary = pb.BatchSummary(
            strategy=strategy, fail_fast=request.fail_fast, attempt=1, total=len(found), pending=len(found),
            max_concurrent=1 if strategy == pb.BATCH_STRATEGY_SEQUENTIAL else request.max_concurrent
            or DEFAULT_CONCURRENCY, digest=digest(request))
        batch = pb.Job(id=batch_id, kind=pb.JOB_KIND_BATCH, state=pb.JOB_STATE_PENDING, owner=owner,
                       spec=pb.JobSpec(kind=pb.JOB_KIND_BATCH), labels=request.labels, request_id=request.request_id,
                       message="queued", priority=request.priority or DEFAULT_PRIORITY, batch=summary, attempt=1)
        if request.notify.ListFields():  # kept unredacted by the store, answered redacted
            batch.notify.CopyFrom(request.notify)
            batch.notify.fingerprint = notify.fingerprint(request.notify, s.notify.master_secret)
            batch.batch.digest = hashlib.sha256((summary.digest + batch.notify.fingerprint).encode()).hexdigest()
        batch.create_time.GetCurrentTime()
        batch.update_time.CopyFrom(batch.create_time)
        children = [_child(batch, i, job, spec) for i, (job, spec) in enumerate(zip(request.jobs, found, strict=True))]
        event = pb.JobEvent(job_id=batch_id, type=pb.EVENT_TYPE_CREATED, state=pb.JOB_STATE_PENDING, message="queued")
        report = ps.ReportProgressRequest(event=event, idempotency_key="created", job=batch, children=children)
        if report.ByteSize() > s.serving.max_message_bytes:
            check([("jobs", f"the batch's jobs take {report.ByteSize()} bytes as recorded, more than "
                    f"{s.serving.max_message_bytes}: split it into smaller batches")])
        if m.limits and (not request.request_id or not await m.exists(batch_id)):
            await m.check_quota(principal)  # the batch counts as one active job, whatever its size
        try:
            repeated = await self._report(report)
        except ServiceError as err:
            if err.code == grpc.StatusCode.UNAVAILABLE and not request.request_id:
                await self._abandon(batch, err.message)  # its record may have landed though the answer did not
            raise
        existing = await self._existing(batch) if repeated else None
        settings = json_format.MessageToDict(batch.notify, preserving_proto_field_name=True)
        batch.notify.CopyFrom(notify.redacted(batch.notify))  # as users see it, and as the store answers
        try:
            await self._start(replace(self._input(batch), notify=settings or None,
                                      notify_policy=notify_policy(s) if settings else None))
        except WorkflowAlreadyStartedError:
            log.info("batch already started (repeated request_id)", **logs.job(batch_id))
        except RPCError as err:
            if not request.request_id:
                await self._abandon(batch, err)
            raise unavailable("temporal", err) from err
        if existing is not None:
            return existing
        log.info("batch created: %d jobs, %s", len(found), pb.BatchStrategy.Name(strategy), **logs.job(batch_id))
        return batch

    async def retry(self, request: job_service_pb2.RetryBatchRequest, principal: Principal) -> pb.Job:
        violations = [("batch_id", text) for _, text in job_id_violations(request.batch_id)]
        if request.attempt < 0:
            violations.append(("attempt", f"must not be negative, got {request.attempt}"))
        check(violations)
        batch_id, m = request.batch_id, self.jobs
        job, _ = await m.find(batch_id, principal)
        if job.kind != pb.JOB_KIND_BATCH:
            raise _refused(batch_id, f"job {batch_id} is not a batch; create a new job instead", "JOB_NOT_A_BATCH")
        attempt = job.batch.attempt
        if request.attempt and request.attempt < attempt:
            return job  # that attempt was retried already: a repeat starts nothing more
        if request.attempt > attempt:
            raise _refused(batch_id, f"batch {batch_id} is at attempt {attempt}, not {request.attempt}",
                           "BATCH_ATTEMPT_MISMATCH")
        state = pb.JobState.Name(job.state).removeprefix("JOB_STATE_")
        if job.state == pb.JOB_STATE_PENDING and attempt > 1:
            await self._start_attempt(job)  # the attempt was recorded but its start failed: start it now
            return job
        if job.state not in TERMINAL_STATES:
            raise _refused(batch_id, f"batch {batch_id} is {state}; only an ended batch can be retried",
                           "BATCH_NOT_ENDED", state)
        if job.batch.completed == job.batch.total:
            raise _refused(batch_id, f"every child of batch {batch_id} completed: nothing to retry",
                           "BATCH_COMPLETED", state)
        event = pb.JobEvent(job_id=batch_id, type=pb.EVENT_TYPE_RETRIED, state=pb.JOB_STATE_PENDING,
                            message="retrying")
        duplicate = await self._report(ps.ReportProgressRequest(event=event, idempotency_key=f"retried.{attempt + 1}"))
        job = await m.stored(batch_id)
        if not duplicate:
            await self._start_attempt(job)
            log.info("batch retried: attempt %d", job.batch.attempt, **logs.job(batch_id))
        return job

    async def _start_attempt(self, job: pb.Job) -> None:
        """Starts the workflow run of the batch's newest attempt; the run of the attempt before may still be
        closing (it reports its end just before it closes)."""
        for _ in range(START_PATIENCE):
            try:
                await self._start(self._input(job), WorkflowIDReusePolicy.ALLOW_DUPLICATE)
                return
            except WorkflowAlreadyStartedError:
                handle = self.jobs.client.get_workflow_handle(job.id)
                try:
                    status = await handle.query(BatchJobWorkflow.get_status, rpc_timeout=QUERY_TIMEOUT)
                except RPCError as err:
                    raise unavailable("temporal", err) from err
                if status.attempt >= job.batch.attempt:
                    return  # a concurrent call started it
                await asyncio.sleep(0.1)
            except RPCError as err:
                raise unavailable("temporal", err) from err
        raise unavailable("temporal", "the batch's previous run did not close in time")

    def _input(self, batch: pb.Job) -> BatchInput:
        s = self.jobs.settings
        return BatchInput(
            batch_id=batch.id, owner=batch.owner, create_time=batch.create_time.ToJsonString(),
            strategy=batch.batch.strategy, max_concurrent=batch.batch.max_concurrent, fail_fast=batch.batch.fail_fast,
            attempt=batch.batch.attempt, labels=dict(batch.labels), request_id=batch.request_id,
            priority=batch.priority, image_policy=step_policy(s.image_policy, s.image_task_queue),
            video_policy=step_policy(s.video_policy, s.video_task_queue), page_size=PAGE_SIZE, run_limit=RUN_LIMIT,
        )

    async def _start(self, batch: BatchInput,
                     reuse: WorkflowIDReusePolicy = WorkflowIDReusePolicy.REJECT_DUPLICATE) -> None:
        s = self.jobs.settings
        await self.jobs.client.start_workflow(BatchJobWorkflow.run, batch, id=batch.batch_id, task_queue=s.task_queue,
                                              id_reuse_policy=reuse, priority=Priority(priority_key=batch.priority),
                                              rpc_timeout=timedelta(seconds=s.rpc_timeout))

    async def _abandon(self, batch: pb.Job, why: object) -> None:
        """Ends a batch without request_id that this request could not start: nobody can retry it, so it is
        FAILED and its children CANCELLED rather than PENDING for ever, and counted against no quota. Best
        effort: the progress service may be what failed."""
        try:
            await self.jobs.progress.cancel_pending(batch.id, "the batch could not be started")
        except grpc.aio.AioRpcError as err:
            log.warning("could not cancel the unstarted batch's children: %s", err.details(), **logs.job(batch.id))
        await self.jobs.record_start_failure(batch, why)

    async def _report(self, request: ps.ReportProgressRequest) -> bool:
        """Records a batch event; True when it had been recorded before."""
        try:
            answer = await self.jobs.progress.report(request)
            return answer.duplicate
        except grpc.aio.AioRpcError as err:
            if err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise unavailable("progress service", err.details()) from err
            if err.code() == grpc.StatusCode.FAILED_PRECONDITION:
                reason = details_of(err)[0] or "FAILED_PRECONDITION"
                raise _refused(request.event.job_id, err.details() or "", reason) from None
            raise ServiceError(grpc.StatusCode.INTERNAL, f"the progress service refused the batch: {err.details()}",
                               "PROGRESS_REFUSED") from err

    async def _existing(self, batch: pb.Job) -> pb.Job:
        """The batch a repeated request_id made before; ALREADY_EXISTS when this request asks otherwise."""
        stored = await self.jobs.stored(batch.id)
        differing = [name for name in ("labels", "priority") if getattr(stored, name) != getattr(batch, name)]
        differing += [name for name in ("strategy", "max_concurrent", "fail_fast", "digest")
                      if getattr(stored.batch, name) != getattr(batch.batch, name)]
        if differing:
            raise ServiceError(
                grpc.StatusCode.ALREADY_EXISTS,
                f"request_id {batch.request_id} was used for batch {batch.id} with a different "
                f"{' and '.join('jobs' if d == 'digest' else d for d in differing)}; use a new request_id for a "
                "new batch", "REQUEST_ID_REUSED", metadata={"job_id": batch.id, "request_id": batch.request_id})
        return stored


def _child(batch: pb.Job, index: int, request: job_service_pb2.CreateJobRequest, spec: pb.JobSpec) -> pb.Job:
    child = pb.Job(id=child_id(batch.id, index), kind=spec.kind, state=pb.JOB_STATE_PENDING, owner=batch.owner,
                   spec=spec, labels={**batch.labels, **request.labels}, message="queued",
                   priority=request.priority or batch.priority, review=request.review, batch_id=batch.id,
                   batch_index=index, batch_attempt=1)
    if request.review:
        child.review_timeout.CopyFrom(request.review_timeout if request.HasField("review_timeout") else
                                      duration_of(DEFAULT_REVIEW_TIMEOUT))
    if request.HasField("deadline"):
        child.deadline.CopyFrom(request.deadline)
    # A microsecond apart: listing the batch oldest first is its order, which SEQUENTIAL runs.
    created = Timestamp()
    created.FromNanoseconds(batch.create_time.ToNanoseconds() + index * 1000)
    child.create_time.CopyFrom(created)
    return child


def _refused(batch_id: str, message: str, reason: str, state: str = "") -> ServiceError:
    metadata = {"job_id": batch_id, **({"state": state} if state else {})}
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, message, reason, metadata=metadata)
