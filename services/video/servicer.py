"""VideoService.RenderVideo: validates the request, encodes in a thread and streams frame progress."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import grpc
from PIL import Image, UnidentifiedImageError

from genmedia import logs, specs
from genmedia.assets import JOB_ID_PATTERN, AssetError, AssetStore
from genmedia.errors import InvalidArgument, check
from genmedia.v1 import common_pb2, image_service_pb2, video_service_pb2_grpc
from genmedia.v1 import video_service_pb2 as pb
from genmedia.workers import ConcurrencyLimit, Emit, stream_output
from services.video.backends import Motion, UnreadableImage, VideoBackend, VideoRequest

log = logging.getLogger(__name__)

MIME = "video/mp4"
PROGRESS_STEPS = 40  # progress messages over the frames (about every 2.5%)
MOTIONS = {
    common_pb2.MOTION_UNSPECIFIED: Motion.ZOOM_IN,
    common_pb2.MOTION_ZOOM_IN: Motion.ZOOM_IN,
    common_pb2.MOTION_ZOOM_OUT: Motion.ZOOM_OUT,
    common_pb2.MOTION_PAN_LEFT: Motion.PAN_LEFT,
    common_pb2.MOTION_PAN_RIGHT: Motion.PAN_RIGHT,
}
Violations = list[tuple[str, str]]


def _between(v: Violations, field: str, value: float, lo: float, hi: float) -> None:
    if math.isnan(value) or not lo <= value <= hi:
        v.append((field, f"must be between {lo:g} and {hi:g}, got {value:g}"))


def _source(v: Violations, store: AssetStore, uri: str) -> Path | None:
    """The image file behind image_uri, after a cheap header check (the full decode runs in the worker)."""
    if not uri:
        v.append(("image_uri", "is required: a file:// URI of an image in the asset store"))
        return None
    try:
        path = store.resolve(uri)
        with Image.open(path):
            return path
    except AssetError as exc:
        v.append(("image_uri", str(exc)))
    except (OSError, UnidentifiedImageError) as exc:
        v.append(("image_uri", f"is not an image this service can read: {exc}"))
    return None


def validated(request: pb.RenderVideoRequest, store: AssetStore) -> VideoRequest:
    """The domain request; raises InvalidArgument listing every bad field."""
    v: Violations = []
    if not JOB_ID_PATTERN.match(request.job_id):
        v.append(("job_id", "is required: 1-128 letters, digits, '-' or '_'"))
    image = _source(v, store, request.image_uri)
    for name in ("width", "height"):
        value = getattr(request, name)
        _between(v, name, value, *specs.VIDEO_SIZE)
        if value % 2:
            v.append((name, f"must be even (H.264 with yuv420p), got {value}"))
    _between(v, "duration_seconds", request.duration_seconds, *specs.DURATION)
    _between(v, "fps", request.fps, *specs.FPS)
    if request.motion not in MOTIONS:
        v.append(("motion", f"unknown motion {request.motion}"))
    check(v)
    assert image is not None
    return VideoRequest(
        image=image,
        width=request.width,
        height=request.height,
        fps=request.fps,
        frame_count=round(request.duration_seconds * request.fps),
        motion=MOTIONS[request.motion],
    )


def _progress(percent: float, message: str, item: int) -> pb.RenderVideoResponse:
    return pb.RenderVideoResponse(
        progress=image_service_pb2.GenerationProgress(percent=percent, message=message, item_index=item)
    )


class VideoServicer(video_service_pb2_grpc.VideoServiceServicer):
    def __init__(self, store: AssetStore, backend: VideoBackend, max_concurrency: int) -> None:
        self.store = store
        self.backend = backend
        self.limit = ConcurrencyLimit("video", max_concurrency)

    async def RenderVideo(
        self, request: pb.RenderVideoRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.RenderVideoResponse]:
        video = validated(request, self.store)
        job_id = request.job_id
        with self.limit.slot():
            log.info(
                "rendering %s %dx%d, %d frames at %d fps from %s with %s",
                video.motion.value,
                video.width,
                video.height,
                video.frame_count,
                video.fps,
                video.image.name,
                self.backend.name,
                **logs.job(job_id),
            )
            written: list[Path] = []
            work = partial(self._render, job_id, video, written)
            async for response in stream_output(work, written, job_id, "rendering"):
                yield response

    def _render(
        self,
        job_id: str,
        video: VideoRequest,
        written: list[Path],
        emit: Emit[pb.RenderVideoResponse],
        cancel: threading.Event,
    ) -> None:
        """Worker thread: encodes <root>/<job_id>/video.mp4, then emits the result."""
        n = video.frame_count
        emit(_progress(0.0, f"rendering {n} frames of {video.width}x{video.height} at {video.fps} fps", 0))
        every = max(1, n // PROGRESS_STEPS)

        def on_frame(done: int, total: int) -> None:
            if done % every == 0 or done == total:
                emit(_progress(99.0 * done / total, f"encoded {done}/{total} frames", done - 1))

        path = self.store.path_for(job_id, "video.mp4")
        try:
            self.store.write(path, partial(self.backend.render, video, on_frame=on_frame, cancel=cancel))
        except UnreadableImage as exc:
            raise InvalidArgument([("image_uri", str(exc))]) from exc
        written.append(path)
        asset = self.store.describe(
            path,
            MIME,
            width=video.width,
            height=video.height,
            duration_seconds=n / video.fps,
            frame_count=n,
            fps=float(video.fps),
        )
        emit(_progress(100.0, f"wrote {path.name} ({asset.size_bytes} bytes)", n - 1))
        emit(pb.RenderVideoResponse(result=pb.VideoResult(asset=asset)))
