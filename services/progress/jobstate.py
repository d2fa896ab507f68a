"""The job state machine of the progress store, pure (no I/O): which state each event leads to, which
events a job refuses in which state, and how an event changes a job's row (`apply`). The rows are plain
objects with JobRow's columns (`new_row`), so this runs inside any write transaction and in unit tests."""

from __future__ import annotations

import datetime as dt
import functools
from types import SimpleNamespace

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from genmedia.domain.errors import NotFound, ServiceError
from genmedia.domain.jobrules import DEFAULT_PRIORITY, TERMINAL_STATES
from genmedia.v1 import common_pb2 as pb
from services.progress.models import UTC, JobRow

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
COLUMN_DEFAULTS = {  # a new row's values before the job's own: the columns' scalar defaults, else None
    column.name: column.default.arg if column.default is not None and column.default.is_scalar else None
    for column in JobRow.__table__.columns
}


def precondition(message: str, reason: str, job_id: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, message, reason, metadata={"job_id": job_id})


def reopens(row: SimpleNamespace, event: pb.JobEvent) -> bool:
    """Whether this event may be recorded on an ended job: RetryBatch reopening a batch."""
    return event.type == pb.EVENT_TYPE_RETRIED and row.kind == pb.JOB_KIND_BATCH


def check_transition(row: SimpleNamespace | None, event: pb.JobEvent) -> None:
    """Refuses an event the job cannot take: a CREATED of a job that exists, any other event of a job that
    does not, and anything but a batch's reopening once the job has ended."""
    if event.type == pb.EVENT_TYPE_CREATED:
        if row is not None:
            raise precondition(f"job {event.job_id!r} already exists", "JOB_ALREADY_EXISTS", event.job_id)
    elif row is None:
        raise NotFound("job", event.job_id)
    elif row.state in TERMINAL_STATES and not reopens(row, event):
        state = pb.JobState.Name(row.state)
        raise precondition(f"job {event.job_id!r} is {state}", "JOB_TERMINAL", event.job_id)


def new_row(job: pb.Job, now: dt.datetime) -> SimpleNamespace:
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


def apply(row: SimpleNamespace, event: pb.JobEvent, now: dt.datetime) -> pb.JobEvent:
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


def event_row(job_id: str, stored: pb.JobEvent, key: str, now: dt.datetime) -> dict:
    """The job_events row of a stored event."""
    return {"job_id": job_id, "sequence": stored.sequence, "idempotency_key": key, "type": stored.type,
            "state": stored.state, "step": stored.step, "time": now, "event": stored.SerializeToString()}
