"""The worker's task queues as Temporal sees them (DescribeTaskQueue, every few seconds): whether this process's
pollers are there, which is its gRPC health, and each queue's backlog, for dashboards and alerts."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer
from prometheus_client import Gauge
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from genmedia.serving.server import RunningServer, create_server

log = logging.getLogger(__name__)

LIVENESS = "liveness"  # SERVING while the process runs: the liveness probe's, which Temporal's outages must not fail
POLLER_FRESH = dt.timedelta(seconds=150)  # a long poll lasts up to ~70 s: a live poller was seen within this
DESCRIBE_TIMEOUT = dt.timedelta(seconds=5)
UNHEALTHY_RECHECK = 0.5  # seconds
MISSES_TOLERATED = 3  # checks in a row that may fail (Temporal slow to answer) before the worker is unready
TYPES = {"workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY}

POLLING = Gauge("genmedia_worker_polling", "1 while Temporal sees this worker's pollers on every one of its task "
                "queues, else 0 (the worker's gRPC health).")
BACKLOG = Gauge("genmedia_task_queue_backlog", "Tasks waiting in a task queue (Temporal's approximate backlog).",
                ("task_queue", "task_type"))
BACKLOG_AGE = Gauge("genmedia_task_queue_backlog_age_seconds", "How long the oldest task waiting in a task queue "
                    "has waited.", ("task_queue", "task_type"))
POLLERS = Gauge("genmedia_task_queue_pollers", "Pollers (of every worker) Temporal saw on a task queue lately.",
                ("task_queue", "task_type"))


@dataclass(frozen=True)
class Queue:
    name: str
    task_type: str  # workflow | activity


class QueueWatch:
    """Checks every `interval` seconds that Temporal sees this worker polling each of its queues, and sets the
    health server's "" status from it (NOT_SERVING until the first check passes)."""

    def __init__(self, client: Client, queues: list[Queue], health: HealthServicer | None, interval: float,
                 identity: str | None = None) -> None:
        self.client, self.queues, self.health, self.interval = client, queues, health, interval
        self.identity = identity or client.identity
        self.healthy = False  # as the health server starts: NOT_SERVING
        self.misses = 0  # failed checks in a row: one blip of Temporal's does not make the worker unready

    async def check(self) -> bool:
        """One round: every queue described (its gauges set); True when this worker polls them all."""
        polling = True
        for queue in self.queues:
            try:
                described = await self.client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(namespace=self.client.namespace, task_queue=TaskQueue(name=queue.name),
                                             task_queue_type=TYPES[queue.task_type], report_stats=True),
                    timeout=DESCRIBE_TIMEOUT)
            except RPCError as err:
                log.debug("describing task queue %s failed: %s", queue.name, err)
                return False
            labels = (queue.name, queue.task_type)
            BACKLOG.labels(*labels).set(described.stats.approximate_backlog_count)
            BACKLOG_AGE.labels(*labels).set(described.stats.approximate_backlog_age.ToTimedelta().total_seconds())
            POLLERS.labels(*labels).set(len(described.pollers))
            fresh = dt.datetime.now(dt.UTC) - POLLER_FRESH
            polling = polling and any(
                p.identity == self.identity and p.last_access_time.ToDatetime(dt.UTC) >= fresh
                for p in described.pollers)
        return polling

    async def run(self, workers_running: Callable[[], bool]) -> None:
        """Until cancelled: health and gauges from a check every interval (and the workers still running)."""
        while True:
            running = workers_running()
            polled = running and await self.check()
            self.misses = 0 if polled else self.misses + 1
            healthy = polled or (running and self.healthy and self.misses < MISSES_TOLERATED)
            if healthy != self.healthy:
                (log.info if healthy else log.warning)(
                    "worker %s: Temporal %s its pollers on %s", self.identity, "sees" if healthy else "does not see",
                    ", ".join(f"{q.name} ({q.task_type})" for q in self.queues))
                self.healthy = healthy
                POLLING.set(1 if healthy else 0)
                if self.health is not None:
                    status = health_pb2.HealthCheckResponse.SERVING if healthy else \
                        health_pb2.HealthCheckResponse.NOT_SERVING
                    await self.health.set("", status)
            # Until Temporal sees the pollers, look again soon: readiness comes as soon as they poll.
            await asyncio.sleep(self.interval if healthy else min(self.interval, UNHEALTHY_RECHECK))


class WorkerHealth:
    """The worker's gRPC server (health and reflection only, plaintext: kubelet probes speak no TLS): "" is
    SERVING while Temporal sees this worker's pollers, `liveness` while the process runs."""

    def __init__(self, running: RunningServer) -> None:
        self.running = running

    @classmethod
    async def start(cls, host: str, port: int) -> WorkerHealth:
        running = await create_server([], f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        await running.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        await running.health.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
        log.info("worker health on %s:%d", host, running.port)
        return cls(running)

    async def stop(self, grace: float = 1.0) -> None:
        """NOT_SERVING at once (the worker is going), then the server ends."""
        await self.running.health.enter_graceful_shutdown()
        await self.running.server.stop(grace)
