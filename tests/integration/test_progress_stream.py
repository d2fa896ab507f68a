"""ReportProgressStream and the batching stub on it (genmedia.serving.reporting, stream=True), over real gRPC, on
SQLite and on PostgreSQL: each batch is answered in order as ReportProgressBatch would answer it, and no
report is lost or recorded twice when the stream breaks, its server shuts down, or stops answering."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import time

import grpc
import pytest

from genmedia.domain.errors import details_of
from genmedia.serving.metrics import HANDLED
from genmedia.serving.reporting import BatchingProgressStub
from genmedia.serving.server import Registration, create_server
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import progress_service_pb2 as ps
from genmedia.v1 import progress_service_pb2_grpc
from services.progress.bus import Bus
from services.progress.models import make_engine
from services.progress.schema import upgrade
from services.progress.server import SERVICE_NAME, build_registrations
from services.progress.store import Store
from tests.conftest import serve_on_port0 as _serve_on_port0
from tests.integration.progress import Stub, created, progress_stub, report
from tests.integration.tcpproxy import TcpProxy
from tests.integration.test_progress_resume import until

serve_on_port0 = contextlib.asynccontextmanager(_serve_on_port0)


def batch(*reports: ps.ReportProgressRequest) -> ps.ReportProgressBatchRequest:
    return ps.ReportProgressBatchRequest(reports=reports)


@pytest.fixture
async def stub(database):
    async with progress_stub(database) as stub:
        yield stub


@pytest.fixture
async def store(database):
    engine = make_engine(database.url, database.connect_args)
    await upgrade(engine)
    yield Store.for_engine(engine)
    await engine.dispose()


async def events_of(stub: Stub, job_id: str) -> list[pb.JobEvent]:
    return list((await stub.ListJobEvents(ps.ListJobEventsRequest(job_id=job_id, page_size=1000))).events)


async def test_each_batch_is_answered_in_order_as_report_progress_batch_would(stub):
    call = stub.ReportProgressStream()
    await call.write(batch(created("j1"), report("j1", "s", pb.EVENT_TYPE_STARTED)))
    await call.write(batch(*(report("j1", f"p{i}", pb.EVENT_TYPE_PROGRESS, percent=i) for i in range(5))))
    await call.write(batch(report("j1", "s", pb.EVENT_TYPE_STARTED), report("", "bad", pb.EVENT_TYPE_PROGRESS),
                           report("nope", "k", pb.EVENT_TYPE_PROGRESS)))
    await call.done_writing()
    answers = [response async for response in call]
    assert await call.code() == grpc.StatusCode.OK  # the client's half-close ends the stream
    assert [[(r.recorded.sequence, r.recorded.duplicate) for r in a.results] for a in answers[:2]] == [
        [(1, False), (2, False)], [(n, False) for n in range(3, 8)]]
    repeat, bad, unknown = answers[2].results
    assert (repeat.recorded.sequence, repeat.recorded.duplicate) == (2, True)
    assert (bad.error.code, unknown.error.code) == (grpc.StatusCode.INVALID_ARGUMENT.value[0],
                                                    grpc.StatusCode.NOT_FOUND.value[0])
    assert "event.job_id" in bad.error.message and bad.error.details


async def test_many_batches_sent_before_any_answer_are_all_answered_in_order(stub):
    """More batches than the server reads ahead (STREAM_WINDOW): it reads on as it answers."""
    await stub.ReportProgress(created("j1"))
    call = stub.ReportProgressStream()
    for i in range(60):
        await call.write(batch(report("j1", f"p{i}", pb.EVENT_TYPE_PROGRESS, percent=i)))
    await call.done_writing()
    answers = [response async for response in call]
    assert [a.results[0].recorded.sequence for a in answers] == list(range(2, 62))
    assert (await stub.GetJob(js.GetJobRequest(job_id="j1"))).percent == 59


@pytest.mark.parametrize("count", [0, 501])
async def test_a_batch_the_server_cannot_take_ends_the_stream_after_the_answers_before_it(stub, count):
    call = stub.ReportProgressStream()
    await call.write(batch(created("j1")))
    await call.write(batch(*(report("j1", f"p{i}", pb.EVENT_TYPE_PROGRESS) for i in range(count))))
    first = await call.read()
    assert first.results[0].recorded.sequence == 1
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [field for field, _ in details_of(caught.value)[1]] == ["reports"]


async def test_the_batching_stub_on_a_stream_shares_messages_and_answers_like_report_progress(stub):
    batching = BatchingProgressStub(stub, timeout=10, stream=True)
    try:
        await batching.ReportProgress(created("j1"))
        responses = await asyncio.gather(*(
            batching.ReportProgress(report("j1", f"p{i}", pb.EVENT_TYPE_PROGRESS, percent=i / 2)) for i in range(200)))
        assert sorted(r.sequence for r in responses) == list(range(2, 202))
        for request in (report("", "k", pb.EVENT_TYPE_PROGRESS), report("nope", "k", pb.EVENT_TYPE_PROGRESS),
                        report("j1", "p7", pb.EVENT_TYPE_PROGRESS, percent=3.5)):
            try:
                alone = await stub.ReportProgress(request)
            except grpc.aio.AioRpcError as error:
                with pytest.raises(grpc.aio.AioRpcError) as batched:
                    await batching.ReportProgress(request)
                assert (batched.value.code(), batched.value.details()) == (error.code(), error.details())
                assert details_of(batched.value) == details_of(error)
            else:
                assert await batching.ReportProgress(request) == alone  # a repeat: the same sequence
    finally:
        await batching.close()
    assert (await stub.GetJob(js.GetJobRequest(job_id="j1"))).last_sequence == 201


async def test_cut_connections_lose_and_double_no_report(store):
    """Every 40 reports the connection is cut under the stream: the batches it left unanswered go again on
    a new stream, and each report is recorded once, with the sequence its caller was answered."""
    async with serve_on_port0(build_registrations(store, Bus(1000), 15)) as running, TcpProxy(running.port) as proxy:
        async with grpc.aio.insecure_channel(proxy.address) as channel:
            batching = BatchingProgressStub(Stub(channel), timeout=10, stream=True)
            await batching.ReportProgress(created("j1"))
            answered: dict[str, int] = {}

            async def one(key: str) -> None:
                answered[key] = (await batching.ReportProgress(report("j1", key, pb.EVENT_TYPE_PROGRESS))).sequence

            cuts = 0
            for round_ in range(10):
                reports = [asyncio.create_task(one(f"r{round_}-{i}")) for i in range(40)]
                await asyncio.sleep(0.002 * round_)  # at a different point of the round each time
                cuts += proxy.cut() > 0
                await asyncio.wait_for(asyncio.gather(*reports), 30)
            await batching.close()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as direct:  # not the last cut's
            events = await events_of(Stub(direct), "j1")
    assert cuts >= 5 and proxy.accepted >= cuts  # a new connection after each cut (but maybe the last)
    # One event per report (none twice), no gap, and every caller was answered its report's own sequence.
    assert [e.sequence for e in events] == list(range(1, 402))
    assert sorted(answered.values()) == list(range(2, 402))


def a_closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CountingStreams:
    """A stub that counts the report streams opened on it."""

    def __init__(self, stub: Stub) -> None:
        self.stub, self.streams = stub, 0

    def __getattr__(self, name: str):
        return getattr(self.stub, name)

    def ReportProgressStream(self, *args, **kwargs):  # noqa: N802
        self.streams += 1
        return self.stub.ReportProgressStream(*args, **kwargs)


async def test_reports_wait_out_a_server_that_refuses_connections_for_a_while(store):
    """The server is down (every connection refused) when the reports are made, and back 0.8 s later: each
    batch goes again on a new stream, with growing pauses, until it is answered within its timeout."""
    async with serve_on_port0(build_registrations(store, Bus(1000), 15)) as running, TcpProxy(
            a_closed_port()) as proxy, grpc.aio.insecure_channel(proxy.address) as channel:
        counting = CountingStreams(Stub(channel))
        batching = BatchingProgressStub(counting, timeout=10, stream=True)
        reports = asyncio.gather(batching.ReportProgress(created("j1")), *(
            batching.ReportProgress(report("j1", f"p{i}", pb.EVENT_TYPE_PROGRESS)) for i in range(20)))
        await asyncio.sleep(0.8)
        tries, proxy.upstream_port = counting.streams, running.port
        answers = await asyncio.wait_for(reports, 10)
        await batching.close()
        events = await events_of(Stub(channel), "j1")
    assert tries >= 3  # while refused: at once, then after 50, 100, 200, 400 ms
    assert sorted(a.sequence for a in answers) == list(range(1, 22))
    assert [e.sequence for e in events] == list(range(1, 22))


async def test_a_server_down_for_longer_than_the_timeout_fails_the_reports_unavailable():
    """Out of time between two tries: the reports fail as their last stream did, UNAVAILABLE (which the
    activities retry), not with a bare DEADLINE_EXCEEDED that hides why."""
    async with TcpProxy(a_closed_port()) as proxy, grpc.aio.insecure_channel(proxy.address) as channel:
        counting = CountingStreams(Stub(channel))
        batching = BatchingProgressStub(counting, timeout=1, stream=True)
        began = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await batching.ReportProgress(created("j1"))
        took = time.monotonic() - began
        await batching.close()
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert counting.streams >= 4 and took < 1.5


async def test_a_stream_ended_for_the_batch_s_own_fault_is_not_tried_again(stub):
    """A batch the server cannot take (here over 500 reports: the stub was given too large a max_batch) fails
    at once with the server's INVALID_ARGUMENT; sending it again could not change that."""
    batching = BatchingProgressStub(stub, timeout=10, max_batch=600, stream=True)
    await batching.ReportProgress(created("j1"))
    ends = stream_ends()
    began = time.monotonic()
    results = await asyncio.gather(*(batching.ReportProgress(report("j1", f"p{i}", pb.EVENT_TYPE_PROGRESS))
                                     for i in range(600)), return_exceptions=True)
    took = time.monotonic() - began
    await batching.close()
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(refused) == 599 and {r.code() for r in refused} == {grpc.StatusCode.INVALID_ARGUMENT}
    assert took < 5 and stream_ends() - ends == collections.Counter({"INVALID_ARGUMENT": 1})


