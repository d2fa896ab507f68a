"""genmedia.v1.ProgressService: checks requests and maps protos to the store and bus, and back."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import json
import logging
import math
from collections.abc import AsyncIterator

import grpc

from genmedia import logs
from genmedia.errors import ServiceError, check
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import progress_service_pb2 as ps
from genmedia.v1 import progress_service_pb2_grpc
from services.progress.bus import Bus, Subscription
from services.progress.store import TERMINAL_EVENTS, TERMINAL_STATES, TYPE_STATES, PageKey, Store

log = logging.getLogger(__name__)
Context = grpc.aio.ServicerContext

MAX_ID = 200
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 100
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MICROSECOND = dt.timedelta(microseconds=1)


def report_violations(request: ps.ReportProgressRequest) -> list[tuple[str, str]]:
    """Every problem of a ReportProgress request, named by field."""
    event, v = request.event, []
    if not event.job_id:
        v.append(("event.job_id", "must not be empty"))
    elif len(event.job_id) > MAX_ID:
        v.append(("event.job_id", f"must be at most {MAX_ID} characters"))
    if not request.idempotency_key:
        v.append(("idempotency_key", "must not be empty"))
    elif len(request.idempotency_key) > MAX_ID:
        v.append(("idempotency_key", f"must be at most {MAX_ID} characters"))
    if event.type == pb.EVENT_TYPE_UNSPECIFIED or event.type not in pb.EventType.values():
        v.append(("event.type", f"must be a known event type other than UNSPECIFIED, got {event.type}"))
    if math.isnan(event.percent) or not 0 <= event.percent <= 100:
        v.append(("event.percent", f"must be between 0 and 100, got {event.percent:g}"))
    if event.state not in pb.JobState.values():
        v.append(("event.state", f"is not a known job state: {event.state}"))
    elif event.state and event.type in TYPE_STATES and event.state != TYPE_STATES[event.type]:
        v.append(("event.state", f"must be {pb.JobState.Name(TYPE_STATES[event.type])} or unset"))
    elif event.type not in TYPE_STATES and event.state in TERMINAL_STATES:
        v.append(("event.state", "a terminal state needs a COMPLETED, FAILED or CANCELLED event"))
    if event.type == pb.EVENT_TYPE_CREATED:
        if not request.HasField("job"):
            v.append(("job", "is required with EVENT_TYPE_CREATED"))
        else:
            if request.job.id != event.job_id:
                v.append(("job.id", "must equal event.job_id"))
            if request.job.kind == pb.JOB_KIND_UNSPECIFIED or request.job.kind not in pb.JobKind.values():
                v.append(("job.kind", "must be JOB_KIND_IMAGE or JOB_KIND_VIDEO"))
    return v + text_violations(request)


MAX_TEXT = 4000


def text_violations(request: ps.ReportProgressRequest) -> list[tuple[str, str]]:
    """Strings stored as text: bounded, and free of NUL (which PostgreSQL text cannot hold)."""
    event, job = request.event, request.job
    fields = [("event.message", event.message), ("event.error.code", event.error.code),
              ("event.error.message", event.error.message), ("idempotency_key", request.idempotency_key),
              ("event.job_id", event.job_id), ("job.owner", job.owner), ("job.request_id", job.request_id)]
    fields += [(f"job.labels[{k}]", k + v) for k, v in job.labels.items()]
    fields += [(f"event.assets[{i}].uri", a.uri + a.mime_type + a.sha256) for i, a in enumerate(event.assets)]
    v = [(name, "must not contain NUL characters") for name, text in fields if "\x00" in text]
    v += [(name, f"must be at most {MAX_TEXT} characters") for name, text in fields if len(text) > MAX_TEXT]
    return v


def encode_page_token(key: PageKey) -> str:
    payload = json.dumps([(key.create_time - EPOCH) // MICROSECOND, key.job_id]).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_page_token(token: str) -> PageKey:
    try:
        micros, job_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if type(micros) is not int or not isinstance(job_id, str):
            raise ValueError(token)
        return PageKey(EPOCH + micros * MICROSECOND, job_id)
    except (ValueError, TypeError, binascii.Error, OverflowError):
        check([("page_token", "is not a token returned by ListJobs")])
        raise


class ProgressServicer(progress_service_pb2_grpc.ProgressServiceServicer):
    """The RPCs; errors are raised as ServiceError and turned into rich statuses by the serving kit."""

    def __init__(self, store: Store, bus: Bus, heartbeat_seconds: float) -> None:
        self._store, self._bus, self._heartbeat = store, bus, heartbeat_seconds

    async def ReportProgress(self, request: ps.ReportProgressRequest, context: Context) -> ps.ReportProgressResponse:
        check(report_violations(request))
        job = request.job if request.HasField("job") else None
        recorded = await self._store.report(request.event, request.idempotency_key, job)
        if recorded.event is not None:
            self._bus.publish(recorded.event)  # after the commit, so watchers never see an unrecorded event
        return ps.ReportProgressResponse(sequence=recorded.sequence, duplicate=recorded.duplicate)

    async def GetJob(self, request: js.GetJobRequest, context: Context) -> pb.Job:
        check([("job_id", "must not be empty")] if not request.job_id else [])
        return await self._store.get_job(request.job_id)

    async def ListJobs(self, request: ps.ListJobsRequest, context: Context) -> ps.ListJobsResponse:
        check([("page_size", "must not be negative")] if request.page_size < 0 else [])
        size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        after = decode_page_token(request.page_token) if request.page_token else None
        page = await self._store.list_jobs(size, after)
        token = encode_page_token(page.next_key) if page.next_key else ""
        return ps.ListJobsResponse(jobs=page.jobs, next_page_token=token, total_size=page.total)

    async def WatchJob(self, request: ps.WatchJobRequest, context: Context) -> AsyncIterator[ps.WatchJobResponse]:
        violations = [] if request.job_id else [("job_id", "must not be empty")]
        if request.after_sequence < 0:
            violations.append(("after_sequence", "must not be negative"))
        check(violations)
        job_id, last = request.job_id, request.after_sequence
        # Subscribe before reading so that an event committed in between is in the queue or in the read.
        with self._bus.subscribe(job_id) as subscription:
            job = await self._store.get_job(job_id)
            if last > job.last_sequence:
                raise ServiceError(
                    grpc.StatusCode.OUT_OF_RANGE,
                    f"after_sequence {last} is beyond the last sequence {job.last_sequence} of job {job_id!r}",
                    "AFTER_SEQUENCE_OUT_OF_RANGE", metadata={"job_id": job_id},
                )
            if last == 0:
                yield ps.WatchJobResponse(snapshot=job)
                last = job.last_sequence
            else:
                for event in await self._store.events_after(job_id, last):
                    yield ps.WatchJobResponse(event=event)
                    last = event.sequence
                    if event.type in TERMINAL_EVENTS:
                        return
            if job.state in TERMINAL_STATES:
                return
            async with contextlib.aclosing(self._live(subscription, last)) as live:
                async for response in live:
                    yield response

    async def _live(self, subscription: Subscription, last: int) -> AsyncIterator[ps.WatchJobResponse]:
        """Queued events in sequence order (gaps filled from the store), heartbeats when idle, to the end."""
        job_id, clock = subscription.job_id, asyncio.get_running_loop()
        quiet_until = clock.time() + self._heartbeat
        while True:
            try:
                event = await asyncio.wait_for(subscription.get(), max(0.0, quiet_until - clock.time()))
            except TimeoutError:
                yield ps.WatchJobResponse(heartbeat=ps.Heartbeat(last_sequence=last))
                quiet_until = clock.time() + self._heartbeat
                continue
            if event is None and subscription.shutting_down:
                raise ServiceError(
                    grpc.StatusCode.UNAVAILABLE,
                    f"progress service is shutting down; resume with after_sequence={last}",
                    "SERVER_SHUTTING_DOWN", metadata={"job_id": job_id, "after_sequence": str(last)},
                )
            if event is None:
                log.info("watcher dropped after sequence %d", last, **logs.job(job_id))
                raise ServiceError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"watcher fell too far behind; resume with after_sequence={last}",
                    "WATCHER_TOO_SLOW", metadata={"job_id": job_id, "after_sequence": str(last)},
                )
            if event.sequence <= last:
                continue
            # Commits may be published out of order; the events in between are already committed.
            batch = [event] if event.sequence == last + 1 else await self._store.events_after(job_id, last)
            for item in batch:
                yield ps.WatchJobResponse(event=item)
                last, quiet_until = item.sequence, clock.time() + self._heartbeat
                if item.type in TERMINAL_EVENTS:
                    return
