"""A WatchJobs subscription for the CLI's multi-job views (a batch's children, `monitor`): it is
subscribed once entered, so a listing made after that misses no event; it resumes after the last cursor
across restarts of the progress service, for as long as it is read."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Unpack

import grpc

from genmedia.client import requests as rq
from genmedia.client.aio import AsyncClient
from genmedia.client.errors import from_rpc_error
from genmedia.client.models import JobEvent


class Feed:
    def __init__(self, client: AsyncClient, **filter: Unpack[rq.FilterOptions]) -> None:
        self.client = client
        self._messages = client.raw.watch_jobs(rq.job_filter(**filter))

    async def __aenter__(self) -> Feed:
        await self._next()  # the first message is a heartbeat: subscribed
        return self

    async def __aexit__(self, *exc: Any) -> None:
        with contextlib.suppress(RuntimeError):
            await self._messages.aclose()

    async def _next(self) -> Any:
        try:
            return await anext(self._messages)
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err, f"ProgressService at {self.client.progress_server}") from None

    async def __aiter__(self) -> AsyncIterator[JobEvent]:
        while True:
            message = await self._next()
            if message.WhichOneof("payload") == "event":
                yield JobEvent.from_proto(message.event, message.cursor)
