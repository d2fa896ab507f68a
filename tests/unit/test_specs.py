"""Spec validation names every bad field and fills defaults for unset optional fields."""

from __future__ import annotations

import grpc
import pytest

from genmedia.domain.errors import InvalidArgument
from genmedia.domain.specs import derived_seed, normalized_job_spec
from genmedia.v1 import common_pb2 as pb


def violations(spec: pb.JobSpec | None) -> list[str]:
    with pytest.raises(InvalidArgument) as info:
        normalized_job_spec(spec)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    return [field for field, _ in info.value.violations]


def test_defaults_fill_unset_fields_and_kind_follows_the_spec() -> None:
    spec = normalized_job_spec(pb.JobSpec(video=pb.VideoSpec(prompt="a fox")))
    assert spec.kind == pb.JOB_KIND_VIDEO
    v = spec.video
    assert (v.width, v.height, v.duration_seconds, v.fps, v.motion) == (640, 360, 4.0, 24, pb.MOTION_ZOOM_IN)
    assert v.seed == derived_seed("a fox")
    image = normalized_job_spec(pb.JobSpec(image=pb.ImageSpec(prompt="a fox", seed=0))).image
    assert (image.width, image.height, image.num_images, image.seed) == (512, 512, 1, 0)


@pytest.mark.parametrize(
    "spec, field",
    [
        (pb.JobSpec(video=pb.VideoSpec(prompt="")), "spec.video.prompt"),
        (pb.JobSpec(video=pb.VideoSpec(prompt="  ")), "spec.video.prompt"),
        (pb.JobSpec(video=pb.VideoSpec(prompt="x", width=0)), "spec.video.width"),
        (pb.JobSpec(video=pb.VideoSpec(prompt="x", width=3000)), "spec.video.width"),
        (pb.JobSpec(video=pb.VideoSpec(prompt="x", height=101)), "spec.video.height"),
        (pb.JobSpec(video=pb.VideoSpec(prompt="x", duration_seconds=999)), "spec.video.duration_seconds"),
        (pb.JobSpec(video=pb.VideoSpec(prompt="x", duration_seconds=float("nan"))), "spec.video.duration_seconds"),
        (pb.JobSpec(video=pb.VideoSpec(prompt="x", fps=0)), "spec.video.fps"),
        (pb.JobSpec(video=pb.VideoSpec(prompt="x", motion=42)), "spec.video.motion"),
        (pb.JobSpec(image=pb.ImageSpec(prompt="x", width=0)), "spec.image.width"),
        (pb.JobSpec(image=pb.ImageSpec(prompt="x", height=3000)), "spec.image.height"),
        (pb.JobSpec(image=pb.ImageSpec(prompt="x", num_images=5)), "spec.image.num_images"),
        (pb.JobSpec(image=pb.ImageSpec(prompt="x" * 2001)), "spec.image.prompt"),
        (pb.JobSpec(kind=99, image=pb.ImageSpec(prompt="x")), "spec.kind"),
        (pb.JobSpec(kind=pb.JOB_KIND_IMAGE, video=pb.VideoSpec(prompt="x")), "spec.kind"),
        (pb.JobSpec(kind=pb.JOB_KIND_VIDEO), "spec"),
        (None, "spec"),
    ],
)
def test_bad_specs_name_the_field(spec: pb.JobSpec | None, field: str) -> None:
    assert violations(spec) == [field]


def test_every_bad_field_is_listed_at_once() -> None:
    spec = pb.JobSpec(video=pb.VideoSpec(prompt="", width=3000, fps=0, duration_seconds=999))
    assert set(violations(spec)) == {
        "spec.video.prompt", "spec.video.width", "spec.video.fps", "spec.video.duration_seconds"}
