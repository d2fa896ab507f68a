"""Client-side batching of ReportProgress: the reports of one process (every activity of a worker) share
ReportProgressBatch calls.

A report goes out at once when fewer than `in_flight` batches are on the wire; reports made meanwhile
wait and leave together in the next call (at most `max_batch` per call). So an idle process sends each
report immediately, and a busy one sends a few calls carrying many reports instead of one call each —
gRPC's per-call cost, not the database, is what limits a Python progress service. One batch on the wire
(the default) gives the largest batches, hence the least work per report on both ends: measured, more in
flight meant smaller transactions and fewer events/s, not more. Each caller gets
exactly what ReportProgress would have given it: the response, or an AioRpcError with the same code,
message and rich details (BadRequest, ErrorInfo).

With `stream`, the batches go on one open ReportProgressStream instead of a ReportProgressBatch call each:
a message on an open stream costs a third of a call on both ends, and the server hands a batch to its
writer as soon as it is read. A batch whose stream breaks or ends (the server shutting down) before its
answer is sent again on a new stream, for as long as the timeout allows, unless the stream ended for a
reason of the batch's own (an invalid batch, a refused credential): reports are idempotent per key, so a
report an earlier stream did record answers as a duplicate with its sequence."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
from dataclasses import dataclass
from typing import Any

import grpc

from genmedia.v1 import progress_service_pb2 as ps

log = logging.getLogger(__name__)

MAX_BATCH = 500  # the server's limit per call
DETAILS_KEY = "grpc-status-details-bin"
RESEND_PAUSE, MAX_RESEND_PAUSE = 0.05, 1.0  # seconds between a batch's resends after the first (doubling)
# How a stream ends that sending the batch again cannot change: it is the batch's (or the caller's) fault.
FINAL = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAUTHENTICATED,
                   grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNIMPLEMENTED,
                   grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.RESOURCE_EXHAUSTED})


@dataclass(frozen=True)
class _Waiting:
    request: ps.ReportProgressRequest
    future: asyncio.Future[ps.ReportProgressResponse]


def _error(code: int, message: str, rich: bytes = b"") -> grpc.aio.AioRpcError:
    status = next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
    trailing = grpc.aio.Metadata((DETAILS_KEY, rich)) if rich else grpc.aio.Metadata()
    return grpc.aio.AioRpcError(status, grpc.aio.Metadata(), trailing, details=message)


def _as_rpc_error(error: Exception) -> grpc.aio.AioRpcError:
    """What a report's caller gets when its stream failed: an AioRpcError, as from a call of its own."""
    if isinstance(error, grpc.aio.AioRpcError):
        return error
    return _error(grpc.StatusCode.UNAVAILABLE.value[0], f"the report stream failed: {type(error).__name__}: {error}")


def _code(error: Exception) -> grpc.StatusCode:
    return error.code() if isinstance(error, grpc.aio.AioRpcError) else grpc.StatusCode.UNKNOWN


def _fail(batch: list[_Waiting], error: Exception) -> None:
    for waiting in batch:
        if not waiting.future.done():
            waiting.future.set_exception(error)


