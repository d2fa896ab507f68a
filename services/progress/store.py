"""Domain of the progress service: records job events with gap-free per-job sequences, reads jobs back."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass

import grpc
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from genmedia import logs
from genmedia.errors import NotFound, ServiceError
from genmedia.v1 import common_pb2 as pb
from services.progress.models import UTC, JobEventRow, JobRow

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
}
TERMINAL_EVENTS = frozenset(t for t, s in TYPE_STATES.items() if s in TERMINAL_STATES)
LOGGED_EVENTS = TERMINAL_EVENTS | {pb.EVENT_TYPE_CREATED}  # the rest are logged at DEBUG
CONFLICT_RETRIES = 3


@dataclass(frozen=True)
class Recorded:
    """The outcome of a report: the event's sequence, and the stored event unless it was a duplicate."""

    sequence: int
    duplicate: bool
    event: pb.JobEvent | None = None


@dataclass(frozen=True)
class PageKey:
    """Position in the newest-first listing: the last job returned."""

    create_time: dt.datetime
    job_id: str


@dataclass(frozen=True)
class JobPage:
    jobs: list[pb.Job]
    next_key: PageKey | None
    total: int


def _precondition(message: str, reason: str, job_id: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, message, reason, metadata={"job_id": job_id})


class Store:
    """Jobs and their events in one SQL database; one transaction per call, sessions injected."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], serialize_writes: bool) -> None:
        self._sessions = sessions
        # SQLite has no row locks: writers of this process take turns instead (one process per file).
        self._write_lock: contextlib.AbstractAsyncContextManager = (
            asyncio.Lock() if serialize_writes else contextlib.nullcontext()
        )

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> Store:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        return cls(sessions, serialize_writes=engine.dialect.name == "sqlite")

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
                row = _new_row(job or pb.Job(id=event.job_id), now)
                session.add(row)
                await session.flush()
            elif row is None:
                raise NotFound("job", event.job_id)
            elif row.state in TERMINAL_STATES:
                state = pb.JobState.Name(row.state)
                raise _precondition(f"job {event.job_id!r} is {state}", "JOB_TERMINAL", event.job_id)
            stored = _apply(row, event, now)
            session.add(
                JobEventRow(
                    job_id=row.id, sequence=stored.sequence, idempotency_key=key, type=stored.type,
                    time=now, event=stored.SerializeToString(),
                )
            )
        level = logging.INFO if stored.type in LOGGED_EVENTS else logging.DEBUG
        log.log(level, "recorded %s as %d", pb.EventType.Name(stored.type), stored.sequence, **logs.job(row.id))
        return Recorded(stored.sequence, duplicate=False, event=stored)

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

    async def list_jobs(self, page_size: int, after: PageKey | None) -> JobPage:
        """Jobs newest first by (create_time, id), the page after `after`, and how many jobs there are."""
        async with self._sessions() as session:
            query = select(JobRow).order_by(JobRow.create_time.desc(), JobRow.id.desc()).limit(page_size + 1)
            if after is not None:
                query = query.where(
                    or_(
                        JobRow.create_time < after.create_time,
                        and_(JobRow.create_time == after.create_time, JobRow.id < after.job_id),
                    )
                )
            rows = list(await session.scalars(query))
            total = await session.scalar(select(func.count()).select_from(JobRow)) or 0
        page = rows[:page_size]
        more = len(rows) > page_size
        next_key = PageKey(page[-1].create_time, page[-1].id) if more else None
        return JobPage([row.to_proto() for row in page], next_key, total)


def _new_row(job: pb.Job, now: dt.datetime) -> JobRow:
    created = job.create_time.ToDatetime(tzinfo=UTC) if job.HasField("create_time") else now
    return JobRow(
        id=job.id, kind=job.kind, state=pb.JOB_STATE_PENDING, step=0, percent=0.0, message="",
        owner=job.owner, request_id=job.request_id,
        spec=job.spec.SerializeToString() if job.HasField("spec") else b"",
        labels=dict(job.labels), assets=b"", error_code="", error_message="", error_retryable=False,
        attempt=0, create_time=created, update_time=now, last_sequence=0,
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
    if row.state == pb.JOB_STATE_RUNNING and row.start_time is None:
        row.start_time = now
    if row.state in TERMINAL_STATES:
        row.end_time = now
    row.update_time = now
    row.last_sequence += 1
    stored = pb.JobEvent()
    stored.CopyFrom(event)
    stored.sequence = row.last_sequence
    stored.time.FromDatetime(now)
    stored.state, stored.step, stored.percent, stored.attempt = row.state, row.step, row.percent, row.attempt
    return stored
