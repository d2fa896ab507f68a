"""One write transaction of the progress store on any DBAPI cursor (sqlite3's, asyncpg through
write_postgres.AsyncpgCursor, SQLAlchemy's), and the job rows a writer keeps between transactions.

This is the generic write path; write_sqlite.py and write_postgres.py run it on their database's own
connection, and `EngineWriter` here on a SQLAlchemy engine (in-memory SQLite in tests)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.progress.models import JobCountRow, JobEventRow, JobLabelRow
from services.progress.statements import COUNT_COLUMNS, EVENT_COLUMNS, JOB_COLUMNS, JOBS, LABEL_COLUMNS, Statements

T = TypeVar("T")
JOB_CACHE = 4096  # job rows kept by a writer (the SQLite file's, a PostgreSQL replica's)


class JobCache:
    """Job rows as a writer last wrote them, so its next batches need not read them: on a SQLite file
    the writer's own (it is the file's only writer of jobs, see SqliteWriter); on PostgreSQL a replica's,
    each row with its version (xmin), which the write checks. The oldest make room (JOB_CACHE)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, int] = {}

    def keep(self, rows: dict[str, dict[str, Any]], versions: dict[str, int]) -> None:
        for job_id, row in rows.items():
            self.rows.pop(job_id, None)
            self.rows[job_id] = row
            if job_id in versions:
                self.versions[job_id] = versions[job_id]
        while len(self.rows) > JOB_CACHE:
            self.versions.pop(job_id := next(iter(self.rows)), None)
            del self.rows[job_id]

    def drop(self, ids: Iterable[str]) -> None:
        for job_id in ids:
            self.rows.pop(job_id, None)
            self.versions.pop(job_id, None)

    def clear(self) -> None:
        self.rows.clear()
        self.versions.clear()


