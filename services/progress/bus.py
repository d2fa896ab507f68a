"""In-process fan-out of recorded job events to watchers; a watcher that falls behind is dropped, never awaited."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from genmedia.serving import logs
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps

log = logging.getLogger(__name__)


class Heartbeat:
    """What `Subscription.get` answers when the stream's heartbeat is due."""


HEARTBEAT = Heartbeat()


class Subscription:
    """One watcher's bounded queue of a job's events, each as the WatchJobResponse carrying it (made once per
    event and shared by the job's watchers). `get` returns None once the watcher was dropped, and
    HEARTBEAT once the time set by `heartbeat_at` has come. Waiting costs one future and no timer per event:
    the stream keeps a single timer, moved once per heartbeat (docs/speed.md)."""

    def __init__(self, job_id: str, buffer: int) -> None:
        self.job_id = job_id
        self.dropped = False
        self.shutting_down = False  # dropped because the server is stopping, not because it lagged
        self._buffer = buffer
        self._items: collections.deque[ps.WatchJobResponse | None] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._beat_due = False

    def offer(self, response: ps.WatchJobResponse) -> bool:
        """Queues an event without waiting; False when the queue is full."""
        if len(self._items) >= self._buffer:
            return False
        self._items.append(response)
        self._wake()
        return True

    def drop(self) -> None:
        """Discards what is queued so the watcher learns at once that it must resume from the database."""
        self.dropped = True
        self._items.clear()
        self._items.append(None)
        self._wake()

    def heartbeat_at(self, when: float) -> None:
        """`get` answers HEARTBEAT (if nothing is queued) once the loop's clock reaches `when`."""
        self.close()
        self._timer = asyncio.get_running_loop().call_at(when, self._beat)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._beat_due = None, False

    async def get(self) -> ps.WatchJobResponse | Heartbeat | None:
        while not self._items:
            if self._beat_due:
                self._beat_due = False
                return HEARTBEAT
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def _beat(self) -> None:
        self._timer, self._beat_due = None, True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Wakeup:
    """A cross-job watcher's signal that something was recorded; it reads the feed itself, so nothing
    queues up behind a slow one."""

    def __init__(self) -> None:
        self.shutting_down = False
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """True when woken within `timeout` seconds (the signal is then reset)."""
        try:
            await asyncio.wait_for(self._event.wait(), max(0.0, timeout))
        except TimeoutError:
            return False
        self._event.clear()
        return True


class Bus:
    """Per-job sets of subscriptions; publish never blocks, whatever the watchers do."""

    def __init__(self, buffer: int) -> None:
        if buffer < 1:
            raise ValueError(f"buffer must be at least 1, got {buffer}")
        self.buffer = buffer
        self.closed = False
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._wakeups: set[Wakeup] = set()
        self.published: dict[str, int] = {}  # newest sequence published, per job with subscribers
        self.closing = asyncio.Event()  # set when the bus closes: streams other than watches end on it too

    @contextmanager
    def subscribe(self, job_id: str) -> Iterator[Subscription]:
        """A subscription to a job's events for the duration of the block (also when it is cancelled)."""
        subscription = Subscription(job_id, self.buffer)
        if self.closed:
            subscription.shutting_down = True
            subscription.drop()
        self._subscriptions.setdefault(job_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscription.close()
            self._discard(subscription)

    @contextmanager
    def wakeups(self) -> Iterator[Wakeup]:
        """A signal set on every publish for the duration of the block (WatchJobs)."""
        wakeup = Wakeup()
        wakeup.shutting_down = self.closed
        self._wakeups.add(wakeup)
        try:
            yield wakeup
        finally:
            self._wakeups.discard(wakeup)

    def wake(self) -> None:
        """Tells every cross-job watcher that something was recorded."""
        for wakeup in self._wakeups:
            wakeup.set()

    def publish(self, event: pb.JobEvent) -> None:
        self.wake()
        subscriptions = self._subscriptions.get(event.job_id)
        if not subscriptions:
            return
        self.published[event.job_id] = max(self.published.get(event.job_id, 0), event.sequence)
        response = ps.WatchJobResponse(event=event)  # serialized per stream by gRPC, built once here
        for subscription in list(subscriptions):
            if not subscription.offer(response):
                self._discard(subscription)
                subscription.drop()
                log.warning(
                    "dropped a watcher more than %d events behind (at sequence %d)",
                    self.buffer, event.sequence, **logs.job(event.job_id),
                )

    def close(self) -> None:
        """Ends every watch at once (server shutdown), so watchers resume elsewhere instead of waiting
        out the grace period; later subscriptions end at once too."""
        self.closed = True
        self.closing.set()
        for wakeup in self._wakeups:
            wakeup.shutting_down = True
            wakeup.set()
        for subs in list(self._subscriptions.values()):
            for subscription in list(subs):
                subscription.shutting_down = True
                subscription.drop()

    def watched_jobs(self) -> list[str]:
        return list(self._subscriptions)

    def subscribers(self, job_id: str | None = None) -> int:
        """How many subscriptions are open, for one job or for all."""
        if job_id is not None:
            return len(self._subscriptions.get(job_id, ()))
        return sum(len(subs) for subs in self._subscriptions.values()) + len(self._wakeups)

    def _discard(self, subscription: Subscription) -> None:
        subs = self._subscriptions.get(subscription.job_id)
        if subs is not None:
            subs.discard(subscription)
            if not subs:
                del self._subscriptions[subscription.job_id]
                self.published.pop(subscription.job_id, None)
