"""Batches in the progress store: a batch is recorded with all its children in one transaction, and its row
keeps the aggregate of its children (counts by state, the sum of their percents) up to date in the same
transaction as each child's event. A batch PROGRESS event is added when the counts change or the mean
percent rose by a point or more, so watchers of the batch follow it without any traffic through Temporal.

RetryBatch reopens an ended batch with an EVENT_TYPE_RETRIED event: the newest child of every position
that FAILED or was CANCELLED gets a new PENDING child `<batch>_<index>_<attempt>` of the same spec."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from types import SimpleNamespace

from genmedia.domain.specs import child_id
from genmedia.serving import logs
from genmedia.v1 import common_pb2 as pb
from services.progress import jobstate
from services.progress.models import JobRow
from services.progress.transaction import Transaction

log = logging.getLogger(__name__)

MAX_CHILDREN = 1000
COUNTS = {
    pb.JOB_STATE_PENDING: "pending", pb.JOB_STATE_RUNNING: "running", pb.JOB_STATE_RETRYING: "retrying",
    pb.JOB_STATE_AWAITING_REVIEW: "awaiting_review", pb.JOB_STATE_PAUSED: "paused",
    pb.JOB_STATE_COMPLETED: "completed", pb.JOB_STATE_FAILED: "failed", pb.JOB_STATE_CANCELLED: "cancelled",
}
RERUN = (pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED)
STEP = dt.timedelta(microseconds=1)  # children are created one microsecond apart: listing order = batch order


def summary_of(row: SimpleNamespace) -> pb.BatchSummary:
    return pb.BatchSummary.FromString(row.batch or b"")


def _count(summary: pb.BatchSummary, state: int, delta: int) -> None:
    if state in COUNTS:
        setattr(summary, COUNTS[state], getattr(summary, COUNTS[state]) + delta)


def describe(summary: pb.BatchSummary) -> str:
    """`12/50 completed, 5 running, 1 failed`: the counts that are not zero."""
    parts = [f"{summary.completed}/{summary.total} completed"]
    parts += [f"{getattr(summary, name)} {name.replace('_', ' ')}" for name in COUNTS.values()
              if name != "completed" and getattr(summary, name)]
    return ", ".join(parts)


def summarize(batch: SimpleNamespace, job: pb.Job, children: int) -> None:
    """A new batch's summary (then the store records its CREATED, then `add_children`)."""
    summary = pb.BatchSummary()
    summary.CopyFrom(job.batch)
    summary.attempt, summary.total = 1, children
    for name in COUNTS.values():
        setattr(summary, name, 0)
    summary.pending = children
    batch.batch = summary.SerializeToString()
    log.info("recording batch of %d children", children, **logs.job(batch.id))


def add_children(children: list[pb.Job], now: dt.datetime, rows: dict[str, SimpleNamespace],
                  events: list[dict]) -> None:
    """New PENDING jobs, each with its CREATED event (the store inserts new rows before events)."""
    for child in children:
        if child.id in rows:
            raise jobstate.precondition(f"job {child.id!r} already exists", "JOB_ALREADY_EXISTS", child.id)
        row = rows[child.id] = jobstate.new_row(child, now)
        row.batch_index, row.batch_attempt = child.batch_index, child.batch_attempt or 1
        created = pb.JobEvent(job_id=row.id, type=pb.EVENT_TYPE_CREATED, message="queued")
        events.append(jobstate.event_row(row.id, jobstate.apply(row, created, now), "created", now))


