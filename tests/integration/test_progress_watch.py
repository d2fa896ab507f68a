"""ProgressService.WatchJob over real gRPC, on SQLite and on PostgreSQL: snapshot, replay, live, close."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import grpc
import pytest

from genmedia.domain.errors import details_of
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from genmedia.v1 import progress_service_pb2_grpc
from services.progress.bus import Bus
from services.progress.models import make_engine
from services.progress.schema import upgrade
from services.progress.server import build_registrations
from services.progress.store import Store
from tests.conftest import serve_on_port0

Stub = progress_service_pb2_grpc.ProgressServiceStub
# A client that reads slowly: no window growth (BDP probing) and a 1 KiB HTTP/2 stream window.
SLOW_CLIENT = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1024)]


@dataclass
class Progress:
    stub: Stub
    bus: Bus
    store: Store
    address: str

    async def create(self, job_id: str) -> None:
        job = pb.Job(id=job_id, kind=pb.JOB_KIND_VIDEO)
        event = pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_CREATED)
        await self.stub.ReportProgress(ps.ReportProgressRequest(event=event, idempotency_key="created", job=job))

    async def report(self, job_id: str, key: str, type: int = pb.EVENT_TYPE_PROGRESS, **fields) -> int:
        event = pb.JobEvent(job_id=job_id, type=type, **fields)
        request = ps.ReportProgressRequest(event=event, idempotency_key=key)
        return (await self.stub.ReportProgress(request)).sequence


@pytest.fixture
async def start(database) -> AsyncIterator[Callable[..., Awaitable[Progress]]]:
    """Starts progress servers on one database: start(heartbeat_seconds=..., buffer=...)."""
    engine = make_engine(database.url, database.connect_args)
    await upgrade(engine)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(engine.dispose)

        async def started(heartbeat_seconds: float = 15, buffer: int = 1000) -> Progress:
            bus, store = Bus(buffer), Store.for_engine(engine)
            registrations = build_registrations(store, bus, heartbeat_seconds)
            running = await stack.enter_async_context(
                contextlib.asynccontextmanager(serve_on_port0)(registrations)
            )
            address = f"127.0.0.1:{running.port}"
            channel = await stack.enter_async_context(grpc.aio.insecure_channel(address))
            return Progress(Stub(channel), bus, store, address)

        yield started


@pytest.fixture
async def progress(start) -> Progress:
    return await start()


async def read_all(call, into: list | None = None) -> list[ps.WatchJobResponse]:
    """Reads a stream to its end (read() and iteration cannot be mixed on one call)."""
    responses = [] if into is None else into
    while (response := await call.read()) is not grpc.aio.EOF:
        responses.append(response)
    return responses


def sequences(responses: list[ps.WatchJobResponse]) -> list[int]:
    return [r.event.sequence for r in responses if r.HasField("event")]


async def test_snapshot_then_live_events_then_close_after_the_terminal_event(progress):
    await progress.create("j1")
    call = progress.stub.WatchJob(ps.WatchJobRequest(job_id="j1"))
    snapshot = await call.read()
    await progress.report("j1", "s", pb.EVENT_TYPE_STARTED)
    await progress.report("j1", "p", percent=50)
    await progress.report("j1", "c", pb.EVENT_TYPE_COMPLETED, percent=100)
    rest = await read_all(call)
    assert (snapshot.snapshot.id, snapshot.snapshot.last_sequence) == ("j1", 1)
    assert sequences(rest) == [2, 3, 4] and len(rest) == 3
    assert [r.event.state for r in rest][-1] == pb.JOB_STATE_COMPLETED and rest[1].event.percent == 50
    assert await call.code() == grpc.StatusCode.OK


async def test_a_finished_job_is_sent_and_closed_at_once(progress):
    await progress.create("j1")
    await progress.report("j1", "s", pb.EVENT_TYPE_STARTED)
    await progress.report("j1", "c", pb.EVENT_TYPE_CANCELLED)
    snapshot_only = await read_all(progress.stub.WatchJob(ps.WatchJobRequest(job_id="j1")))
    replay = await read_all(progress.stub.WatchJob(ps.WatchJobRequest(job_id="j1", after_sequence=1)))
    nothing_left = await read_all(progress.stub.WatchJob(ps.WatchJobRequest(job_id="j1", after_sequence=3)))
    assert [r.WhichOneof("payload") for r in snapshot_only] == ["snapshot"]
    assert snapshot_only[0].snapshot.state == pb.JOB_STATE_CANCELLED
    assert (sequences(replay), nothing_left) == ([2, 3], [])


async def test_resuming_gets_exactly_the_missing_events_while_reports_go_on(progress):
    await progress.create("j1")
    for i in range(4):
        await progress.report("j1", f"early{i}", percent=i)

    async def reporter() -> None:
        # Concurrent reports may be published out of commit order; watchers must still see 1, 2, 3...
        for batch in range(8):
            await asyncio.gather(*(progress.report("j1", f"live{batch}.{i}", percent=batch) for i in range(5)))
        await progress.report("j1", "done", pb.EVENT_TYPE_COMPLETED)

    async def watch(after: int) -> list[int]:
        return sequences(await read_all(progress.stub.WatchJob(ps.WatchJobRequest(job_id="j1", after_sequence=after))))

    task = asyncio.create_task(reporter())
    # Watchers join at different moments of the reporting, each resuming from a different sequence.
    results = []
    for after in (5, 3, 1, 2, 4):
        results.append(asyncio.create_task(watch(after)))
        await asyncio.sleep(0.01)
    await task
    for after, got in zip((5, 3, 1, 2, 4), await asyncio.gather(*results), strict=True):
        assert got == list(range(after + 1, 47))


async def test_events_missing_from_the_bus_are_read_from_the_database(progress):
    await progress.create("j1")
    call = progress.stub.WatchJob(ps.WatchJobRequest(job_id="j1"))
    await call.read()
    # Recorded but never published here (as if reported to another replica): the next event reveals the gap.
    await progress.store.report(pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_STARTED), "elsewhere")
    await progress.report("j1", "done", pb.EVENT_TYPE_COMPLETED)
    assert sequences(await read_all(call)) == [2, 3]


async def test_a_dropped_connection_resumes_without_loss_or_repeat(progress):
    await progress.create("j1")
    first = progress.stub.WatchJob(ps.WatchJobRequest(job_id="j1"))
    last = (await first.read()).snapshot.last_sequence
    for i in range(3):
        await progress.report("j1", f"a{i}", percent=i)
    last = (await first.read()).event.sequence
    first.cancel()
    for i in range(3):
        await progress.report("j1", f"b{i}", percent=10 + i)
    await progress.report("j1", "done", pb.EVENT_TYPE_COMPLETED)
    resumed = await read_all(progress.stub.WatchJob(ps.WatchJobRequest(job_id="j1", after_sequence=last)))
    assert last == 2 and sequences(resumed) == list(range(3, 9))


async def test_unsubscribes_when_the_client_goes_away(progress):
    await progress.create("j1")
    call = progress.stub.WatchJob(ps.WatchJobRequest(job_id="j1"))
    await call.read()
    watching = progress.bus.subscribers("j1")
    call.cancel()
    for _ in range(500):  # the server learns of the cancellation asynchronously; nothing to await for it
        if not progress.bus.subscribers():
            break
        await asyncio.sleep(0.01)
    assert (watching, progress.bus.subscribers()) == (1, 0)


@pytest.mark.parametrize(
    ("request_", "code", "reason", "fields"),
    [
        (ps.WatchJobRequest(job_id="j1", after_sequence=2), grpc.StatusCode.OUT_OF_RANGE,
         "AFTER_SEQUENCE_OUT_OF_RANGE", []),
        (ps.WatchJobRequest(job_id="nope"), grpc.StatusCode.NOT_FOUND, "JOB_NOT_FOUND", []),
        (ps.WatchJobRequest(after_sequence=-1), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT",
         ["job_id", "after_sequence"]),
    ],
)
async def test_watch_errors(progress, request_, code, reason, fields):
    await progress.create("j1")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await read_all(progress.stub.WatchJob(request_))
    got_reason, violations = details_of(caught.value)
    assert (caught.value.code(), got_reason, [f for f, _ in violations]) == (code, reason, fields)
    assert progress.bus.subscribers() == 0


async def test_heartbeats_carry_the_last_sequence_while_nothing_happens(start):
    progress = await start(heartbeat_seconds=0.05)
    await progress.create("j1")
    call = progress.stub.WatchJob(ps.WatchJobRequest(job_id="j1"))
    first, second = await call.read(), await call.read()
    await progress.report("j1", "p", percent=5)
    event, after = await call.read(), await call.read()
    call.cancel()
    assert (first.WhichOneof("payload"), second.heartbeat.last_sequence) == ("snapshot", 1)
    assert (event.event.sequence, after.heartbeat.last_sequence) == (2, 2)


async def test_a_slow_watcher_is_dropped_while_another_gets_everything(start):
    progress = await start(buffer=4)
    await progress.create("j1")
    async with grpc.aio.insecure_channel(progress.address, options=SLOW_CLIENT) as slow_channel:
        slow = Stub(slow_channel).WatchJob(ps.WatchJobRequest(job_id="j1"))
        fast = progress.stub.WatchJob(ps.WatchJobRequest(job_id="j1"))
        await slow.read()
        await fast.read()  # the snapshot, before any report, so the fast watcher's events start at 2
        fast_got = asyncio.create_task(read_all(fast))
        # 2 KB events soon fill the slow watcher's window, then its queue of 4: the reporter never waits.
        for i in range(40):
            await progress.report("j1", f"p{i}", percent=i, message="x" * 2000)
        await progress.report("j1", "done", pb.EVENT_TYPE_COMPLETED)
        slow_read: list[ps.WatchJobResponse] = []
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await read_all(slow, slow_read)
    reason, _ = details_of(caught.value)
    slow_got = sequences(slow_read)
    resume_after = slow_got[-1] if slow_got else 1
    resumed = await read_all(progress.stub.WatchJob(ps.WatchJobRequest(job_id="j1", after_sequence=resume_after)))
    assert sequences(await fast_got) == list(range(2, 43))
    assert (caught.value.code(), reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "WATCHER_TOO_SLOW")
    assert f"after_sequence={resume_after}" in caught.value.details()
    assert slow_got == list(range(2, resume_after + 1)) and resume_after < 42
    assert sequences(resumed) == list(range(resume_after + 1, 43))
