"""Validation and defaults of job specs, shared by the orchestrator and the image/video services."""

from __future__ import annotations

import hashlib
import math
import re

from genmedia.domain.errors import check
from genmedia.v1 import common_pb2 as pb

MAX_PROMPT = 2000
MAX_STYLE = 100
IMAGE_SIZE = (64, 2048)
VIDEO_SIZE = (64, 1920)
NUM_IMAGES = (1, 4)
DURATION = (1.0, 30.0)
FPS = (12, 60)
IMAGE_DEFAULTS = {"width": 512, "height": 512, "num_images": 1}
VIDEO_DEFAULTS = {"width": 640, "height": 360, "duration_seconds": 4.0, "fps": 24}
NULL_DURATION_MAX = 3600  # seconds
ERROR_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")

Violations = list[tuple[str, str]]


def _text(violations: Violations, field: str, value: str, limit: int, required: bool) -> None:
    if required and not value.strip():
        violations.append((field, "must not be empty"))
    elif len(value) > limit:
        violations.append((field, f"must be at most {limit} characters, got {len(value)}"))


def _range(violations: Violations, field: str, value: float, lo: float, hi: float) -> None:
    if not (lo <= value <= hi) or (isinstance(value, float) and math.isnan(value)):
        violations.append((field, f"must be between {lo:g} and {hi:g}, got {value:g}"))


BACKEND = re.compile(r"^[a-z0-9_-]+(,[a-z0-9_-]+)*$")


def _backend(violations: Violations, field: str, value: str) -> None:
    if value and (len(value) > 100 or not BACKEND.match(value)):
        violations.append((field, "must be a backend name or a comma list of them (a-z, 0-9, '-', '_'), "
                                  "at most 100 characters"))


def _described(spec: pb.ImageSpec | pb.VideoSpec, prefix: str) -> Violations:
    """The fields image and video specs share: the backend, the prompts and the style."""
    v: Violations = []
    _backend(v, f"{prefix}.backend", spec.backend)
    _text(v, f"{prefix}.prompt", spec.prompt, MAX_PROMPT, True)
    _text(v, f"{prefix}.negative_prompt", spec.negative_prompt, MAX_PROMPT, False)
    _text(v, f"{prefix}.style", spec.style, MAX_STYLE, False)
    return v


def image_violations(spec: pb.ImageSpec, prefix: str) -> Violations:
    v = _described(spec, prefix)
    for name in ("width", "height"):
        if spec.HasField(name):
            _range(v, f"{prefix}.{name}", getattr(spec, name), *IMAGE_SIZE)
    if spec.HasField("num_images"):
        _range(v, f"{prefix}.num_images", spec.num_images, *NUM_IMAGES)
    return v


def video_violations(spec: pb.VideoSpec, prefix: str) -> Violations:
    v = _described(spec, prefix)
    for name in ("width", "height"):
        if spec.HasField(name):
            value = getattr(spec, name)
            _range(v, f"{prefix}.{name}", value, *VIDEO_SIZE)
            if value % 2:
                v.append((f"{prefix}.{name}", f"must be even (H.264 with yuv420p), got {value}"))
    if spec.HasField("duration_seconds"):
        _range(v, f"{prefix}.duration_seconds", spec.duration_seconds, *DURATION)
    if spec.HasField("fps"):
        _range(v, f"{prefix}.fps", spec.fps, *FPS)
    if spec.motion not in pb.Motion.values():
        v.append((f"{prefix}.motion", f"unknown motion {spec.motion}"))
    return v


def null_violations(spec: pb.NullSpec, prefix: str) -> Violations:
    v: Violations = []
    d = spec.duration
    if d.seconds < 0 or d.nanos < 0 or d.nanos >= 1_000_000_000 or d.seconds + d.nanos / 1e9 > NULL_DURATION_MAX:
        v.append((f"{prefix}.duration", f"must be between 0 and {NULL_DURATION_MAX // 60} minutes"))
    if spec.fail_with and not ERROR_CODE.match(spec.fail_with):
        v.append((f"{prefix}.fail_with", "must be empty or an UPPER_SNAKE code of 1-64 characters (A-Z, 0-9, _)"))
    return v


def derived_seed(prompt: str) -> int:
    """The seed used when none is given: stable for the same prompt."""
    return int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:6], "big")


def normalized_image(spec: pb.ImageSpec, prefix: str = "spec") -> pb.ImageSpec:
    """A copy with every default filled in; raises InvalidArgument naming each bad field."""
    check(image_violations(spec, prefix))
    return _image_defaults(spec)


