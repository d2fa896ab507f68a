"""Retention: a Temporal Schedule runs RetentionWorkflow every interval, which purges terminal jobs that
ended more than GENMEDIA_RETENTION_DAYS ago, with their events (ProgressService.PurgeJobs) and assets.

The worker creates the schedule at start-up, or updates it when it exists, so every worker start is the
same whatever ran before; the job task queue runs the workflow and its activity."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import activity, workflow
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from genmedia.assets import AssetError, AssetStore
    from genmedia.config import ConfigError, env_float, env_str
    from genmedia.v1 import progress_service_pb2, progress_service_pb2_grpc

log = logging.getLogger(__name__)
WORKFLOW_NAME = "Retention"
PURGE_BATCH = 500


@dataclass(frozen=True)
class RetentionSettings:
    days: float  # GENMEDIA_RETENTION_DAYS (default 30): terminal jobs older than this are purged
    interval: timedelta  # GENMEDIA_RETENTION_INTERVAL_SECONDS (default 3600): how often the schedule runs
    schedule_id: str  # GENMEDIA_RETENTION_SCHEDULE_ID (default genmedia-retention)

    @classmethod
    def from_env(cls) -> RetentionSettings:
        days = env_float("GENMEDIA_RETENTION_DAYS", 30.0, lo=0.0)
        interval = env_float("GENMEDIA_RETENTION_INTERVAL_SECONDS", 3600.0, lo=1.0)
        if days <= 0:
            raise ConfigError(f"GENMEDIA_RETENTION_DAYS={days} must be above 0")
        return cls(days, timedelta(seconds=interval), env_str("GENMEDIA_RETENTION_SCHEDULE_ID", "genmedia-retention"))


@dataclass
class RetentionInput:
    days: float


@dataclass
class PurgeInput:
    ended_before: str  # RFC 3339, from the workflow's clock


class RetentionActivities:
    def __init__(self, progress: progress_service_pb2_grpc.ProgressServiceStub, assets: AssetStore,
                 rpc_timeout: float) -> None:
        self._progress, self._assets, self._timeout = progress, assets, rpc_timeout

    @activity.defn(name="purge_expired_jobs")
    async def purge_expired_jobs(self, purge: PurgeInput) -> int:
        """Purges batch after batch until nothing that old is left; returns how many jobs went."""
        request = progress_service_pb2.PurgeJobsRequest(limit=PURGE_BATCH)
        request.ended_before.FromDatetime(datetime.fromisoformat(purge.ended_before))
        purged = 0
        while True:
            response = await self._progress.PurgeJobs(request, timeout=self._timeout)
            for job_id in response.job_ids:
                try:
                    self._assets.delete_job(job_id)
                except AssetError:  # an id the asset store could never have written to
                    log.warning("no asset folder for purged job %r", job_id)
            purged += len(response.job_ids)
            activity.heartbeat(purged)
            if len(response.job_ids) < PURGE_BATCH:
                return purged


@workflow.defn(name=WORKFLOW_NAME)
class RetentionWorkflow:
    @workflow.run
    async def run(self, retention: RetentionInput) -> int:
        cutoff = workflow.now() - timedelta(days=retention.days)
        return await workflow.execute_activity(
            RetentionActivities.purge_expired_jobs, PurgeInput(cutoff.isoformat()),
            start_to_close_timeout=timedelta(minutes=30), heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5),
        )


def _schedule(settings: RetentionSettings, task_queue: str) -> Schedule:
    action = ScheduleActionStartWorkflow(
        RetentionWorkflow.run, RetentionInput(settings.days), id=f"{settings.schedule_id}-run",
        task_queue=task_queue, execution_timeout=timedelta(hours=1),
    )
    return Schedule(action=action, spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=settings.interval)]),
                    policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP))


async def ensure_schedule(client: Client, task_queue: str, settings: RetentionSettings | None = None) -> None:
    """Creates the retention schedule, or brings an existing one up to date (idempotent)."""
    settings = settings or RetentionSettings.from_env()
    schedule = _schedule(settings, task_queue)
    try:
        await client.create_schedule(settings.schedule_id, schedule)
        log.info("retention schedule %s created: every %s, %g days", settings.schedule_id, settings.interval,
                 settings.days)
    except ScheduleAlreadyRunningError:
        def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule.state = current.description.schedule.state  # keep a pause an operator set
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(settings.schedule_id).update(update)
        log.info("retention schedule %s updated", settings.schedule_id)
