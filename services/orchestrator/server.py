"""Entry of the orchestrator process: the API role (JobService), the worker role, or both."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from genmedia.assetstore import Store, open_store
from genmedia.serving import server as serving
from genmedia.serving.metrics import start_metrics_server
from genmedia.v1 import job_service_pb2_grpc, progress_service_pb2_grpc
from services.orchestrator import telemetry
from services.orchestrator.backends import with_service_slots
from services.orchestrator.config import Settings
from services.orchestrator.jobs import JobManager
from services.orchestrator.queues import Queue, QueueWatch, WorkerHealth
from services.orchestrator.servicer import JobServicer
from services.orchestrator.temporal import connect
from services.orchestrator.worker import build_workers, run_workers

log = logging.getLogger(__name__)
SERVICE_NAME = "genmedia.v1.JobService"


def _exit_if_crashed(task: asyncio.Task, stop: asyncio.Event) -> None:
    """Workers that die on their own take the process down (SIGTERM to itself: the usual graceful path,
    whose await of the workers then raises), so a supervisor restarts it instead of it idling."""
    if not stop.is_set() and (task.cancelled() or task.exception() is not None):
        log.error("workers stopped unexpectedly: %r", None if task.cancelled() else task.exception())
        os.kill(os.getpid(), signal.SIGTERM)


def build_registrations(manager: JobManager, store: Store | None = None) -> list[serving.Registration]:
    """JobService, reading assets from `store` (default: the one the settings name)."""
    store = store or open_store("orchestrator", manager.settings.asset_store)
    return [serving.Registration(SERVICE_NAME, job_service_pb2_grpc.add_JobServiceServicer_to_server,
                                 JobServicer(manager, store))]


def worker_queues(settings: Settings) -> list[Queue]:
    return [Queue(settings.task_queue, "workflow"), Queue(settings.task_queue, "activity"),
            Queue(settings.image_task_queue, "activity"), Queue(settings.video_task_queue, "activity")]


async def serve_forever(role: str, settings: Settings) -> None:
    is_worker = role in ("worker", "all")
    runtime, health = None, None
    if is_worker:
        # Health first: while Temporal is awaited the worker is alive (liveness) and not yet ready.
        if settings.worker_port >= 0:
            health = await WorkerHealth.start(settings.serving.host, settings.worker_port)
        if settings.worker_metrics_port >= 0:
            runtime, url = telemetry.temporal_runtime()
            start_metrics_server(settings.worker_metrics_port, settings.serving.host)
            telemetry.export_temporal_metrics(url)
    client = await connect(settings.temporal, runtime)
    stop = asyncio.Event()
    workers = watching = None
    if is_worker:
        settings = await with_service_slots(settings)
        workers = asyncio.create_task(run_workers(build_workers(client, settings), stop))
        workers.add_done_callback(lambda task: _exit_if_crashed(task, stop))
        watch = QueueWatch(client, worker_queues(settings), health.running.health if health else None,
                           settings.queue_check_seconds)
        watching = asyncio.create_task(watch.run(lambda: not workers.done()))
        log.info("worker polling %s, %s (%d slots), %s (%d slots) on %s", settings.task_queue,
                 settings.image_task_queue, settings.image_slots, settings.video_task_queue,
                 settings.video_slots, settings.temporal.describe())

    async def stop_workers() -> None:
        stop.set()
        if health is not None:
            await health.stop()
        if watching is not None:
            watching.cancel()
        if workers is not None:
            await workers
        log.info("orchestrator (%s) stopped", role)

    if role == "worker":
        await serving.wait_for_signal()
        log.info("worker shutting down: finishing running activities for up to %.0fs", settings.serving.grace_seconds)
        await stop_workers()
        return
    progress = progress_service_pb2_grpc.ProgressServiceStub(settings.channel(settings.progress_addr))
    manager = JobManager(client, progress, settings)
    store = open_store("orchestrator", settings.asset_store)

    async def stop_all() -> None:
        await stop_workers()
        await store.close()

    await serving.serve(settings.serving, build_registrations(manager, store), on_stop=stop_all)
