"""Retention on the real Temporal dev server: the schedule the worker creates (idempotently) purges old
terminal jobs with their events and their assets (from a folder or an S3 bucket) when triggered, and keeps
everything else."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from sqlalchemy import update
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from genmedia.assetstore import StoreSettings, StoreUnavailable, asset_key, open_store
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import progress_service_pb2 as ps
from services.orchestrator.progress import ProgressCalls
from services.orchestrator.worker.retention import (
    PurgeInput,
    RetentionActivities,
    RetentionSettings,
    RetentionWorkflow,
    ensure_schedule,
)
from services.progress.models import JobRow, make_engine
from tests.integration.conftest import Database
from tests.integration.progress import created, progress_stub, report
from tests.integration.stores import PART, StoreUnderTest, make_store


async def test_triggered_schedule_purges_old_terminal_jobs_events_and_assets(database, temporal,
                                                                             store_env: StoreUnderTest):
    assets = store_env.open("image")
    async with progress_stub(database) as stub, assets:
        for job_id, end in (("old", pb.EVENT_TYPE_COMPLETED), ("old-failed", pb.EVENT_TYPE_FAILED),
                            ("recent", pb.EVENT_TYPE_COMPLETED), ("old-running", None)):
            await stub.ReportProgress(created(job_id))
            if end:
                await stub.ReportProgress(report(job_id, "end", end))
            await assets.write_chunks(asset_key(job_id, "image.png"), _one(b"png"), "image/png")
            await assets.write_chunks(asset_key(job_id, "video.mp4"), _one(os.urandom(PART + 1)), "video/mp4")
        engine = make_engine(database.url, database.connect_args)
        async with engine.begin() as connection:  # as if they had ended 40 days ago
            forty_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
            await connection.execute(update(JobRow).where(JobRow.id.like("old%"))
                                     .values(end_time=forty_days_ago, create_time=forty_days_ago))
        await engine.dispose()

        queue = f"retention-{uuid.uuid4().hex[:8]}"
        settings = RetentionSettings(days=30, interval=timedelta(hours=1), schedule_id=f"retention-{queue}")
        activities = RetentionActivities(ProgressCalls(stub, 5), lambda: store_env.open("worker"))
        async with Worker(temporal.client, task_queue=queue, workflows=[RetentionWorkflow],
                          activities=[activities.purge_expired_jobs]):
            await ensure_schedule(temporal.client, queue, settings)
            await ensure_schedule(temporal.client, queue, settings)  # a second worker start: no error
            handle = temporal.client.get_schedule_handle(settings.schedule_id)
            try:
                await handle.trigger()
                purged = await asyncio.wait_for(run_result(temporal.client, handle), 60)
                description = await handle.describe()
            finally:
                await handle.delete()
        remaining = {job.id for job in (await stub.ListJobs(ps.ListJobsRequest())).jobs}
        with pytest.raises(grpc.aio.AioRpcError) as gone:
            await stub.GetJob(js.GetJobRequest(job_id="old"))
    assert purged == 2 and remaining == {"recent", "old-running"}
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    for job_id in ("old", "old-failed"):
        assert await store_env.object_names(job_id) == []
    for job_id in ("recent", "old-running"):
        assert await store_env.object_names(job_id) == ["image.png", "video.mp4"]
    assert description.schedule.spec.intervals[0].every == timedelta(hours=1)


async def test_assets_are_deleted_before_records_so_a_store_failure_loses_track_of_nothing(
        s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The store failing in the middle of retention (its bucket gone): the run fails with the records still
    there, and the next run, the store back, purges them and their assets. The other order would leave
    objects that no record leads to."""
    under = await make_store("s3", s3_endpoint, tmp_path)
    for name, value in under.env.items():
        monkeypatch.setenv(name, value)
    sqlite = Database(f"sqlite+aiosqlite:///{tmp_path / 'retention.db'}")
    async with progress_stub(sqlite) as stub, under.open("image") as assets, under.closing:
        await stub.ReportProgress(created("old"))
        await stub.ReportProgress(report("old", "end", pb.EVENT_TYPE_COMPLETED))
        await assets.write_chunks(asset_key("old", "video.mp4"), _one(os.urandom(PART + 1)), "video/mp4")
        gone = replace(StoreSettings.from_env(), url="s3://no-such-bucket-here/assets")
        failing = RetentionActivities(ProgressCalls(stub, 5), lambda: open_store("worker", gone))
        later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
        with pytest.raises(StoreUnavailable, match="NoSuchBucket"):
            await ActivityEnvironment().run(failing.purge_expired_jobs, PurgeInput(later))
        assert (await stub.GetJob(js.GetJobRequest(job_id="old"))).id == "old"  # still there: nothing lost
        assert await under.object_names("old") == ["video.mp4"]
        working = RetentionActivities(ProgressCalls(stub, 5), lambda: under.open("worker"))
        assert await ActivityEnvironment().run(working.purge_expired_jobs, PurgeInput(later)) == 1
        assert await under.object_names("old") == []


async def _one(data: bytes):
    yield data


async def run_result(client, handle) -> int:
    """The result of the workflow the schedule started (it shows in recent_actions once started)."""
    while True:
        if actions := (await handle.describe()).info.recent_actions:
            return await client.get_workflow_handle(actions[-1].action.workflow_id).result()
        await asyncio.sleep(0.1)


def test_retention_settings_fail_fast(monkeypatch):
    from genmedia.config import ConfigError

    monkeypatch.setenv("GENMEDIA_RETENTION_DAYS", "0")
    with pytest.raises(ConfigError, match="GENMEDIA_RETENTION_DAYS"):
        RetentionSettings.from_env()
    monkeypatch.setenv("GENMEDIA_RETENTION_DAYS", "7.5")
    assert RetentionSettings.from_env().days == 7.5


