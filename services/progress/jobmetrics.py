"""Job and progress metrics, counted where every event lands. The progress service sees each state change of
every job exactly once: in the transaction that records it, on whichever replica wrote it (a duplicate report
changes nothing). So the counters are incremented after that commit, and a sum across replicas counts each job
once. `genmedia_jobs` is read from the database's per-state counts: every replica reports the same total, so
dashboards take the max. docs/operations.md says more."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import NamedTuple

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from genmedia.domain.jobrules import TERMINAL_STATES
from genmedia.v1 import common_pb2 as pb
from services.progress.models import JobCountRow

log = logging.getLogger(__name__)

KINDS = {value: name.removeprefix("JOB_KIND_").lower() for name, value in pb.JobKind.items()}
STATES = {value: name.removeprefix("JOB_STATE_").lower() for name, value in pb.JobState.items() if value}
EVENT_TYPES = {value: name.removeprefix("EVENT_TYPE_").lower() for name, value in pb.EventType.items()}
# Seconds: a null job takes a fraction of one, a reviewed video job may take an hour or more.
JOB_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
REVIEW_BUCKETS = (1, 5, 15, 30, 60, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400, 259200)

CREATED = Counter("genmedia_jobs_created_total", "Jobs created (a batch and each of its jobs), by kind.", ("kind",))
FINISHED = Counter("genmedia_jobs_finished_total", "Jobs that reached a final state, by kind and state "
                   "(completed, failed, cancelled).", ("kind", "state"))
DURATION = Histogram("genmedia_job_duration_seconds", "Creation to completion of completed jobs.", ("kind",),
                     buckets=JOB_BUCKETS)
QUEUE_WAIT = Histogram("genmedia_job_queue_wait_seconds", "Creation to start (the job's first RUNNING): how long "
                       "a job waited for a worker.", ("kind",), buckets=WAIT_BUCKETS)
REVIEW_WAIT = Histogram("genmedia_review_wait_seconds", "Time jobs spent in AWAITING_REVIEW, until a decision, "
                        "a cancel or the review timeout.", ("kind",), buckets=REVIEW_BUCKETS)
JOBS = Gauge("genmedia_jobs", "Jobs in each state now, in the whole database (each replica reports the same: "
             "take the max).", ("state",))
EVENTS = Counter("genmedia_progress_events_total", "Job events recorded by this replica and published to its "
                 "watchers, by type.", ("type",))
INGEST_ERRORS = Counter("genmedia_progress_ingest_errors_total", "Progress reports not recorded, by reason (the "
                        "ErrorInfo reason the reporter got).", ("reason",))
WATCH_STREAMS = Gauge("genmedia_watch_streams", "Open watch streams on this replica, by RPC.", ("rpc",))

# Every series exists from the start, at 0, so that a rate() sees the first job too.
for _state in STATES.values():
    JOBS.labels(_state)
for _kind in (k for v, k in KINDS.items() if v):
    CREATED.labels(_kind)
    for _final in TERMINAL_STATES:
        FINISHED.labels(_kind, STATES[_final])
for _rpc in ("WatchJob", "WatchJobs"):
    WATCH_STREAMS.labels(_rpc)
# Looked up once: labels() takes a lock and builds a key on every call, and events are counted in the write path.
EVENT_SERIES = {value: EVENTS.labels(name) for value, name in EVENT_TYPES.items() if value}


class Change(NamedTuple):
    """One job's state change within a committed transaction."""

    kind: int
    before: int  # 0 for a job the transaction created
    after: int
    create_time: dt.datetime
    started: dt.datetime | None  # the job's start time, when the transaction set it
    entered: dt.datetime  # when the job entered `before` (its last change before the transaction)
    now: dt.datetime


def change(row, before: dict | None, now: dt.datetime) -> Change | None:
    """The change a transaction made to a job (its row after, the columns before), None if its state stayed."""
    if before is not None and before["state"] == row.state:
        return None
    started = row.start_time if row.start_time is not None and (before is None or before["start_time"] is None) \
        else None
    return Change(row.kind, before["state"] if before is not None else 0, row.state, row.create_time, started,
                  before["update_time"] if before is not None else now, now)


def observe(changes: Iterable[Change], events: Iterable[pb.JobEvent]) -> None:
    """Counts what a committed transaction recorded."""
    for c in changes:
        kind = KINDS.get(c.kind, "unspecified")
        if c.before == 0:
            CREATED.labels(kind).inc()
        if c.started is not None:
            QUEUE_WAIT.labels(kind).observe(max(0.0, (c.started - c.create_time).total_seconds()))
        if c.before == pb.JOB_STATE_AWAITING_REVIEW:
            REVIEW_WAIT.labels(kind).observe(max(0.0, (c.now - c.entered).total_seconds()))
        if c.after in TERMINAL_STATES and c.before not in TERMINAL_STATES:
            FINISHED.labels(kind, STATES[c.after]).inc()
            if c.after == pb.JOB_STATE_COMPLETED:
                DURATION.labels(kind).observe(max(0.0, (c.now - c.create_time).total_seconds()))
    for event in events:
        series = EVENT_SERIES.get(event.type) or EVENTS.labels(str(event.type))
        series.inc()


def watching(rpc: str) -> AbstractContextManager:
    """Counts an open watch stream for the duration of the block."""
    return WATCH_STREAMS.labels(rpc).track_inprogress()


def refused(reason: str) -> None:
    INGEST_ERRORS.labels(reason or "UNKNOWN").inc()


async def count_jobs(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Sets `genmedia_jobs` from the database's per-state counts (kept in every write's transaction)."""
    async with sessions() as session:
        rows = await session.execute(select(JobCountRow.state, func.sum(JobCountRow.count)).group_by(JobCountRow.state))
        counts = {state: int(total or 0) for state, total in rows.all()}
    for value, name in STATES.items():
        JOBS.labels(name).set(counts.get(value, 0))


async def keep_counting_jobs(sessions: async_sessionmaker[AsyncSession], interval: float) -> None:
    """Refreshes `genmedia_jobs` every `interval` seconds until cancelled; a failed read keeps the last values."""
    while True:
        try:
            await count_jobs(sessions)
        except Exception as err:  # the database is down: the gauge keeps its last values, the next round retries
            log.warning("counting jobs by state failed: %s", err)
        await asyncio.sleep(interval)
