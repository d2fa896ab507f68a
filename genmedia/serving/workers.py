"""Blocking generator work (the built-in placeholders' CPU work) run in a thread behind the async backend
interface, and a cap on concurrent calls."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import grpc

from genmedia.domain.errors import ServiceError

T = TypeVar("T")
P = TypeVar("P")


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
                f"{self.service} is busy ({self.active}/{self.limit} calls running); retry later",
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


async def in_thread(work: Callable[[Callable[[P], None], threading.Event], T], report: Callable[[P], None]) -> T:
    """Runs work(emit, cancel) in a thread; what it emits reaches `report` on the event loop, in order. When the
    awaiting task is cancelled, the cancel event is set and the thread is waited for before the cancellation
    goes on, so nothing still runs once the call has ended."""
    loop = asyncio.get_running_loop()
    cancel = threading.Event()
    future = loop.run_in_executor(None, work, lambda item: loop.call_soon_threadsafe(report, item), cancel)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        cancel.set()
        await asyncio.wait([future])
        if not future.cancelled():
            future.exception()  # retrieved: a Cancelled raised after the stop is expected
        raise
