"""Client-side batching of ReportProgress: the reports of one process (every activity of a worker) share
ReportProgressBatch calls.

A report goes out at once when fewer than `in_flight` batches are on the wire; reports made meanwhile
wait and leave together in the next call (at most `max_batch` per call). So an idle process sends each
report immediately, and a busy one sends a few calls carrying many reports instead of one call each —
gRPC's per-call cost, not the database, is what limits a Python progress service. One batch on the wire
(the default) gives the largest batches, hence the least work per report on both ends: measured, more in
flight meant smaller transactions and fewer events/s, not more. Each caller gets
exactly what ReportProgress would have given it: the response, or an AioRpcError with the same code,
message and rich details (BadRequest, ErrorInfo)."""

from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import dataclass
from typing import Any

import grpc

from genmedia.v1 import progress_service_pb2 as ps

log = logging.getLogger(__name__)

MAX_BATCH = 500  # the server's limit per call
DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class _Waiting:
    request: ps.ReportProgressRequest
    future: asyncio.Future[ps.ReportProgressResponse]


def _error(code: int, message: str, rich: bytes = b"") -> grpc.aio.AioRpcError:
    status = next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
    trailing = grpc.aio.Metadata((DETAILS_KEY, rich)) if rich else grpc.aio.Metadata()
    return grpc.aio.AioRpcError(status, grpc.aio.Metadata(), trailing, details=message)


def _fail(batch: list[_Waiting], error: Exception) -> None:
    for waiting in batch:
        if not waiting.future.done():
            waiting.future.set_exception(error)


class BatchingProgressStub:
    """Stands in for a ProgressServiceStub: ReportProgress is batched, every other RPC passes through."""

    def __init__(self, stub: Any, timeout: float, max_batch: int = MAX_BATCH, in_flight: int = 1) -> None:
        self._stub, self._timeout, self._max_batch = stub, timeout, max_batch
        self._slots = in_flight
        self._queue: collections.deque[_Waiting] = collections.deque()
        self._sending: set[asyncio.Task[None]] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stub, name)

    async def ReportProgress(self, request: ps.ReportProgressRequest,  # noqa: N802 (the stub's name)
                             timeout: float | None = None) -> ps.ReportProgressResponse:
        future: asyncio.Future[ps.ReportProgressResponse] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(request, future))
        self._pump()
        try:
            async with asyncio.timeout(timeout):  # cancels only this caller's future, never the call
                return await future
        except TimeoutError:
            # Still sent (or being sent) with the others: ReportProgress is idempotent per key.
            raise _error(grpc.StatusCode.DEADLINE_EXCEEDED.value[0], "Deadline Exceeded") from None

    def _pump(self) -> None:
        while self._queue and len(self._sending) < self._slots:
            batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
            task = asyncio.create_task(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._pump()

    async def _send(self, batch: list[_Waiting]) -> None:
        request = ps.ReportProgressBatchRequest(reports=[waiting.request for waiting in batch])
        try:
            response = await self._stub.ReportProgressBatch(request, timeout=self._timeout)
            if len(response.results) != len(batch):
                raise _error(grpc.StatusCode.INTERNAL.value[0], f"ReportProgressBatch answered "
                             f"{len(response.results)} results for {len(batch)} reports")
        except asyncio.CancelledError:
            _fail(batch, _error(grpc.StatusCode.CANCELLED.value[0], "the report was not sent: the sender stopped"))
            raise
        except Exception as error:  # the whole call failed (AioRpcError as a rule): so did each report
            _fail(batch, error)
            return
        for waiting, result in zip(batch, response.results, strict=True):
            if waiting.future.done():
                continue
            if result.WhichOneof("outcome") == "recorded":
                waiting.future.set_result(result.recorded)
            else:
                status = result.error
                waiting.future.set_exception(_error(status.code, status.message, status.SerializeToString()))
