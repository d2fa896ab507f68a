"""genmedia.v1.ProgressService: checks requests and maps protos to the store and bus, and back.
(Over 300 lines: grpc's generated base class wants every RPC of the service on one servicer class.)"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import replace
from typing import Any, TypeVar

import grpc

from genmedia.domain.errors import InvalidArgument, NotFound, ServiceError, check
from genmedia.domain.jobrules import job_id_violations
from genmedia.serving import logs
from genmedia.serving.auth import caller
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import progress_service_pb2 as ps
from genmedia.v1 import progress_service_pb2_grpc
from services.progress import jobmetrics
from services.progress.bus import HEARTBEAT, Bus, Subscription, Wakeup
from services.progress.delivery_log import Deliveries
from services.progress.feed import Position
from services.progress.jobstate import TERMINAL_EVENTS, TERMINAL_STATES
from services.progress.models import UTC
from services.progress.notifications import DeliveryRpcs
from services.progress.queries import JobQuery, decode_page_token, decode_token, encode_page_token, encode_token
from services.progress.recording import Recorded
from services.progress.stats import Durations, compute
from services.progress.store import Store
from services.progress.validation import filter_violations, report_violations, valid_time

log = logging.getLogger(__name__)
Context = grpc.aio.ServicerContext
T = TypeVar("T")

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 100
DEFAULT_EVENTS_PAGE, MAX_EVENTS_PAGE = 100, 1000
DEFAULT_PURGE, MAX_PURGE = 100, 1000
MAX_REPORT_BATCH = 500
STREAM_WINDOW = 16  # batches a report stream may have read and not yet answered
FEED_BATCH = 500
PENDING_RECHECK = 0.01  # seconds: how soon to read events that were behind the PostgreSQL horizon
DEFAULT_STATS_WINDOW = dt.timedelta(hours=24)


def page_size(size: int, default: int, limit: int, field: str = "page_size") -> int:
    """0 means the default, larger than the limit is clamped, negative is refused."""
    check([(field, "must not be negative")] if size < 0 else [])
    return min(size or default, limit)


class ProgressServicer(DeliveryRpcs, progress_service_pb2_grpc.ProgressServiceServicer):
    """The RPCs; errors are raised as ServiceError and turned into rich statuses by the serving kit."""

    def __init__(self, store: Store, bus: Bus, heartbeat_seconds: float) -> None:
        self._store, self._bus, self._heartbeat = store, bus, heartbeat_seconds
        self._deliveries = Deliveries(store.sessions, store.read_sqlite)
        self._orphans: set[asyncio.Task] = set()  # reports whose callers went away, kept until done

    async def ReportProgress(self, request: ps.ReportProgressRequest, context: Context) -> ps.ReportProgressResponse:
        return await self._to_the_end(self._report_one(request))

    async def _report_one(self, request: ps.ReportProgressRequest) -> ps.ReportProgressResponse:
        job = request.job if request.HasField("job") else None
        try:
            check(report_violations(request))
            recorded = await self._store.report(request.event, request.idempotency_key, job, tuple(request.children))
        except ServiceError as error:
            jobmetrics.refused(error.reason)
            raise
        if job is not None and job.notify.ListFields():
            await self._deliveries.keep_notify(job.id, job.notify)  # a repeat keeps a lost first try's
        self._publish(recorded)
        return ps.ReportProgressResponse(sequence=recorded.sequence, duplicate=recorded.duplicate)

    async def ReportProgressBatch(self, request: ps.ReportProgressBatchRequest,
                                  context: Context) -> ps.ReportProgressBatchResponse:
        return await self._to_the_end(self._report_batch(request))

    async def _to_the_end(self, work: Coroutine[Any, Any, T] | asyncio.Future[T]) -> T:
        """Reports run to their end even if the caller goes away (cancels, or its deadline passes) while they
        are written: the store writes them all the same, and watchers must then see them too."""
        task = asyncio.ensure_future(work)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self._orphan(task)
            raise

    def _orphan(self, task: asyncio.Task) -> None:
        self._orphans.add(task)
        task.add_done_callback(self._orphaned)

    def _orphaned(self, task: asyncio.Task) -> None:
        """Reports whose caller went away are done: their outcome is retrieved, for no one."""
        self._orphans.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.debug("a batch answered to no one failed: %s", error)

    async def ReportProgressStream(self, requests: AsyncIterator[ps.ReportProgressBatchRequest],
                                   context: Context) -> AsyncIterator[ps.ReportProgressBatchResponse]:
        """Batches on one stream, each answered in the order sent. A batch is handed to the store as soon as
        it is read: one a client sends before the earlier ones are answered is written without waiting for
        their answers to travel back (the store's group commit may join it to theirs).

        At shutdown it stops reading, answers what it read and ends (OK): the client sends again, on a new
        stream (to another replica), the batches left unanswered. A batch this server cannot accept (no
        reports, or too many) ends the stream with INVALID_ARGUMENT after the answers before it."""
        answers: asyncio.Queue[asyncio.Task[ps.ReportProgressBatchResponse] | None] = asyncio.Queue()
        room = asyncio.Semaphore(STREAM_WINDOW)  # batches read and not yet answered: then HTTP/2 pushes back

        async def read() -> None:
            try:
                iterator = aiter(requests)
                while True:
                    await room.acquire()
                    try:
                        request = await anext(iterator)
                    except StopAsyncIteration:
                        return
                    answers.put_nowait(asyncio.create_task(self._report_batch(request)))
            finally:
                answers.put_nowait(None)

        reader = asyncio.create_task(read())
        closing = asyncio.create_task(self._bus.closing.wait())
        closing.add_done_callback(lambda _: reader.cancel())
        try:
            while (answer := await answers.get()) is not None:
                yield await self._to_the_end(answer)  # a client that goes away stops the answers, not the batch
                room.release()
            if reader.done() and not reader.cancelled():
                reader.result()  # the client's half-close ends the loop; a broken stream raises here
        finally:
            closing.cancel()
            reader.cancel()
            while not answers.empty():  # read, so recorded all the same: kept until done
                if (left := answers.get_nowait()) is not None:
                    self._orphan(left)

    async def _report_batch(self, request: ps.ReportProgressBatchRequest) -> ps.ReportProgressBatchResponse:
        count = len(request.reports)
        check([("reports", f"must hold 1-{MAX_REPORT_BATCH} reports, got {count}")]
              if not 0 < count <= MAX_REPORT_BATCH else [])
        response = ps.ReportProgressBatchResponse()
        results = [response.results.add() for _ in range(count)]  # filled in place (a copy costs per report)
        valid, reports = [], []
        for result, report in zip(results, request.reports, strict=True):
            if violations := report_violations(report):
                result.error.CopyFrom(_report_status(InvalidArgument(violations)))
                jobmetrics.refused("INVALID_ARGUMENT")
            else:
                valid.append(result)
                reports.append((report.event, report.idempotency_key, report.job if report.HasField("job") else None,
                                tuple(report.children)))
        outcomes = await self._store.report_many(reports)
        for result, outcome in zip(valid, outcomes, strict=True):
            if isinstance(outcome, Recorded):
                result.recorded.sequence, result.recorded.duplicate = outcome.sequence, outcome.duplicate
                self._publish(outcome)
            elif isinstance(outcome, ServiceError):
                result.error.CopyFrom(_report_status(outcome))
                jobmetrics.refused(outcome.reason)
            else:
                raise outcome  # not a refusal of this report (the store answers those as ServiceError)
        return response

    def _publish(self, recorded: Recorded) -> None:
        """After the commit, so watchers never see an unrecorded event; a batch's own events with it."""
        for event in recorded.also:
            self._bus.publish(event)
        if recorded.event is not None:
            self._bus.publish(recorded.event)

    async def GetJob(self, request: js.GetJobRequest, context: Context) -> pb.Job:
        check(job_id_violations(request.job_id))
        return (await self.with_notify([visible(await self._store.get_job(request.job_id))]))[0]

    async def ListJobs(self, request: ps.ListJobsRequest, context: Context) -> ps.ListJobsResponse:
        violations = filter_violations(request.filter)
        if request.order not in ps.ListOrder.values():
            violations.append(("order", f"is not a known order: {request.order}"))
        check(violations)
        size = page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        query, oldest_first = scoped(request.filter), request.order == ps.LIST_ORDER_OLDEST_FIRST
        fingerprint = query.fingerprint(oldest_first)
        after = decode_page_token(request.page_token, fingerprint) if request.page_token else None
        page = await self._store.list_jobs(query, size, after, oldest_first)
        token = encode_page_token(page.next_key, fingerprint) if page.next_key else ""
        return ps.ListJobsResponse(jobs=await self.with_notify(page.jobs), next_page_token=token,
                                   total_size=page.total)

    async def ListJobEvents(self, request: ps.ListJobEventsRequest, context: Context) -> ps.ListJobEventsResponse:
        check(job_id_violations(request.job_id))
        size = page_size(request.page_size, DEFAULT_EVENTS_PAGE, MAX_EVENTS_PAGE)
        after = 0
        if request.page_token:
            job_id, after = decode_token(request.page_token, "page_token", (str, int))
            if job_id != request.job_id:
                check([("page_token", "was returned for another job")])
        visible(await self._store.get_job(request.job_id))
        events, more = await self._store.events_page(request.job_id, after, size)
        token = encode_token(request.job_id, events[-1].sequence) if more else ""
        return ps.ListJobEventsResponse(events=events, next_page_token=token)

    async def PurgeJobs(self, request: ps.PurgeJobsRequest, context: Context) -> ps.PurgeJobsResponse:
        if not request.HasField("ended_before"):
            check([("ended_before", "is required")])
        check([("ended_before", "must be a valid timestamp (years 1-9999)")]
              if not valid_time(request.ended_before) else [])
        limit = page_size(request.limit, DEFAULT_PURGE, MAX_PURGE, "limit")
        ids = await self._store.purge(request.ended_before.ToDatetime(tzinfo=UTC), limit)
        return ps.PurgeJobsResponse(job_ids=ids)

    async def WatchJob(self, request: ps.WatchJobRequest, context: Context) -> AsyncIterator[ps.WatchJobResponse]:
        violations = [] if request.job_id else [("job_id", "must not be empty")]
        if request.after_sequence < 0:
            violations.append(("after_sequence", "must not be negative"))
        check(violations)
        job_id, last = request.job_id, request.after_sequence
        # Subscribe before reading so that an event committed in between is in the queue or in the read.
        with self._bus.subscribe(job_id) as subscription, jobmetrics.watching("WatchJob"):
            job = visible(await self._store.get_job(job_id))
            if last > job.last_sequence:
                raise ServiceError(
                    grpc.StatusCode.OUT_OF_RANGE,
                    f"after_sequence {last} is beyond the last sequence {job.last_sequence} of job {job_id!r}",
                    "AFTER_SEQUENCE_OUT_OF_RANGE", metadata={"job_id": job_id},
                )
            if last == 0:
                yield ps.WatchJobResponse(snapshot=(await self.with_notify([job]))[0])
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
        """Queued events in sequence order (gaps filled from the store), a heartbeat every interval, to the end."""
        job_id, clock = subscription.job_id, asyncio.get_running_loop()
        beat_at = clock.time() + self._heartbeat  # every interval, busy or not (the client's liveness check)
        subscription.heartbeat_at(beat_at)
        while True:
            queued = await subscription.get()
            if queued is HEARTBEAT:
                yield ps.WatchJobResponse(heartbeat=ps.Heartbeat(last_sequence=last))
                beat_at = clock.time() + self._heartbeat
                subscription.heartbeat_at(beat_at)
                continue
            if queued is None and subscription.shutting_down:
                raise ServiceError(
                    grpc.StatusCode.UNAVAILABLE,
                    f"progress service is shutting down; resume with after_sequence={last}",
                    "SERVER_SHUTTING_DOWN", metadata={"job_id": job_id, "after_sequence": str(last)},
                )
            if queued is None:
                log.info("watcher dropped after sequence %d", last, **logs.job(job_id))
                raise ServiceError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"watcher fell too far behind; resume with after_sequence={last}",
                    "WATCHER_TOO_SLOW", metadata={"job_id": job_id, "after_sequence": str(last)},
                )
            if queued.event.sequence <= last:
                continue
            # The bus's response, shared by the job's watchers, when it is the next; commits may be published
            # out of order, and then the events in between (already committed) are read.
            batch = ([queued] if queued.event.sequence == last + 1 else
                     [ps.WatchJobResponse(event=e) for e in await self._store.events_after(job_id, last)])
            for response in batch:
                yield response
                last = response.event.sequence
                if response.event.type in TERMINAL_EVENTS:
                    return
            if clock.time() >= beat_at:
                yield ps.WatchJobResponse(heartbeat=ps.Heartbeat(last_sequence=last))
                beat_at = clock.time() + self._heartbeat
                subscription.heartbeat_at(beat_at)

    async def WatchJobs(self, request: ps.WatchJobsRequest, context: Context) -> AsyncIterator[ps.WatchJobsResponse]:
        check(filter_violations(request.filter))
        query = scoped(request.filter)
        cursor = Position.from_token(request.cursor) if request.cursor else None
        # Wake-ups before reading, so a commit in between wakes us.
        with self._bus.wakeups() as wakeup, jobmetrics.watching("WatchJobs"):
            cursor = cursor or await self._store.feed.head()
            async with contextlib.aclosing(self._feed(wakeup, query, cursor)) as feed:
                async for response in feed:
                    yield response

    async def _feed(self, wakeup: Wakeup, query: JobQuery, cursor: Position) -> AsyncIterator[ps.WatchJobsResponse]:
        """Reads the feed after the cursor whenever something was recorded, heartbeats every interval."""
        clock = asyncio.get_running_loop()
        beat_at = clock.time() + self._heartbeat
        # First a heartbeat with the starting cursor: the watcher knows it is subscribed, and from where.
        yield ps.WatchJobsResponse(heartbeat=ps.Heartbeat(), cursor=cursor.token())
        while True:
            page = await self._store.feed.read(cursor, query, FEED_BATCH)
            for position, event in page.events:
                yield ps.WatchJobsResponse(event=event, cursor=position.token())
                cursor = position
            if clock.time() >= beat_at:
                yield ps.WatchJobsResponse(heartbeat=ps.Heartbeat(), cursor=cursor.token())
                beat_at = clock.time() + self._heartbeat
            if len(page.events) == FEED_BATCH:
                continue
            if wakeup.shutting_down:
                raise ServiceError(
                    grpc.StatusCode.UNAVAILABLE, "progress service is shutting down; resume with the last cursor",
                    "SERVER_SHUTTING_DOWN", metadata={"cursor": cursor.token()},
                )
            wait = beat_at - clock.time()
            await wakeup.wait(min(wait, PENDING_RECHECK) if page.pending else wait)

    async def GetStats(self, request: ps.GetStatsRequest, context: Context) -> ps.GetStatsResponse:
        violations = filter_violations(request.filter)
        violations += [(name, "must be a valid timestamp (years 1-9999)") for name in ("start_time", "end_time")
                       if request.HasField(name) and not valid_time(getattr(request, name))]
        violations += [(f"filter.{name}", "must be unset: the window is start_time..end_time")
                       for name in ("created_after", "created_before") if request.filter.HasField(name)]
        check(violations)
        end = request.end_time.ToDatetime(tzinfo=UTC) if request.HasField("end_time") else dt.datetime.now(UTC)
        start = request.start_time.ToDatetime(tzinfo=UTC) if request.HasField("start_time") else None
        start = start if start is not None else max(end - DEFAULT_STATS_WINDOW, dt.datetime.min.replace(tzinfo=UTC))
        check([("start_time", "must be before end_time")] if start >= end else [])
        stats = await compute(self._store.sessions, start, end, scoped(request.filter))
        response = ps.GetStatsResponse(
            total_jobs=stats.total, success_rate=stats.success_rate, reviews=stats.reviews,
            review_approval_rate=stats.approved / stats.reviews if stats.reviews else 0.0, backlog=stats.backlog,
            counts=[ps.StateCount(state=s, count=n) for s, n in sorted(stats.counts.items())],
            kinds=[ps.KindStats(kind=k, duration=duration_stats(d)) for k, d in stats.kinds.items()],
            steps=[ps.StepStats(step=k, duration=duration_stats(d)) for k, d in stats.steps.items()],
        )
        for name, calls in stats.providers.items():
            entry = response.providers.add(provider=name, calls=calls.calls, failures=calls.failures)
            if calls.latencies:
                entry.latency.CopyFrom(duration_stats(Durations.of(calls.latencies)))
        response.start_time.FromDatetime(start)
        response.end_time.FromDatetime(end)
        return response


