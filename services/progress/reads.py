"""The store's reads: a job, its events (all after a sequence, or a page), a page of jobs with the total.

On a SQLite file a point read goes straight to the file on the event loop (write_sqlite.SqliteWriter.read):
through the engine it cost some 1.5 ms of CPU in SQLAlchemy's async machinery, measured."""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from genmedia.domain.errors import NotFound
from genmedia.v1 import common_pb2 as pb
from services.progress.models import JobCountRow, JobEventRow, JobRow
from services.progress.queries import JobQuery, PageKey
from services.progress.statements import Statements
from services.progress.write_sqlite import ReadBusy, SqliteWriter

# EVENTS_PAGE has a row (its event NULL) for a job with no events after the cursor, and none for a job
# that does not exist, in one statement: one snapshot.
EVENTS_AFTER = "SELECT event FROM job_events WHERE job_id = ? AND sequence > ? ORDER BY sequence"
EVENTS_PAGE = ("SELECT e.event FROM jobs AS j LEFT JOIN job_events AS e ON e.job_id = j.id AND e.sequence > ? "
               "WHERE j.id = ? ORDER BY e.sequence LIMIT ?")


@dataclass(frozen=True)
class JobPage:
    jobs: list[pb.Job]
    next_key: PageKey | None
    total: int


class Reads:
    def __init__(self, sessions: async_sessionmaker, statements: Statements, sqlite: SqliteWriter | None) -> None:
        self._sessions, self._statements, self._sqlite = sessions, statements, sqlite

    def read_sqlite(self, statement: str, parameters: tuple) -> tuple[list, object] | None:
        """A quick read of a SQLite file on the event loop (rows, description); None when the store is not
        on a SQLite file or the read would have to wait: then read through the engine."""
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
