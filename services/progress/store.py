"""The progress store: jobs and their events in one SQL database, recorded with gap-free per-job sequences
and read back. It puts together the parts docs/progress-store.md describes: ingest.py (the queue and group
commit), the database's writer (write_sqlite.py, write_postgres.py, transaction.EngineWriter), reads.py,
and the feed of WatchJobs (feed.py). The job state machine is jobstate.py."""

from __future__ import annotations

import collections
import datetime as dt
import logging

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from genmedia.serving import logs
from genmedia.v1 import common_pb2 as pb
from services.progress.feed import Feed
from services.progress.ingest import Ingest
from services.progress.jobstate import TERMINAL_STATES
from services.progress.models import JobEventRow, JobLabelRow, JobRow
from services.progress.queries import JobQuery, PageKey
from services.progress.reads import JobPage, Reads
from services.progress.recording import Recorded, count_rows
from services.progress.statements import Statements
from services.progress.transaction import EngineWriter, on_connection
from services.progress.write_postgres import PostgresWriter
from services.progress.write_sqlite import SqliteWriter

log = logging.getLogger(__name__)

POSTGRES_WRITERS = 4  # transactions in flight at once on PostgreSQL (SQLite has one writer)


class Store:
    """Jobs and their events in one SQL database; one transaction per batch of reports, sessions injected."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._statements = statements = Statements(engine.dialect)
        url = engine.url
        file = url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:"
        self.sqlite = SqliteWriter(url.database, statements) if file else None
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        postgres = engine.dialect.name == "postgresql"
        self.feed = Feed(self.sessions, postgres)
        dbapi = engine.dialect.dbapi
        if postgres:
            writer = PostgresWriter(engine, statements)
            self.ingest = Ingest(writer, self.sessions, dbapi, max_writers=POSTGRES_WRITERS, kept=writer.jobs)
        else:
            writer = self.sqlite or EngineWriter(engine, statements)
            self.ingest = Ingest(writer, self.sessions, dbapi, max_writers=1, serial=True)
        self.reads = Reads(self.sessions, statements, self.sqlite)
        self.read_sqlite = self.reads.read_sqlite

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> Store:
        return cls(engine)

    async def report(self, event: pb.JobEvent, key: str, job: pb.Job | None = None,
                     children: tuple[pb.Job, ...] = ()) -> Recorded:
        """Records an event once per (job, key); the stored copy has the next sequence of the job. With a
        batch's CREATED, `children` are its jobs, each recorded PENDING in the same transaction."""
        (outcome,) = await self.ingest.report_many([(event, key, job, children)])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def report_many(self, reports: list[tuple[pb.JobEvent, str, pb.Job | None, tuple[pb.Job, ...]]]
                          ) -> list[Recorded | Exception]:
        """Records several events in order; each outcome is what `report` would return or raise alone."""
        return await self.ingest.report_many(reports)

    async def get_job(self, job_id: str) -> pb.Job:
        return await self.reads.get_job(job_id)

    async def events_after(self, job_id: str, after: int) -> list[pb.JobEvent]:
        """The stored events of a job with a sequence above `after`, in order."""
        return await self.reads.events_after(job_id, after)

    async def events_page(self, job_id: str, after: int, size: int) -> tuple[list[pb.JobEvent], bool]:
        return await self.reads.events_page(job_id, after, size)

    async def list_jobs(self, query: JobQuery, page_size: int, after: PageKey | None,
                        oldest_first: bool = False) -> JobPage:
        return await self.reads.list_jobs(query, page_size, after, oldest_first)

    def close(self) -> None:
        """Closes the store's own SQLite connection (the engine's pool is the caller's to dispose)."""
        if self.sqlite is not None:
            self.sqlite.close()

    async def purge(self, ended_before: dt.datetime, limit: int) -> list[str]:
        """Deletes up to `limit` terminal jobs that ended before a time, with their events and labels."""
        async with self.ingest.write_lock, self.sessions.begin() as session:
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
                rows = count_rows(deltas)
                connection = await session.connection()
                await connection.run_sync(lambda c: on_connection(self._statements, c).add_counts(rows))
        for job_id in ids:
            log.info("purged", **logs.job(job_id))
        return ids