def _report_status(error: ServiceError) -> ps.ReportStatus:
    """The status ReportProgress would have answered for one report, as a batch result."""
    status = error.to_status()
    rich = dict(status.trailing_metadata)["grpc-status-details-bin"]
    return ps.ReportStatus.FromString(rich)  # google.rpc.Status and ReportStatus share their wire form


def visible(job: pb.Job) -> pb.Job:
    """The job, if the caller may see it: another user's job is NOT_FOUND exactly like an unknown id."""
    principal = caller()
    if not principal.admin and job.owner != principal.user:
        raise NotFound("job", job.id)
    return job


def scoped(f: ps.JobFilter) -> JobQuery:
    """The filter as the caller may use it: a user's queries cover only their own jobs."""
    principal = caller()
    query = JobQuery.from_proto(f)
    if principal.admin:
        return query
    if f.owner and f.owner != principal.user:
        raise ServiceError(grpc.StatusCode.PERMISSION_DENIED, "only admins may filter by another owner",
                           "OWNER_FILTER_ADMIN_ONLY")
    return replace(query, owner=principal.user)


def duration_stats(durations: Durations) -> ps.DurationStats:
    stats = ps.DurationStats(count=durations.count)
    stats.mean.FromTimedelta(durations.mean)
    stats.p95.FromTimedelta(durations.p95)
    return stats
