"""The worker role: one Temporal client, a worker for job workflows and one per activity task queue,
whose slot counts match what the image and video services can take."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from genmedia.assetstore import open_store
from genmedia.serving.reporting import BatchingProgressStub
from genmedia.v1 import image_service_pb2_grpc, progress_service_pb2_grpc, video_service_pb2_grpc
from services.orchestrator.config import Settings
from services.orchestrator.progress import ProgressCalls
from services.orchestrator.worker.activities import JobActivities
from services.orchestrator.worker.batch_activities import BatchActivities
from services.orchestrator.worker.batch_workflow import BatchJobWorkflow
from services.orchestrator.worker.notify_activities import NotifyActivities
from services.orchestrator.worker.notify_workflows import NotificationWorkflow, RedeliveryWorkflow
from services.orchestrator.worker.recorded import RecordedActivities
from services.orchestrator.worker.reports import JobReports
from services.orchestrator.worker.retention import RetentionActivities, RetentionWorkflow, ensure_schedule
from services.orchestrator.worker.workflows import GenerationJobWorkflow

log = logging.getLogger(__name__)
# Outside Temporal's sandbox: it checked none of genmedia's code (passed through), and cost a few ms a job;
# replay tests guard determinism instead (docs/orchestration.md, "Sandbox").
RUNNER = UnsandboxedWorkflowRunner()


def build_workers(client: Client, settings: Settings) -> list[Worker]:
    channels = {name: settings.channel(addr) for name, addr in (
        ("progress", settings.progress_addr), ("image", settings.image_addr), ("video", settings.video_addr))}
    # Every activity of this worker shares batches, on one ReportProgressStream (genmedia.serving.reporting).
    progress = ProgressCalls(BatchingProgressStub(progress_service_pb2_grpc.ProgressServiceStub(channels["progress"]),
                                                  settings.rpc_timeout, stream=True), settings.rpc_timeout)
    acts = JobActivities(
        progress=progress,
        image=image_service_pb2_grpc.ImageServiceStub(channels["image"]),
        video=video_service_pb2_grpc.VideoServiceStub(channels["video"]),
        progress_interval=settings.progress_interval,
        step_timeout=max(settings.image_policy.start_to_close, settings.video_policy.start_to_close).total_seconds(),
    )
    retention = RetentionActivities(progress, lambda: open_store("worker", settings.asset_store))
    notifications = NotifyActivities(progress, settings.notify)
    graceful = timedelta(seconds=settings.serving.grace_seconds)
    # Heartbeats carry the step's percent, which JobService.GetJob reads live from Temporal, so they
    # are flushed every `heartbeat_flush` instead of the SDK's default of 0.8 x the heartbeat timeout.
    flush = timedelta(seconds=settings.heartbeat_flush)
    step_options = dict(graceful_shutdown_timeout=graceful, max_heartbeat_throttle_interval=flush,
                        default_heartbeat_throttle_interval=flush)
    batches = BatchActivities(progress)
    recorded = RecordedActivities(progress)
    reports = JobReports(acts)
    return [
        # First: run_workers creates the retention schedule on this worker's queue. Null jobs' steps run
        # here too, so their heartbeats are flushed as often as the generation steps'.
        Worker(client, task_queue=settings.task_queue,
               workflows=[GenerationJobWorkflow, BatchJobWorkflow, RetentionWorkflow, NotificationWorkflow,
                          RedeliveryWorkflow], workflow_runner=RUNNER,
               activities=[acts.report_event, reports.report_events, acts.estimate_steps, acts.run_null,
                           retention.purge_expired_jobs, batches.load_children, batches.cancel_children,
                           batches.summary, notifications.prepare_deliveries, notifications.deliver,
                           notifications.finish_delivery, notifications.begin_redelivery, recorded.recorded_percent],
               **step_options),
        Worker(client, task_queue=settings.image_task_queue, activities=[acts.generate_images],
               max_concurrent_activities=settings.image_slots or 2, **step_options),
        Worker(client, task_queue=settings.video_task_queue, activities=[acts.render_video],
               max_concurrent_activities=settings.video_slots or 1, **step_options),
    ]


async def run_workers(workers: list[Worker], stop: asyncio.Event) -> None:
    """Runs the workers until `stop` is set, then shuts them down gracefully."""
    tasks = [asyncio.create_task(w.run()) for w in workers]
    await start_retention(workers[0])  # once the workers poll: jobs never wait for it
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
    stopper.cancel()
    for task in tasks:
        if task in done and task.exception():
            raise task.exception()
    await asyncio.gather(*tasks, return_exceptions=True)


async def start_retention(worker: Worker) -> None:
    """Creates or updates the retention schedule (services.orchestrator.worker.retention) on the job queue; when
    Temporal refuses, jobs still run and the next start tries again."""
    try:
        await ensure_schedule(worker.client, worker.task_queue)
    except RPCError as err:
        log.error("could not create the retention schedule: %s", err)
