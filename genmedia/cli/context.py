"""What a command runs with: its arguments, where its output goes, and the client (made on first use)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from genmedia.cli.output import Output
from genmedia.client.aio import AsyncClient
from genmedia.client.models import Job, JobEvent


@dataclass
class Context:
    args: argparse.Namespace
    out: Output
    _client: AsyncClient | None = None

    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            a = self.args
            self._client = AsyncClient(a.server, a.progress_server, token=a.token, tls=a.tls or None, ca=a.ca,
                                       cert=a.cert, key=a.key, timeout=a.timeout)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    def stream(self, item: Job | JobEvent) -> None:
        """One item of a watch as a -o jsonl line: {"snapshot": job} or {"event": event} (as WatchJob's
        messages are in JSON)."""
        key = "snapshot" if isinstance(item, Job) else "event"
        record = {key: item.to_dict()}
        if isinstance(item, JobEvent) and item.cursor:
            record["cursor"] = item.cursor
        self.out.record(record)
