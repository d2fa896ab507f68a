"""Checks of ProgressService requests: every problem named by its field, so a client can fix them all."""

from __future__ import annotations

import math

from google.protobuf.timestamp_pb2 import Timestamp

from genmedia.domain import notify
from genmedia.domain.jobrules import MAX_JOB_ID, job_id_violations
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from services.progress.jobstate import TERMINAL_STATES, TYPE_STATES

MAX_ID = 200  # idempotency keys and owners: their columns' width (job ids: genmedia.domain.jobrules)
EVENT_TYPES, JOB_STATES, JOB_KINDS = (frozenset(enum.values()) for enum in (pb.EventType, pb.JobState, pb.JobKind))
PLAIN_TYPES = EVENT_TYPES - {pb.EVENT_TYPE_UNSPECIFIED, pb.EVENT_TYPE_CREATED}
MIN_SECONDS, MAX_SECONDS = -62135596800, 253402300799  # 0001-01-01 .. 9999-12-31, what datetimes hold


def valid_time(stamp: Timestamp) -> bool:
    return MIN_SECONDS <= stamp.seconds <= MAX_SECONDS and 0 <= stamp.nanos < 10**9


def report_violations(request: ps.ReportProgressRequest) -> list[tuple[str, str]]:
    """Every problem of a ReportProgress request, named by field. The common report, an event on a running
    job with no job, children, error or assets, is passed by a few checks that imply all the others."""
    event = request.event
    if (event.type in PLAIN_TYPES and not event.state and 0 <= event.percent <= 100  # (False for NaN)
            and 0 < len(event.job_id) <= MAX_JOB_ID and 0 < len(request.idempotency_key) <= MAX_ID
            and len(event.message) <= MAX_TEXT and "\x00" not in event.job_id + request.idempotency_key + event.message
            and not (event.assets or request.children or request.HasField("job") or event.HasField("error"))
            and (not event.HasField("estimated_completion_time") or valid_time(event.estimated_completion_time))):
        return []
    return _all_violations(request)


def _all_violations(request: ps.ReportProgressRequest) -> list[tuple[str, str]]:
    event = request.event
    v = job_id_violations(event.job_id, "event.job_id")
    if not request.idempotency_key:
        v.append(("idempotency_key", "must not be empty"))
    elif len(request.idempotency_key) > MAX_ID:
        v.append(("idempotency_key", f"must be at most {MAX_ID} characters"))
    if event.type == pb.EVENT_TYPE_UNSPECIFIED or event.type not in EVENT_TYPES:
        v.append(("event.type", f"must be a known event type other than UNSPECIFIED, got {event.type}"))
    if math.isnan(event.percent) or not 0 <= event.percent <= 100:
        v.append(("event.percent", f"must be between 0 and 100, got {event.percent:g}"))
    if event.state not in JOB_STATES:
        v.append(("event.state", f"is not a known job state: {event.state}"))
    elif event.state and event.type in TYPE_STATES and event.state != TYPE_STATES[event.type]:
        v.append(("event.state", f"must be {pb.JobState.Name(TYPE_STATES[event.type])} or unset"))
    elif event.type not in TYPE_STATES and event.state in TERMINAL_STATES:
        v.append(("event.state", "a terminal state needs a COMPLETED, FAILED or CANCELLED event"))
    if event.type == pb.EVENT_TYPE_CREATED:
        if not request.HasField("job"):
            v.append(("job", "is required with EVENT_TYPE_CREATED"))
        else:
            if request.job.id != event.job_id:
                v.append(("job.id", "must equal event.job_id"))
            if request.job.kind == pb.JOB_KIND_UNSPECIFIED or request.job.kind not in JOB_KINDS:
                v.append(("job.kind", "must be a known job kind other than UNSPECIFIED"))
    if request.HasField("job"):
        v += job_violations(request.job)
    return v + time_violations(request) + text_violations(request) + children_violations(request)


def children_violations(request: ps.ReportProgressRequest) -> list[tuple[str, str]]:
    """Children come only with the CREATED event of a batch, each a valid job of that batch."""
    if not request.children:
        return []
    if request.event.type != pb.EVENT_TYPE_CREATED or request.job.kind != pb.JOB_KIND_BATCH:
        return [("children", "are only allowed with the EVENT_TYPE_CREATED of a JOB_KIND_BATCH job")]
    if len(request.children) > MAX_CHILDREN:
        return [("children", f"at most {MAX_CHILDREN} per batch, got {len(request.children)}")]
    v, ids = [], set()
    for i, child in enumerate(request.children):
        name = f"children[{i}]"
        if job_id_violations(child.id) or "\x00" in child.id or child.id in ids or child.id == request.job.id:
            v.append((f"{name}.id", f"must be 1-{MAX_JOB_ID} characters without NUL, unique in the batch"))
        ids.add(child.id)
        if child.kind not in JOB_KINDS or child.kind in (pb.JOB_KIND_UNSPECIFIED, pb.JOB_KIND_BATCH):
            v.append((f"{name}.kind", "must be a known job kind other than UNSPECIFIED and BATCH"))
        if child.batch_id != request.event.job_id:
            v.append((f"{name}.batch_id", "must equal event.job_id"))
        if child.batch_index < 0:
            v.append((f"{name}.batch_index", "must not be negative"))
        texts = [child.owner, child.request_id, *child.labels, *child.labels.values()]
        if any("\x00" in t or len(t) > MAX_TEXT for t in texts):
            v.append((name, f"texts must be at most {MAX_TEXT} characters, without NUL"))
        v += [(f"{name}.{f.removeprefix('job.')}", d) for f, d in job_violations(child)]
        if not (valid_time(child.create_time) and valid_time(child.deadline)):
            v.append((name, "times must be valid timestamps (years 1-9999)"))
    return v


