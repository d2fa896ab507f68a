"""Workflow and activity inputs and the workflow's status: plain dataclasses, so fields can be added
compatibly. Specs, assets and errors travel as proto JSON (readable in the Temporal UI)."""

# No `from __future__ import annotations`: the SDK reads these types (typing.get_type_hints) for every
# payload it decodes, and string annotations would be compiled again each time.

from dataclasses import dataclass, field
from typing import Any

# The job workflow's behaviour that JobInput.version asks for; from 1, reports are coalesced. A job started
# without a version decides by workflow.patched (docs/architecture.md, "Changing a workflow safely").
JOB_VERSION = 1


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
class NotifyPolicyInput:
    """How deliveries are retried (exponential) and bounded, passed in so workflows stay deterministic."""

    initial_interval_s: float = 5.0
    backoff: float = 2.0
    max_interval_s: float = 3600.0
    give_up_s: float = 86400.0  # all attempts of one delivery together
    timeout_s: float = 10.0  # one attempt


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
    priority: int = 3  # 1 (highest) - 5; Temporal task priority of the workflow and its activities
    deadline: str = ""  # RFC 3339; past it the job FAILS with DEADLINE_EXCEEDED
    review: bool = False  # stop for human review after image generation
    review_timeout_s: float = 86400.0
    notify: dict[str, Any] | None = None  # genmedia.v1.Notify as proto JSON, unredacted
    notify_policy: NotifyPolicyInput | None = None
    # genmedia.v1.Job as proto JSON, as the store keeps it (notify unredacted): the workflow records it
    # itself if the API's CREATED record never reached the store (the API writes it while the job starts).
    record: dict[str, Any] | None = None
    version: int = 0  # JOB_VERSION when started; 0 in the histories of jobs started before versions


@dataclass
class NotifyInput:
    """One event of a job (or a batch) to tell its notify targets about (NotificationWorkflow's input)."""

    job_id: str
    owner: str  # whose webhook secret signs it
    notify: dict[str, Any]  # genmedia.v1.Notify as proto JSON, unredacted
    event: int  # genmedia.v1.EventType
    time: str  # RFC 3339: when the event happened
    job: dict[str, Any]  # genmedia.v1.Job as proto JSON at the event (notify redacted)
    key: str  # unique per job and event ("started", "review-1", "completed"...); names the workflow
    policy: NotifyPolicyInput = field(default_factory=NotifyPolicyInput)


@dataclass
class DeliveryInput:
    """One delivery to send (every attempt of it)."""

    delivery_id: str  # the webhook-id
    job_id: str
    owner: str
    channel: int  # genmedia.v1.NotifyChannel
    target: str  # a URL or an email address, unredacted
    payload: str  # the webhook body (JSON) the Slack message and the email are rendered from
    timeout_s: float = 10.0
    redelivery: int = 0  # 0 for the first sending, n for the nth redelivery


@dataclass
class DeliveryOutcome:
    """How a delivery ended, recorded with its last attempt (when it succeeded)."""

    delivery_id: str
    state: int  # genmedia.v1.DeliveryState
    key: str = ""
    attempt: dict[str, Any] | None = None  # genmedia.v1.DeliveryAttempt as proto JSON


@dataclass
class RedeliverInput:
    delivery_id: str
    key: str  # makes the redelivery happen once (the request_id, or a fresh UUID)
    policy: NotifyPolicyInput = field(default_factory=NotifyPolicyInput)


@dataclass
class StepInput:
    """One generation step: what to make and which slice of the job's percent it covers."""

    job_id: str
    spec: dict[str, Any]  # ImageSpec for the image step, VideoSpec for the video step
    step: int  # genmedia.v1.JobStep
    percent_from: float
    percent_to: float
    image_uri: str = ""  # the video step's input
    round: int = 1  # the review round the step runs in (its event keys are unique per round)
    estimate_s: float = 0.0  # the step's expected duration, before its own progress tells better
    later_s: float = 0.0  # expected duration of the steps after this one (for the ETA)


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
    review: dict[str, Any] | None = None  # genmedia.v1.Review as proto JSON, on REVIEWED
    review_round: int = 0
    eta: str = ""  # RFC 3339 estimated completion time
    spec: dict[str, Any] | None = None  # the job's new JobSpec, when review corrections changed it


@dataclass
class EventsInput:
    """Events recorded in order by one local activity (see docs/orchestration.md, "Reports")."""

    events: list[EventInput]
    record: dict[str, Any] | None = None  # JobInput.record: sent first if the store does not know the job yet
    # [image spec, video spec]: estimate the steps' seconds (returned), and set the last event's ETA to now
    # plus the sum of the estimates at `eta_steps`.
    specs: list[dict[str, Any] | None] | None = None
    eta_steps: list[int] = field(default_factory=list)


@dataclass
class ReviewInput:
    """A ReviewJob decision, checked by the API before it reaches the workflow."""

    decision: int  # genmedia.v1.ReviewDecision
    reviewer: str
    feedback: str = ""
    corrections: dict[str, Any] = field(default_factory=dict)  # genmedia.v1.ReviewCorrections, proto JSON
    round: int = 0  # the round decided; 0 = the current one


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
    pause_requested: bool = False
    review_round: int = 0
    reviews: list[dict[str, Any]] = field(default_factory=list)  # genmedia.v1.Review, proto JSON
    eta: str = ""  # RFC 3339 estimated completion time, while the job runs
    spec: dict[str, Any] | None = None  # the JobSpec after review corrections (None: job.spec)
    running_children: list[str] = field(default_factory=list)  # a batch's children running now


@dataclass
class BatchInput:
    """A batch (one attempt of it). The children's specs stay in the progress store, which the workflow
    reads a page at a time, so the input and history stay small whatever the batch's size; the fields
    below `video_policy` carry the workflow's progress across continue-as-new."""

    batch_id: str
    owner: str
    create_time: str  # RFC 3339
    strategy: int  # genmedia.v1.BatchStrategy
    max_concurrent: int
    fail_fast: bool = False
    attempt: int = 1
    labels: dict[str, str] = field(default_factory=dict)
    request_id: str = ""
    priority: int = 3
    image_policy: StepPolicyInput | None = None
    video_policy: StepPolicyInput | None = None
    page_size: int = 100  # children read from the store at a time
    run_limit: int = 200  # children started by one run before it continues as new (a multiple of page_size)
    cursor: str = ""  # where the next page of PENDING children starts (a ListJobs page token)
    loaded_all: bool = False
    started: int = 0  # children started in earlier runs of this attempt
    ended: dict[str, int] = field(default_factory=dict)  # children of this attempt by outcome
    paused: bool = False
    pauses: int = 0  # pauses so far (their events' keys are unique per pause)
    stopping: str = ""  # FAIL_FAST once a child failed under fail_fast
    notify: dict[str, Any] | None = None  # genmedia.v1.Notify as proto JSON, unredacted
    notify_policy: NotifyPolicyInput | None = None


@dataclass
class ChildPage:
    """One page of a batch's PENDING children, oldest (= first in the batch) first."""

    children: list[dict[str, Any]]  # genmedia.v1.Job as proto JSON
    next_cursor: str = ""


@dataclass
class ChildPageInput:
    batch_id: str
    cursor: str = ""
    size: int = 100
