"""Domain of the progress service: records job events with gap-free per-job sequences, reads jobs back."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import functools
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import NamedTuple

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import Connection, and_, delete, func, or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.util import greenlet_spawn

from genmedia import logs
from genmedia.errors import NotFound, ServiceError
from genmedia.v1 import common_pb2 as pb
from services.progress import batch_rows, jobmetrics
from services.progress.feed import Feed
from services.progress.models import UTC, JobCountRow, JobEventRow, JobLabelRow, JobRow
from services.progress.queries import JobQuery, PageKey
from services.progress.writes import AsyncpgCursor, JobCache, ReadBusy, SqliteWriter, Statements, Transaction

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
JOBS = JobRow.__table__
COLUMN_DEFAULTS = {  # a new row's values before the job's own: the columns' scalar defaults, else None
    column.name: column.default.arg if column.default is not None and column.default.is_scalar else None
    for column in JOBS.columns
}
CONFLICT_RETRIES = 3
# Reads of a SQLite file made directly (read_sqlite); EVENTS_PAGE has a row (its event NULL) for a job with
# no events after the cursor, and none for a job that does not exist, in one statement: one snapshot.
EVENTS_AFTER = "SELECT event FROM job_events WHERE job_id = ? AND sequence > ? ORDER BY sequence"
EVENTS_PAGE = ("SELECT e.event FROM jobs AS j LEFT JOIN job_events AS e ON e.job_id = j.id AND e.sequence > ? "
               "WHERE j.id = ? ORDER BY e.sequence LIMIT ?")
MAX_BATCH = 256  # reports per transaction
POSTGRES_WRITERS = 4
DEFAULT_PRIORITY = 3


class Recorded(NamedTuple):
    """The outcome of a report: the event's sequence, and the stored event unless it was a duplicate."""

    sequence: int
    duplicate: bool
    event: pb.JobEvent | None = None
    also: tuple[pb.JobEvent, ...] = ()  # events recorded with it on other jobs (its batch's progress)


class _Call:
    """The reports of one `report_many` call: its future is done when the last of them is written."""

    __slots__ = ("future", "left")

    def __init__(self, future: asyncio.Future[None], left: int) -> None:
        self.future, self.left = future, left


@dataclass(slots=True)
class _Pending:
    """A report waiting for the writer, its call, and (once written) its outcome. Slots, not frozen: made
    for every report, so it is kept cheap."""

    event: pb.JobEvent
    key: str
    job: pb.Job | None
    children: tuple[pb.Job, ...] = ()  # with a batch's CREATED: its jobs, recorded in the same transaction
    call: _Call | None = None
    outcome: Recorded | Exception | None = None


@dataclass(frozen=True)
class JobPage:
    jobs: list[pb.Job]
    next_key: PageKey | None
    total: int


def _precondition(message: str, reason: str, job_id: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, message, reason, metadata={"job_id": job_id})


