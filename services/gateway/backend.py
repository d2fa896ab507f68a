"""The gateway's channels to JobService and ProgressService; every call carries the HTTP caller's own
credential, so the services decide who may see and do what exactly as for a gRPC client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc

from genmedia.channels import aio_channel
from genmedia.client.aio import RETRIED
from genmedia.v1 import job_service_pb2_grpc, progress_service_pb2_grpc
from services.gateway.config import Settings
from services.gateway.errors import from_rpc_error
from services.gateway.keys import AUTHORIZATION

JOBS, PROGRESS = "JobService", "ProgressService"


class Backend:
    def __init__(self, settings: Settings) -> None:
        # No token of its own (the channels add none): each call sends the caller's (see metadata()).
        self._channels = {JOBS: aio_channel(settings.orchestrator_addr, "", settings.tls, RETRIED),
                          PROGRESS: aio_channel(settings.progress_addr, "", settings.tls, RETRIED)}
        self.jobs = job_service_pb2_grpc.JobServiceStub(self._channels[JOBS])
        self.progress = progress_service_pb2_grpc.ProgressServiceStub(self._channels[PROGRESS])
        self.timeout = settings.timeout

    async def health(self) -> dict[str, str]:
        """Each service's grpc.health.v1 status (or the call's error code), asked at once: /readyz answers
        within one call's timeout, under the readiness probe's."""
        async def check(channel: grpc.aio.Channel) -> str:
            try:
                answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
                return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
            except grpc.aio.AioRpcError as err:
                return err.code().name

        names = list(self._channels)
        states = await asyncio.gather(*(check(self._channels[name]) for name in names))
        return dict(zip(names, states, strict=True))

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()

    @staticmethod
    def metadata(request: web.Request) -> tuple[tuple[str, str], ...]:
        authorization = request.get(AUTHORIZATION, "")
        return (("authorization", authorization),) if authorization else ()

    def _stub(self, service: str) -> Any:
        return self.jobs if service == JOBS else self.progress

    async def call(self, request: web.Request, service: str, method: str, message: Any) -> Any:
        """A unary call as the HTTP caller; a refusal becomes the matching ApiError."""
        rpc = getattr(self._stub(service), method)
        try:
            return await rpc(message, timeout=self.timeout, metadata=self.metadata(request))
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err, service) from None

    async def stream(self, request: web.Request, service: str, method: str, message: Any,
                     timeout: float | None = None) -> AsyncIterator[Any]:
        """A server stream as the HTTP caller; the call ends when the iteration does."""
        call = getattr(self._stub(service), method)(message, timeout=timeout, metadata=self.metadata(request))
        try:
            async for item in call:
                yield item
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err, service) from None
        finally:
            call.cancel()