async def test_a_draining_server_ends_the_stream_and_the_reports_go_on_to_the_next(store):
    """As on SIGTERM: the server stops reading, answers what it read and ends the stream (OK); the stub
    sends the rest on a new stream, here to another replica (the proxy's new upstream)."""
    first_bus = Bus(1000)
    first = await create_server(build_registrations(store, first_bus, 15), "127.0.0.1:0")
    second = await create_server(build_registrations(store, Bus(1000), 15), "127.0.0.1:0")
    try:
        async with TcpProxy(first.port) as proxy, grpc.aio.insecure_channel(proxy.address) as channel:
            batching = BatchingProgressStub(Stub(channel), timeout=10, stream=True)
            await batching.ReportProgress(created("j1"))
            keys = [f"k{i}" for i in range(600)]
            answered: dict[str, int] = {}

            async def one(key: str) -> None:
                answered[key] = (await batching.ReportProgress(report("j1", key, pb.EVENT_TYPE_PROGRESS))).sequence

            async def steadily() -> None:
                for n in range(0, len(keys), 3):
                    await asyncio.gather(*(one(key) for key in keys[n:n + 3]))

            reporting = asyncio.create_task(steadily())
            await until(lambda: len(answered) >= 100)
            proxy.upstream_port = second.port
            ended = stream_ends()
            began = time.monotonic()
            await first.stop(5, on_drain=first_bus.close)
            stopped_in = time.monotonic() - began
            ended = stream_ends() - ended
            await asyncio.wait_for(reporting, 30)
            await batching.close()
            events = await events_of(Stub(channel), "j1")
    finally:
        await first.stop(0)
        await second.stop(0)
    # The stream ended as soon as the server drained (not at the end of the grace period), and with OK:
    # everything it read was answered.
    assert stopped_in < 4 and ended == collections.Counter({"OK": 1})
    assert [e.sequence for e in events] == list(range(1, 602))
    assert sorted(answered.values()) == list(range(2, 602))


