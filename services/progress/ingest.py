"""How reports reach the database: a queue, group commit (the reports that arrive while a transaction is
being written go together in the next one), per-job claims so a job's reports are written in the order
they came, and the retries of a batch that lost a race to another replica. The transaction itself is
recording.py, run by the database's writer (write_sqlite, write_postgres, transaction.EngineWriter)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import grpc
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from genmedia.domain.errors import ServiceError
from genmedia.serving import logs
from genmedia.v1 import common_pb2 as pb
from services.progress import jobmetrics
from services.progress.jobstate import LOGGED_EVENTS
from services.progress.models import JobEventRow
from services.progress.recording import Recorded, Report, record_batch
from services.progress.transaction import JobCache, Transaction, lost_race

log = logging.getLogger(__name__)

T = TypeVar("T")
CONFLICT_RETRIES = 3
MAX_BATCH = 256  # reports per transaction


class Writer(Protocol):
    async def run(self, work: Callable[[Transaction], T], ids: Iterable[str]) -> T: ...


class _Call:
    """The reports of one `report_many` call: its future is done when the last of them is written."""

    __slots__ = ("future", "left")

    def __init__(self, future: asyncio.Future[None], left: int) -> None:
        self.future, self.left = future, left


@dataclass(slots=True)
class _Pending(Report):
    """A report waiting for the writer, its call, and (once written) its outcome."""

    call: _Call | None = None
    outcome: Recorded | Exception | None = None


class Ingest:
    """Writes reports with up to `max_writers` transactions in flight: SQLite has one writer; PostgreSQL
    overlaps a few, batches of different jobs (a batch waits for the earlier ones of its jobs: _claim).
    `kept` is the writer's cache of job rows (PostgreSQL), which tells a child's batch for the claims."""

    def __init__(self, writer: Writer, sessions: async_sessionmaker, dbapi: Any, *, max_writers: int,
                 kept: JobCache | None = None, serial: bool = False) -> None:
        self._writer, self._sessions, self._dbapi = writer, sessions, dbapi
        self._max_writers, self._kept = max_writers, kept
        # SQLite has no row locks: writers of this process take turns instead (one process per file).
        self.write_lock: contextlib.AbstractAsyncContextManager = asyncio.Lock() if serial else contextlib.nullcontext()
        self._queue: collections.deque[_Pending] = collections.deque()
        self._writers: set[asyncio.Task[None]] = set()
        self._claims: dict[str, asyncio.Future[None]] = {}  # job -> the last batch in flight that writes it

    async def report_many(self, reports: list[tuple[pb.JobEvent, str, pb.Job | None, tuple[pb.Job, ...]]]
                          ) -> list[Recorded | Exception]:
        """Records several events in order; each outcome is what a report alone would answer or raise.

        Group commit: reports that arrive while a transaction is being written wait for the next one and
        are written together, one transaction per batch instead of one per event, in arrival order."""
        if not reports:
            return []
        call = _Call(asyncio.get_running_loop().create_future(), len(reports))
        pending = [_Pending(event, key, job, tuple(children), call) for event, key, job, children in reports]
        self._queue.extend(pending)
        if len(self._writers) < self._max_writers:
            self._writers.add(asyncio.create_task(self._write_queued()))
        await call.future  # a caller that goes away cancels only its own wait, never the write
        return [p.outcome for p in pending]

    async def _write_queued(self) -> None:
        """Writes what is queued, a batch per transaction, until the queue is empty."""
        try:
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
                ids, claim, earlier = self._claim(batch)
                try:
                    if earlier:
                        await asyncio.wait(earlier)
                    outcomes = await self.write_batch(batch)
                except Exception as error:  # the database failed: every report of the batch fails with it
                    log.warning("writing %d reports failed: %s", len(batch), error)
                    unavailable = ServiceError(
                        grpc.StatusCode.UNAVAILABLE, f"the progress database failed, nothing was recorded: "
                        f"{type(error).__name__}: {error}; try again", "DATABASE_UNAVAILABLE")
                    outcomes = [unavailable] * len(batch)
                finally:
                    self._release(ids, claim)
                for pending, outcome in zip(batch, outcomes, strict=True):
                    pending.outcome = outcome
                    call = pending.call
                    call.left -= 1
                    if call.left == 0 and not call.future.done():
                        call.future.set_result(None)
        finally:
            # At once, with no await since the queue was found empty: a report queued from now on sees a
            # free writer slot and starts a writer (a done-callback would run later and leave it stranded).
            self._writers.discard(asyncio.current_task())

    def _claim(self, batch: list[_Pending]) -> tuple[set[str], asyncio.Future[None] | None, set[asyncio.Future]]:
        """Claims the batch's jobs (and the batches they belong to, as far as known) for its writer: returns
        them, the claim, and the claims of earlier batches in flight that write any of them, to wait for.
        So this process writes the reports of a job in the order they came, and two of its writers never
        compute a job from the same version (on PostgreSQL the later write would fail, and be redone)."""
        if self._max_writers == 1:  # one batch at a time anyway
            return set(), None, set()
        ids = {pending.event.job_id for pending in batch}
        rows = self._kept.rows if self._kept is not None else {}
        ids.update(parent for job_id in list(ids) if (parent := (rows.get(job_id) or {}).get("batch_id")))
        claim = asyncio.get_running_loop().create_future()
        earlier = {other for job_id in ids if (other := self._claims.get(job_id)) is not None}
        self._claims.update(dict.fromkeys(ids, claim))
        return ids, claim, earlier

    def _release(self, ids: set[str], claim: asyncio.Future[None] | None) -> None:
        if claim is None:
            return
        claim.set_result(None)
        for job_id in ids:
            if self._claims.get(job_id) is claim:
                del self._claims[job_id]

    async def write_batch(self, batch: list[Report]) -> list[Recorded | Exception]:
        """A batch in one transaction; if it lost a race to another replica, report by report."""
        try:
            async with self.write_lock:
                return await self.record(batch)
        except Exception as error:
            if not lost_race(error, self._dbapi):
                raise
            # Another replica wrote one of these jobs or keys first: write them one by one.
            log.debug("a batch of %d reports lost a race, writing them one by one", len(batch))
            return [await self._write_one(report) for report in batch]

    async def _write_one(self, report: Report) -> Recorded | Exception:
        event, key = report.event, report.key
        for _ in range(CONFLICT_RETRIES):
            try:
                async with self.write_lock:
                    return (await self.record([report]))[0]
            except Exception as error:
                if not lost_race(error, self._dbapi):
                    raise
                # A concurrent report of the same key, or a concurrent CREATED, committed first.
                log.debug("report %r lost a race, checking for a duplicate", key, **logs.job(event.job_id))
                async with self._sessions() as session:
                    sequence = await session.scalar(select(JobEventRow.sequence).where(
                        JobEventRow.job_id == event.job_id, JobEventRow.idempotency_key == key))
                if sequence is not None:
                    return Recorded(sequence, duplicate=True)
        return ServiceError(grpc.StatusCode.ABORTED, "too many concurrent reports, try again", "CONFLICT")

    async def record(self, batch: list[Report]) -> list[Recorded | Exception]:
        """Writes a batch in one transaction by the database's writer, then counts and logs what it stored."""
        changes: list[jobmetrics.Change] = []  # of the transaction that commits (a retried one starts it over)
        outcomes = await self._writer.run(lambda tx: record_batch(tx, batch, changes),
                                          [report.event.job_id for report in batch])
        recorded = [o for o in outcomes if isinstance(o, Recorded) and o.event is not None]
        jobmetrics.observe(changes, [e for o in recorded for e in (*o.also, o.event)])
        debug = log.isEnabledFor(logging.DEBUG)
        for outcome in recorded:
            stored = outcome.event
            if stored.type in LOGGED_EVENTS or debug:
                level = logging.INFO if stored.type in LOGGED_EVENTS else logging.DEBUG
                log.log(level, "recorded %s as %d", pb.EventType.Name(stored.type), stored.sequence,
                        **logs.job(stored.job_id))
        return outcomes
