"""Entry of the orchestrator process: the API role (JobService), the worker role, or both."""

from __future__ import annotations

import asyncio
import logging

from genmedia import serving
from genmedia.channels import aio_channel
from genmedia.metrics import start_metrics_server
from genmedia.v1 import job_service_pb2_grpc, progress_service_pb2_grpc
from services.orchestrator.config import Settings
from services.orchestrator.jobs import JobManager
from services.orchestrator.servicer import JobServicer
from services.orchestrator.worker import build_workers, connect_temporal, metrics_runtime, run_workers

log = logging.getLogger(__name__)
SERVICE_NAME = "genmedia.v1.JobService"


def build_registrations(manager: JobManager) -> list[serving.Registration]:
    return [serving.Registration(SERVICE_NAME, job_service_pb2_grpc.add_JobServiceServicer_to_server,
                                 JobServicer(manager))]


async def serve_forever(role: str) -> None:
    settings = Settings.from_env()
    client = await connect_temporal(settings, metrics_runtime(
        settings.worker_metrics_port if role in ("worker", "all") else -1))
    stop = asyncio.Event()
    tasks = []
    if role in ("worker", "all"):
        workers = build_workers(client, settings)
        tasks.append(asyncio.create_task(run_workers(workers, stop)))
        log.info("worker polling %s, %s (%d slots), %s (%d slots) on %s", settings.task_queue,
                 settings.image_task_queue, settings.image_slots, settings.video_task_queue,
                 settings.video_slots, settings.temporal_address)
    running = None
    if role in ("api", "all"):
        progress = progress_service_pb2_grpc.ProgressServiceStub(aio_channel(settings.progress_addr))
        metrics_port = start_metrics_server(settings.serving.metrics_port)
        running = await serving.create_server(build_registrations(JobManager(client, progress, settings)),
                                              settings.serving.address)
        log.info("orchestrator serving %s on %s:%d (metrics on %s)", SERVICE_NAME, settings.serving.host,
                 running.port, f":{metrics_port}/metrics" if metrics_port else "off")
    await serving.wait_for_signal()
    log.info("orchestrator (%s) shutting down", role)
    if running is not None:
        await running.stop(settings.serving.grace_seconds)
    stop.set()
    await asyncio.gather(*tasks)
    log.info("orchestrator (%s) stopped", role)
