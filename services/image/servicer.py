"""ImageService: GenerateImages validates, runs the attempt's backend and streams its progress; DescribeBackends."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import grpc

from genmedia.domain import specs
from genmedia.domain.errors import check
from genmedia.domain.jobrules import storable_job_id_violations
from genmedia.providers.backend import Request
from genmedia.providers.calls import generate
from genmedia.providers.servicer import GeneratingServicer
from genmedia.v1 import image_service_pb2 as pb
from genmedia.v1 import image_service_pb2_grpc

MAX_REVISION = 1000


def deadline_of(context: grpc.aio.ServicerContext) -> float | None:
    """The call's deadline as a time.time(), for providers that can stop work by themselves (Cancel-After)."""
    remaining = context.time_remaining()
    return time.time() + remaining if remaining is not None else None


class ImageServicer(GeneratingServicer, image_service_pb2_grpc.ImageServiceServicer):
    async def GenerateImages(
        self, request: pb.GenerateImagesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GenerateImagesResponse]:
        revision = [] if 0 <= request.revision <= MAX_REVISION else [
            ("revision", f"must be between 0 and {MAX_REVISION}, got {request.revision}")]
        check(storable_job_id_violations(request.job_id) + specs.image_violations(request.spec, "spec") + revision)
        spec = specs.normalized_image(request.spec, "spec")
        chain = self.backends.chain_for(spec.backend, "spec.backend")
        prefix = f"image-{request.revision}-" if request.revision > 1 else "image-"
        job = Request(job_id=request.job_id, prompt=spec.prompt, negative_prompt=spec.negative_prompt,
                      style=spec.style, seed=spec.seed, width=spec.width, height=spec.height, count=spec.num_images,
                      deadline=deadline_of(context))
        stems = [f"{prefix}{i}" for i in range(spec.num_images)]
        calls = generate(self.backends, self.store, chain, request.attempt, job, "image", stems)
        async with contextlib.aclosing(calls) as items:
            async for item in items:
                if isinstance(item, list):
                    yield pb.GenerateImagesResponse(result=pb.ImageResult(assets=item))
                else:
                    yield pb.GenerateImagesResponse(progress=item)
