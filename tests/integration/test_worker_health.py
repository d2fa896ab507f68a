"""The worker's health follows what Temporal sees: SERVING once its pollers are on every one of its queues,
NOT_SERVING when its workers stop or Temporal cannot be asked (after a few misses), with the backlog gauges."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

from grpc_health.v1 import health_pb2
from prometheus_client import REGISTRY
from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from services.orchestrator.temporal import TemporalSettings, connect
from services.orchestrator.worker.queues import Queue, QueueWatch, WorkerHealth
from tests.integration.certs import certificates
from tests.integration.temporal_front import temporal_front


@activity.defn(name="noop")
async def noop() -> None:
    return None


@workflow.defn(name="Waiting", sandboxed=False)  # a test workflow beside non-deterministic imports
class Waiting:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity("noop", start_to_close_timeout=timedelta(seconds=5), task_queue="nobody")


async def status(health: WorkerHealth) -> int:
    response = await health.running.health.Check(health_pb2.HealthCheckRequest(service=""), None)
    return response.status


async def eventually(check, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)


async def test_serving_while_temporal_sees_the_pollers_then_not_when_the_workers_stop(
        temporal: WorkflowEnvironment) -> None:
    queue = f"health-{uuid.uuid4().hex[:8]}"
    client = temporal.client
    health = await WorkerHealth.start("127.0.0.1", 0)
    watch = QueueWatch(client, [Queue(queue, "workflow"), Queue(queue, "activity")], health.running.health, 0.1)
    worker = Worker(client, task_queue=queue, workflows=[Waiting], activities=[noop])
    running = asyncio.create_task(worker.run())
    watching = asyncio.create_task(watch.run(lambda: not running.done()))
    try:
        await eventually(lambda: _is(health, health_pb2.HealthCheckResponse.SERVING))
        assert REGISTRY.get_sample_value("genmedia_worker_polling") == 1
        # A task nobody takes: the backlog gauge of its queue shows it.
        await client.start_workflow("Waiting", id=f"wait-{queue}", task_queue=queue)
        lonely = QueueWatch(client, [Queue("nobody", "activity")], None, 0.1)
        assert await lonely.check() is False, "no poller on that queue"

        async def backlog() -> bool:
            await lonely.check()
            value = REGISTRY.get_sample_value("genmedia_task_queue_backlog",
                                              {"task_queue": "nobody", "task_type": "activity"})
            return (value or 0) >= 1

        await eventually(backlog, timeout=30)
        await worker.shutdown()
        await eventually(lambda: _is(health, health_pb2.HealthCheckResponse.NOT_SERVING))
        assert REGISTRY.get_sample_value("genmedia_worker_polling") == 0
        liveness = await health.running.health.Check(health_pb2.HealthCheckRequest(service="liveness"), None)
        assert liveness.status == health_pb2.HealthCheckResponse.SERVING, "alive all the same"
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        await worker.shutdown()
        await health.stop(0)
        handle = client.get_workflow_handle(f"wait-{queue}")
        await handle.terminate()


async def test_not_serving_when_temporal_cannot_be_asked(temporal: WorkflowEnvironment, tmp_path: Path) -> None:
    queue = f"health-{uuid.uuid4().hex[:8]}"
    files = certificates(tmp_path)
    health = await WorkerHealth.start("127.0.0.1", 0)
    async with temporal_front(temporal.client.service_client.config.target_host, files) as (addr, _):
        client = await connect(TemporalSettings.from_env({
            "TEMPORAL_ADDRESS": addr, "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(files["ca"]),
            "TEMPORAL_TLS_SERVER_NAME": "localhost"}), patience=0)
        worker = Worker(client, task_queue=queue, activities=[noop])
        running = asyncio.create_task(worker.run())
        watch = QueueWatch(client, [Queue(queue, "activity")], health.running.health, 0.1)
        watching = asyncio.create_task(watch.run(lambda: not running.done()))
        await eventually(lambda: _is(health, health_pb2.HealthCheckResponse.SERVING))
    # The front is gone: Temporal cannot be reached from here any more.
    try:
        await eventually(lambda: _is(health, health_pb2.HealthCheckResponse.NOT_SERVING), timeout=30)
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await health.stop(0)


async def _is(health: WorkerHealth, wanted: int) -> bool:
    return await status(health) == wanted
