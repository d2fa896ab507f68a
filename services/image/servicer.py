"""ImageService.GenerateImages: validates, runs the backend in a thread and streams its progress."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import grpc

from genmedia import logs, specs
from genmedia.assets import JOB_ID_PATTERN, AssetStore
from genmedia.errors import check
from genmedia.v1 import common_pb2, image_service_pb2_grpc
from genmedia.v1 import image_service_pb2 as pb
from genmedia.workers import ConcurrencyLimit, Emit, stream_output
from services.image.backends import ImageBackend, ImageRequest

log = logging.getLogger(__name__)

MIME = "image/png"
MAX_REVISION = 1000


def job_id_violations(job_id: str) -> list[tuple[str, str]]:
    if not JOB_ID_PATTERN.match(job_id):
        return [("job_id", "is required: 1-128 letters, digits, '-' or '_'")]
    return []


def _progress(percent: float, message: str, item: int) -> pb.GenerateImagesResponse:
    return pb.GenerateImagesResponse(
        progress=pb.GenerationProgress(percent=min(100.0, percent), message=message, item_index=item)
    )


class ImageServicer(image_service_pb2_grpc.ImageServiceServicer):
    def __init__(self, store: AssetStore, backend: ImageBackend, max_concurrency: int) -> None:
        self.store = store
        self.backend = backend
        self.limit = ConcurrencyLimit("image", max_concurrency)

    async def GenerateImages(
        self, request: pb.GenerateImagesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GenerateImagesResponse]:
        revision = [] if 0 <= request.revision <= MAX_REVISION else [
            ("revision", f"must be between 0 and {MAX_REVISION}, got {request.revision}")]
        check(job_id_violations(request.job_id) + specs.image_violations(request.spec, "spec") + revision)
        spec = specs.normalized_image(request.spec, "spec")
        job_id = request.job_id
        with self.limit.slot():
            log.info(
                "generating %d image(s) %dx%d seed=%d with %s",
                spec.num_images,
                spec.width,
                spec.height,
                spec.seed,
                self.backend.name,
                **logs.job(job_id),
            )
            written: list[Path] = []
            prefix = f"image-{request.revision}-" if request.revision > 1 else "image-"
            work = partial(self._generate, job_id, spec, prefix, written)
            try:
                async for response in stream_output(work, written, job_id, "image generation"):
                    yield response
            except BaseException:
                self._remove_empty_folder(job_id)
                raise

    def _generate(
        self,
        job_id: str,
        spec: common_pb2.ImageSpec,
        prefix: str,
        written: list[Path],
        emit: Emit[pb.GenerateImagesResponse],
        cancel: threading.Event,
    ) -> None:
        """Worker thread: renders each image to <root>/<job_id>/<prefix><i>.png, then emits the result."""
        n = spec.num_images
        emit(_progress(0.0, f"starting {n} image(s) of {spec.width}x{spec.height}", 0))
        assets = []
        for i in range(n):
            request = ImageRequest(
                prompt=spec.prompt,
                negative_prompt=spec.negative_prompt,
                style=spec.style,
                seed=spec.seed,
                width=spec.width,
                height=spec.height,
                index=i,
            )

            def on_progress(done: int, total: int, message: str, i: int = i) -> None:
                emit(_progress(100.0 * (i + done / total) / n, f"image {i + 1}/{n}: {message}", i))

            path = self.store.path_for(job_id, f"{prefix}{i}.png")
            self.store.write(
                path, partial(self.backend.render, request, on_progress=on_progress, cancel=cancel)
            )
            written.append(path)
            assets.append(self.store.describe(path, MIME, width=spec.width, height=spec.height))
        emit(pb.GenerateImagesResponse(result=pb.ImageResult(assets=assets)))

    def _remove_empty_folder(self, job_id: str) -> None:
        try:
            self.store.path_for(job_id, "x").parent.rmdir()  # only when nothing else is in it
        except OSError:
            pass
