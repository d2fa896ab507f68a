"""The write path's SQL, written once per dialect from the tables' columns (qmark for sqlite3, $n for
asyncpg), with the conversions SQLAlchemy would apply to each column.

Every report goes through these few statements, so they skip SQLAlchemy's execution (a Core execute cost
more CPU than the database's own work here); values are converted by the very processors SQLAlchemy would
apply to those columns, so what is written reads back through the ORM unchanged. docs/progress-store.md
has the design."""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Column, Dialect, LargeBinary, Table

from services.progress.models import UTC, JobCountRow, JobEventRow, JobLabelRow, JobRow, UtcDateTime

JOBS: Table = JobRow.__table__
JOB_COLUMNS = tuple(column.name for column in JOBS.columns)
EVENT_COLUMNS = ("job_id", "sequence", "idempotency_key", "type", "state", "step", "time", "event")
LABEL_COLUMNS = ("job_id", "key", "value")
COUNT_COLUMNS = ("owner", "kind", "state", "count")
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
        # (PostgreSQL reads them with its jobs: read_batch; and alone below.) SQLite: a JSON array of
        # [job, key] pairs, read first (CROSS JOIN fixes the loop order).
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
            self.known_keys = (f"SELECT * FROM (SELECT k.job_id, k.key, ({self._sequence_of('k.job_id', 'k.key')}) "
                               f"AS s FROM unnest($1::varchar[], $2::varchar[]) AS k (job_id, key)) AS known "
                               f"WHERE s IS NOT NULL")
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