class _Broken(Exception):
    """The stream a batch went on broke or ended before the batch's answer; `error` says how."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _Stream:
    """One ReportProgressStream call and the batches sent on it that wait for their answers, oldest first
    (the server answers in the order sent)."""

    def __init__(self, call: Any) -> None:
        self.call = call
        self.waiting: collections.deque[asyncio.Future[ps.ReportProgressBatchResponse]] = collections.deque()
        self.broken: Exception | None = None
        self._reader = asyncio.create_task(self._read())

    async def send(self, request: ps.ReportProgressBatchRequest,
                   answer: asyncio.Future[ps.ReportProgressBatchResponse]) -> None:
        """Writes a batch; `answer` gets its response, or _Broken if the stream fails first."""
        if self.broken is not None:
            answer.set_exception(_Broken(self.broken))
            return
        self.waiting.append(answer)
        try:
            await self.call.write(request)
        except Exception as error:  # the call ended or failed meanwhile (AioRpcError, InvalidStateError)
            self.close(_as_rpc_error(error))

    def close(self, error: Exception) -> None:
        """Ends the call; the batches waiting on it fail with _Broken(error)."""
        if self.broken is None:
            self.broken = error
            self.call.cancel()
        while self.waiting:
            answer = self.waiting.popleft()
            if not answer.done():
                answer.set_exception(_Broken(self.broken))

    async def end(self) -> None:
        """Half-closes the stream: the server answers what it has, then ends it."""
        if self.broken is None:
            with contextlib.suppress(Exception):
                await self.call.done_writing()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._reader), 5)
        self.close(_error(grpc.StatusCode.CANCELLED.value[0], "the report stream was closed"))

    async def _read(self) -> None:
        error: Exception
        try:
            while (response := await self.call.read()) is not grpc.aio.EOF:
                if not self.waiting:
                    raise _error(grpc.StatusCode.INTERNAL.value[0], "ReportProgressStream answered a batch not sent")
                answer = self.waiting.popleft()
                if not answer.done():  # (its caller gave up waiting: still in order)
                    answer.set_result(response)
            error = _error(grpc.StatusCode.UNAVAILABLE.value[0], "the progress service ended the report stream")
        except asyncio.CancelledError:
            error = _error(grpc.StatusCode.CANCELLED.value[0], "the report stream was cancelled")
        except Exception as failure:  # AioRpcError as a rule: the connection or the server went away
            error = _as_rpc_error(failure)
        self.close(error)


class BatchingProgressStub:
    """Stands in for a ProgressServiceStub: ReportProgress is batched, every other RPC passes through."""

    def __init__(self, stub: Any, timeout: float, max_batch: int = MAX_BATCH, in_flight: int = 1,
                 stream: bool = False) -> None:
        self._stub, self._timeout, self._max_batch = stub, timeout, max_batch
        self._slots = in_flight
        self._queue: collections.deque[_Waiting] = collections.deque()
        self._sending: set[asyncio.Task[None]] = set()
        self._streaming = stream
        self._stream: _Stream | None = None
        self._writing = asyncio.Lock()  # one write at a time: the answers come in the order written

    async def close(self) -> None:
        """Ends the report stream, if one is open (the server answers what it has first)."""
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.end()

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
            if self._streaming:
                response = await self._exchange(request)
            else:
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

    async def _exchange(self, request: ps.ReportProgressBatchRequest) -> ps.ReportProgressBatchResponse:
        """A batch on the report stream, and its answer. If the stream breaks or ends before the answer, the
        batch goes again on a new stream, at once and then after a growing pause, for as long as the timeout
        allows: a cut connection can take the next stream down with it, and a restarting server refuses
        streams for a while. An error the batch itself caused (FINAL: a bad batch, a refused credential) is
        not retried. A batch out of time between two tries fails as its last stream did (UNAVAILABLE as a
        rule); one not answered within the timeout fails with DEADLINE_EXCEEDED and takes its stream down
        with it (a stream that stopped answering is not trusted with the next batch)."""
        loop, stream, broke = asyncio.get_running_loop(), None, None
        try:
            async with asyncio.timeout(self._timeout):
                for attempt in itertools.count(1):
                    answer: asyncio.Future[ps.ReportProgressBatchResponse] = loop.create_future()
                    async with self._writing:
                        if self._stream is None or self._stream.broken is not None:
                            self._stream = _Stream(self._stub.ReportProgressStream())
                        stream = self._stream
                        await stream.send(request, answer)
                    try:
                        return await answer
                    except _Broken as broken:
                        if _code(broken.error) in FINAL:
                            raise broken.error from None
                        pause = 0.0 if attempt == 1 else min(RESEND_PAUSE * 2 ** (attempt - 2), MAX_RESEND_PAUSE)
                        log.info("the report stream broke (%s): sending a batch of %d again on a new stream in "
                                 "%.2f s (attempt %d)", _code(broken.error), len(request.reports), pause, attempt + 1)
                        broke = broken.error
                        await asyncio.sleep(pause)
                        broke = None
        except TimeoutError:
            if broke is not None:  # out of time between two tries: the caller learns why they failed
                raise broke from None
            if stream is not None:
                stream.close(_error(grpc.StatusCode.DEADLINE_EXCEEDED.value[0], "a batch was not answered in time"))
            raise _error(grpc.StatusCode.DEADLINE_EXCEEDED.value[0], "Deadline Exceeded") from None
        raise AssertionError("unreachable")
