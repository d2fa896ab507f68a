"""VideoService: RenderVideo validates, runs the attempt's backend on the job's image and streams its progress;
DescribeBackends."""

from __future__ import annotations

import contextlib
import io
import math
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import grpc
from PIL import Image, UnidentifiedImageError

from genmedia.assetstore import AssetError, AssetNotFound, Store
from genmedia.domain import specs
from genmedia.domain.errors import InvalidArgument, check
from genmedia.domain.jobrules import storable_job_id_violations
from genmedia.providers.backend import Request
from genmedia.providers.calls import generate
from genmedia.providers.outputs import SourceTooLarge, load_asset, store_errors
from genmedia.providers.servicer import GeneratingServicer
from genmedia.v1 import common_pb2, video_service_pb2_grpc
from genmedia.v1 import video_service_pb2 as pb
from services.video.backends import Motion, UnreadableImage

MOTIONS = {
    common_pb2.MOTION_UNSPECIFIED: Motion.ZOOM_IN,
    common_pb2.MOTION_ZOOM_IN: Motion.ZOOM_IN,
    common_pb2.MOTION_ZOOM_OUT: Motion.ZOOM_OUT,
    common_pb2.MOTION_PAN_LEFT: Motion.PAN_LEFT,
    common_pb2.MOTION_PAN_RIGHT: Motion.PAN_RIGHT,
}
Violations = list[tuple[str, str]]
MAX_SOURCE_BYTES = 64 * 1024 * 1024  # an input image larger than this is refused, not read into memory


def _between(v: Violations, field: str, value: float, lo: float, hi: float) -> None:
    if math.isnan(value) or not lo <= value <= hi:
        v.append((field, f"must be between {lo:g} and {hi:g}, got {value:g}"))


def _image_type(data: bytes) -> str:
    """The image's MIME type after a header check (the full decode happens in the backend)."""
    with Image.open(io.BytesIO(data)) as image:
        return Image.MIME.get(image.format or "", "image/png")


async def _source(v: Violations, store: Store, uri: str) -> tuple[bytes, str]:
    """The bytes and type of the image behind image_uri, read from the asset store."""
    if not uri:
        v.append(("image_uri", f"is required: the URI of an image in the asset store ({store.url})"))
        return b"", ""
    try:
        with store_errors():
            data = await load_asset(store, uri, MAX_SOURCE_BYTES)
        return data, _image_type(data)
    except (AssetError, SourceTooLarge) as exc:
        v.append(("image_uri", str(exc)))
    except AssetNotFound:
        v.append(("image_uri", f"{uri!r} does not exist in the asset store"))
    except (OSError, UnidentifiedImageError) as exc:
        v.append(("image_uri", f"is not an image this service can read: {exc}"))
    return b"", ""


async def validated(request: pb.RenderVideoRequest, store: Store) -> Request:
    """The domain request; raises InvalidArgument listing every bad field."""
    v: Violations = []
    v += storable_job_id_violations(request.job_id)
    image, mime = await _source(v, store, request.image_uri)
    for name in ("width", "height"):
        value = getattr(request, name)
        _between(v, name, value, *specs.VIDEO_SIZE)
        if value % 2:
            v.append((name, f"must be even (H.264 with yuv420p), got {value}"))
    _between(v, "duration_seconds", request.duration_seconds, *specs.DURATION)
    _between(v, "fps", request.fps, *specs.FPS)
    if request.motion not in MOTIONS:
        v.append(("motion", f"unknown motion {request.motion}"))
    if len(request.prompt) > specs.MAX_PROMPT or len(request.negative_prompt) > specs.MAX_PROMPT:
        v.append(("prompt", f"prompt and negative_prompt must be at most {specs.MAX_PROMPT} characters"))
    if request.backend and not specs.BACKEND.match(request.backend):
        v.append(("backend", "must be a backend name or a comma list of them"))
    check(v)
    return Request(job_id=request.job_id, prompt=request.prompt, negative_prompt=request.negative_prompt,
                   style=request.style, seed=request.seed, width=request.width, height=request.height,
                   duration_seconds=request.duration_seconds, fps=request.fps, motion=MOTIONS[request.motion].value,
                   image=image, image_mime=mime)


class VideoServicer(GeneratingServicer, video_service_pb2_grpc.VideoServiceServicer):
    async def RenderVideo(
        self, request: pb.RenderVideoRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.RenderVideoResponse]:
        video = await validated(request, self.store)
        chain = self.backends.chain_for(request.backend, "backend")
        remaining = context.time_remaining()
        if remaining is not None:
            video = replace(video, deadline=time.time() + remaining)
        calls = generate(self.backends, self.store, chain, request.attempt, video, "video", ["video"])
        try:
            async with contextlib.aclosing(calls) as items:
                async for item in items:
                    if isinstance(item, list):
                        yield pb.RenderVideoResponse(result=pb.VideoResult(asset=item[0]))
                    else:
                        yield pb.RenderVideoResponse(progress=item)
        except UnreadableImage as exc:
            raise InvalidArgument([("image_uri", str(exc))]) from exc
