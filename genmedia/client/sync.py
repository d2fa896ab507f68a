"""`Client`: the same methods as `AsyncClient`, for code without an event loop.

Each Client runs its AsyncClient on one event loop that a background thread keeps for the whole process
(so it also works where a loop is already running, as in a notebook); iterators pull from the async
ones item by item. Ctrl-C while a call waits cancels the call."""

from __future__ import annotations

import asyncio
import atexit
import datetime as dt
import threading
import weakref
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar, Unpack

from genmedia.client import requests as rq
from genmedia.client import transfer
from genmedia.client.aio import AsyncClient
from genmedia.client.models import Delivery, Job, JobEvent, Page, Stats, WebhookSecret

T = TypeVar("T")


class _Runner:
    """The process's background event loop, started on first use and stopped at exit."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def loop(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None:
                cls._loop = asyncio.new_event_loop()
                threading.Thread(target=cls._loop.run_forever, name="genmedia-client", daemon=True).start()
                atexit.register(_close_all)
            return cls._loop

    @classmethod
    def run(cls, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, cls.loop())
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl-C (or the caller's own timeout): the call stops too
            raise

    @classmethod
    def iterate(cls, items: AsyncIterator[T]) -> Iterator[T]:
        try:
            while True:
                try:
                    item = cls.run(items.__anext__())
                except StopAsyncIteration:
                    return
                yield item
        finally:
            cls.run(items.aclose())  # type: ignore[attr-defined]


_open: weakref.WeakSet[Client] = weakref.WeakSet()


def _close_all() -> None:
    for client in list(_open):
        client.close()


async def _make(args: tuple, kwargs: dict) -> AsyncClient:
    return AsyncClient(*args, **kwargs)  # on the runner's loop: its channels belong to that loop


class Client:
    """genmedia without asyncio: the arguments, methods and errors of `AsyncClient`, answered directly
    (and iterators instead of async iterators). Use it in a `with` block, or call `close()`."""

    def __init__(self, server: str | None = None, progress_server: str | None = None, *, token: str | None = None,
                 tls: bool | None = None, ca: str | Path | None = None, cert: str | Path | None = None,
                 key: str | Path | None = None, timeout: float = 30.0) -> None:
        self.aio = _Runner.run(_make((server, progress_server), dict(token=token, tls=tls, ca=ca, cert=cert,
                                                                     key=key, timeout=timeout)))
        self.server, self.progress_server = self.aio.server, self.aio.progress_server
        self._closed = False
        _open.add(self)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _Runner.run(self.aio.close())

    def create_image(self, prompt: str, **options: Unpack[rq.ImageOptions]) -> Job:
        return _Runner.run(self.aio.create_image(prompt, **options))

    def create_video(self, prompt: str, **options: Unpack[rq.VideoOptions]) -> Job:
        return _Runner.run(self.aio.create_video(prompt, **options))

    def create_batch(self, jobs: Iterable[rq.JobRequest | Mapping[str, Any]], *, sequential: bool = False,
                     max_concurrent: int = 0, fail_fast: bool = False, request_id: str | None = None,
                     labels: Mapping[str, str] | None = None, priority: int = 0, webhook: str = "",
                     slack: str = "", emails: Iterable[str] = (), notify_events: Iterable[str] = ()) -> Job:
        return _Runner.run(self.aio.create_batch(
            list(jobs), sequential=sequential, max_concurrent=max_concurrent, fail_fast=fail_fast,
            request_id=request_id, labels=labels, priority=priority, webhook=webhook, slack=slack,
            emails=list(emails), notify_events=list(notify_events)))

    def retry_batch(self, batch_id: str, attempt: int = 0) -> Job:
        return _Runner.run(self.aio.retry_batch(batch_id, attempt))

    def get(self, job_id: str, *, live: bool = True) -> Job:
        return _Runner.run(self.aio.get(job_id, live=live))

    def list_page(self, page_size: int = 20, page_token: str = "", *, oldest_first: bool = False,
                  **filter: Unpack[rq.FilterOptions]) -> Page:
        return _Runner.run(self.aio.list_page(page_size, page_token, oldest_first=oldest_first, **filter))

    def list(self, *, oldest_first: bool = False, limit: int | None = None, page_size: int = 100,
             **filter: Unpack[rq.FilterOptions]) -> Iterator[Job]:
        return _Runner.iterate(self.aio.list(oldest_first=oldest_first, limit=limit, page_size=page_size, **filter))

    def events(self, job_id: str) -> Iterator[JobEvent]:
        return _Runner.iterate(self.aio.events(job_id))

    def stats(self, *, since: dt.datetime | dt.timedelta | None = None,
              until: dt.datetime | dt.timedelta | None = None, **filter: Unpack[rq.FilterOptions]) -> Stats:
        return _Runner.run(self.aio.stats(since=since, until=until, **filter))

    def watch(self, job_id: str, after_sequence: int = 0) -> Iterator[Job | JobEvent]:
        return _Runner.iterate(self.aio.watch(job_id, after_sequence))

    def watch_jobs(self, *, cursor: str = "", **filter: Unpack[rq.FilterOptions]) -> Iterator[JobEvent]:
        return _Runner.iterate(self.aio.watch_jobs(cursor=cursor, **filter))

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        return _Runner.run(self.aio.wait(job_id, timeout))

    def cancel(self, job_id: str, reason: str = "") -> Job:
        return _Runner.run(self.aio.cancel(job_id, reason))

    def pause(self, job_id: str) -> Job:
        return _Runner.run(self.aio.pause(job_id))

    def resume(self, job_id: str) -> Job:
        return _Runner.run(self.aio.resume(job_id))

    def review(self, job_id: str, *, approve: bool, feedback: str = "", round: int = 0,
               prompt: str | None = None, negative_prompt: str | None = None, seed: int | None = None,
               style: str | None = None, width: int | None = None, height: int | None = None) -> Job:
        return _Runner.run(self.aio.review(job_id, approve=approve, feedback=feedback, round=round, prompt=prompt,
                                           negative_prompt=negative_prompt, seed=seed, style=style, width=width,
                                           height=height))

    def download(self, job_id: str, dest: str | Path = ".", asset: int | None = None, *,
                 on_progress: transfer.OnProgress | None = None) -> list[transfer.DownloadedAsset]:
        return _Runner.run(self.aio.download(job_id, dest, asset, on_progress=on_progress))

    def link(self, job_id: str, asset: int = 0, expires: dt.timedelta = dt.timedelta(hours=1)) -> transfer.AssetLink:
        return _Runner.run(self.aio.link(job_id, asset, expires))

    def deliveries(self, job_id: str) -> Iterator[Delivery]:
        return _Runner.iterate(self.aio.deliveries(job_id))

    def redeliver(self, delivery_id: str, request_id: str | None = None) -> Delivery:
        return _Runner.run(self.aio.redeliver(delivery_id, request_id))

    def webhook_secret(self) -> WebhookSecret:
        return _Runner.run(self.aio.webhook_secret())
