"""Job metrics counted by the progress service: once per state change, whatever repeats or replica delivers
the report, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack

from prometheus_client import REGISTRY

from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from services.progress import jobmetrics
from services.progress.models import make_engine
from services.progress.schema import upgrade
from services.progress.store import Store
from tests.integration.progress import created, failure, progress_stub, report


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Samples:
    """Metric values now, to compare with later ones (the registry is the test process's, shared by all tests)."""

    NAMES = {
        "created": ("genmedia_jobs_created_total", {"kind": "image"}),
        "completed": ("genmedia_jobs_finished_total", {"kind": "image", "state": "completed"}),
        "failed": ("genmedia_jobs_finished_total", {"kind": "image", "state": "failed"}),
        "durations": ("genmedia_job_duration_seconds_count", {"kind": "image"}),
        "queue_waits": ("genmedia_job_queue_wait_seconds_count", {"kind": "image"}),
        "review_waits": ("genmedia_review_wait_seconds_count", {"kind": "image"}),
        "completed_events": ("genmedia_progress_events_total", {"type": "completed"}),
        "not_found": ("genmedia_progress_ingest_errors_total", {"reason": "JOB_NOT_FOUND"}),
        "invalid": ("genmedia_progress_ingest_errors_total", {"reason": "INVALID_ARGUMENT"}),
    }

    def __init__(self) -> None:
        self.start = {key: sample(name, **labels) for key, (name, labels) in self.NAMES.items()}

    def delta(self) -> dict[str, float]:
        return {key: sample(name, **labels) - self.start[key] for key, (name, labels) in self.NAMES.items()}


async def run_job(stub, job_id: str, end: int, review: bool = False) -> None:
    await stub.ReportProgress(created(job_id))
    await stub.ReportProgress(report(job_id, "started", pb.EVENT_TYPE_STARTED))
    if review:
        await stub.ReportProgress(report(job_id, "awaiting", pb.EVENT_TYPE_AWAITING_REVIEW))
        await stub.ReportProgress(report(job_id, "reviewed", pb.EVENT_TYPE_REVIEWED, state=pb.JOB_STATE_RUNNING))
    await stub.ReportProgress(report(job_id, "end", end))


async def test_each_state_change_is_counted_once_however_often_it_is_reported(database) -> None:
    before = Samples()
    async with progress_stub(database) as stub:
        await run_job(stub, "m-ok", pb.EVENT_TYPE_COMPLETED, review=True)
        await run_job(stub, "m-bad", pb.EVENT_TYPE_FAILED)
        for _ in range(3):  # a retried activity reports again: duplicates change nothing
            await stub.ReportProgress(report("m-ok", "end", pb.EVENT_TYPE_COMPLETED))
            await stub.ReportProgress(created("m-ok"))
        await failure(stub.ReportProgress(report("m-unknown", "x", pb.EVENT_TYPE_STARTED)))
        batch = await stub.ReportProgressBatch(ps.ReportProgressBatchRequest(reports=[
            report("m-unknown", "y", pb.EVENT_TYPE_STARTED), ps.ReportProgressRequest(idempotency_key="no event")]))
        assert [r.WhichOneof("outcome") for r in batch.results] == ["error", "error"]
        assert before.delta() == {"created": 2, "completed": 1, "failed": 1, "durations": 1, "queue_waits": 2,
                                  "review_waits": 1, "completed_events": 1, "not_found": 2, "invalid": 1}


async def test_replicas_sent_the_same_reports_count_each_job_once(database) -> None:
    before = Samples()
    ids = [f"r-{uuid.uuid4().hex[:8]}" for _ in range(5)]
    async with AsyncExitStack() as stack:
        replicas = [await stack.enter_async_context(progress_stub(database)) for _ in range(2)]
        for job_id in ids:
            await replicas[0].ReportProgress(created(job_id))
            await replicas[1].ReportProgress(report(job_id, "started", pb.EVENT_TYPE_STARTED))

        async def end_on_both(job_id: str) -> list[bool]:
            """A worker whose answer was lost sends again, and the Service routes it to the other replica."""
            ending = report(job_id, "end", pb.EVENT_TYPE_COMPLETED)
            return [(await replica.ReportProgress(ending)).duplicate for replica in replicas]

        assert await asyncio.gather(*(end_on_both(job_id) for job_id in ids)) == [[False, True]] * len(ids)
    delta = before.delta()
    assert (delta["created"], delta["completed"], delta["durations"], delta["completed_events"]) == (5, 5, 5, 5)


async def test_jobs_by_state_are_read_from_the_database(database) -> None:
    engine = make_engine(database.url, database.connect_args)
    await upgrade(engine)
    store = Store.for_engine(engine)
    try:
        for i, end in enumerate([None, pb.EVENT_TYPE_COMPLETED, pb.EVENT_TYPE_COMPLETED, pb.EVENT_TYPE_FAILED]):
            job_id = f"g{i}"
            await store.report(pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_CREATED), "created",
                               pb.Job(id=job_id, kind=pb.JOB_KIND_VIDEO))
            if end:
                await store.report(pb.JobEvent(job_id=job_id, type=end), "end")
        await jobmetrics.count_jobs(store.sessions)
    finally:
        store.close()
        await engine.dispose()
    states = {state: sample("genmedia_jobs", state=state) for state in jobmetrics.STATES.values()}
    assert states == {"pending": 1, "running": 0, "retrying": 0, "awaiting_review": 0, "paused": 0,
                      "completed": 2, "failed": 1, "cancelled": 0}
