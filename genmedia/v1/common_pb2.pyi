import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_KIND_UNSPECIFIED: _ClassVar[JobKind]
    JOB_KIND_IMAGE: _ClassVar[JobKind]
    JOB_KIND_VIDEO: _ClassVar[JobKind]
    JOB_KIND_BATCH: _ClassVar[JobKind]
    JOB_KIND_NULL: _ClassVar[JobKind]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_PENDING: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_RETRYING: _ClassVar[JobState]
    JOB_STATE_AWAITING_REVIEW: _ClassVar[JobState]
    JOB_STATE_PAUSED: _ClassVar[JobState]
    JOB_STATE_COMPLETED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]

class JobStep(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STEP_UNSPECIFIED: _ClassVar[JobStep]
    JOB_STEP_VALIDATING: _ClassVar[JobStep]
    JOB_STEP_IMAGE_GENERATION: _ClassVar[JobStep]
    JOB_STEP_REVIEW: _ClassVar[JobStep]
    JOB_STEP_VIDEO_GENERATION: _ClassVar[JobStep]
    JOB_STEP_FINALIZING: _ClassVar[JobStep]

class Motion(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MOTION_UNSPECIFIED: _ClassVar[Motion]
    MOTION_ZOOM_IN: _ClassVar[Motion]
    MOTION_ZOOM_OUT: _ClassVar[Motion]
    MOTION_PAN_LEFT: _ClassVar[Motion]
    MOTION_PAN_RIGHT: _ClassVar[Motion]

class BatchStrategy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BATCH_STRATEGY_UNSPECIFIED: _ClassVar[BatchStrategy]
    BATCH_STRATEGY_PARALLEL: _ClassVar[BatchStrategy]
    BATCH_STRATEGY_SEQUENTIAL: _ClassVar[BatchStrategy]

class NotifyChannel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NOTIFY_CHANNEL_UNSPECIFIED: _ClassVar[NotifyChannel]
    NOTIFY_CHANNEL_WEBHOOK: _ClassVar[NotifyChannel]
    NOTIFY_CHANNEL_SLACK: _ClassVar[NotifyChannel]
    NOTIFY_CHANNEL_EMAIL: _ClassVar[NotifyChannel]

class DeliveryState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DELIVERY_STATE_UNSPECIFIED: _ClassVar[DeliveryState]
    DELIVERY_STATE_PENDING: _ClassVar[DeliveryState]
    DELIVERY_STATE_DELIVERED: _ClassVar[DeliveryState]
    DELIVERY_STATE_FAILED: _ClassVar[DeliveryState]

class ReviewDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_DECISION_UNSPECIFIED: _ClassVar[ReviewDecision]
    REVIEW_DECISION_APPROVE: _ClassVar[ReviewDecision]
    REVIEW_DECISION_REJECT: _ClassVar[ReviewDecision]

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_CREATED: _ClassVar[EventType]
    EVENT_TYPE_STARTED: _ClassVar[EventType]
    EVENT_TYPE_STEP_STARTED: _ClassVar[EventType]
    EVENT_TYPE_PROGRESS: _ClassVar[EventType]
    EVENT_TYPE_STEP_FINISHED: _ClassVar[EventType]
    EVENT_TYPE_RETRYING: _ClassVar[EventType]
    EVENT_TYPE_AWAITING_REVIEW: _ClassVar[EventType]
    EVENT_TYPE_REVIEWED: _ClassVar[EventType]
    EVENT_TYPE_PAUSED: _ClassVar[EventType]
    EVENT_TYPE_RESUMED: _ClassVar[EventType]
    EVENT_TYPE_COMPLETED: _ClassVar[EventType]
    EVENT_TYPE_FAILED: _ClassVar[EventType]
    EVENT_TYPE_CANCELLED: _ClassVar[EventType]
    EVENT_TYPE_RETRIED: _ClassVar[EventType]
JOB_KIND_UNSPECIFIED: JobKind
JOB_KIND_IMAGE: JobKind
JOB_KIND_VIDEO: JobKind
JOB_KIND_BATCH: JobKind
JOB_KIND_NULL: JobKind
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_PENDING: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_RETRYING: JobState
JOB_STATE_AWAITING_REVIEW: JobState
JOB_STATE_PAUSED: JobState
JOB_STATE_COMPLETED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
JOB_STEP_UNSPECIFIED: JobStep
JOB_STEP_VALIDATING: JobStep
JOB_STEP_IMAGE_GENERATION: JobStep
JOB_STEP_REVIEW: JobStep
JOB_STEP_VIDEO_GENERATION: JobStep
JOB_STEP_FINALIZING: JobStep
MOTION_UNSPECIFIED: Motion
MOTION_ZOOM_IN: Motion
MOTION_ZOOM_OUT: Motion
MOTION_PAN_LEFT: Motion
MOTION_PAN_RIGHT: Motion
BATCH_STRATEGY_UNSPECIFIED: BatchStrategy
BATCH_STRATEGY_PARALLEL: BatchStrategy
BATCH_STRATEGY_SEQUENTIAL: BatchStrategy
NOTIFY_CHANNEL_UNSPECIFIED: NotifyChannel
NOTIFY_CHANNEL_WEBHOOK: NotifyChannel
NOTIFY_CHANNEL_SLACK: NotifyChannel
NOTIFY_CHANNEL_EMAIL: NotifyChannel
DELIVERY_STATE_UNSPECIFIED: DeliveryState
DELIVERY_STATE_PENDING: DeliveryState
DELIVERY_STATE_DELIVERED: DeliveryState
DELIVERY_STATE_FAILED: DeliveryState
REVIEW_DECISION_UNSPECIFIED: ReviewDecision
REVIEW_DECISION_APPROVE: ReviewDecision
REVIEW_DECISION_REJECT: ReviewDecision
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_CREATED: EventType
EVENT_TYPE_STARTED: EventType
EVENT_TYPE_STEP_STARTED: EventType
EVENT_TYPE_PROGRESS: EventType
EVENT_TYPE_STEP_FINISHED: EventType
EVENT_TYPE_RETRYING: EventType
EVENT_TYPE_AWAITING_REVIEW: EventType
EVENT_TYPE_REVIEWED: EventType
EVENT_TYPE_PAUSED: EventType
EVENT_TYPE_RESUMED: EventType
EVENT_TYPE_COMPLETED: EventType
EVENT_TYPE_FAILED: EventType
EVENT_TYPE_CANCELLED: EventType
EVENT_TYPE_RETRIED: EventType

class ImageSpec(_message.Message):
    __slots__ = ("prompt", "negative_prompt", "width", "height", "num_images", "seed", "style", "backend")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    NUM_IMAGES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    negative_prompt: str
    width: int
    height: int
    num_images: int
    seed: int
    style: str
    backend: str
    def __init__(self, prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., num_images: _Optional[int] = ..., seed: _Optional[int] = ..., style: _Optional[str] = ..., backend: _Optional[str] = ...) -> None: ...

class VideoSpec(_message.Message):
    __slots__ = ("prompt", "negative_prompt", "width", "height", "duration_seconds", "fps", "seed", "style", "motion", "backend")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    MOTION_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    negative_prompt: str
    width: int
    height: int
    duration_seconds: float
    fps: int
    seed: int
    style: str
    motion: Motion
    backend: str
    def __init__(self, prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., duration_seconds: _Optional[float] = ..., fps: _Optional[int] = ..., seed: _Optional[int] = ..., style: _Optional[str] = ..., motion: _Optional[_Union[Motion, str]] = ..., backend: _Optional[str] = ...) -> None: ...

class NullSpec(_message.Message):
    __slots__ = ("duration", "fail_with")
    DURATION_FIELD_NUMBER: _ClassVar[int]
    FAIL_WITH_FIELD_NUMBER: _ClassVar[int]
    duration: _duration_pb2.Duration
    fail_with: str
    def __init__(self, duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., fail_with: _Optional[str] = ...) -> None: ...

class JobSpec(_message.Message):
    __slots__ = ("kind", "image", "video", "null")
    KIND_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    NULL_FIELD_NUMBER: _ClassVar[int]
    kind: JobKind
    image: ImageSpec
    video: VideoSpec
    null: NullSpec
    def __init__(self, kind: _Optional[_Union[JobKind, str]] = ..., image: _Optional[_Union[ImageSpec, _Mapping]] = ..., video: _Optional[_Union[VideoSpec, _Mapping]] = ..., null: _Optional[_Union[NullSpec, _Mapping]] = ...) -> None: ...

class BatchSummary(_message.Message):
    __slots__ = ("strategy", "max_concurrent", "fail_fast", "attempt", "total", "pending", "running", "retrying", "awaiting_review", "paused", "completed", "failed", "cancelled", "digest")
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    FAIL_FAST_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    RETRYING_FIELD_NUMBER: _ClassVar[int]
    AWAITING_REVIEW_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    strategy: BatchStrategy
    max_concurrent: int
    fail_fast: bool
    attempt: int
    total: int
    pending: int
    running: int
    retrying: int
    awaiting_review: int
    paused: int
    completed: int
    failed: int
    cancelled: int
    digest: str
    def __init__(self, strategy: _Optional[_Union[BatchStrategy, str]] = ..., max_concurrent: _Optional[int] = ..., fail_fast: _Optional[bool] = ..., attempt: _Optional[int] = ..., total: _Optional[int] = ..., pending: _Optional[int] = ..., running: _Optional[int] = ..., retrying: _Optional[int] = ..., awaiting_review: _Optional[int] = ..., paused: _Optional[int] = ..., completed: _Optional[int] = ..., failed: _Optional[int] = ..., cancelled: _Optional[int] = ..., digest: _Optional[str] = ...) -> None: ...

class Asset(_message.Message):
    __slots__ = ("uri", "mime_type", "size_bytes", "sha256", "width", "height", "duration_seconds", "frame_count", "fps", "provider", "model", "provider_request_id", "provider_seconds", "provider_tokens", "provider_latency_seconds")
    URI_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_LATENCY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    uri: str
    mime_type: str
    size_bytes: int
    sha256: str
    width: int
    height: int
    duration_seconds: float
    frame_count: int
    fps: float
    provider: str
    model: str
    provider_request_id: str
    provider_seconds: float
    provider_tokens: int
    provider_latency_seconds: float
    def __init__(self, uri: _Optional[str] = ..., mime_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., duration_seconds: _Optional[float] = ..., frame_count: _Optional[int] = ..., fps: _Optional[float] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., provider_request_id: _Optional[str] = ..., provider_seconds: _Optional[float] = ..., provider_tokens: _Optional[int] = ..., provider_latency_seconds: _Optional[float] = ...) -> None: ...

class JobError(_message.Message):
    __slots__ = ("code", "message", "retryable", "provider", "provider_request_id")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    retryable: bool
    provider: str
    provider_request_id: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., retryable: _Optional[bool] = ..., provider: _Optional[str] = ..., provider_request_id: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "kind", "state", "step", "percent", "message", "assets", "error", "attempt", "owner", "spec", "labels", "request_id", "create_time", "start_time", "update_time", "end_time", "estimated_completion_time", "last_sequence", "priority", "deadline", "review", "review_timeout", "review_round", "reviews", "batch_id", "batch", "batch_index", "batch_attempt", "notify")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ASSETS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_COMPLETION_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    REVIEW_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    REVIEW_ROUND_FIELD_NUMBER: _ClassVar[int]
    REVIEWS_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    BATCH_INDEX_FIELD_NUMBER: _ClassVar[int]
    BATCH_ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    NOTIFY_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: JobKind
    state: JobState
    step: JobStep
    percent: float
    message: str
    assets: _containers.RepeatedCompositeFieldContainer[Asset]
    error: JobError
    attempt: int
    owner: str
    spec: JobSpec
    labels: _containers.ScalarMap[str, str]
    request_id: str
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    estimated_completion_time: _timestamp_pb2.Timestamp
    last_sequence: int
    priority: int
    deadline: _timestamp_pb2.Timestamp
    review: bool
    review_timeout: _duration_pb2.Duration
    review_round: int
    reviews: _containers.RepeatedCompositeFieldContainer[Review]
    batch_id: str
    batch: BatchSummary
    batch_index: int
    batch_attempt: int
    notify: Notify
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[JobKind, str]] = ..., state: _Optional[_Union[JobState, str]] = ..., step: _Optional[_Union[JobStep, str]] = ..., percent: _Optional[float] = ..., message: _Optional[str] = ..., assets: _Optional[_Iterable[_Union[Asset, _Mapping]]] = ..., error: _Optional[_Union[JobError, _Mapping]] = ..., attempt: _Optional[int] = ..., owner: _Optional[str] = ..., spec: _Optional[_Union[JobSpec, _Mapping]] = ..., labels: _Optional[_Mapping[str, str]] = ..., request_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., estimated_completion_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_sequence: _Optional[int] = ..., priority: _Optional[int] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., review: _Optional[bool] = ..., review_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., review_round: _Optional[int] = ..., reviews: _Optional[_Iterable[_Union[Review, _Mapping]]] = ..., batch_id: _Optional[str] = ..., batch: _Optional[_Union[BatchSummary, _Mapping]] = ..., batch_index: _Optional[int] = ..., batch_attempt: _Optional[int] = ..., notify: _Optional[_Union[Notify, _Mapping]] = ...) -> None: ...