class Store:
    """Jobs and their events in one SQL database; one transaction per call, sessions injected."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._statements = Statements(engine.dialect)
        url = engine.url
        file = url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:"
        self._sqlite = SqliteWriter(url.database, self._statements) if file else None
        self._dbapi = engine.dialect.dbapi
        self._sessions = self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        postgres = engine.dialect.name == "postgresql"
        self.feed = Feed(self._sessions, postgres)
        # SQLite has no row locks: writers of this process take turns instead (one process per file).
        self._write_lock: contextlib.AbstractAsyncContextManager = (
            asyncio.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )
        self._queue: collections.deque[_Pending] = collections.deque()
        # Transactions in flight at once: SQLite has one writer; PostgreSQL overlaps a few, batches of
        # different jobs (a batch waits for the earlier ones of its jobs: _claim).
        self._max_writers = 1 if engine.dialect.name == "sqlite" else POSTGRES_WRITERS
        self._writers: set[asyncio.Task[None]] = set()
        self._claims: dict[str, asyncio.Future[None]] = {}  # job -> the last batch in flight that writes it
        self._jobs = JobCache()  # PostgreSQL: the job rows this replica wrote last, with their versions

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> Store:
        return cls(engine)

    async def report(self, event: pb.JobEvent, key: str, job: pb.Job | None = None,
                     children: tuple[pb.Job, ...] = ()) -> Recorded:
        """Records an event once per (job, key); the stored copy has the next sequence of the job. With a
        batch's CREATED, `children` are its jobs, each recorded PENDING in the same transaction."""
        (outcome,) = await self.report_many([(event, key, job, children)])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def report_many(self, reports: list[tuple[pb.JobEvent, str, pb.Job | None, tuple[pb.Job, ...]]]
                          ) -> list[Recorded | Exception]:
        """Records several events in order; each outcome is what `report` would return or raise alone.

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
                    outcomes = await self._write_batch(batch)
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
        rows = self._jobs.rows
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

    async def _write_batch(self, batch: list[_Pending]) -> list[Recorded | Exception]:
        try:
            async with self._write_lock:
                return await self._record(batch)
        except Exception as error:
            if not self._lost_race(error):
                raise
            # Another replica wrote one of these jobs or keys first: write them one by one.
            log.debug("a batch of %d reports lost a race, writing them one by one", len(batch))
            return [await self._write_one(pending) for pending in batch]

    async def _write_one(self, pending: _Pending) -> Recorded | Exception:
        event, key = pending.event, pending.key
        for _ in range(CONFLICT_RETRIES):
            try:
                async with self._write_lock:
                    return (await self._record([pending]))[0]
            except Exception as error:
                if not self._lost_race(error):
                    raise
                # A concurrent report of the same key, or a concurrent CREATED, committed first.
                log.debug("report %r lost a race, checking for a duplicate", key, **logs.job(event.job_id))
                async with self._sessions() as session:
                    sequence = await session.scalar(select(JobEventRow.sequence).where(
                        JobEventRow.job_id == event.job_id, JobEventRow.idempotency_key == key))
                if sequence is not None:
                    return Recorded(sequence, duplicate=True)
        return ServiceError(grpc.StatusCode.ABORTED, "too many concurrent reports, try again", "CONFLICT")

    async def _record(self, batch: list[_Pending]) -> list[Recorded | Exception]:
        """Writes a batch in one transaction, in plain SQL (writes.py): on a SQLite file with the store's
        own sqlite3 connection, on the event loop; on PostgreSQL on a pool connection's asyncpg connection
        itself (its transaction, writes.AsyncpgCursor)."""
        changes: list[jobmetrics.Change] = []  # of the transaction that commits (a retried one starts it over)
        if self._sqlite is not None:
            outcomes = await self._sqlite.run(lambda tx: _record_batch(tx, batch, changes))
        elif self._statements.postgres:
            try:
                outcomes = await self._postgres(batch, changes, lock=False)
            except Exception as error:
                if not isinstance(error, Unconfirmed) and not self._lost_race(error):
                    raise
                log.debug("writing %d reports again, under row locks: %s", len(batch), error)
                outcomes = await self._postgres(batch, changes, lock=True)
        else:  # an in-memory SQLite database (tests): SQLAlchemy's transaction, its DBAPI cursor
            async with self._engine.begin() as connection:
                outcomes = await connection.run_sync(lambda c: _record_batch(self._on(c), batch, changes))
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

    async def _postgres(self, batch: list[_Pending], changes: list[jobmetrics.Change],
                        lock: bool) -> list[Recorded | Exception]:
        """A batch on PostgreSQL, on a connection of the engine's pool, straight from the pool (a third of
        the CPU of a checkout through engine.connect()), used as the asyncpg connection it is.

        Without `lock`, from the job rows this replica kept, as one statement that checks their versions
        (Transaction): one round trip instead of four (BEGIN, the read, the write, COMMIT), the lock held
        only while the statement runs. With `lock`, in a transaction that reads the rows FOR UPDATE."""
        pooled = await greenlet_spawn(self._engine.sync_engine.pool.connect)
        driver = pooled.driver_connection
        tx = Transaction(self._statements, AsyncpgCursor(driver), self._jobs, lock=lock)
        try:
            if lock:
                async with driver.transaction():
                    outcomes = await greenlet_spawn(_record_batch, tx, batch, changes)
            else:
                outcomes = await greenlet_spawn(_record_batch, tx, batch, changes)
        except BaseException:
            tx.forget(pending.event.job_id for pending in batch)
            if driver.is_closed():  # the pool must not hand out a broken connection again
                await greenlet_spawn(pooled.invalidate)
            raise
        finally:
            await greenlet_spawn(pooled.close)
        tx.keep_written()
        return outcomes

    def _on(self, connection: Connection) -> Transaction:
        """The write statements on a SQLAlchemy connection's DBAPI cursor (in its transaction)."""
        return Transaction(self._statements, connection.connection.dbapi_connection.cursor())

    def close(self) -> None:
        """Closes the store's own SQLite connection (the engine's pool is the caller's to dispose)."""
        if self._sqlite is not None:
            self._sqlite.close()

    def _lost_race(self, error: Exception) -> bool:
        """A unique key taken by a concurrent writer, or (PostgreSQL) a deadlock or serialization failure:
        as SQLAlchemy raises it, or as the driver does (the write path runs on the driver's cursor)."""
        driver = error.orig if isinstance(error, DBAPIError) else error
        integrity = (IntegrityError, sqlite3.IntegrityError, getattr(self._dbapi, "IntegrityError", IntegrityError))
        code = getattr(driver, "sqlstate", None) or getattr(driver, "pgcode", None) or ""
        return isinstance(error, integrity) or code.startswith("23") or code in ("40P01", "40001")

    def read_sqlite(self, statement: str, parameters: tuple) -> tuple[list, object] | None:
        """A quick read of a SQLite file on the event loop (rows, description); None when the store is not
        on a SQLite file or the read would have to wait: then read through the engine (a point read that
        way cost some 1.5 ms of CPU in SQLAlchemy's async machinery, measured)."""
        if self._sqlite is None:
            return None
        try:
            return self._sqlite.read(statement, parameters)
        except ReadBusy:
            return None

    async def get_job(self, job_id: str) -> pb.Job:
        if (read := self.read_sqlite(self._statements.get_job, (job_id,))) is not None:
            rows, description = read
            if not rows:
                raise NotFound("job", job_id)
            return JobRow.to_proto(SimpleNamespace(**self._statements.jobs(rows, description)[0]))
        async with self._sessions() as session:
            row = await session.get(JobRow, job_id)
            if row is None:
                raise NotFound("job", job_id)
            return row.to_proto()

    async def events_after(self, job_id: str, after: int) -> list[pb.JobEvent]:
        """The stored events of a job with a sequence above `after`, in order."""
        if (read := self.read_sqlite(EVENTS_AFTER, (job_id, after))) is not None:
            return [pb.JobEvent.FromString(blob) for (blob,) in read[0]]
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
        if (read := self.read_sqlite(EVENTS_PAGE, (after, job_id, size + 1))) is not None:
            if not read[0]:
                raise NotFound("job", job_id)
            blobs = [blob for (blob,) in read[0] if blob is not None]  # (NULL: the job has none after `after`)
            return [pb.JobEvent.FromString(b) for b in blobs[:size]], len(blobs) > size
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
        """The page of matching jobs after `after` in (create_time, id) order, and how many match.

        Several states are read one state at a time (each an ordered range of ix_jobs_state) and merged:
        no database walks two index ranges in order at once, and sorting one range's 100k rows is slow."""
        order = (JobRow.create_time, JobRow.id) if oldest_first else (JobRow.create_time.desc(), JobRow.id.desc())
        beyond = []
        if after is not None:
            if oldest_first:
                beyond = [or_(JobRow.create_time > after.create_time,
                              and_(JobRow.create_time == after.create_time, JobRow.id > after.job_id))]
            else:
                beyond = [or_(JobRow.create_time < after.create_time,
                              and_(JobRow.create_time == after.create_time, JobRow.id < after.job_id))]
        others = replace(query, states=()).conditions() if len(query.states) > 1 else query.conditions()
        parts = [[JobRow.state == state] for state in query.states] if len(query.states) > 1 else [[]]
        async with self._sessions() as session:
            total = int(await session.scalar(_total(query)) or 0)  # PostgreSQL sums bigints as numeric
            rows: list[JobRow] = []
            for part in parts:
                select_page = select(JobRow).where(*others, *part, *beyond).order_by(*order).limit(page_size + 1)
                rows += await session.scalars(select_page)
        rows.sort(key=lambda row: (row.create_time, row.id), reverse=not oldest_first)
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
                gone = await session.execute(delete(JobRow).where(JobRow.id.in_(ids))
                                             .returning(JobRow.owner, JobRow.kind, JobRow.state))
                deltas = collections.Counter({key: -n for key, n in collections.Counter(map(tuple, gone)).items()})
                await (await session.connection()).run_sync(lambda c: self._on(c).add_counts(_count_rows(deltas)))
        for job_id in ids:
            log.info("purged", **logs.job(job_id))
        return ids



