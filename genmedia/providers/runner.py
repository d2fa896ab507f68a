"""One service's configured backends and how a call runs on them: the fallback order by attempt, each
backend's concurrency limit, the progress stream and the mapping of provider failures to gRPC statuses."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import grpc

from genmedia.domain.errors import ServiceError
from genmedia.providers.backend import Backend, Output, Progress, Request, discard_files
from genmedia.providers.errors import ProviderError, to_service_error
from genmedia.serving import logs
from genmedia.serving.workers import ConcurrencyLimit
from genmedia.v1 import image_service_pb2 as ipb

log = logging.getLogger(__name__)
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_,")


class Backends:
    """The backends a service has configured, its default fallback chain (`setting`) and their limits."""

    def __init__(self, service: str, setting: str, backends: dict[str, Backend], chain: list[str]) -> None:
        self.service, self.setting, self.backends, self.chain = service, setting, backends, chain
        self.limits = {name: ConcurrencyLimit(f"{service} backend {name}", b.max_concurrency)
                       for name, b in backends.items()}

    def chain_for(self, requested: str, field: str) -> list[str]:
        """The job's own choice (a name or a comma list) or the default; an unknown or unconfigured name is
        FAILED_PRECONDITION naming it."""
        if not requested:
            return self.chain
        names = [n.strip() for n in requested.split(",") if n.strip()]
        missing = [n for n in names if n not in self.backends]
        if missing or not names or not set(requested) <= NAME_CHARS:
            bad = ", ".join(missing) or requested
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"{field}: backend {bad} is not configured on the {self.service} service "
                               f"(configured: {', '.join(sorted(self.backends))})", "BACKEND_NOT_CONFIGURED",
                               [(field, f"{bad} is not configured")], metadata={"backend": bad[:100]})
        return names

    def pick(self, chain: list[str], attempt: int) -> tuple[Backend, str]:
        """The backend of this attempt (attempt n takes chain[(n - 1) mod len]) and the next attempt's."""
        index = (max(attempt, 1) - 1) % len(chain)
        return self.backends[chain[index]], chain[(index + 1) % len(chain)]

    @contextmanager
    def slot(self, backend: Backend) -> Iterator[None]:
        with self.limits[backend.name].slot():
            yield

    async def wait_idle(self) -> None:
        for limit in self.limits.values():
            await limit.wait_idle()

    def describe(self) -> ipb.DescribeBackendsResponse:
        return ipb.DescribeBackendsResponse(
            backends=[ipb.BackendInfo(name=b.name, model=b.model, max_concurrency=b.max_concurrency,
                                      placeholder=b.placeholder) for b in self.backends.values()],
            default_chain=self.chain, capacity=self.backends[self.chain[0]].max_concurrency)

    async def aclose(self) -> None:
        for backend in self.backends.values():
            await backend.aclose()


async def run(backend: Backend, request: Request, next_provider: str) -> AsyncIterator[Progress | list[Output]]:
    """Runs backend.generate, yielding its progress as it comes and then its outputs. A provider failure is
    raised as the ServiceError the service answers; when the consumer stops early (the call was cancelled or
    its deadline passed), the backend is cancelled and waited for: it stops the work at the provider."""
    queue: asyncio.Queue[Progress] = asyncio.Queue()
    started = time.perf_counter()
    task = asyncio.create_task(backend.generate(request, queue.put_nowait))
    getter: asyncio.Future[Progress] | None = None
    outputs: list[Output] | None = None
    try:
        while not task.done():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield getter.result()
            else:
                getter.cancel()
        while not queue.empty():
            yield queue.get_nowait()
        outputs = task.result()
    except ProviderError as error:
        log.warning("%s failed after %.2fs: %s: %s%s", backend.name, time.perf_counter() - started, error.kind.value,
                    error.message, f" (request {error.request_id})" if error.request_id else "",
                    **logs.job(request.job_id))
        raise to_service_error(error, next_provider) from None
    finally:
        if getter is not None and not getter.done():
            getter.cancel()  # a stop while waiting: left pending, it would be destroyed with the queue
        if not task.done():
            task.cancel()
            await asyncio.wait([task])
        if task.done() and not task.cancelled() and task.exception() is None and outputs is None:
            discard_files(task.result())  # made, but the call stopped before taking them: their files go
    yield outputs
