"""CreateBatch when a service fails under it: a batch nobody can retry (no request_id) never stays PENDING,
and one with a request_id is started by the repeat of its request."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from temporalio.testing import WorkflowEnvironment

from genmedia.serving.server import create_server
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from services.progress import server as progress_server
from services.progress.bus import Bus
from services.progress.store import Store
from tests.integration.jobstack import (
    EventLog,
    Stack,
    add_api,
    add_api_on_stopped_temporal,
    add_workers,
    configure_env,
    job_services,
)
from tests.integration.test_batches import children, null

pytestmark = pytest.mark.timeout(120)
DEADLINE = 3.0  # the API's deadline for a progress call (GENMEDIA_RPC_TIMEOUT_SECONDS)


class LateBatchRecord(grpc.aio.ServerInterceptor):
    """Writes the first batch record it is sent (a report with children), then answers after the caller's
    deadline: the record lands, and the API never learns it did."""

    def __init__(self) -> None:
        self.delayed = 0

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or not details.method.endswith("/ReportProgress"):
            return handler

        async def late(request: ps.ReportProgressRequest, context):
            answer = await handler.unary_unary(request, context)
            if request.children and not self.delayed:
                self.delayed += 1
                await asyncio.sleep(DEADLINE * 1.5)
            return answer

        return grpc.unary_unary_rpc_method_handler(late, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)


@pytest.fixture
async def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    configure_env(monkeypatch, tmp_path)
    monkeypatch.setenv("GENMEDIA_RPC_TIMEOUT_SECONDS", str(DEADLINE))
    async with job_services(tmp_path) as stack:
        yield stack


async def late_progress(stack: Stack) -> LateBatchRecord:
    """Replaces the stack's progress server by one on the same database that answers a batch record late."""
    await stack.servers["progress"].stop(0)
    late = LateBatchRecord()
    registrations = progress_server.build_registrations(Store.for_engine(stack.engine), Bus(1000), 15)
    stack.servers["progress"] = server = await create_server(registrations, interceptors=[late])
    stack.settings = replace(stack.settings, progress_addr=f"127.0.0.1:{server.port}")
    return late


async def assert_abandoned(stack: Stack, total: int) -> None:
    (batch,) = (await stack.client.list_jobs(filter=ps.JobFilter(top_level=True))).jobs
    assert batch.state == pb.JOB_STATE_FAILED and batch.error.code == "START_FAILED", batch
    found = await children(stack.client, batch.id)
    assert len(found) == total and {j.state for j in found} == {pb.JOB_STATE_CANCELLED}, found


async def test_a_batch_recorded_too_late_to_answer_ends_failed_not_pending(stack: Stack,
                                                                           temporal: WorkflowEnvironment) -> None:
    late = await late_progress(stack)
    await add_api(stack, temporal)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stack.client.create_batch([null(0.1) for _ in range(3)])
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE and "progress service" in info.value.details()
    assert late.delayed == 1
    await assert_abandoned(stack, 3)


async def test_a_batch_recorded_too_late_is_started_by_the_repeat_of_its_request(
        stack: Stack, temporal: WorkflowEnvironment) -> None:
    await late_progress(stack)
    await add_api(stack, temporal)
    await add_workers(stack, temporal)
    jobs, request_id = [null(0.1) for _ in range(3)], str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stack.client.create_batch(jobs, request_id=request_id)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    (pending,) = (await stack.client.list_jobs(filter=ps.JobFilter(top_level=True))).jobs
    assert pending.state == pb.JOB_STATE_PENDING  # its request can be repeated: it waits for that
    batch = await stack.client.create_batch(jobs, request_id=request_id)
    assert batch.id == pending.id
    end = (await EventLog(stack.client, batch.id).end())[-1]
    assert end.type == pb.EVENT_TYPE_COMPLETED and end.batch.completed == 3, end


async def test_a_batch_that_temporal_cannot_start_ends_failed_not_pending(stack: Stack) -> None:
    await add_api_on_stopped_temporal(stack)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stack.client.create_batch([null(0.1) for _ in range(2)])
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE and "temporal" in info.value.details()
    await assert_abandoned(stack, 2)


async def test_create_batch_is_unavailable_while_the_progress_service_is_down(
        stack: Stack, temporal: WorkflowEnvironment, caplog: pytest.LogCaptureFixture) -> None:
    await add_api(stack, temporal)
    await stack.servers["progress"].stop(0)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stack.client.create_batch([null(0.1) for _ in range(2)])
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE and "progress service" in info.value.details()
    assert not [r for r in caplog.records if r.exc_info], "no traceback: the cleanup's own failure is a warning"
    query = f"TaskQueue = '{stack.settings.task_queue}'"
    assert not [w async for w in temporal.client.list_workflows(query)]  # nothing was started