MAX_CHILDREN = 1000


MAX_LABEL_KEY, MAX_LABEL_VALUE = 63, 256


def job_violations(job: pb.Job) -> list[tuple[str, str]]:
    """Bounds of the job fields that are indexed (labels, batch) or ranged (priority)."""
    v = [(f"job.labels[{k}]", f"key must be 1-{MAX_LABEL_KEY} characters")
         for k in job.labels if not 0 < len(k) <= MAX_LABEL_KEY]
    v += [(f"job.labels[{k}]", f"value must be at most {MAX_LABEL_VALUE} characters")
          for k, value in job.labels.items() if len(value) > MAX_LABEL_VALUE]
    if len(job.batch_id) > MAX_JOB_ID:
        v.append(("job.batch_id", f"must be at most {MAX_JOB_ID} characters"))
    if not 0 <= job.priority <= 5:
        v.append(("job.priority", f"must be 1-5 (0: the default, 3), got {job.priority}"))
    if not (0 <= job.review_timeout.seconds <= MAX_DURATION_SECONDS and 0 <= job.review_timeout.nanos < 10**9):
        v.append(("job.review_timeout", "must be between 0 and 10,000 years"))
    return v + notify.notify_violations(job.notify, refuse_private=False, prefix="job.notify")


MAX_DURATION_SECONDS = 315576000000


def time_violations(request: ps.ReportProgressRequest) -> list[tuple[str, str]]:
    """Timestamps that are stored as datetimes must be valid ones."""
    times = [("event.estimated_completion_time", request.event, "estimated_completion_time")]
    if request.HasField("job"):
        times += [("job.create_time", request.job, "create_time"), ("job.deadline", request.job, "deadline")]
    return [(name, "must be a valid timestamp (years 1-9999)") for name, message, field in times
            if message.HasField(field) and not valid_time(getattr(message, field))]


MAX_TEXT = 4000


def text_violations(request: ps.ReportProgressRequest) -> list[tuple[str, str]]:
    """Strings stored as text: bounded, and free of NUL (which PostgreSQL text cannot hold)."""
    event, job = request.event, request.job
    fields = [("event.message", event.message), ("idempotency_key", request.idempotency_key),
              ("event.job_id", event.job_id)]
    if event.HasField("error"):
        fields += [("event.error.code", event.error.code), ("event.error.message", event.error.message)]
    if request.HasField("job"):
        fields += [("job.owner", job.owner), ("job.request_id", job.request_id), ("job.batch_id", job.batch_id)]
        fields += [(f"job.labels[{k}]", k + v) for k, v in job.labels.items()]
    fields += [(f"event.assets[{i}].uri", a.uri + a.mime_type + a.sha256) for i, a in enumerate(event.assets)]
    v = [(name, "must not contain NUL characters") for name, text in fields if "\x00" in text]
    v += [(name, f"must be at most {MAX_TEXT} characters") for name, text in fields if len(text) > MAX_TEXT]
    return v




def filter_violations(f: ps.JobFilter, prefix: str = "filter") -> list[tuple[str, str]]:
    """Problems of a JobFilter (ListJobs, WatchJobs, GetStats)."""
    v = [(f"{prefix}.states[{i}]", f"must be a known job state other than UNSPECIFIED, got {state}")
         for i, state in enumerate(f.states) if state == pb.JOB_STATE_UNSPECIFIED or state not in JOB_STATES]
    if f.kind not in JOB_KINDS:
        v.append((f"{prefix}.kind", f"is not a known job kind: {f.kind}"))
    if len(f.batch_id) > MAX_JOB_ID or "\x00" in f.batch_id:
        v.append((f"{prefix}.batch_id", f"must be at most {MAX_JOB_ID} characters, without NUL"))
    for key, value in f.labels.items():
        if not 0 < len(key) <= MAX_LABEL_KEY or len(value) > MAX_LABEL_VALUE or "\x00" in key + value:
            v.append((f"{prefix}.labels[{key}]", f"key must be 1-{MAX_LABEL_KEY} and value at most "
                      f"{MAX_LABEL_VALUE} characters, without NUL"))
    for name in ("created_after", "created_before"):
        if f.HasField(name) and not valid_time(getattr(f, name)):
            v.append((f"{prefix}.{name}", "must be a valid timestamp (years 1-9999)"))
    if len(f.owner) > MAX_ID or "\x00" in f.owner:
        v.append((f"{prefix}.owner", f"must be at most {MAX_ID} characters, without NUL"))
    return v
