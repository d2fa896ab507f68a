"""Watch streams survive what networks and deployments do to them, on SQLite and PostgreSQL: the real
client (`GenmediaClient.watch`) resumes from its last sequence and sees every event exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc

from genmedia.client import GenmediaClient
from genmedia.serving.server import create_server
from genmedia.v1 import common_pb2 as pb
from services.progress.bus import Bus
from services.progress.models import make_engine
from services.progress.schema import upgrade
from services.progress.server import build_registrations
from services.progress.store import Store
from tests.integration.progress import Stub, created, report
from tests.integration.tcpproxy import TcpProxy


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Waits for a condition that another task makes true (polling: it has no event to await)."""
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.005)


class Watcher:
    """One client's watch of a job: the snapshot's sequence and every event's, in the order received."""

    def __init__(self, client: GenmediaClient, job_id: str) -> None:
        self.snapshot: int | None = None
        self.sequences: list[int] = []
        self.task = asyncio.create_task(self._run(client, job_id))

    async def _run(self, client: GenmediaClient, job_id: str) -> None:
        async for message in client.watch(job_id, max_reconnects=60):
            if message.HasField("snapshot"):
                self.snapshot = message.snapshot.last_sequence
            elif message.HasField("event"):
                self.sequences.append(message.event.sequence)

    @property
    def last(self) -> int:
        return self.sequences[-1] if self.sequences else (self.snapshot or 0)


async def test_twenty_forced_disconnects_during_a_thousand_event_job(database):
    engine = make_engine(database.url, database.connect_args)
    await upgrade(engine)
    running = await create_server(build_registrations(Store.for_engine(engine), Bus(1000), 15), "127.0.0.1:0")
    try:
        async with (TcpProxy(running.port) as proxy, GenmediaClient("127.0.0.1:1", proxy.address) as client,
                    grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as direct):
            stub = Stub(direct)  # reports go straight to the server; only the watch crosses the proxy
            await stub.ReportProgress(created("j1"))
            watcher = Watcher(client, "j1")
            await until(lambda: watcher.snapshot is not None)
            cuts = 0
            for sequence in range(2, 1000):
                await stub.ReportProgress(report("j1", f"p{sequence}", pb.EVENT_TYPE_PROGRESS,
                                                 percent=sequence / 10))
                if sequence % 49 == 0 and cuts < 20:
                    await until(lambda s=sequence: watcher.last == s)  # streaming live: cut mid-job
                    cuts += proxy.cut() > 0
            await stub.ReportProgress(report("j1", "done", pb.EVENT_TYPE_COMPLETED))
            await asyncio.wait_for(watcher.task, 60)
    finally:
        await running.stop(0)
        await engine.dispose()
    assert watcher.snapshot == 1 and watcher.sequences == list(range(2, 1001))
    assert cuts == 20 and proxy.accepted >= 21


async def test_fifty_watchers_resume_across_a_restart_with_nothing_missed(database):
    engine = make_engine(database.url, database.connect_args)
    await upgrade(engine)
    store, jobs = Store.for_engine(engine), [f"job{i}" for i in range(5)]

    async def start(address: str) -> tuple:
        bus = Bus(1000)
        return await create_server(build_registrations(store, bus, 15), address), bus

    running, bus = await start("127.0.0.1:0")
    address = f"127.0.0.1:{running.port}"
    try:
        async with GenmediaClient("127.0.0.1:1", address) as client:
            stub = Stub(client._progress)
            for job_id in jobs:
                await stub.ReportProgress(created(job_id))
            watchers = [Watcher(client, jobs[i % 5]) for i in range(50)]
            await until(lambda: all(w.snapshot is not None for w in watchers))
            for n in range(10):
                await asyncio.gather(*(stub.ReportProgress(report(j, f"a{n}", pb.EVENT_TYPE_PROGRESS, percent=n))
                                       for j in jobs))
            await until(lambda: all(w.last == 11 for w in watchers))
            await running.stop(1, on_drain=bus.close)  # as on SIGTERM: every stream ends UNAVAILABLE
            # While no server runs, events go on (as if reported to another replica).
            for n in range(5):
                for job_id in jobs:
                    await store.report(pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_PROGRESS, percent=20 + n),
                                       f"down{n}")
            running, bus = await start(address)
            await asyncio.wait_for(client._progress.channel_ready(), 30)  # past the channel's reconnect backoff
            for n in range(10):
                await asyncio.gather(*(stub.ReportProgress(report(j, f"b{n}", pb.EVENT_TYPE_PROGRESS, percent=40))
                                       for j in jobs))
            await asyncio.gather(*(stub.ReportProgress(report(j, "end", pb.EVENT_TYPE_COMPLETED)) for j in jobs))
            await asyncio.wait_for(asyncio.gather(*(w.task for w in watchers)), 60)
            restarted_subscribers = bus.subscribers()
    finally:
        await running.stop(0)
        await engine.dispose()
    for watcher in watchers:
        assert (watcher.snapshot, watcher.sequences) == (1, list(range(2, 28)))
    assert restarted_subscribers == 0
