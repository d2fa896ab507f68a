"""Domain of the progress service: records job events with gap-free per-job sequences, reads jobs back."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass

import grpc
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from genmedia import logs
from genmedia.errors import NotFound, ServiceError
from genmedia.v1 import common_pb2 as pb
from services.progress import batches
from services.progress.feed import Feed
from services.progress.models import UTC, JobEventRow, JobLabelRow, JobRow
from services.progress.queries import JobQuery, PageKey

log = logging.getLogger(__name__)

TERMINAL_STATES = frozenset({pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED})
# Event types that decide the job's state by themselves; the others may carry a state or keep the old one.
TYPE_STATES = {
    pb.EVENT_TYPE_CREATED: pb.JOB_STATE_PENDING,
    pb.EVENT_TYPE_STARTED: pb.JOB_STATE_RUNNING,
    pb.EVENT_TYPE_RETRYING: pb.JOB_STATE_RETRYING,
    pb.EVENT_TYPE_AWAITING_REVIEW: pb.JOB_STATE_AWAITING_REVIEW,
    pb.EVENT_TYPE_PAUSED: pb.JOB_STATE_PAUSED,
    pb.EVENT_TYPE_RESUMED: pb.JOB_STATE_RUNNING,
    pb.EVENT_TYPE_COMPLETED: pb.JOB_STATE_COMPLETED,
    pb.EVENT_TYPE_FAILED: pb.JOB_STATE_FAILED,
    pb.EVENT_TYPE_CANCELLED: pb.JOB_STATE_CANCELLED,
    pb.EVENT_TYPE_RETRIED: pb.JOB_STATE_PENDING,  # a batch reopened by RetryBatch
}
TERMINAL_EVENTS = frozenset(t for t, s in TYPE_STATES.items() if s in TERMINAL_STATES)
LOGGED_EVENTS = TERMINAL_EVENTS | {pb.EVENT_TYPE_CREATED}  # the rest are logged at DEBUG
CONFLICT_RETRIES = 3
DEFAULT_PRIORITY = 3


@dataclass(frozen=True)
class Recorded:
    """The outcome of a report: the event's sequence, and the stored event unless it was a duplicate."""

    sequence: int
    duplicate: bool
    event: pb.JobEvent | None = None
    also: tuple[pb.JobEvent, ...] = ()  # events recorded with it on other jobs (its batch's progress)


@dataclass(frozen=True)
class JobPage:
    jobs: list[pb.Job]
    next_key: PageKey | None
    total: int


def _precondition(message: str, reason: str, job_id: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, message, reason, metadata={"job_id": job_id})