def _with_defaults(spec, defaults: dict):
    """A copy of an image or video spec with every unset field at its default, the seed derived from the prompt."""
    out = type(spec)()
    out.CopyFrom(spec)
    for name, default in defaults.items():
        if not out.HasField(name):
            setattr(out, name, default)
    if not out.HasField("seed"):
        out.seed = derived_seed(out.prompt)
    return out


def _image_defaults(spec: pb.ImageSpec) -> pb.ImageSpec:
    return _with_defaults(spec, IMAGE_DEFAULTS)


def normalized_video(spec: pb.VideoSpec, prefix: str = "spec") -> pb.VideoSpec:
    check(video_violations(spec, prefix))
    return _video_defaults(spec)


def _video_defaults(spec: pb.VideoSpec) -> pb.VideoSpec:
    out = _with_defaults(spec, VIDEO_DEFAULTS)
    if out.motion == pb.MOTION_UNSPECIFIED:
        out.motion = pb.MOTION_ZOOM_IN
    return out


def job_spec_violations(spec: pb.JobSpec | None, field: str = "spec") -> tuple[pb.JobSpec | None, Violations]:
    """The spec with its defaults filled in (None when it is bad), and what is wrong with it: the kind
    against the parameters that are set, then the parameters' own fields."""
    required = f"is required: set {field}.image, {field}.video or {field}.null"
    if spec is None:
        return None, [(field, required)]
    which = spec.WhichOneof("params")
    expected = {"image": pb.JOB_KIND_IMAGE, "video": pb.JOB_KIND_VIDEO, "null": pb.JOB_KIND_NULL}
    if spec.kind not in pb.JobKind.values():
        return None, [(f"{field}.kind", f"unknown kind {spec.kind}; use JOB_KIND_IMAGE, JOB_KIND_VIDEO or "
                                        "JOB_KIND_NULL")]
    if which is None:
        return None, [(field, required)]
    if spec.kind not in (pb.JOB_KIND_UNSPECIFIED, expected[which]):
        return None, [(f"{field}.kind", f"{pb.JobKind.Name(spec.kind)} does not match {field}.{which}")]
    if which == "image":
        v = image_violations(spec.image, f"{field}.image")
        return (None, v) if v else (pb.JobSpec(kind=pb.JOB_KIND_IMAGE, image=_image_defaults(spec.image)), [])
    if which == "null":
        v = null_violations(spec.null, f"{field}.null")
        return (None, v) if v else (pb.JobSpec(kind=pb.JOB_KIND_NULL, null=spec.null), [])
    v = video_violations(spec.video, f"{field}.video")
    return (None, v) if v else (pb.JobSpec(kind=pb.JOB_KIND_VIDEO, video=_video_defaults(spec.video)), [])


def normalized_job_spec(spec: pb.JobSpec | None, field: str = "spec") -> pb.JobSpec:
    """Checks the kind against the spec that is set and fills in defaults; raises InvalidArgument."""
    normalized, violations = job_spec_violations(spec, field)
    check(violations)
    return normalized


def correction_violations(corrections: pb.ReviewCorrections, kind: int, prefix: str = "corrections") -> Violations:
    """Review corrections are checked by the rules of the spec they change (an image or a video spec)."""
    v: Violations = []
    c = corrections
    if c.HasField("prompt"):
        _text(v, f"{prefix}.prompt", c.prompt, MAX_PROMPT, True)
    if c.HasField("negative_prompt"):
        _text(v, f"{prefix}.negative_prompt", c.negative_prompt, MAX_PROMPT, False)
    if c.HasField("style"):
        _text(v, f"{prefix}.style", c.style, MAX_STYLE, False)
    size = VIDEO_SIZE if kind == pb.JOB_KIND_VIDEO else IMAGE_SIZE
    for name in ("width", "height"):
        if c.HasField(name):
            value = getattr(c, name)
            _range(v, f"{prefix}.{name}", value, *size)
            if kind == pb.JOB_KIND_VIDEO and value % 2:
                v.append((f"{prefix}.{name}", f"must be even (H.264 with yuv420p), got {value}"))
    return v


def child_id(batch_id: str, index: int, attempt: int = 1) -> str:
    """The job id of a batch's child: `<batch>_<index>`, and `<batch>_<index>_<attempt>` for RetryBatch's
    (letters, digits, '-' and '_' only: the services name asset folders after job ids)."""
    return f"{batch_id}_{index}" if attempt <= 1 else f"{batch_id}_{index}_{attempt}"