def stream_ends() -> collections.Counter[str]:
    """How many ReportProgressStream calls this process's servers have ended, by status code."""
    ends: collections.Counter[str] = collections.Counter()
    for metric in HANDLED.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.labels["grpc_method"] == "ReportProgressStream":
                ends[sample.labels["grpc_code"]] += int(sample.value)
    return ends


class Silent(progress_service_pb2_grpc.ProgressServiceServicer):
    """A progress server that reads the reports of its first stream and never answers them: a hung peer."""

    def __init__(self, stub: Stub) -> None:
        self.stub, self.streams = stub, 0

    async def ReportProgressStream(self, requests, context):  # noqa: N802
        self.streams += 1
        if self.streams == 1:
            async for _ in requests:
                pass
            await asyncio.Event().wait()
        async for request in requests:
            yield await self.stub.ReportProgressBatch(request)


async def test_a_batch_not_answered_in_time_fails_and_the_next_goes_on_a_new_stream(stub):
    silent = Silent(stub)
    registration = Registration(SERVICE_NAME, progress_service_pb2_grpc.add_ProgressServiceServicer_to_server, silent)
    async with serve_on_port0([registration]) as running, grpc.aio.insecure_channel(
            f"127.0.0.1:{running.port}") as channel:
        batching = BatchingProgressStub(Stub(channel), timeout=1, stream=True)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await batching.ReportProgress(created("j1"))
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert (await batching.ReportProgress(created("j1"))).sequence == 1
        assert (await batching.ReportProgress(report("j1", "p", pb.EVENT_TYPE_PROGRESS))).sequence == 2
        await batching.close()
    assert silent.streams == 2


