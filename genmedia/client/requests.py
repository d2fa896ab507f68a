"""Requests from keyword arguments: the client's (and the CLI's) only place that builds API messages."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from google.protobuf import json_format

from genmedia.client.enums import JobKind, JobState, Motion
from genmedia.client.models import message_to_dict
from genmedia.domain import notify
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import progress_service_pb2 as ps

SPEC_KEYS = {"kind", "image", "video", "null"}
NOTIFY_EVENTS = {name.replace("_", "-"): event for event, name in notify.EVENTS.items()}


class JobOptions(TypedDict, total=False):
    """What every submit takes besides its spec."""

    request_id: str  # a UUID: repeating it returns the same job (the client makes one when not given)
    labels: Mapping[str, str]
    review: bool  # stop after image generation for a human review
    review_timeout: dt.timedelta | float  # how long the review may wait (seconds, or a timedelta)
    deadline: dt.datetime | dt.timedelta  # past it the job FAILS DEADLINE_EXCEEDED (a time, or from now)
    priority: int  # 1 (highest) to 5; 0 means 3
    webhook: str  # POST a signed JSON notification here
    slack: str  # a Slack incoming-webhook URL
    emails: Iterable[str]
    notify_events: Iterable[str]  # started, awaiting-review, completed, failed, cancelled


class ImageOptions(JobOptions, total=False):
    negative_prompt: str
    width: int
    height: int
    n: int  # images, 1-4
    seed: int
    style: str
    backend: str  # a configured backend, or a comma list tried in order ("replicate,openai")


class VideoOptions(JobOptions, total=False):
    negative_prompt: str
    width: int
    height: int
    duration: float  # seconds, 1-30
    fps: int
    seed: int
    style: str
    backend: str  # a configured video backend, or a comma list tried in order
    motion: str | Motion  # zoom-in, zoom-out, pan-left, pan-right


class FilterOptions(TypedDict, total=False):
    """Which jobs: every option given must match."""

    state: str | JobState | Iterable[str | JobState]  # any of these
    kind: str | JobKind
    batch_id: str
    labels: Mapping[str, str]  # every one of these
    created_after: dt.datetime | dt.timedelta  # a time, or a span back from now
    created_before: dt.datetime | dt.timedelta
    top_level: bool  # leave out the jobs of batches
    owner: str  # admins: another user's jobs


@dataclass(frozen=True)
class JobRequest:
    """One job to submit, as create_batch() takes them (also a plain dict in the batch file's format)."""

    raw: js.CreateJobRequest

    def to_dict(self) -> dict[str, Any]:
        return message_to_dict(self.raw)


def _set_time(field, value: dt.datetime | dt.timedelta) -> None:
    if isinstance(value, dt.timedelta):
        value = dt.datetime.now(dt.UTC) + value
    field.FromDatetime(value if value.tzinfo else value.astimezone())


def notify_settings(webhook: str = "", slack: str = "", emails: Iterable[str] = (),
                    notify_events: Iterable[str] = ()) -> pb.Notify | None:
    events = []
    for name in notify_events:
        key = name.strip().lower().replace("_", "-")
        if key not in NOTIFY_EVENTS:
            raise ValueError(f"{name!r} is not a notification event: {', '.join(NOTIFY_EVENTS)}")
        events.append(NOTIFY_EVENTS[key])
    settings = pb.Notify(webhook_url=webhook, slack_url=slack, emails=list(emails), events=events)
    return settings if settings.ListFields() else None


def _request(spec: pb.JobSpec, options: Mapping[str, Any]) -> js.CreateJobRequest:
    request = js.CreateJobRequest(spec=spec, request_id=options.get("request_id", ""),
                                  labels=dict(options.get("labels") or {}), review=options.get("review", False),
                                  priority=options.get("priority", 0))
    if (timeout := options.get("review_timeout")) is not None:
        request.review_timeout.FromTimedelta(timeout if isinstance(timeout, dt.timedelta)
                                             else dt.timedelta(seconds=timeout))
    if (deadline := options.get("deadline")) is not None:
        _set_time(request.deadline, deadline)
    settings = notify_settings(options.get("webhook", ""), options.get("slack", ""), options.get("emails", ()),
                               options.get("notify_events", ()))
    if settings is not None:
        request.notify.CopyFrom(settings)
    return request


def _spec_fields(prompt: str, options: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    fields = {"prompt": prompt, "negative_prompt": options.get("negative_prompt", ""),
              "style": options.get("style", ""), "backend": options.get("backend", "")}
    for option, name in names.items():
        if options.get(option) is not None:
            fields[name] = options[option]
    return fields


def image_job(prompt: str, **options: Unpack[ImageOptions]) -> JobRequest:
    """An image job, for create_batch()."""
    fields = _spec_fields(prompt, options, {"width": "width", "height": "height", "n": "num_images", "seed": "seed"})
    return JobRequest(_request(pb.JobSpec(kind=pb.JOB_KIND_IMAGE, image=pb.ImageSpec(**fields)), options))


def video_job(prompt: str, **options: Unpack[VideoOptions]) -> JobRequest:
    """A video job, for create_batch()."""
    fields = _spec_fields(prompt, options, {"width": "width", "height": "height", "duration": "duration_seconds",
                                            "fps": "fps", "seed": "seed"})
    if options.get("motion") is not None:
        fields["motion"] = int(Motion.parse(options["motion"]))
    return JobRequest(_request(pb.JobSpec(kind=pb.JOB_KIND_VIDEO, video=pb.VideoSpec(**fields)), options))


def job_from_dict(item: Mapping[str, Any]) -> js.CreateJobRequest:
    """A job in the batch file's form: CreateJob's JSON ({"spec": ..., "labels": ...}) or just its spec;
    ValueError when it is not one."""
    if not isinstance(item, Mapping):
        raise ValueError("is not a JSON object")
    if "spec" not in item and SPEC_KEYS & item.keys():
        item = {"spec": item}
    try:
        return json_format.ParseDict(item, js.CreateJobRequest())
    except json_format.ParseError as err:
        raise ValueError(str(err)) from None


def batch_jobs(jobs: Iterable[JobRequest | Mapping[str, Any]]) -> list[js.CreateJobRequest]:
    requests = []
    for number, job in enumerate(jobs):
        if isinstance(job, JobRequest):
            requests.append(job.raw)
            continue
        try:
            requests.append(job_from_dict(job))
        except ValueError as err:
            raise ValueError(f"jobs[{number}]: {err}") from None
    return requests


def with_request_id(request_id: str | None) -> str:
    """The caller's request id, or a new one: a submit the channel retries after UNAVAILABLE is then the
    same submit (the server answers the job it made), never a second job."""
    return request_id or str(uuid.uuid4())


def _states(value: Any) -> list[int]:
    if value is None:
        return []
    items = [value] if isinstance(value, str | int) else list(value)
    return [int(JobState.parse(s)) for s in items]


def job_filter(**options: Unpack[FilterOptions]) -> ps.JobFilter:
    unknown = options.keys() - FilterOptions.__annotations__.keys()
    if unknown:
        raise TypeError(f"unknown filter options: {', '.join(sorted(unknown))}")
    kind = options.get("kind")
    flt = ps.JobFilter(states=_states(options.get("state")), kind=int(JobKind.parse(kind)) if kind else 0,
                       batch_id=options.get("batch_id", ""), labels=dict(options.get("labels") or {}),
                       top_level=options.get("top_level", False), owner=options.get("owner", ""))
    for name in ("created_after", "created_before"):
        if (value := options.get(name)) is not None:
            _set_time(getattr(flt, name), -value if isinstance(value, dt.timedelta) else value)
    return flt


def review_request(job_id: str, approve: bool, feedback: str, round: int,
                   corrections: Mapping[str, Any]) -> js.ReviewJobRequest:
    decision = pb.REVIEW_DECISION_APPROVE if approve else pb.REVIEW_DECISION_REJECT
    fields = {k: v for k, v in corrections.items() if v is not None}
    return js.ReviewJobRequest(job_id=job_id, decision=decision, feedback=feedback, round=round,
                               corrections=pb.ReviewCorrections(**fields) if fields else None)


def stats_request(since: dt.datetime | dt.timedelta | None, until: dt.datetime | dt.timedelta | None,
                  **filter_options: Unpack[FilterOptions]) -> ps.GetStatsRequest:
    request = ps.GetStatsRequest(filter=job_filter(**filter_options))
    if since is not None:
        _set_time(request.start_time, -since if isinstance(since, dt.timedelta) else since)
    if until is not None:
        _set_time(request.end_time, -until if isinstance(until, dt.timedelta) else until)
    return request