class Transaction:
    """The statements of one write transaction, run on a DBAPI cursor (inside the transaction).

    With a cache of job rows, jobs found there are not read again: the SQLite writer's (valid under the
    file's write lock), or on PostgreSQL a replica's, when `lock` is False. Then nothing is locked: rows
    are read without locks, the batch is one statement on its own (no BEGIN, no COMMIT), and its write
    checks every changed row's version (Statements.write_batch); if another writer got there first, it
    fails with 40001 and the batch is written again with `lock` (its rows read FOR UPDATE, in a
    transaction), which leaves the cache up to date again."""

    def __init__(self, statements: Statements, cursor: Any, cache: JobCache | None = None, *,
                 lock: bool = True) -> None:
        self._sql, self._cursor, self._cache = statements, cursor, cache
        self.locked = lock or not statements.postgres  # what it reads is locked: its refusals are final
        self.postgres = statements.postgres
        self._trusted = cache.rows if cache is not None and not (statements.postgres and lock) else {}
        self._written: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, int] = {}  # PostgreSQL: each job's version, as read, then as written

    def wrote(self, rows: dict[str, dict[str, Any]]) -> None:
        """The rows of the jobs this transaction wrote (or read), as they will be once it commits."""
        self._written = rows

    def keep_written(self) -> None:
        """After the commit: the written rows become what the cache holds."""
        if self._cache is not None:
            self._cache.keep(self._written, self.versions)

    def forget(self, ids: Iterable[str]) -> None:
        """After a failure: these jobs, and every job this transaction read, are to be read again."""
        if self._cache is not None:
            self._cache.drop({*ids, *self.versions, *self._written})

    def _rows(self, statement: str, parameters: tuple) -> list:
        self._cursor.execute(statement, parameters)
        return self._cursor.fetchall()

    def _cached(self, job_id: str) -> dict[str, Any] | None:
        """A kept row to start from (on PostgreSQL only with its version; its version noted)."""
        row = self._trusted.get(job_id)
        if row is not None and self._sql.postgres:
            if (version := self._cache.versions.get(job_id)) is None:
                return None
            self.versions[job_id] = version
        return row

    def _versioned(self, rows: list, description: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """PostgreSQL: job rows read with their version (the last column) as {column: value}."""
        width = len(JOB_COLUMNS)
        jobs = self._sql.jobs([tuple(row)[:width] for row in rows], description[:width])
        self.versions.update((row[0], row[width]) for row in rows)
        return jobs

    def lock_jobs(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """The rows of these jobs that exist, in id order (sorted `ids`): locked for this transaction, or
        on PostgreSQL without `lock`, as kept or read (their versions noted). Do not change them: they may
        be the cache's."""
        found = {job_id: row for job_id in ids if (row := self._cached(job_id)) is not None}
        if missing := [job_id for job_id in ids if job_id not in found]:
            if self._sql.postgres:
                statement = self._sql.lock_jobs if self.locked else self._sql.peek_jobs
                rows = self._versioned(self._rows(statement, (missing,)), self._cursor.description)
            else:
                rows = self._sql.jobs(self._rows(self._sql.lock_jobs, (json.dumps(missing),)),
                                      self._cursor.description)
            found.update((row["id"], row) for row in rows)
        return [row for job_id in ids if (row := found.get(job_id)) is not None]

    def read(self, ids: Sequence[str], pairs: Sequence[tuple[str, str]], new: Iterable[str] = ()
             ) -> tuple[list[dict[str, Any]], list[tuple[str, str, int]]]:
        """lock_jobs(ids) and known_keys(pairs); on PostgreSQL in one statement. Without `lock`, jobs
        that are kept or `new` (created by the batch: if one exists, its insert fails) are not read, nor
        is anything when every job is one of them (a key already recorded then fails its insert)."""
        if not self._sql.postgres:
            return self.lock_jobs(ids), self.known_keys(pairs)
        found = {job_id: row for job_id in ids if (row := self._cached(job_id)) is not None}
        new = set() if self.locked else set(new)
        missing = [job_id for job_id in ids if job_id not in found and job_id not in new]
        keys: list[tuple[str, str, int]] = []
        if missing or self.locked:
            statement = self._sql.read_batch if self.locked else self._sql.peek_batch
            rows = self._rows(statement, (missing, [job for job, _ in pairs], [key for _, key in pairs]))
            width = len(JOB_COLUMNS)
            read = self._versioned([(*tuple(row)[:width], row[width + 1]) for row in rows if row[width] is None],
                                   self._cursor.description)
            found.update((row["id"], row) for row in read)
            keys = [(row[0], row[width], row[width + 1]) for row in rows if row[width] is not None]
        return [row for job_id in ids if (row := found.get(job_id)) is not None], keys

    def write(self, created: list[dict[str, Any]], changed: list[tuple[dict[str, Any], tuple[str, ...]]],
              events: list[dict[str, Any]], counts: list[dict[str, Any]]) -> None:
        """A batch's writes: the new jobs (with their labels), the changed ones (each row with the names of
        its changed columns), the events and the count deltas; on PostgreSQL in one statement."""
        labels = [{"job_id": row["id"], "key": k, "value": v} for row in created for k, v in row["labels"].items()]
        if not self._sql.postgres:  # an executemany per table (SQLite runs them in-process)
            sql = self._sql
            self._many(sql.insert_jobs, JOBS.name, JOB_COLUMNS, created)
            self._many(sql.insert_labels, JobLabelRow.__table__.name, LABEL_COLUMNS, labels)
            updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}  # one UPDATE per set of changed columns
            for row, columns in changed:
                updates.setdefault(columns, []).append(row)
            for columns, rows in updates.items():
                self._many(sql.update_jobs(columns), JOBS.name, (*columns, "id"), rows)
            self._many(sql.insert_events, JobEventRow.__table__.name, EVENT_COLUMNS, events)
            self.add_counts(counts)
        elif created or changed or events or counts:
            names = {name for _, columns in changed for name in columns}
            columns = tuple(name for name in JOB_COLUMNS if name in names)
            versions, rows = self.versions, [row for row, _ in changed]
            parameters = self._arrays(JOBS.name, JOB_COLUMNS, created)
            if rows:  # ids, the versions they were computed from, the changed columns
                parameters += [[row["id"] for row in rows], [versions[row["id"]] for row in rows],
                               *self._arrays(JOBS.name, columns, rows)]
            for table, names, part in ((JobLabelRow.__table__.name, LABEL_COLUMNS, labels),
                                       (JobEventRow.__table__.name, EVENT_COLUMNS, events),
                                       (JobCountRow.__table__.name, COUNT_COLUMNS, counts)):
                parameters += self._arrays(table, names, part)
            statement = self._sql.write_batch(columns, (bool(created), bool(labels), bool(events), bool(counts)))
            self._cursor.execute(statement, parameters)
            versions.update((job_id, version) for job_id, version in self._cursor.fetchall() if job_id is not None)

    def _arrays(self, table: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> list[list[Any]]:
        """Rows as one list per column (converted for the driver), for unnest; none: no list at all (the
        statement has no such part)."""
        return [list(column) for column in zip(*map(self._sql.binder(table, columns), rows), strict=True)]

    def batch_children(self, batch_id: str) -> list[dict[str, Any]]:
        """A batch's children in (batch_index, batch_attempt) order."""
        rows = self._rows(self._sql.batch_children, (batch_id,))
        return self._sql.jobs(rows, self._cursor.description)

    def known_keys(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str, int]]:
        """(job_id, key, sequence) of the recorded events among these (job_id, key) pairs, as committed
        when this statement begins."""
        if self._sql.postgres:
            parameters: tuple = ([job for job, _ in pairs], [key for _, key in pairs])
        else:
            parameters = (json.dumps(pairs),)
        return [tuple(row) for row in self._rows(self._sql.known_keys, parameters)]

    def add_counts(self, rows: list[dict[str, Any]]) -> None:
        """Adds each row's count to its (owner, kind, state) in job_counts."""
        self._many(self._sql.add_counts, JobCountRow.__table__.name, COUNT_COLUMNS, rows)

    def _many(self, statement: str, table: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
        if rows:
            self._cursor.executemany(statement, list(map(self._sql.binder(table, columns), rows)))


class Unconfirmed(Exception):
    """A report refused from rows not locked (PostgreSQL, from a replica's kept rows): the batch is written
    again under row locks, which confirms the refusal or records the report."""


def lost_race(error: Exception, dbapi: Any) -> bool:
    """A unique key taken by a concurrent writer, or (PostgreSQL) a deadlock or serialization failure:
    as SQLAlchemy raises it, or as the driver does (the write path runs on the driver's cursor)."""
    driver = error.orig if isinstance(error, DBAPIError) else error
    integrity = (IntegrityError, sqlite3.IntegrityError, getattr(dbapi, "IntegrityError", IntegrityError))
    code = getattr(driver, "sqlstate", None) or getattr(driver, "pgcode", None) or ""
    return isinstance(error, integrity) or code.startswith("23") or code in ("40P01", "40001")


def on_connection(statements: Statements, connection: Connection) -> Transaction:
    """The write statements on a SQLAlchemy connection's DBAPI cursor (in its transaction)."""
    return Transaction(statements, connection.connection.dbapi_connection.cursor())


class EngineWriter:
    """Write transactions through SQLAlchemy's own connection and transaction: the slow, generic way, for
    an in-memory SQLite database (tests), whose connection SQLAlchemy's pool must keep."""

    def __init__(self, engine: AsyncEngine, statements: Statements) -> None:
        self._engine, self._statements = engine, statements

    async def run(self, work: Callable[[Transaction], T], ids: Iterable[str] = ()) -> T:
        async with self._engine.begin() as connection:
            return await connection.run_sync(lambda c: work(on_connection(self._statements, c)))
