"""Blocking generator work run in a thread and streamed back to async servicers; a cap on concurrent calls."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import grpc

from genmedia import logs
from genmedia.errors import ServiceError

log = logging.getLogger(__name__)

T = TypeVar("T")
Emit = Callable[[T], None]
_END = object()


class Cancelled(Exception):
    """Raised by worker code that saw its cancel event set: the call it works for was cancelled."""


class ConcurrencyLimit:
    """At most `limit` calls at once; one more fails at once with RESOURCE_EXHAUSTED, never queues."""

    def __init__(self, service: str, limit: int) -> None:
        self.service = service
        self.limit = limit
        self.active = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self.active >= self.limit:
            raise ServiceError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{self.service} service is busy ({self.active}/{self.limit} calls running); retry later",
                "SERVICE_SATURATED",
                metadata={"service": self.service, "max_concurrency": str(self.limit)},
            )
        self.active += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.active -= 1
            if self.active == 0:
                self._idle.set()

    async def wait_idle(self) -> None:
        """Returns once no call holds a slot (calls release theirs after cleaning up)."""
        await self._idle.wait()


async def stream_from_thread(work: Callable[[Emit[T], threading.Event], None]) -> AsyncIterator[T]:
    """Runs work(emit, cancel) in a thread and yields what it emits, in order; re-raises its error.

    When the consumer stops early (the call was cancelled), the cancel event is set and the thread is
    waited for, so whatever cleans up after this generator never races a still-running worker."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    cancel = threading.Event()

    def emit(item: T) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    future = loop.run_in_executor(None, work, emit, cancel)
    # Scheduled after every emit of the thread, so the end marker comes last.
    future.add_done_callback(lambda _: queue.put_nowait(_END))
    try:
        while (item := await queue.get()) is not _END:
            yield item  # type: ignore[misc]
        future.result()
    finally:
        cancel.set()
        if not future.done():
            await asyncio.wait([future])
        if future.done() and not future.cancelled():
            future.exception()  # retrieved: a Cancelled raised after an early stop is expected


async def stream_output(
    work: Callable[[Emit[T], threading.Event], None], written: list[Path], job_id: str, what: str
) -> AsyncIterator[T]:
    """stream_from_thread for a call that writes files (listed by `work` in `written`): when the call
    fails or is cancelled before its result was handed to the client, those files are removed; once the
    result went out they are the job's output and stay."""
    started, delivered = time.perf_counter(), False
    try:
        async for response in stream_from_thread(work):
            delivered = delivered or response.WhichOneof("payload") == "result"
            yield response
    except BaseException as exc:
        if not delivered:
            for path in written:
                path.unlink(missing_ok=True)
            cancelled = isinstance(exc, (asyncio.CancelledError, GeneratorExit))
            log.info("%s %s", what, "cancelled" if cancelled else f"failed: {exc!r}", **logs.job(job_id))
        raise
    log.info("%s done in %.2fs (%d file(s))", what, time.perf_counter() - started, len(written), **logs.job(job_id))