class Notify(_message.Message):
    __slots__ = ("webhook_url", "events", "slack_url", "emails", "fingerprint")
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    SLACK_URL_FIELD_NUMBER: _ClassVar[int]
    EMAILS_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    webhook_url: str
    events: _containers.RepeatedScalarFieldContainer[EventType]
    slack_url: str
    emails: _containers.RepeatedScalarFieldContainer[str]
    fingerprint: str
    def __init__(self, webhook_url: _Optional[str] = ..., events: _Optional[_Iterable[_Union[EventType, str]]] = ..., slack_url: _Optional[str] = ..., emails: _Optional[_Iterable[str]] = ..., fingerprint: _Optional[str] = ...) -> None: ...

class DeliveryAttempt(_message.Message):
    __slots__ = ("attempt", "time", "status_code", "latency", "error", "succeeded", "redelivery")
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    REDELIVERY_FIELD_NUMBER: _ClassVar[int]
    attempt: int
    time: _timestamp_pb2.Timestamp
    status_code: int
    latency: _duration_pb2.Duration
    error: str
    succeeded: bool
    redelivery: int
    def __init__(self, attempt: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status_code: _Optional[int] = ..., latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., error: _Optional[str] = ..., succeeded: _Optional[bool] = ..., redelivery: _Optional[int] = ...) -> None: ...

