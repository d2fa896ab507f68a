"""A batch of reports applied in one write transaction: each report's outcome, the rows and events to
write, the job_counts deltas and the state changes for the metrics. The state machine itself is
jobstate.py; a batch job's aggregate is batch_rows.py."""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import NamedTuple

from genmedia.domain.errors import ServiceError
from genmedia.v1 import common_pb2 as pb
from services.progress import batch_rows, jobmetrics, jobstate
from services.progress.models import UTC
from services.progress.transaction import Transaction, Unconfirmed


class Recorded(NamedTuple):
    """The outcome of a report: the event's sequence, and the stored event unless it was a duplicate."""

    sequence: int
    duplicate: bool
    event: pb.JobEvent | None = None
    also: tuple[pb.JobEvent, ...] = ()  # events recorded with it on other jobs (its batch's progress)


@dataclass(slots=True)
class Report:
    """A report to write: the event, its idempotency key, the job (with a CREATED) and a batch's children.
    Slots, not frozen: made for every report, so it is kept cheap."""

    event: pb.JobEvent
    key: str
    job: pb.Job | None
    children: tuple[pb.Job, ...] = ()  # with a batch's CREATED: its jobs, recorded in the same transaction


def record_batch(tx: Transaction, batch: list[Report],
                 changes: list[jobmetrics.Change]) -> list[Recorded | Exception]:
    """One transaction: reads the batch's jobs (locked in id order, so concurrent writers cannot deadlock;
    on PostgreSQL without `lock`, as the replica kept them, see Transaction), applies each report in turn,
    then writes the new jobs, the changed columns of the others, the events and the count deltas
    (Transaction.write: an executemany each on SQLite, one statement on PostgreSQL). `changes` gets each job's
    state change, for the metrics once the transaction commits."""
    changes.clear()
    ids = sorted({report.event.job_id for report in batch})
    first: dict[str, int] = {}
    for report in batch:
        first.setdefault(report.event.job_id, report.event.type)
    # One snapshot for both on PostgreSQL: a job another writer creates meanwhile is in neither (then this
    # batch's insert of it fails on its key, and the batch is written again: under locks, then report by
    # report). A job the batch creates first is not read at all without `lock`: that insert fails too.
    locked_rows, keys = tx.read(ids, sorted({(r.event.job_id, r.key) for r in batch}),
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
    for report in batch:
        try:
            outcomes.append(_record_one(tx, report, rows, locked, known, now, events))
        except ServiceError as error:
            if not tx.locked:
                raise Unconfirmed(f"refused {report.key!r} of job {report.event.job_id!r}: {error}") from error
            outcomes.append(recorded_meanwhile(tx, report, known) or error)
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
    tx.write(created, changed, events, count_rows(counts))
    tx.wrote({job_id: vars(row) for job_id, row in rows.items()})
    return outcomes


def recorded_meanwhile(tx: Transaction, report: Report, known: dict[tuple[str, str], int]) -> Recorded | None:
    """A refused report that another writer recorded while this one waited for the job's row lock: on
    PostgreSQL the batch's read took the lock, so it sees the row as now but the keys as when the statement
    began. A fresh statement sees that commit: the report is a duplicate (a terminal report sent to two
    replicas at once, for one). SQLite's write lock leaves no such window."""
    if not tx.postgres:
        return None
    pair = (report.event.job_id, report.key)
    found = tx.known_keys([pair])
    if not found:
        return None
    known[pair] = found[0][2]
    return Recorded(found[0][2], duplicate=True)


def count_rows(deltas: collections.Counter[tuple[str, int, int]]) -> list[dict]:
    """job_counts deltas in key order (every writer takes these row locks in one order: no deadlock)."""
    return [{"owner": o, "kind": k, "state": s, "count": n} for (o, k, s), n in sorted(deltas.items()) if n]


def _record_one(tx: Transaction, report: Report, rows: dict[str, SimpleNamespace],
                locked: Callable[[str], SimpleNamespace | None], known: dict[tuple[str, str], int],
                now: dt.datetime, events: list[dict]) -> Recorded:
    """Applies one report inside a batch's transaction: a duplicate key answers its first sequence, a
    CREATED adds the job (a batch's, its children too), any other event updates it (and its batch); the
    event rows are appended to `events`. A refused report changes nothing."""
    event, key, job = report.event, report.key, report.job
    sequence = known.get((event.job_id, key))
    if sequence is not None:
        return Recorded(sequence, duplicate=True)
    row = rows.get(event.job_id)
    jobstate.check_transition(row, event)
    if event.type == pb.EVENT_TYPE_CREATED:
        job = job or pb.Job(id=event.job_id)
        row = jobstate.new_row(job, now)
        if report.children:
            batch_rows.summarize(row, job, len(report.children))
        rows[event.job_id] = row
    # RetryBatch's checks come after changes began: keep what to restore if it is refused (rare).
    saved = ({i: dict(vars(r)) for i, r in rows.items()}, len(events)) if event.type == pb.EVENT_TYPE_RETRIED else None
    try:
        before = (row.state, row.percent)
        stored = jobstate.apply(row, event, now)
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
    events.append(jobstate.event_row(row.id, stored, key, now))
    if report.children:
        batch_rows.add_children(list(report.children), now, rows, events)
    return Recorded(stored.sequence, duplicate=False, event=stored, also=tuple(also))
