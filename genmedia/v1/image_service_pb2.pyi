from genmedia.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GenerateImagesRequest(_message.Message):
    __slots__ = ("job_id", "spec", "revision", "attempt")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    spec: _common_pb2.ImageSpec
    revision: int
    attempt: int
    def __init__(self, job_id: _Optional[str] = ..., spec: _Optional[_Union[_common_pb2.ImageSpec, _Mapping]] = ..., revision: _Optional[int] = ..., attempt: _Optional[int] = ...) -> None: ...

class GenerationProgress(_message.Message):
    __slots__ = ("percent", "message", "item_index", "queue_position", "provider", "model", "provider_request_id")
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ITEM_INDEX_FIELD_NUMBER: _ClassVar[int]
    QUEUE_POSITION_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    percent: float
    message: str
    item_index: int
    queue_position: int
    provider: str
    model: str
    provider_request_id: str
    def __init__(self, percent: _Optional[float] = ..., message: _Optional[str] = ..., item_index: _Optional[int] = ..., queue_position: _Optional[int] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., provider_request_id: _Optional[str] = ...) -> None: ...

class GenerateImagesResponse(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: GenerationProgress
    result: ImageResult
    def __init__(self, progress: _Optional[_Union[GenerationProgress, _Mapping]] = ..., result: _Optional[_Union[ImageResult, _Mapping]] = ...) -> None: ...

class ImageResult(_message.Message):
    __slots__ = ("assets",)
    ASSETS_FIELD_NUMBER: _ClassVar[int]
    assets: _containers.RepeatedCompositeFieldContainer[_common_pb2.Asset]
    def __init__(self, assets: _Optional[_Iterable[_Union[_common_pb2.Asset, _Mapping]]] = ...) -> None: ...

class DescribeBackendsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BackendInfo(_message.Message):
    __slots__ = ("name", "model", "max_concurrency", "placeholder")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    PLACEHOLDER_FIELD_NUMBER: _ClassVar[int]
    name: str
    model: str
    max_concurrency: int
    placeholder: bool
    def __init__(self, name: _Optional[str] = ..., model: _Optional[str] = ..., max_concurrency: _Optional[int] = ..., placeholder: _Optional[bool] = ...) -> None: ...

class DescribeBackendsResponse(_message.Message):
    __slots__ = ("backends", "default_chain", "capacity")
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CHAIN_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    backends: _containers.RepeatedCompositeFieldContainer[BackendInfo]
    default_chain: _containers.RepeatedScalarFieldContainer[str]
    capacity: int
    def __init__(self, backends: _Optional[_Iterable[_Union[BackendInfo, _Mapping]]] = ..., default_chain: _Optional[_Iterable[str]] = ..., capacity: _Optional[int] = ...) -> None: ...