def _record_batch(tx: Transaction, batch: list[_Pending],
                  changes: list[jobmetrics.Change]) -> list[Recorded | Exception]:
    """One transaction: reads the batch's jobs (locked in id order, so concurrent writers cannot deadlock;
    on PostgreSQL without `lock`, as the replica kept them, see Transaction), applies each report in turn,
    then writes the new jobs, the changed columns of the others, the events and the count deltas
    (Transaction.write: an executemany each on SQLite, one statement on PostgreSQL). `changes` gets each job's
    state change, for the metrics once the transaction commits."""
    changes.clear()
    ids = sorted({pending.event.job_id for pending in batch})
    first: dict[str, int] = {}
    for pending in batch:
        first.setdefault(pending.event.job_id, pending.event.type)
    # One snapshot for both on PostgreSQL: a job another writer creates meanwhile is in neither (then this
    # batch's insert of it fails on its key, and the batch is written again: under locks, then report by
    # report). A job the batch creates first is not read at all without `lock`: that insert fails too.
    locked_rows, keys = tx.read(ids, sorted({(p.event.job_id, p.key) for p in batch}),
                                new=[job_id for job_id, type_ in first.items() if type_ == pb.EVENT_TYPE_CREATED])
    loaded = {row["id"]: row for row in locked_rows}
    rows = {job_id: SimpleNamespace(**columns) for job_id, columns in loaded.items()}
    known = {(job_id, key): sequence for job_id, key, sequence in keys}
    now = dt.datetime.now(UTC)  # taken under the lock, so times follow sequences

    def locked(job_id: str) -> SimpleNamespace | None:
        """Another job's row (a batch, after its children's rows), locked and written back with the rest."""
        if job_id not in rows:
            for row in tx.lock_jobs([job_id]):
                loaded[job_id] = row
                rows[job_id] = SimpleNamespace(**row)
        return rows.get(job_id)

    outcomes: list[Recorded | Exception] = []
    events: list[dict] = []
    for pending in batch:
        try:
            outcomes.append(_record_one(tx, pending, rows, locked, known, now, events))
        except ServiceError as error:
            if not tx.locked:
                raise Unconfirmed(f"refused {pending.key!r} of job {pending.event.job_id!r}: {error}") from error
            outcomes.append(error)
    created = [vars(rows[job_id]) for job_id in sorted(rows.keys() - loaded.keys())]
    changed = []
    for job_id in sorted(loaded):
        before, after = loaded[job_id], vars(rows[job_id])
        if columns := tuple(name for name, value in after.items() if before[name] != value):
            changed.append((after, columns))
    counts: collections.Counter[tuple[str, int, int]] = collections.Counter()
    for job_id, row in rows.items():
        before = loaded.get(job_id)
        if (changed_state := jobmetrics.change(row, before, now)) is not None:
            changes.append(changed_state)
            counts[(row.owner, row.kind, row.state)] += 1
            if before is not None:
                counts[(row.owner, row.kind, before["state"])] -= 1
    tx.write(created, changed, events, _count_rows(counts))
    tx.wrote({job_id: vars(row) for job_id, row in rows.items()})
    return outcomes


