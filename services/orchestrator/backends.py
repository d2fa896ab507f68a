"""What the image and video services can do, asked of them (DescribeBackends): the API refuses a job naming a
backend they have not configured, and the worker sizes its task-queue slots to their capacity."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

import grpc

from genmedia.domain.errors import ServiceError
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import image_service_pb2, image_service_pb2_grpc, video_service_pb2_grpc
from services.orchestrator.config import Settings

log = logging.getLogger(__name__)
CACHE_SECONDS = 30.0
DEFAULT_SLOTS = {"image": 2, "video": 1}


class BackendDirectory:
    """The configured backends of each service, cached for CACHE_SECONDS. A service that cannot be asked is not
    checked here: it refuses the step itself (FAILED_PRECONDITION, BACKEND_NOT_CONFIGURED)."""

    def __init__(self, settings: Settings) -> None:
        self.timeout = settings.rpc_timeout
        self.stubs = {"image": image_service_pb2_grpc.ImageServiceStub(settings.channel(settings.image_addr)),
                      "video": video_service_pb2_grpc.VideoServiceStub(settings.channel(settings.video_addr))}
        self.known: dict[str, tuple[float, set[str]]] = {}

    async def names(self, service: str) -> set[str] | None:
        cached = self.known.get(service)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        try:
            described = await self.stubs[service].DescribeBackends(image_service_pb2.DescribeBackendsRequest(),
                                                                   timeout=self.timeout)
        except grpc.aio.AioRpcError as err:
            log.warning("could not ask the %s service for its backends: %s", service, err.code().name)
            return None
        names = {b.name for b in described.backends}
        self.known[service] = (time.monotonic(), names)
        return names

    async def check(self, spec: pb.JobSpec) -> None:
        kind = spec.WhichOneof("params")
        if kind not in ("image", "video") or not getattr(spec, kind).backend:
            return
        asked = [n.strip() for n in getattr(spec, kind).backend.split(",")]
        names = await self.names(kind)
        missing = [n for n in asked if names is not None and n not in names]
        if missing:
            field = f"spec.{kind}.backend"
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"{field}: backend {', '.join(missing)} is not configured on the {kind} service "
                               f"(configured: {', '.join(sorted(names or ()))})", "BACKEND_NOT_CONFIGURED",
                               [(field, f"{', '.join(missing)} is not configured")],
                               metadata={"backend": ",".join(missing)[:100]})


async def with_service_slots(settings: Settings, patience: float = 10.0) -> Settings:
    """Settings whose unset image/video slots (GENMEDIA_*_SLOTS) follow the services' capacity: what their
    default backend takes at once. A service that does not answer within `patience` gets the old default."""
    directory = BackendDirectory(settings)
    slots = {}
    for service in ("image", "video"):
        if getattr(settings, f"{service}_slots"):
            continue
        capacity = 0
        deadline = time.monotonic() + patience
        while not capacity and time.monotonic() < deadline:
            try:
                capacity = (await directory.stubs[service].DescribeBackends(
                    image_service_pb2.DescribeBackendsRequest(), timeout=settings.rpc_timeout)).capacity
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.5)
        slots[f"{service}_slots"] = capacity or DEFAULT_SLOTS[service]
        log.info("%s task queue: %d slots (%s)", service, slots[f"{service}_slots"],
                 "the service's capacity" if capacity else "the service did not answer; default")
    return replace(settings, **slots)
