"""What the client returns: typed, read-only views of the API's messages. (Over 300 lines: one small view
class per API message, kept in one module so the client's whole return surface reads in one place.)

Each keeps the message it was made from in `.raw` (every field, including any this client does not know)
and gives it back as JSON-ready data with `.to_dict()`: the message's proto3 JSON with the .proto's
field names, RFC 3339 timestamps, and 64-bit integers as numbers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from genmedia.client.enums import (
    BatchStrategy,
    DeliveryState,
    EventType,
    JobKind,
    JobState,
    JobStep,
    NotifyChannel,
    ReviewDecision,
)
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import progress_service_pb2 as ps

INT64 = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64,
         FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64}


def message_to_dict(message: Message) -> dict[str, Any]:
    """The proto3 JSON of a message (every field, names as in the .proto), with 64-bit integers as
    numbers rather than the strings proto3 JSON uses."""
    data = json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)
    _numbers(message.DESCRIPTOR, data)
    return data


def _numbers(descriptor, data: dict[str, Any]) -> None:
    for name, value in data.items():
        fd = descriptor.fields_by_name.get(name)
        if fd is None:
            continue
        if fd.type in INT64:
            data[name] = [int(v) for v in value] if isinstance(value, list) else int(value)
        elif fd.type == FieldDescriptor.TYPE_MESSAGE and fd.message_type.GetOptions().map_entry is False:
            if fd.message_type.full_name.startswith("google.protobuf."):
                continue  # timestamps, durations: strings by design
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    _numbers(fd.message_type, item)


def _time(message: Message, name: str) -> dt.datetime | None:
    return getattr(message, name).ToDatetime(tzinfo=dt.UTC) if message.HasField(name) else None


class _View:
    raw: Message

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the message's proto3 JSON (see the module's docstring)."""
        return message_to_dict(self.raw)


@dataclass(frozen=True)
class Asset(_View):
    uri: str
    mime_type: str
    size_bytes: int
    sha256: str
    width: int
    height: int
    duration_seconds: float
    frame_count: int
    fps: float
    provider: str  # who made it: a provider backend, or a built-in placeholder
    model: str
    provider_request_id: str
    raw: pb.Asset = field(repr=False, compare=False)

    @property
    def path(self) -> Path | None:
        """The local file of a file:// asset (None for other stores)."""
        parsed = urlparse(self.uri)
        return Path(unquote(parsed.path)) if parsed.scheme == "file" else None

    @classmethod
    def from_proto(cls, m: pb.Asset) -> Asset:
        return cls(m.uri, m.mime_type, m.size_bytes, m.sha256, m.width, m.height, m.duration_seconds,
                   m.frame_count, m.fps, m.provider, m.model, m.provider_request_id, m)


@dataclass(frozen=True)
class JobError(_View):
    code: str
    message: str
    retryable: bool
    provider: str  # the backend whose call failed, when a provider call failed
    provider_request_id: str
    raw: pb.JobError = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: pb.JobError) -> JobError | None:
        if not (m.code or m.message):
            return None
        return cls(m.code, m.message, m.retryable, m.provider, m.provider_request_id, m)


@dataclass(frozen=True)
class Review(_View):
    round: int
    decision: ReviewDecision
    reviewer: str
    time: dt.datetime | None
    feedback: str
    corrections: Mapping[str, Any]
    raw: pb.Review = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: pb.Review) -> Review:
        return cls(m.round, ReviewDecision(m.decision), m.reviewer, _time(m, "time"), m.feedback,
                   message_to_dict(m.corrections) if m.HasField("corrections") else {}, m)


@dataclass(frozen=True)
class BatchSummary(_View):
    strategy: BatchStrategy
    max_concurrent: int
    fail_fast: bool
    attempt: int
    total: int
    counts: Mapping[JobState, int]  # children by state, states with none left out
    raw: pb.BatchSummary = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: pb.BatchSummary) -> BatchSummary:
        counts = {state: getattr(m, state.name.lower()) for state in JobState if state.value > 0}
        return cls(BatchStrategy(m.strategy), m.max_concurrent, m.fail_fast, m.attempt, m.total,
                   {s: n for s, n in counts.items() if n}, m)


