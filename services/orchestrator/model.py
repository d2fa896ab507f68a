"""Workflow and activity inputs and the workflow's status: plain dataclasses, so fields can be added
compatibly. Specs, assets and errors travel as proto JSON (readable in the Temporal UI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StepPolicyInput:
    """The retry policy of one step, passed in so the workflow stays deterministic across config changes."""

    initial_interval_s: float
    backoff: float
    max_interval_s: float
    schedule_to_close_s: float
    start_to_close_s: float
    heartbeat_s: float
    task_queue: str


@dataclass
class JobInput:
    job_id: str
    kind: int  # genmedia.v1.JobKind
    spec: dict[str, Any]  # genmedia.v1.JobSpec as proto JSON, defaults applied
    owner: str
    create_time: str  # RFC 3339
    labels: dict[str, str] = field(default_factory=dict)
    request_id: str = ""
    image_policy: StepPolicyInput | None = None
    video_policy: StepPolicyInput | None = None


@dataclass
class StepInput:
    """One generation step: what to make and which slice of the job's percent it covers."""

    job_id: str
    spec: dict[str, Any]  # ImageSpec for the image step, VideoSpec for the video step
    step: int  # genmedia.v1.JobStep
    percent_from: float
    percent_to: float
    image_uri: str = ""  # the video step's input


@dataclass
class EventInput:
    """One event for the progress service; `key` makes repeats of it no-ops."""

    job_id: str
    key: str
    type: int  # genmedia.v1.EventType
    state: int
    step: int
    percent: float
    message: str
    attempt: int = 1
    assets: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None


@dataclass
class JobStatus:
    """What the workflow knows of its job; answered by the `status` query."""

    job: JobInput
    state: int
    step: int
    percent: float
    message: str
    attempt: int = 1
    assets: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    start_time: str = ""
    end_time: str = ""