@pytest.mark.parametrize("rpc", ["ReportProgressStream", "ReportProgressBatch", "ReportProgress"])
async def test_a_report_whose_caller_goes_away_is_recorded_and_published_all_the_same(store, monkeypatch, rpc):
    """The worker goes away (cancels, or its deadline passes) while its report is being written: the report
    still lands, and watchers see it live."""
    record, writing = store.ingest.record, asyncio.Event()

    async def slowly(batch):
        writing.set()
        await asyncio.sleep(0.3)
        return await record(batch)

    async with serve_on_port0(build_registrations(store, Bus(1000), 15)) as running, grpc.aio.insecure_channel(
            f"127.0.0.1:{running.port}") as channel:
        stub = Stub(channel)
        await stub.ReportProgress(created("j1"))
        monkeypatch.setattr(store.ingest, "record", slowly)
        watch = stub.WatchJob(ps.WatchJobRequest(job_id="j1"))
        assert (await watch.read()).HasField("snapshot")
        progress = report("j1", "p", pb.EVENT_TYPE_PROGRESS, percent=42)
        if rpc == "ReportProgressStream":
            call = stub.ReportProgressStream()
            await call.write(batch(progress))
        elif rpc == "ReportProgressBatch":
            call = stub.ReportProgressBatch(batch(progress))
        else:
            call = stub.ReportProgress(progress)
        await asyncio.wait_for(writing.wait(), 10)  # read by the server, being written
        call.cancel()
        live = await asyncio.wait_for(watch.read(), 5)
        watch.cancel()
    assert (live.event.sequence, live.event.percent) == (2, 42)
