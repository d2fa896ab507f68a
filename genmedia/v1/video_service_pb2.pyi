from genmedia.v1 import common_pb2 as _common_pb2
from genmedia.v1 import image_service_pb2 as _image_service_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RenderVideoRequest(_message.Message):
    __slots__ = ("job_id", "image_uri", "width", "height", "duration_seconds", "fps", "motion", "prompt", "negative_prompt", "seed", "style", "backend", "attempt")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URI_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    MOTION_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    image_uri: str
    width: int
    height: int
    duration_seconds: float
    fps: int
    motion: _common_pb2.Motion
    prompt: str
    negative_prompt: str
    seed: int
    style: str
    backend: str
    attempt: int
    def __init__(self, job_id: _Optional[str] = ..., image_uri: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., duration_seconds: _Optional[float] = ..., fps: _Optional[int] = ..., motion: _Optional[_Union[_common_pb2.Motion, str]] = ..., prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., seed: _Optional[int] = ..., style: _Optional[str] = ..., backend: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class RenderVideoResponse(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _image_service_pb2.GenerationProgress
    result: VideoResult
    def __init__(self, progress: _Optional[_Union[_image_service_pb2.GenerationProgress, _Mapping]] = ..., result: _Optional[_Union[VideoResult, _Mapping]] = ...) -> None: ...

class VideoResult(_message.Message):
    __slots__ = ("asset",)
    ASSET_FIELD_NUMBER: _ClassVar[int]
    asset: _common_pb2.Asset
    def __init__(self, asset: _Optional[_Union[_common_pb2.Asset, _Mapping]] = ...) -> None: ...