class Unconfirmed(Exception):
    """A report refused from rows not locked (PostgreSQL, from a replica's kept rows): the batch is written
    again under row locks, which confirms the refusal or records the report."""


def _count_rows(deltas: collections.Counter[tuple[str, int, int]]) -> list[dict]:
    """job_counts deltas in key order (every writer takes these row locks in one order: no deadlock)."""
    return [{"owner": o, "kind": k, "state": s, "count": n} for (o, k, s), n in sorted(deltas.items()) if n]


def _record_one(tx: Transaction, pending: _Pending, rows: dict[str, SimpleNamespace],
                locked: Callable[[str], SimpleNamespace | None], known: dict[tuple[str, str], int],
                now: dt.datetime, events: list[dict]) -> Recorded:
    """Applies one report inside a batch's transaction: a duplicate key answers its first sequence, a
    CREATED adds the job (a batch's, its children too), any other event updates it (and its batch); the
    event rows are appended to `events`. A refused report changes nothing."""
    event, key, job = pending.event, pending.key, pending.job
    sequence = known.get((event.job_id, key))
    if sequence is not None:
        return Recorded(sequence, duplicate=True)
    row = rows.get(event.job_id)
    if event.type == pb.EVENT_TYPE_CREATED:
        if row is not None:
            raise _precondition(f"job {event.job_id!r} already exists", "JOB_ALREADY_EXISTS", event.job_id)
        job = job or pb.Job(id=event.job_id)
        row = _new_row(job, now)
        if pending.children:
            batch_rows.summarize(row, job, len(pending.children))
        rows[event.job_id] = row
    elif row is None:
        raise NotFound("job", event.job_id)
    elif row.state in TERMINAL_STATES and not batch_rows.reopens(row, event):
        state = pb.JobState.Name(row.state)
        raise _precondition(f"job {event.job_id!r} is {state}", "JOB_TERMINAL", event.job_id)
    # RetryBatch's checks come after changes began: keep what to restore if it is refused (rare).
    saved = ({i: dict(vars(r)) for i, r in rows.items()}, len(events)) if event.type == pb.EVENT_TYPE_RETRIED else None
    try:
        before = (row.state, row.percent)
        stored = _apply(row, event, now)
        also = batch_rows.follow(tx, rows, locked, row, before, stored, now, events)
    except ServiceError:
        if saved is not None:
            for i in list(rows):
                if i in saved[0]:
                    rows[i].__dict__.clear()
                    rows[i].__dict__.update(saved[0][i])
                else:
                    del rows[i]
            del events[saved[1]:]
        raise
    known[(event.job_id, key)] = stored.sequence
    events.append({
        "job_id": row.id, "sequence": stored.sequence, "idempotency_key": key, "type": stored.type,
        "state": stored.state, "step": stored.step, "time": now, "event": stored.SerializeToString(),
    })
    if pending.children:
        batch_rows.add_children(list(pending.children), now, rows, events)
    return Recorded(stored.sequence, duplicate=False, event=stored, also=tuple(also))