def follow(tx: Transaction, rows: dict[str, SimpleNamespace], locked: Callable[[str], SimpleNamespace | None],
           row: SimpleNamespace, before: tuple[int, float], stored: pb.JobEvent, now: dt.datetime,
           events: list[dict]) -> list[pb.JobEvent]:
    """What an event recorded on `row` changes in its batch, in the same transaction (`locked` loads and
    locks a row for the store to write back). Returns the batch events it added, to publish after commit."""
    if stored.type == pb.EVENT_TYPE_RETRIED:
        if row.kind != pb.JOB_KIND_BATCH or before[0] not in jobstate.TERMINAL_STATES:
            state = pb.JobState.Name(before[0]).removeprefix("JOB_STATE_")
            raise jobstate.precondition(f"job {row.id!r} is {state}; only an ended batch can be retried",
                                "BATCH_NOT_ENDED", row.id)
        _reopen(tx, rows, row, stored, now, events)
    if row.kind == pb.JOB_KIND_BATCH and row.batch is not None:
        _annotate(row, stored)
        return []
    if not row.batch_id or stored.type == pb.EVENT_TYPE_CREATED:
        return []
    batch = locked(row.batch_id)
    if batch is None or batch.batch is None:
        return []
    summary = summary_of(batch)
    if row.batch_attempt != summary.attempt:
        return []  # a child of an earlier attempt (it has ended, so this cannot really happen)
    _count(summary, before[0], -1)
    _count(summary, row.state, +1)
    batch.batch = summary.SerializeToString()
    batch.batch_percent_sum += row.percent - before[1]
    mean = _mean(batch, summary)
    if batch.state in jobstate.TERMINAL_STATES or (before[0] == row.state and mean - batch.percent < 1.0):
        return []
    update = pb.JobEvent(job_id=batch.id, type=pb.EVENT_TYPE_PROGRESS, state=batch.state, percent=mean,
                         message=describe(summary))
    if batch.start_time is not None and 0 < mean < 100:
        elapsed = (now - batch.start_time).total_seconds()
        update.estimated_completion_time.FromDatetime(now + dt.timedelta(seconds=elapsed * (100 - mean) / mean))
    added = jobstate.apply(batch, update, now)
    _annotate(batch, added)
    events.append(jobstate.event_row(batch.id, added, f"child:{row.id}:{stored.sequence}", now))
    return [added]


def _mean(batch: SimpleNamespace, summary: pb.BatchSummary) -> float:
    return min(100.0, max(0.0, batch.batch_percent_sum / summary.total)) if summary.total else 0.0


def _annotate(batch: SimpleNamespace, stored: pb.JobEvent) -> None:
    """A batch's event carries its counts; its percent is the children's mean (a new attempt may lower it)."""
    summary = summary_of(batch)
    batch.percent = round(_mean(batch, summary), 1)
    stored.percent = batch.percent
    stored.batch.CopyFrom(summary)


def _reopen(tx: Transaction, rows: dict[str, SimpleNamespace], batch: SimpleNamespace, stored: pb.JobEvent,
            now: dt.datetime, events: list[dict]) -> None:
    """A new attempt: a new PENDING child for every position whose newest child failed or was cancelled."""
    summary = summary_of(batch)
    newest: dict[int, SimpleNamespace] = {}
    for child in tx.batch_children(batch.id):
        newest[child["batch_index"]] = rows.get(child["id"]) or SimpleNamespace(**child)
    rerun = [child for _, child in sorted(newest.items()) if child.state in RERUN]
    if not rerun:
        raise jobstate.precondition(f"every child of batch {batch.id!r} completed: nothing to retry", "BATCH_COMPLETED",
                            batch.id)
    summary.attempt += 1
    new = []
    for n, old in enumerate(rerun):
        job = JobRow.to_proto(old)  # the new row takes its spec, owner, labels, priority, review and deadline
        job.id = child_id(batch.id, old.batch_index, summary.attempt)
        job.batch_attempt = summary.attempt
        job.create_time.FromDatetime(now + n * STEP)
        new.append(job)
        _count(summary, old.state, -1)
        summary.pending += 1
        batch.batch_percent_sum -= old.percent
    add_children(new, now, rows, events)
    batch.batch = summary.SerializeToString()
    # The new attempt starts afresh: its STARTED sets start_time again (the ETA extrapolates from it).
    batch.start_time = batch.end_time = batch.estimated_completion_time = None
    stored.message = f"attempt {summary.attempt}: rerunning {len(rerun)} of {summary.total} children"
    batch.message = stored.message
