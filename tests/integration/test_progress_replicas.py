"""Several progress replicas on one PostgreSQL database: events reported to one reach watchers on another,
in order (LISTEN/NOTIFY wakes, the table is the truth). In-process replicas and two real processes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from genmedia.client import GenmediaClient
from genmedia.serving.server import create_server
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from services.progress.bus import Bus
from services.progress.models import make_engine
from services.progress.replicas import Listener
from services.progress.schema import upgrade
from services.progress.server import build_registrations
from services.progress.store import Store
from tests.conftest import postgres_url
from tests.integration.progress import Stub, created, report
from tests.integration.test_progress_process import process_env, start_serving

pytestmark = pytest.mark.postgres


@contextlib.asynccontextmanager
async def replica(database) -> AsyncIterator[tuple[Stub, Bus]]:
    """An in-process replica: its own engine, store, bus, listener and server."""
    engine = make_engine(database.url, database.connect_args)
    store, bus = Store.for_engine(engine), Bus(1000)
    listener = Listener(engine.url, database.connect_args, store, bus)
    await listener.start()
    running = await create_server(build_registrations(store, bus, 15), "127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield Stub(channel), bus
    finally:
        await running.stop(0)
        await listener.stop()
        await engine.dispose()


async def read_events(call, count: int) -> list[pb.JobEvent]:
    events = []
    async with asyncio.timeout(30):
        while len(events) < count:
            response = await call.read()
            assert response is not grpc.aio.EOF, f"stream ended after {len(events)} events"
            if response.HasField("event"):
                events.append(response.event)
    return events


async def test_events_reported_to_one_replica_reach_watchers_on_the_other(database):
    if database.schema is None:
        pytest.skip("replicas share a PostgreSQL database")
    engine = make_engine(database.url, database.connect_args)
    await upgrade(engine)
    await engine.dispose()
    async with replica(database) as (a, _), replica(database) as (b, b_bus):
        feed = b.WatchJobs(ps.WatchJobsRequest())
        assert (await feed.read()).HasField("heartbeat")  # subscribed: the feed starts here
        await a.ReportProgress(created("j1"))
        watch = b.WatchJob(ps.WatchJobRequest(job_id="j1"))
        assert (await watch.read()).snapshot.last_sequence == 1
        await a.ReportProgress(created("j2"))
        for n in range(30):  # concurrent reports: commits reach B's listener in any order
            await asyncio.gather(a.ReportProgress(report("j1", f"p{n}", pb.EVENT_TYPE_PROGRESS, percent=n)),
                                 a.ReportProgress(report("j2", f"p{n}", pb.EVENT_TYPE_PROGRESS, percent=n)))
        await a.ReportProgress(report("j1", "done", pb.EVENT_TYPE_COMPLETED))
        watched = await read_events(watch, 31)
        fed = await read_events(feed, 63)
        feed.cancel()
        assert await watch.read() is grpc.aio.EOF  # closed after the terminal event
        subscribers = b_bus.subscribers("j1")
    assert [e.sequence for e in watched] == list(range(2, 33)) and watched[-1].type == pb.EVENT_TYPE_COMPLETED
    for job_id, last in (("j1", 32), ("j2", 31)):
        assert [e.sequence for e in fed if e.job_id == job_id] == list(range(1, last + 1))
    assert subscribers == 0


@pytest.fixture
async def fresh_database() -> AsyncIterator[str]:
    """A database of its own (processes cannot be pointed at a schema), dropped afterwards."""
    url = postgres_url()
    if url is None:
        pytest.skip("GENMEDIA_TEST_DATABASE_URL is not set")
    name = f"genmedia_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@contextlib.asynccontextmanager
async def progress_process(database_url: str, tmp_path) -> AsyncIterator[str]:
    """genmedia-progress as a real process on port 0; yields its address, then SIGTERM and exit 0."""
    env = process_env(tmp_path, GENMEDIA_DATABASE_URL=database_url)
    proc, address, drain = await start_serving(env)
    try:
        yield address
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        await drain
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_two_replica_processes_share_every_event_in_order(fresh_database, tmp_path):
    # Both migrate at start-up at the same moment (the advisory lock makes them take turns).
    async with contextlib.AsyncExitStack() as stack:
        a_addr, b_addr = await asyncio.gather(
            stack.enter_async_context(progress_process(fresh_database, tmp_path / "a")),
            stack.enter_async_context(progress_process(fresh_database, tmp_path / "b")))
        async with GenmediaClient("127.0.0.1:1", b_addr) as on_b, grpc.aio.insecure_channel(a_addr) as to_a:
            a = Stub(to_a)
            await a.ReportProgress(created("j1"))
            watched: list[int] = []
            snapshot = asyncio.Event()

            async def watch() -> None:
                async for message in on_b.watch("j1"):
                    if message.HasField("event"):
                        watched.append(message.event.sequence)
                    else:
                        snapshot.set()

            watcher = asyncio.create_task(watch())
            await asyncio.wait_for(snapshot.wait(), 10)
            for n in range(100):
                await a.ReportProgress(report("j1", f"p{n}", pb.EVENT_TYPE_PROGRESS, percent=n))
            await a.ReportProgress(report("j1", "done", pb.EVENT_TYPE_COMPLETED))
            await asyncio.wait_for(watcher, 30)
    assert watched == list(range(2, 103))