class Delivery(_message.Message):
    __slots__ = ("id", "job_id", "owner", "channel", "target", "event", "state", "create_time", "update_time", "attempts", "redeliveries")
    ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    REDELIVERIES_FIELD_NUMBER: _ClassVar[int]
    id: str
    job_id: str
    owner: str
    channel: NotifyChannel
    target: str
    event: EventType
    state: DeliveryState
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    attempts: _containers.RepeatedCompositeFieldContainer[DeliveryAttempt]
    redeliveries: int
    def __init__(self, id: _Optional[str] = ..., job_id: _Optional[str] = ..., owner: _Optional[str] = ..., channel: _Optional[_Union[NotifyChannel, str]] = ..., target: _Optional[str] = ..., event: _Optional[_Union[EventType, str]] = ..., state: _Optional[_Union[DeliveryState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempts: _Optional[_Iterable[_Union[DeliveryAttempt, _Mapping]]] = ..., redeliveries: _Optional[int] = ...) -> None: ...

class ReviewCorrections(_message.Message):
    __slots__ = ("prompt", "negative_prompt", "seed", "style", "width", "height")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    negative_prompt: str
    seed: int
    style: str
    width: int
    height: int
    def __init__(self, prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., seed: _Optional[int] = ..., style: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class Review(_message.Message):
    __slots__ = ("round", "decision", "reviewer", "time", "feedback", "corrections")
    ROUND_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    CORRECTIONS_FIELD_NUMBER: _ClassVar[int]
    round: int
    decision: ReviewDecision
    reviewer: str
    time: _timestamp_pb2.Timestamp
    feedback: str
    corrections: ReviewCorrections
    def __init__(self, round: _Optional[int] = ..., decision: _Optional[_Union[ReviewDecision, str]] = ..., reviewer: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., feedback: _Optional[str] = ..., corrections: _Optional[_Union[ReviewCorrections, _Mapping]] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("job_id", "sequence", "type", "time", "state", "step", "percent", "message", "assets", "error", "attempt", "review", "review_round", "estimated_completion_time", "spec", "batch")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ASSETS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    REVIEW_ROUND_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_COMPLETION_TIME_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    sequence: int
    type: EventType
    time: _timestamp_pb2.Timestamp
    state: JobState
    step: JobStep
    percent: float
    message: str
    assets: _containers.RepeatedCompositeFieldContainer[Asset]
    error: JobError
    attempt: int
    review: Review
    review_round: int
    estimated_completion_time: _timestamp_pb2.Timestamp
    spec: JobSpec
    batch: BatchSummary
    def __init__(self, job_id: _Optional[str] = ..., sequence: _Optional[int] = ..., type: _Optional[_Union[EventType, str]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[JobState, str]] = ..., step: _Optional[_Union[JobStep, str]] = ..., percent: _Optional[float] = ..., message: _Optional[str] = ..., assets: _Optional[_Iterable[_Union[Asset, _Mapping]]] = ..., error: _Optional[_Union[JobError, _Mapping]] = ..., attempt: _Optional[int] = ..., review: _Optional[_Union[Review, _Mapping]] = ..., review_round: _Optional[int] = ..., estimated_completion_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., spec: _Optional[_Union[JobSpec, _Mapping]] = ..., batch: _Optional[_Union[BatchSummary, _Mapping]] = ...) -> None: ...
