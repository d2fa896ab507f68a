"""The store's write transaction in plain SQL on the database driver's own cursor.

Every report goes through these few statements, so they skip SQLAlchemy's execution (a Core execute cost
more CPU than the database's own work here): each is written once per dialect from the tables' columns,
and values are converted by the very processors SQLAlchemy would apply to those columns, so what is written
reads back through the ORM unchanged. The cursor is sqlite3's own; on PostgreSQL `AsyncpgCursor`, the
asyncpg connection itself under SQLAlchemy's greenlet_spawn, where a batch is usually one statement
(write_batch, from the rows its replica kept: see Transaction); in-memory SQLite (tests) uses SQLAlchemy's
DBAPI cursor.

On a SQLite file, `SqliteWriter` runs the transaction on the event loop itself: with WAL and
synchronous=NORMAL a commit writes no fsync, so a batch takes well under a millisecond, far less than
handing it to a thread (the GIL handoffs cost more than the work, and delayed every watcher's stream)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import logging
import operator
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Column, Dialect, LargeBinary, Table
from sqlalchemy.util import await_only

from services.progress.models import UTC, JobCountRow, JobEventRow, JobLabelRow, JobRow, UtcDateTime, sqlite_pragmas

log = logging.getLogger(__name__)

T = TypeVar("T")
JOBS: Table = JobRow.__table__
JOB_COLUMNS = tuple(column.name for column in JOBS.columns)
EVENT_COLUMNS = ("job_id", "sequence", "idempotency_key", "type", "state", "step", "time", "event")
LABEL_COLUMNS = ("job_id", "key", "value")
COUNT_COLUMNS = ("owner", "kind", "state", "count")
BUSY_TIMEOUT_MS = 5000  # how long the writer waits for another writer of the file (in a thread)
CHECKPOINT_EVERY = 25  # commits between two WAL checkpoints: small ones, so each syncs little at once
RESTART_EVERY = 1000  # commits between two checkpoints that let the WAL start over (it holds some 30 MB)
CHECKPOINT_PASSES, QUICK_PASS = 3, 0.01  # passes while writes go on, until one takes under QUICK_PASS s
JOB_CACHE = 4096  # job rows kept by a writer (the SQLite file's, a PostgreSQL replica's)
VERSION = "xmin::text::bigint"  # PostgreSQL: a job row's version (the transaction that wrote it)


def _binds(table: Table, dialect: Dialect) -> dict[str, Callable | None]:
    """Per column: SQLAlchemy's bind processor (Python value -> driver value), or None. Bytes go as they
    are (both drivers take them; SQLAlchemy would only wrap them in a memoryview for sqlite3); SQLite's
    times are written by `_sqlite_text`, SQLAlchemy's format in one C call."""
    def bind(column: Column) -> Callable | None:
        if isinstance(column.type, LargeBinary):
            return None
        if isinstance(column.type, UtcDateTime) and dialect.name == "sqlite":
            return _sqlite_text
        return column.type.dialect_impl(dialect).bind_processor(dialect)

    return {column.name: bind(column) for column in table.columns}


