"""Retention: a Temporal Schedule runs RetentionWorkflow every interval, which purges terminal jobs that
ended more than GENMEDIA_RETENTION_DAYS ago, with their events (ProgressService.PurgeJobs) and assets.

The worker creates the schedule at start-up, or updates it when it exists, so every worker start is the
same whatever ran before; the job task queue runs the workflow and its activity."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
    from genmedia.assetstore import AssetError, Store
    from genmedia.config import ConfigError, Section, Var, env_float, env_str
    from genmedia.domain.jobrules import TERMINAL_STATES
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
    def __init__(self, progress: progress_service_pb2_grpc.ProgressServiceStub, assets: Callable[[], Store],
                 rpc_timeout: float) -> None:
        """`assets` opens the asset store (once per run: it holds connections only while it purges)."""
        self._progress, self._assets, self._timeout = progress, assets, rpc_timeout

    @activity.defn(name="purge_expired_jobs")
    async def purge_expired_jobs(self, purge: PurgeInput) -> int:
        """Deletes the assets of every job that ended before the cutoff, then purges their records batch after
        batch until nothing that old is left; returns how many jobs went. Assets go first: a run that fails
        between the two leaves records for the next run to purge, never files that no record leads to."""
        ended_before = datetime.fromisoformat(purge.ended_before)
        async with self._assets() as store:
            await self._delete_assets(store, ended_before)
        request = progress_service_pb2.PurgeJobsRequest(limit=PURGE_BATCH)
        request.ended_before.FromDatetime(ended_before)
        purged = 0
        while True:
            response = await self._progress.PurgeJobs(request, timeout=self._timeout)
            purged += len(response.job_ids)
            activity.heartbeat(purged)
            if len(response.job_ids) < PURGE_BATCH:
                return purged

    async def _delete_assets(self, store: Store, ended_before: datetime) -> None:
        """The assets of the jobs PurgeJobs will take: terminal, ended before the cutoff (so made before it)."""
        flt = progress_service_pb2.JobFilter(states=sorted(TERMINAL_STATES))
        flt.created_before.FromDatetime(ended_before)
        request = progress_service_pb2.ListJobsRequest(filter=flt, page_size=100,
                                                       order=progress_service_pb2.LIST_ORDER_OLDEST_FIRST)
        deleted = 0
        while True:
            page = await self._progress.ListJobs(request, timeout=self._timeout)
            for job in page.jobs:
                if not job.HasField("end_time") or job.end_time.ToDatetime(UTC) >= ended_before:
                    continue
                try:
                    deleted += await store.delete_job(job.id)
                except AssetError:  # an id the asset store could never have written to
                    log.warning("no assets for purged job %r", job.id)
            activity.heartbeat(f"{deleted} assets deleted")
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token


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


ENV = Section("Retention (the worker's schedule)", (
    Var("GENMEDIA_RETENTION_DAYS", "30", "ended jobs older than this are purged, with their events and assets"),
    Var("GENMEDIA_RETENTION_INTERVAL_SECONDS", "3600", "how often the schedule runs"),
    Var("GENMEDIA_RETENTION_SCHEDULE_ID", "genmedia-retention", "the Temporal schedule's id"),
))