def _total(query: JobQuery):
    """How many jobs a query matches: from job_counts when it filters only by states, kind and owner (a
    few rows), else a count over the jobs themselves (batch, labels and time ranges are selective)."""
    if (query.batch_id or query.labels or query.top_level or query.created_after is not None
            or query.created_before is not None):
        return select(func.count()).select_from(JobRow).where(*query.conditions())
    where = [JobCountRow.state.in_(query.states)] if query.states else []
    if query.kind:
        where.append(JobCountRow.kind == query.kind)
    if query.owner:
        where.append(JobCountRow.owner == query.owner)
    return select(func.coalesce(func.sum(JobCountRow.count), 0)).where(*where)




def _new_row(job: pb.Job, now: dt.datetime) -> SimpleNamespace:
    """A new job's row: a plain object with JobRow's columns, each at its default unless set here (ORM
    instances cost more to build than the whole write)."""
    row = SimpleNamespace(**COLUMN_DEFAULTS)
    row.__dict__.update(
        id=job.id, kind=job.kind, state=pb.JOB_STATE_PENDING, owner=job.owner, request_id=job.request_id,
        spec=job.spec.SerializeToString() if job.HasField("spec") else b"", labels=dict(job.labels),
        create_time=job.create_time.ToDatetime(tzinfo=UTC) if job.HasField("create_time") else now,
        update_time=now, priority=job.priority or DEFAULT_PRIORITY, review=job.review, batch_id=job.batch_id,
        deadline=job.deadline.ToDatetime(tzinfo=UTC) if job.HasField("deadline") else None,
        review_timeout_us=job.review_timeout.ToMicroseconds() if job.HasField("review_timeout") else None,
    )
    return row


@functools.lru_cache(maxsize=1)
def _timestamp(now: dt.datetime) -> Timestamp:
    """`now` as a Timestamp, made once per transaction (all its events share it); not to be changed."""
    stamp = Timestamp()
    stamp.FromDatetime(now)
    return stamp


def _apply(row: SimpleNamespace, event: pb.JobEvent, now: dt.datetime) -> pb.JobEvent:
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
    stored.time.CopyFrom(_timestamp(now))
    stored.state, stored.step, stored.percent, stored.attempt = row.state, row.step, row.percent, row.attempt
    return stored
