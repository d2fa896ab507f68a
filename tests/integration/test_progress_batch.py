"""ReportProgressBatch and the client-side batching stub (genmedia.serving.reporting), over real gRPC, on SQLite
and on PostgreSQL: each report of a batch gets what ReportProgress would have answered it alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from genmedia.domain.errors import details_of
from genmedia.serving.reporting import BatchingProgressStub
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import progress_service_pb2 as ps
from tests.integration.progress import Stub, created, failure, progress_stub, report


@pytest.fixture
async def stub(database) -> AsyncIterator[Stub]:
    async with progress_stub(database) as stub:
        yield stub


class CountingStub:
    """A real stub that counts the ReportProgressBatch calls made through it."""

    def __init__(self, stub: Stub) -> None:
        self.stub, self.calls, self.sizes = stub, 0, []

    async def ReportProgressBatch(self, request, timeout=None):  # noqa: N802
        self.calls += 1
        self.sizes.append(len(request.reports))
        return await self.stub.ReportProgressBatch(request, timeout=timeout)

    def __getattr__(self, name):
        return getattr(self.stub, name)


async def test_a_batch_is_recorded_in_order_with_one_result_per_report(stub):
    reports = [created("j1"), report("j1", "s", pb.EVENT_TYPE_STARTED)]
    reports += [report("j1", f"p{i}", pb.EVENT_TYPE_PROGRESS, percent=i) for i in range(10)]
    reports += [report("j1", "s", pb.EVENT_TYPE_STARTED)]  # a repeat within the batch
    response = await stub.ReportProgressBatch(ps.ReportProgressBatchRequest(reports=reports))
    outcomes = [(r.recorded.sequence, r.recorded.duplicate) for r in response.results]
    assert outcomes == [(n, False) for n in range(1, 13)] + [(2, True)]
    job = await stub.GetJob(js.GetJobRequest(job_id="j1"))
    assert (job.last_sequence, job.percent, job.state) == (12, 9, pb.JOB_STATE_RUNNING)


async def test_each_bad_report_gets_its_own_status_and_the_rest_are_recorded(stub):
    await stub.ReportProgress(created("j1"))
    reports = [
        report("j1", "ok1", pb.EVENT_TYPE_PROGRESS, percent=5),
        report("", "bad", pb.EVENT_TYPE_PROGRESS),                     # invalid
        report("nope", "k", pb.EVENT_TYPE_PROGRESS),                    # unknown job
        report("j1", "done", pb.EVENT_TYPE_COMPLETED),
        report("j1", "late", pb.EVENT_TYPE_PROGRESS, percent=50),      # after the terminal event
    ]
    results = (await stub.ReportProgressBatch(ps.ReportProgressBatchRequest(reports=reports))).results
    assert [r.WhichOneof("outcome") for r in results] == ["recorded", "error", "error", "recorded", "error"]
    assert [r.recorded.sequence for r in results if r.HasField("recorded")] == [2, 3]
    codes = [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION]
    assert [r.error.code for r in results if r.HasField("error")] == [c.value[0] for c in codes]
    assert "event.job_id" in results[1].error.message and results[1].error.details  # BadRequest, ErrorInfo


@pytest.mark.parametrize("count", [0, 501])
async def test_an_empty_or_oversized_batch_is_invalid(stub, count):
    reports = [report("j1", f"p{i}", pb.EVENT_TYPE_PROGRESS) for i in range(count)]
    code, reason, violations = await failure(stub.ReportProgressBatch(ps.ReportProgressBatchRequest(reports=reports)))
    assert (code, reason, [f for f, _ in violations]) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT",
                                                          ["reports"])


async def test_concurrent_reports_through_the_batching_stub_share_calls(stub):
    counting = CountingStub(stub)
    batching = BatchingProgressStub(counting, timeout=10, in_flight=1)
    await batching.ReportProgress(created("j1"))
    responses = await asyncio.gather(*(
        batching.ReportProgress(report("j1", f"p{i}", pb.EVENT_TYPE_PROGRESS, percent=i / 2)) for i in range(200)))
    assert sorted(r.sequence for r in responses) == list(range(2, 202))
    # The first report went alone; the 199 made while it was on the wire went together.
    assert counting.calls == 3 and counting.sizes == [1, 1, 199]
    job = await batching.GetJob(js.GetJobRequest(job_id="j1"))  # other RPCs pass through
    assert job.last_sequence == 201


async def test_the_batching_stub_raises_what_report_progress_would(stub):
    batching = BatchingProgressStub(stub, timeout=10)
    for request in (report("", "k", pb.EVENT_TYPE_PROGRESS), report("nope", "k", pb.EVENT_TYPE_PROGRESS)):
        with pytest.raises(grpc.aio.AioRpcError) as batched:
            await batching.ReportProgress(request)
        with pytest.raises(grpc.aio.AioRpcError) as alone:
            await stub.ReportProgress(request)
        assert (batched.value.code(), batched.value.details()) == (alone.value.code(), alone.value.details())
        assert details_of(batched.value) == details_of(alone.value)


async def test_a_failed_call_fails_every_report_it_carried(database):
    address: list[str] = []
    async with progress_stub(database, address_out=address) as stub:
        await stub.ReportProgress(created("j1"))
    async with grpc.aio.insecure_channel(address[0]) as channel:  # the server is gone, the channel is not
        batching = BatchingProgressStub(Stub(channel), timeout=10)
        results = await asyncio.gather(*(batching.ReportProgress(report("j1", f"p{i}", pb.EVENT_TYPE_PROGRESS))
                                         for i in range(5)), return_exceptions=True)
    # Each waiting report gets the call's UNAVAILABLE; none hangs.
    assert [r.code() if isinstance(r, grpc.aio.AioRpcError) else r for r in results] == [
        grpc.StatusCode.UNAVAILABLE] * 5


async def test_a_caller_timeout_is_deadline_exceeded_and_the_report_still_lands(stub):
    class Slow(CountingStub):
        async def ReportProgressBatch(self, request, timeout=None):  # noqa: N802
            await asyncio.sleep(0.3)
            return await super().ReportProgressBatch(request, timeout)

    await stub.ReportProgress(created("j1"))
    batching = BatchingProgressStub(Slow(stub), timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await batching.ReportProgress(report("j1", "p", pb.EVENT_TYPE_PROGRESS, percent=7), timeout=0.05)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.sleep(0.5)
    assert (await stub.GetJob(js.GetJobRequest(job_id="j1"))).percent == 7