class Store:
    """Jobs and their events in one SQL database; one transaction per call, sessions injected."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], serialize_writes: bool,
                 postgres: bool = False) -> None:
        self._sessions = self.sessions = sessions
        self.feed = Feed(sessions, postgres)
        # SQLite has no row locks: writers of this process take turns instead (one process per file).
        self._write_lock: contextlib.AbstractAsyncContextManager = (
            asyncio.Lock() if serialize_writes else contextlib.nullcontext()
        )

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> Store:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        return cls(sessions, serialize_writes=engine.dialect.name == "sqlite",
                   postgres=engine.dialect.name == "postgresql")

    async def report(self, event: pb.JobEvent, key: str, job: pb.Job | None = None) -> Recorded:
        """Records an event once per (job, key); the stored copy has the next sequence of the job."""
        for _ in range(CONFLICT_RETRIES):
            try:
                async with self._write_lock:
                    return await self._record(event, key, job)
            except IntegrityError:
                # A concurrent report of the same key, or a concurrent CREATED, committed first.
                log.debug("report %r lost a race, checking for a duplicate", key, **logs.job(event.job_id))
                async with self._sessions() as session:
                    sequence = await self._sequence_of(session, event.job_id, key)
                if sequence is not None:
                    return Recorded(sequence, duplicate=True)
        raise ServiceError(grpc.StatusCode.ABORTED, "too many concurrent reports, try again", "CONFLICT")

    async def _record(self, event: pb.JobEvent, key: str, job: pb.Job | None) -> Recorded:
        async with self._sessions.begin() as session:
            query = select(JobRow).where(JobRow.id == event.job_id).with_for_update()
            row = await session.scalar(query)
            now = dt.datetime.now(UTC)  # taken under the lock, so times follow sequences
            sequence = await self._sequence_of(session, event.job_id, key)
            if sequence is not None:
                return Recorded(sequence, duplicate=True)
            if event.type == pb.EVENT_TYPE_CREATED:
                if row is not None:
                    raise _precondition(f"job {event.job_id!r} already exists", "JOB_ALREADY_EXISTS", event.job_id)
                job = job or pb.Job(id=event.job_id)
                row = _new_row(job, now)
                session.add(row)
                await session.flush()
                session.add_all(JobLabelRow(job_id=row.id, key=k, value=v) for k, v in job.labels.items())
            elif row is None:
                raise NotFound("job", event.job_id)
            elif row.state in TERMINAL_STATES and not batches.reopens(row, event):
                state = pb.JobState.Name(row.state)
                raise _precondition(f"job {event.job_id!r} is {state}", "JOB_TERMINAL", event.job_id)
            before = (row.state, row.percent)
            stored = _apply(row, event, now)
            also = await batches.follow(session, row, before, stored, now)
            session.add(
                JobEventRow(
                    job_id=row.id, sequence=stored.sequence, idempotency_key=key, type=stored.type,
                    state=stored.state, step=stored.step, time=now, event=stored.SerializeToString(),
                )
            )
        level = logging.INFO if stored.type in LOGGED_EVENTS else logging.DEBUG
        log.log(level, "recorded %s as %d", pb.EventType.Name(stored.type), stored.sequence, **logs.job(row.id))
        return Recorded(stored.sequence, duplicate=False, event=stored, also=tuple(also))

    @staticmethod
    async def _sequence_of(session: AsyncSession, job_id: str, key: str) -> int | None:
        query = select(JobEventRow.sequence).where(
            JobEventRow.job_id == job_id, JobEventRow.idempotency_key == key
        )
        return await session.scalar(query)

    async def get_job(self, job_id: str) -> pb.Job:
        async with self._sessions() as session:
            row = await session.get(JobRow, job_id)
            if row is None:
                raise NotFound("job", job_id)
            return row.to_proto()

    async def events_after(self, job_id: str, after: int) -> list[pb.JobEvent]:
        """The stored events of a job with a sequence above `after`, in order."""
        async with self._sessions() as session:
            query = (
                select(JobEventRow)
                .where(JobEventRow.job_id == job_id, JobEventRow.sequence > after)
                .order_by(JobEventRow.sequence)
            )
            return [row.to_proto() for row in await session.scalars(query)]

    async def events_page(self, job_id: str, after: int, size: int) -> tuple[list[pb.JobEvent], bool]:
        """Up to `size` events of a job after sequence `after`, and whether more follow; NOT_FOUND for a
        job that does not exist (or was purged)."""
        async with self._sessions() as session:
            if await session.scalar(select(JobRow.id).where(JobRow.id == job_id)) is None:
                raise NotFound("job", job_id)
            query = (
                select(JobEventRow.event)
                .where(JobEventRow.job_id == job_id, JobEventRow.sequence > after)
                .order_by(JobEventRow.sequence)
                .limit(size + 1)
            )
            blobs = list(await session.scalars(query))
        return [pb.JobEvent.FromString(b) for b in blobs[:size]], len(blobs) > size

    async def list_jobs(self, query: JobQuery, page_size: int, after: PageKey | None,
                        oldest_first: bool = False) -> JobPage:
        """The page of matching jobs after `after` in (create_time, id) order, and how many match."""
        where = query.conditions()
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(JobRow).where(*where)) or 0
            order = (JobRow.create_time, JobRow.id) if oldest_first else (JobRow.create_time.desc(), JobRow.id.desc())
            select_page = select(JobRow).where(*where).order_by(*order).limit(page_size + 1)
            if after is not None:
                if oldest_first:
                    beyond = or_(JobRow.create_time > after.create_time,
                                 and_(JobRow.create_time == after.create_time, JobRow.id > after.job_id))
                else:
                    beyond = or_(JobRow.create_time < after.create_time,
                                 and_(JobRow.create_time == after.create_time, JobRow.id < after.job_id))
                select_page = select_page.where(beyond)
            rows = list(await session.scalars(select_page))
        page = rows[:page_size]
        more = len(rows) > page_size
        next_key = PageKey(page[-1].create_time, page[-1].id) if more else None
        return JobPage([row.to_proto() for row in page], next_key, total)

    async def purge(self, ended_before: dt.datetime, limit: int) -> list[str]:
        """Deletes up to `limit` terminal jobs that ended before a time, with their events and labels."""
        async with self._write_lock, self._sessions.begin() as session:
            query = (
                select(JobRow.id)
                .where(JobRow.end_time < ended_before, JobRow.state.in_(TERMINAL_STATES))
                .order_by(JobRow.end_time)
                .limit(limit)
            )
            ids = list(await session.scalars(query))
            if ids:
                # Explicitly, children first: SQLite enforces ON DELETE CASCADE only with its pragma on.
                for table in (JobEventRow, JobLabelRow):
                    await session.execute(delete(table).where(table.job_id.in_(ids)))
                await session.execute(delete(JobRow).where(JobRow.id.in_(ids)))
        for job_id in ids:
            log.info("purged", **logs.job(job_id))
        return ids


def _new_row(job: pb.Job, now: dt.datetime) -> JobRow:
    created = job.create_time.ToDatetime(tzinfo=UTC) if job.HasField("create_time") else now
    return JobRow(
        id=job.id, kind=job.kind, state=pb.JOB_STATE_PENDING, step=0, percent=0.0, message="",
        owner=job.owner, request_id=job.request_id,
        spec=job.spec.SerializeToString() if job.HasField("spec") else b"",
        labels=dict(job.labels), assets=b"", error_code="", error_message="", error_retryable=False,
        attempt=0, create_time=created, update_time=now, last_sequence=0,
        priority=job.priority or DEFAULT_PRIORITY, review=job.review, review_round=0, reviews=b"",
        batch_id=job.batch_id,
        deadline=job.deadline.ToDatetime(tzinfo=UTC) if job.HasField("deadline") else None,
        review_timeout_us=job.review_timeout.ToMicroseconds() if job.HasField("review_timeout") else None,
    )


def _apply(row: JobRow, event: pb.JobEvent, now: dt.datetime) -> pb.JobEvent:
    """Applies an event to the job's view; returns the event as stored (sequence, time, resulting job)."""
    row.state = TYPE_STATES.get(event.type) or event.state or row.state
    row.step = event.step or row.step
    row.percent = max(row.percent, event.percent)
    row.message = event.message or row.message
    row.attempt = event.attempt or row.attempt
    if event.HasField("error"):
        row.error_code, row.error_message = event.error.code, event.error.message
        row.error_retryable = event.error.retryable
    elif row.state not in (pb.JOB_STATE_RETRYING, pb.JOB_STATE_FAILED):
        row.error_code, row.error_message, row.error_retryable = "", "", False  # recovered: no stale error
    if event.assets:
        row.assets = pb.Job(assets=event.assets).SerializeToString()
    if event.HasField("review"):
        row.reviews = row.reviews + pb.Job(reviews=[event.review]).SerializeToString()  # appends to the list
    row.review_round = event.review_round or row.review_round
    if event.HasField("spec"):
        row.spec = event.spec.SerializeToString()
    if event.HasField("estimated_completion_time"):
        row.estimated_completion_time = event.estimated_completion_time.ToDatetime(tzinfo=UTC)
    if row.state == pb.JOB_STATE_RUNNING and row.start_time is None:
        row.start_time = now
    if row.state in TERMINAL_STATES:
        row.end_time, row.estimated_completion_time = now, None
    row.update_time = now
    row.last_sequence += 1
    stored = pb.JobEvent()
    stored.CopyFrom(event)
    stored.sequence = row.last_sequence
    stored.time.FromDatetime(now)
    stored.state, stored.step, stored.percent, stored.attempt = row.state, row.step, row.percent, row.attempt
    return stored