@dataclass(frozen=True)
class Job(_View):
    """A job (or a batch: kind BATCH, with `batch` set) as the server shows it."""

    id: str
    kind: JobKind
    state: JobState
    step: JobStep
    percent: float
    message: str
    assets: tuple[Asset, ...]
    error: JobError | None
    attempt: int
    owner: str
    labels: Mapping[str, str]
    request_id: str
    priority: int
    create_time: dt.datetime | None
    start_time: dt.datetime | None
    update_time: dt.datetime | None
    end_time: dt.datetime | None
    estimated_completion_time: dt.datetime | None
    deadline: dt.datetime | None
    last_sequence: int
    review: bool
    review_round: int
    reviews: tuple[Review, ...]
    batch_id: str
    batch_index: int
    batch_attempt: int
    batch: BatchSummary | None
    spec: Mapping[str, Any]  # the JobSpec as proto3 JSON: {"kind": ..., "image": {"prompt": ...}}
    source: str = ""  # get(): "workflow" (read live from the job's workflow) or "store"
    raw: pb.Job = field(default_factory=pb.Job, repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: pb.Job, source: str = "") -> Job:
        return cls(
            m.id, JobKind(m.kind), JobState(m.state), JobStep(m.step), m.percent, m.message,
            tuple(Asset.from_proto(a) for a in m.assets), JobError.from_proto(m.error), m.attempt, m.owner,
            dict(m.labels), m.request_id, m.priority, _time(m, "create_time"), _time(m, "start_time"),
            _time(m, "update_time"), _time(m, "end_time"), _time(m, "estimated_completion_time"),
            _time(m, "deadline"), m.last_sequence, m.review, m.review_round,
            tuple(Review.from_proto(r) for r in m.reviews), m.batch_id, m.batch_index, m.batch_attempt,
            BatchSummary.from_proto(m.batch) if m.HasField("batch") else None,
            message_to_dict(m.spec) if m.HasField("spec") else {}, source, m,
        )


@dataclass(frozen=True)
class JobEvent(_View):
    """One entry of a job's timeline; `state`, `step`, `percent` and `message` are the job's after it."""

    job_id: str
    sequence: int
    type: EventType
    time: dt.datetime | None
    state: JobState
    step: JobStep
    percent: float
    message: str
    assets: tuple[Asset, ...]
    error: JobError | None
    attempt: int
    review: Review | None
    review_round: int
    estimated_completion_time: dt.datetime | None
    batch: BatchSummary | None
    cursor: str = ""  # watch_jobs(): resume after this event with watch_jobs(cursor=...)
    raw: pb.JobEvent = field(default_factory=pb.JobEvent, repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: pb.JobEvent, cursor: str = "") -> JobEvent:
        return cls(
            m.job_id, m.sequence, EventType(m.type), _time(m, "time"), JobState(m.state), JobStep(m.step),
            m.percent, m.message, tuple(Asset.from_proto(a) for a in m.assets), JobError.from_proto(m.error),
            m.attempt, Review.from_proto(m.review) if m.HasField("review") else None, m.review_round,
            _time(m, "estimated_completion_time"),
            BatchSummary.from_proto(m.batch) if m.HasField("batch") else None, cursor, m,
        )


@dataclass(frozen=True)
class DeliveryAttempt(_View):
    attempt: int
    time: dt.datetime | None
    status_code: int
    latency: dt.timedelta
    error: str
    succeeded: bool
    redelivery: int
    raw: pb.DeliveryAttempt = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: pb.DeliveryAttempt) -> DeliveryAttempt:
        return cls(m.attempt, _time(m, "time"), m.status_code, m.latency.ToTimedelta(), m.error, m.succeeded,
                   m.redelivery, m)


@dataclass(frozen=True)
class Delivery(_View):
    """One notification of one event to one target, with every attempt at sending it."""

    id: str
    job_id: str
    channel: NotifyChannel
    target: str
    event: EventType
    state: DeliveryState
    attempts: tuple[DeliveryAttempt, ...]
    redeliveries: int
    raw: pb.Delivery = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: pb.Delivery) -> Delivery:
        return cls(m.id, m.job_id, NotifyChannel(m.channel), m.target, EventType(m.event), DeliveryState(m.state),
                   tuple(DeliveryAttempt.from_proto(a) for a in m.attempts), m.redeliveries, m)


@dataclass(frozen=True)
class Page:
    """One page of `list_page()`: the jobs, the token of the next page ("" on the last) and the total."""

    jobs: tuple[Job, ...]
    next_page_token: str
    total_size: int

    def to_dict(self) -> dict[str, Any]:
        return {"jobs": [j.to_dict() for j in self.jobs], "next_page_token": self.next_page_token,
                "total_size": self.total_size}


@dataclass(frozen=True)
class Stats(_View):
    """GetStats: jobs created in [start_time, end_time)."""

    start_time: dt.datetime | None
    end_time: dt.datetime | None
    total_jobs: int
    success_rate: float
    backlog: int
    reviews: int
    review_approval_rate: float
    counts: Mapping[JobState, int]
    raw: ps.GetStatsResponse = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: ps.GetStatsResponse) -> Stats:
        return cls(_time(m, "start_time"), _time(m, "end_time"), m.total_jobs, m.success_rate, m.backlog,
                   m.reviews, m.review_approval_rate, {JobState(c.state): c.count for c in m.counts}, m)


@dataclass(frozen=True)
class WebhookSecret(_View):
    secret: str  # whsec_<base64>: the HMAC-SHA256 key of the owner's webhooks
    owner: str
    raw: js.GetWebhookSecretResponse = field(repr=False, compare=False)
