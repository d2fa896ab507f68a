"""Replicas on one PostgreSQL database: each LISTENs for the events the others record and hands them to
its own watchers. The notification is only a wake-up; the event itself is read from the table, the
truth, so a lost or late notification costs latency, never an event (WatchJob fills gaps from the
table, WatchJobs reads the feed).

The migration's trigger notifies `genmedia_events_<schema>` with "<sequence> <job_id>" at commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
from sqlalchemy.engine import URL

from services.progress.bus import Bus
from services.progress.store import Store

log = logging.getLogger(__name__)
RECONNECT_SECONDS = 1.0


class Listener:
    """One LISTEN connection per replica, reconnected when it breaks; relays notifications to the bus."""

    def __init__(self, url: URL, connect_args: dict[str, Any], store: Store, bus: Bus) -> None:
        self._url, self._connect_args, self._store, self._bus = url, connect_args, store, bus
        self._pending: dict[str, int] = {}  # job -> smallest notified sequence not yet relayed
        self._ready = asyncio.Event()
        self._wanted = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def start(self, timeout: float = 10.0) -> None:
        """Starts listening; returns once the first LISTEN is in place."""
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._relay())]
        await asyncio.wait_for(self._ready.wait(), timeout)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _connect(self) -> asyncpg.Connection:
        url = self._url
        return await asyncpg.connect(
            user=url.username, password=url.password, host=url.host, port=url.port, database=url.database,
            server_settings=self._connect_args.get("server_settings"),
        )

    async def _listen(self) -> None:
        while True:
            try:
                connection = await self._connect()
                try:
                    closed = asyncio.Event()
                    connection.add_termination_listener(lambda _c, closed=closed: closed.set())
                    schema = await connection.fetchval("SELECT current_schema()")
                    await connection.add_listener(f"genmedia_events_{schema}", self._notified)
                    self._ready.set()
                    self._catch_up()  # what was missed while not listening
                    await closed.wait()
                finally:
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)
            except (OSError, asyncpg.PostgresError) as err:
                log.warning("progress replica listener lost PostgreSQL (%s); reconnecting", err)
            await asyncio.sleep(RECONNECT_SECONDS)

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        sequence, _, job_id = payload.partition(" ")
        self._bus.wake()
        if self._bus.subscribers(job_id) and int(sequence) > self._bus.published.get(job_id, 0):
            self._pending[job_id] = min(self._pending.get(job_id, int(sequence)), int(sequence))
            self._wanted.set()

    def _catch_up(self) -> None:
        self._bus.wake()
        for job_id in self._bus.watched_jobs():
            self._pending.setdefault(job_id, self._bus.published.get(job_id, 0) + 1)
        self._wanted.set()

    async def _relay(self) -> None:
        """Reads the notified events from the table and publishes them here, oldest first per job."""
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            pending, self._pending = self._pending, {}
            for job_id, sequence in pending.items():
                after = max(self._bus.published.get(job_id, 0), sequence - 1)
                try:
                    events = await self._store.events_after(job_id, after)
                except Exception:  # the database is briefly away: the table keeps the events for later
                    log.exception("could not read events of a notified job")
                    continue
                for event in events:
                    self._bus.publish(event)
