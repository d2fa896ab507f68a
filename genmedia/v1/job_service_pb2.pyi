import datetime

from genmedia.v1 import common_pb2 as _common_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateJobRequest(_message.Message):
    __slots__ = ("spec", "request_id", "labels", "review", "review_timeout", "deadline", "priority", "notify")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SPEC_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    REVIEW_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    NOTIFY_FIELD_NUMBER: _ClassVar[int]
    spec: _common_pb2.JobSpec
    request_id: str
    labels: _containers.ScalarMap[str, str]
    review: bool
    review_timeout: _duration_pb2.Duration
    deadline: _timestamp_pb2.Timestamp
    priority: int
    notify: _common_pb2.Notify
    def __init__(self, spec: _Optional[_Union[_common_pb2.JobSpec, _Mapping]] = ..., request_id: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., review: _Optional[bool] = ..., review_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., priority: _Optional[int] = ..., notify: _Optional[_Union[_common_pb2.Notify, _Mapping]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id", "reason")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    reason: str
    def __init__(self, job_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PauseJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ResumeJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ReviewJobRequest(_message.Message):
    __slots__ = ("job_id", "decision", "feedback", "corrections", "round")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    CORRECTIONS_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    decision: _common_pb2.ReviewDecision
    feedback: str
    corrections: _common_pb2.ReviewCorrections
    round: int
    def __init__(self, job_id: _Optional[str] = ..., decision: _Optional[_Union[_common_pb2.ReviewDecision, str]] = ..., feedback: _Optional[str] = ..., corrections: _Optional[_Union[_common_pb2.ReviewCorrections, _Mapping]] = ..., round: _Optional[int] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job", "source")
    class Source(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        SOURCE_UNSPECIFIED: _ClassVar[GetJobResponse.Source]
        SOURCE_WORKFLOW: _ClassVar[GetJobResponse.Source]
        SOURCE_STORE: _ClassVar[GetJobResponse.Source]
    SOURCE_UNSPECIFIED: GetJobResponse.Source
    SOURCE_WORKFLOW: GetJobResponse.Source
    SOURCE_STORE: GetJobResponse.Source
    JOB_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    job: _common_pb2.Job
    source: GetJobResponse.Source
    def __init__(self, job: _Optional[_Union[_common_pb2.Job, _Mapping]] = ..., source: _Optional[_Union[GetJobResponse.Source, str]] = ...) -> None: ...

class CreateBatchRequest(_message.Message):
    __slots__ = ("jobs", "strategy", "max_concurrent", "fail_fast", "request_id", "labels", "priority", "notify")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JOBS_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    FAIL_FAST_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    NOTIFY_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[CreateJobRequest]
    strategy: _common_pb2.BatchStrategy
    max_concurrent: int
    fail_fast: bool
    request_id: str
    labels: _containers.ScalarMap[str, str]
    priority: int
    notify: _common_pb2.Notify
    def __init__(self, jobs: _Optional[_Iterable[_Union[CreateJobRequest, _Mapping]]] = ..., strategy: _Optional[_Union[_common_pb2.BatchStrategy, str]] = ..., max_concurrent: _Optional[int] = ..., fail_fast: _Optional[bool] = ..., request_id: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., priority: _Optional[int] = ..., notify: _Optional[_Union[_common_pb2.Notify, _Mapping]] = ...) -> None: ...

class RetryBatchRequest(_message.Message):
    __slots__ = ("batch_id", "attempt")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    attempt: int
    def __init__(self, batch_id: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class RedeliverNotificationRequest(_message.Message):
    __slots__ = ("delivery_id", "request_id")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    request_id: str
    def __init__(self, delivery_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetWebhookSecretRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetWebhookSecretResponse(_message.Message):
    __slots__ = ("secret", "owner")
    SECRET_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    secret: str
    owner: str
    def __init__(self, secret: _Optional[str] = ..., owner: _Optional[str] = ...) -> None: ...

class DownloadAssetRequest(_message.Message):
    __slots__ = ("job_id", "asset_index", "offset")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ASSET_INDEX_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    asset_index: int
    offset: int
    def __init__(self, job_id: _Optional[str] = ..., asset_index: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class DownloadAssetResponse(_message.Message):
    __slots__ = ("asset", "chunk")
    ASSET_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    asset: _common_pb2.Asset
    chunk: AssetChunk
    def __init__(self, asset: _Optional[_Union[_common_pb2.Asset, _Mapping]] = ..., chunk: _Optional[_Union[AssetChunk, _Mapping]] = ...) -> None: ...

class AssetChunk(_message.Message):
    __slots__ = ("offset", "data")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    offset: int
    data: bytes
    def __init__(self, offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class CreateAssetLinkRequest(_message.Message):
    __slots__ = ("job_id", "asset_index", "expires_in")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ASSET_INDEX_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    asset_index: int
    expires_in: _duration_pb2.Duration
    def __init__(self, job_id: _Optional[str] = ..., asset_index: _Optional[int] = ..., expires_in: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class CreateAssetLinkResponse(_message.Message):
    __slots__ = ("url", "expire_time", "asset")
    URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    ASSET_FIELD_NUMBER: _ClassVar[int]
    url: str
    expire_time: _timestamp_pb2.Timestamp
    asset: _common_pb2.Asset
    def __init__(self, url: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., asset: _Optional[_Union[_common_pb2.Asset, _Mapping]] = ...) -> None: ...