@functools.lru_cache(maxsize=16)  # a transaction's rows share its time
def _sqlite_text(time: dt.datetime) -> str:
    """A UtcDateTime as SQLite holds it: '2026-11-23 17:06:35.123456' in UTC (SQLAlchemy's format)."""
    return time.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_time(text: str) -> dt.datetime:
    """A UtcDateTime column as SQLite holds it ('2026-11-23 17:06:35.123456', UTC), read in C."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


class Statements:
    """The write path's SQL in one dialect (qmark for sqlite3, $n for asyncpg), with its conversions."""

    def __init__(self, dialect: Dialect) -> None:
        self.postgres = dialect.name == "postgresql"
        quote = dialect.identifier_preparer.quote
        self._quote = quote
        self._dialect = dialect
        self._binds = {table.name: _binds(table, dialect)
                       for table in (JOBS, JobEventRow.__table__, JobLabelRow.__table__, JobCountRow.__table__)}
        self._results: list[Callable | None] | None = None  # the job columns' result processors
        self._binders: dict[tuple[str, tuple[str, ...]], Callable[[dict[str, Any]], Sequence[Any]]] = {}
        jobs, columns = quote(JOBS.name), ", ".join(map(quote, JOB_COLUMNS))
        # PostgreSQL reads each job's version with it (the last column); SQLite: BEGIN IMMEDIATE took the
        # file's write lock, there is nothing else to lock or check.
        read = f"SELECT {columns}, {VERSION} AS version" if self.postgres else f"SELECT {columns}"
        self.lock_jobs = f"{read} FROM {jobs} WHERE {self._within('id', 1)} ORDER BY {quote('id')}"
        self.peek_jobs = self.lock_jobs  # PostgreSQL: no row lock (the write checks the versions)
        if self.postgres:
            self.lock_jobs += " FOR UPDATE"
        self.get_job = f"SELECT {columns} FROM {jobs} WHERE {quote('id')} = {self._mark(1)}"
        self.batch_children = (f"SELECT {columns} FROM {jobs} WHERE {quote('batch_id')} = {self._mark(1)} "
                               f"ORDER BY {quote('batch_index')}, {quote('batch_attempt')}")
        events = JobEventRow.__table__.name
        # Each (job, key) pair is one probe of the unique index: matching the jobs and the keys apart would
        # read every event of the jobs, more with every event recorded.
        # (PostgreSQL reads them with its jobs: read_batch.) SQLite: a JSON array of [job, key] pairs, read
        # first (CROSS JOIN fixes the loop order).
        self._key_is = f"e.{quote('job_id')} = {{}} AND e.{quote('idempotency_key')} = {{}}"
        pair = "json_extract(k.value, '$[0]')", "json_extract(k.value, '$[1]')"
        self.known_keys = (f"SELECT e.{quote('job_id')}, e.{quote('idempotency_key')}, e.{quote('sequence')} "
                           f"FROM json_each(?) AS k CROSS JOIN {quote(events)} AS e ON {self._key_is.format(*pair)}")
        self.insert_jobs = self._insert(JOBS.name, JOB_COLUMNS)
        self.insert_events = self._insert(events, EVENT_COLUMNS)
        self.insert_labels = self._insert(JobLabelRow.__table__.name, LABEL_COLUMNS)
        counts = quote(JobCountRow.__table__.name)
        key, count = ", ".join(map(quote, COUNT_COLUMNS[:3])), quote("count")
        self._upsert_counts = f"ON CONFLICT ({key}) DO UPDATE SET {count} = {counts}.{count} + excluded.{count}"
        self.add_counts = f"{self._insert(JobCountRow.__table__.name, COUNT_COLUMNS)} {self._upsert_counts}"
        self._updates: dict[tuple[str, ...], str] = {}
        # PostgreSQL: rows go as one array per column, unnested by one statement (not one execution per row).
        self._types = {table.name: {column.name: column.type.compile(dialect=dialect) for column in table.columns}
                       for table in (JOBS, JobEventRow.__table__, JobLabelRow.__table__, JobCountRow.__table__)}
        if self.postgres:
            self.read_batch = self._read_batch(self.lock_jobs, columns)
            self.peek_batch = self._read_batch(self.peek_jobs, columns)
        self._writes: dict[tuple[tuple[str, ...], tuple[bool, ...]], str] = {}

    def _mark(self, n: int) -> str:
        return f"${n}" if self.postgres else "?"

    def _within(self, column: str, n: int) -> str:
        """`column` is one of the list given as parameter n (an array; in SQLite a JSON array)."""
        if self.postgres:
            return f"{self._quote(column)} = ANY({self._mark(n)})"
        return f"{self._quote(column)} IN (SELECT value FROM json_each({self._mark(n)}))"

    def _insert(self, table: str, columns: Sequence[str]) -> str:
        marks = ", ".join(self._mark(n) for n in range(1, len(columns) + 1))
        return f"INSERT INTO {self._quote(table)} ({', '.join(map(self._quote, columns))}) VALUES ({marks})"

    def _arrays(self, table: str, columns: Sequence[str], first: int = 1) -> str:
        """unnest($1::type[], ...) AS u (columns): PostgreSQL's rows from one array per column (a job's
        `version` is a bigint)."""
        types = self._types[table]
        arrays = ", ".join(f"${n}::{types.get(c, 'BIGINT')}[]" for n, c in enumerate(columns, first))
        return f"unnest({arrays}) AS u ({', '.join(map(self._quote, columns))})"

    def _insert_arrays(self, table: str, columns: Sequence[str], first: int = 1) -> str:
        return (f"INSERT INTO {self._quote(table)} ({', '.join(map(self._quote, columns))}) "
                f"SELECT * FROM {self._arrays(table, columns, first)}")

    def _read_batch(self, read_jobs: str, columns: str) -> str:
        """PostgreSQL: the batch's jobs with their versions (`read_jobs`: locked in id order, or not) and
        its known keys, in one statement, so one round trip and one snapshot: rows of the jobs ($1), then
        (job_id, key, sequence) rows of the (job, key) pairs ($2, $3) that are recorded, their job columns
        NULL (the version column holds the sequence).

        Each key is a subquery of its own: as a join, the plan PostgreSQL keeps for the prepared statement
        can be a hash join over a scan of every event, chosen while the table was small and kept as it
        grows (until an ANALYZE); a lookup by the whole unique key is always planned as an index probe."""
        types = self._types[JOBS.name]
        nulls = ", ".join(f"NULL::{types[c]}" for c in JOB_COLUMNS[1:])
        return (f"WITH locked AS MATERIALIZED ({read_jobs}) "
                f"SELECT {columns}, NULL::varchar, version FROM locked UNION ALL "
                f"SELECT * FROM (SELECT k.job_id, {nulls}, k.key, ({self._sequence_of('k.job_id', 'k.key')}) AS s "
                f"FROM unnest($2::varchar[], $3::varchar[]) AS k (job_id, key)) AS known WHERE s IS NOT NULL")

    def write_batch(self, columns: tuple[str, ...], parts: tuple[bool, bool, bool, bool]) -> str:
        """PostgreSQL: every write of a batch in one statement (one round trip): new jobs, their labels,
        `columns` of the changed jobs (whichever changed in any of them: the statements stay few), the
        events, the count deltas, each part from one array per column, and only the parts the batch has
        (`parts`: whether it has new jobs, labels, events, count deltas; `columns` empty: no update). The
        foreign keys are checked at the statement's end, new jobs included.

        A changed job is updated only if its row is still the version it was computed from: a row another
        writer changed meanwhile (or deleted) is left alone, and then genmedia_stale_rows (migration 0006)
        aborts the statement, so nothing of it is written (40001). It answers (id, version) of every job
        it inserted or updated."""
        statement = self._writes.get((columns, parts))
        if statement is None:
            jobs, id_, version, quote = self._quote(JOBS.name), self._quote("id"), VERSION, self._quote
            created, labels, events, counts = parts
            ctes, answer, n = [], [], 1
            if created:
                ctes.append(f"new_jobs AS ({self._insert_arrays(JOBS.name, JOB_COLUMNS, n)} "
                            f"RETURNING {id_}, {version} AS version)")
                answer.append(f"SELECT {id_}, version FROM new_jobs")
                n += len(JOB_COLUMNS)
            if columns:
                sets = ", ".join(f"{quote(c)} = u.{quote(c)}" for c in columns)
                ctes.append(f"changed AS (UPDATE {jobs} SET {sets} "
                            f"FROM {self._arrays(JOBS.name, ('id', 'version', *columns), n)} "
                            f"WHERE {jobs}.{id_} = u.{id_} AND {jobs}.{version} = u.version "
                            f"RETURNING {jobs}.{id_}, {jobs}.{version} AS version)")
                answer += [f"SELECT {id_}, version FROM changed",
                           f"SELECT NULL, genmedia_stale_rows(cardinality(${n}::varchar[]), count(*)) "
                           f"FROM changed HAVING count(*) <> cardinality(${n}::varchar[])"]
                n += len(columns) + 2
            for name, table, table_columns, present in (
                    ("new_labels", JobLabelRow.__table__.name, LABEL_COLUMNS, labels),
                    ("new_events", JobEventRow.__table__.name, EVENT_COLUMNS, events)):
                if present:
                    ctes.append(f"{name} AS ({self._insert_arrays(table, table_columns, n)})")
                    n += len(table_columns)
            if counts:
                ctes.append(f"counts AS ({self._insert_arrays(JobCountRow.__table__.name, COUNT_COLUMNS, n)} "
                            f"{self._upsert_counts})")
            statement = f"WITH {', '.join(ctes)} {' UNION ALL '.join(answer or ['SELECT NULL, NULL'])}"
            self._writes[(columns, parts)] = statement
        return statement

    def _sequence_of(self, job: str, key: str) -> str:
        """The sequence of the event recorded under (job, key), as a subquery (NULL if there is none)."""
        quote = self._quote
        return (f"SELECT e.{quote('sequence')} FROM {quote(JobEventRow.__table__.name)} AS e "
                f"WHERE {self._key_is.format(job, key)}")

    def update_jobs(self, columns: tuple[str, ...]) -> str:
        """SQLite: UPDATE jobs SET the columns WHERE id (the last parameter)."""
        statement = self._updates.get(columns)
        if statement is None:
            sets = ", ".join(f"{self._quote(c)} = {self._mark(n)}" for n, c in enumerate(columns, 1))
            where = f"{self._quote('id')} = {self._mark(len(columns) + 1)}"
            statement = f"UPDATE {self._quote(JOBS.name)} SET {sets} WHERE {where}"
            self._updates[columns] = statement
        return statement

    def binder(self, table: str, columns: tuple[str, ...]) -> Callable[[dict[str, Any]], Sequence[Any]]:
        """{column: value} -> the statement's parameters, in `columns` order, converted for the driver."""
        binder = self._binders.get((table, columns))
        if binder is None:
            pick = operator.itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
            converts = [(i, p) for i, column in enumerate(columns) if (p := self._binds[table][column]) is not None]

            def binder(row: dict[str, Any]) -> Sequence[Any]:
                values = list(pick(row))
                for i, convert in converts:
                    if values[i] is not None:
                        values[i] = convert(values[i])
                return values

            self._binders[(table, columns)] = binder
        return binder

    def jobs(self, rows: Iterable[Sequence[Any]], description: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """Job rows as {column: value}, each value as SQLAlchemy would read it (its processors want the
        driver's type code of each column, from the cursor's description)."""
        if self._results is None:
            self._results = [
                _sqlite_time if isinstance(column.type, UtcDateTime) and not self.postgres
                else column.type.dialect_impl(self._dialect).result_processor(self._dialect, field[1])
                for column, field in zip(JOBS.columns, description, strict=True)]
        results = self._results
        return [{name: value if p is None or value is None else p(value)
                 for name, p, value in zip(JOB_COLUMNS, results, row, strict=True)} for row in rows]


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
        """SQLite: (job_id, key, sequence) of the recorded events among these (job_id, key) pairs."""
        return [tuple(row) for row in self._rows(self._sql.known_keys, (json.dumps(pairs),))]

    def add_counts(self, rows: list[dict[str, Any]]) -> None:
        """Adds each row's count to its (owner, kind, state) in job_counts."""
        self._many(self._sql.add_counts, JobCountRow.__table__.name, COUNT_COLUMNS, rows)

    def _many(self, statement: str, table: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
        if rows:
            self._cursor.executemany(statement, list(map(self._sql.binder(table, columns), rows)))


class AsyncpgCursor:
    """What Transaction uses of a DBAPI cursor, straight on an asyncpg connection, for code run by
    SQLAlchemy's greenlet_spawn: each call awaits the driver through await_only. SQLAlchemy's own adapter
    does the same with a lock, a transaction check, its statement cache and a status parse per statement:
    measured, it doubled the Python time of a batch's transaction (asyncpg caches the prepared statements)."""

    descriptions: dict[str, list[tuple[Any, ...]]] = {}  # statement -> its columns (name, type oid), as DBAPI's

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._rows: list = []
        self._statement = ""

    def execute(self, statement: str, parameters: Sequence[Any]) -> None:
        self._statement = statement
        self._rows = await_only(self._connection.fetch(statement, *parameters))

    def fetchall(self) -> list:
        return self._rows

    @property
    def description(self) -> list[tuple[Any, ...]]:
        description = self.descriptions.get(self._statement)
        if description is None:
            attributes = await_only(self._connection.prepare(self._statement)).get_attributes()
            description = [(a.name, a.type.oid, None, None, None, None, None) for a in attributes]
            self.descriptions[self._statement] = description
        return description


class ReadBusy(Exception):
    """The SQLite file could not be read at once."""


def busy(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SqliteWriter:
    """The store's one connection for writing a SQLite file, used on the event loop (see the module).

    The transaction begins IMMEDIATE, taking the file's write lock first. When another connection holds it
    (the delivery log, a migration, another process), waiting must not block the loop: that transaction
    runs in a thread instead, which waits up to BUSY_TIMEOUT_MS. Transactions take turns, so the
    connection is never used by two at once.

    Two more things keep the loop free. The WAL is checkpointed in a thread every CHECKPOINT_EVERY commits
    (a checkpoint copies pages into the file and syncs it; left to SQLite, it would run inside a commit),
    while writes go on: small and often, since a sync of many pages stalls the writer's own writes (the
    file system's journal) for tens of ms. Every RESTART_EVERY commits one more pass follows with writes
    held, which copies only what came meanwhile and leaves the WAL fully copied, so the next write starts
    it over instead of growing it.

    And the rows of the jobs it wrote are kept (JOB_CACHE), so a batch reads only the jobs it has not
    written lately: the file has one writer of jobs, this connection, and SQLite's data_version tells when
    any other connection committed anything, which empties the cache."""

    def __init__(self, path: str, statements: Statements) -> None:
        self._path, self._statements = path, statements
        self._connection: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._jobs = JobCache()
        self._version: int | None = None
        self._commits = self._copied = self._restarted = 0  # commits: all, at the last checkpoint, restart
        self._checkpoint: asyncio.Task[None] | None = None
        self._turn = asyncio.Lock()  # a transaction, or the held part of a checkpoint

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            # isolation_level=None: the module begins nothing by itself, the transaction is ours.
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            sqlite_pragmas(connection)  # the engine's, then this writer's own: no waiting, no checkpoints
            for pragma in ("busy_timeout=0", "wal_autocheckpoint=0"):
                connection.execute(f"PRAGMA {pragma}")
            self._connection = connection
        return self._connection

    async def run(self, work: Callable[[Transaction], T]) -> T:
        """`work(transaction)` in one transaction, committed (rolled back if it raises)."""
        async with self._turn:
            connection = self._connect()
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if not busy(error):
                    raise
                log.debug("another connection is writing the database: waiting for it in a thread")
                result = await asyncio.to_thread(self._waiting, connection, work)
            else:
                result = self._finish(connection, work)
        self._commits += 1
        if self._checkpoint is None and self._commits - self._copied >= CHECKPOINT_EVERY:
            hold = self._commits - self._restarted >= RESTART_EVERY
            self._copied = self._commits
            self._restarted = self._commits if hold else self._restarted
            self._checkpoint = asyncio.create_task(self._checkpoint_wal(hold))
            self._checkpoint.add_done_callback(self._checkpointed)
        return result

    def _waiting(self, connection: sqlite3.Connection, work: Callable[[Transaction], T]) -> T:
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        try:
            connection.execute("BEGIN IMMEDIATE")
        finally:
            connection.execute("PRAGMA busy_timeout=0")
        return self._finish(connection, work)

    def _finish(self, connection: sqlite3.Connection, work: Callable[[Transaction], T]) -> T:
        try:
            (version,) = connection.execute("PRAGMA data_version").fetchone()
            if version != self._version:  # another connection committed: what is cached may be stale
                self._jobs.clear()
                self._version = version
            transaction = Transaction(self._statements, connection.cursor(), self._jobs)
            result = work(transaction)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        transaction.keep_written()
        return result

    async def _checkpoint_wal(self, hold: bool) -> None:
        for _ in range(CHECKPOINT_PASSES):  # the bulk, while transactions go on
            began = time.perf_counter()
            await asyncio.to_thread(self._copy_wal)
            if not hold or time.perf_counter() - began < QUICK_PASS:
                break  # little came meanwhile: the held pass will be short
        if hold:
            async with self._turn:
                await asyncio.to_thread(self._copy_wal)  # what they added meanwhile, with none running

    def _copy_wal(self) -> None:
        """Copies the WAL into the file without waiting for (or blocking) readers and writers."""
        with contextlib.closing(sqlite3.connect(self._path)) as connection:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _checkpointed(self, task: asyncio.Task[None]) -> None:
        self._checkpoint = None
        if not task.cancelled() and task.exception() is not None:
            log.warning("checkpointing the WAL failed: %s", task.exception())

    def read(self, statement: str, parameters: tuple) -> tuple[list, Any]:
        """A read on the event loop (rows and the cursor's description), on a connection of its own: in WAL
        mode a reader waits for no writer. ReadBusy in the rare moments it would have to wait (the WAL being
        reset, recovery): then the caller reads the slow way."""
        if self._reader is None:
            self._reader = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            self._reader.execute("PRAGMA busy_timeout=0")
            self._reader.execute("PRAGMA query_only=ON")
        try:
            cursor = self._reader.execute(statement, parameters)
            return cursor.fetchall(), cursor.description
        except sqlite3.OperationalError as error:
            if busy(error):
                raise ReadBusy from error
            raise

    def close(self) -> None:
        for connection in (self._connection, self._reader):
            if connection is not None:
                connection.close()
        self._connection = self._reader = None
        self._jobs.clear()
