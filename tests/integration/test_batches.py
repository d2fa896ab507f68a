"""Batches against the real Temporal dev server and the real progress store: the concurrency cap and the
order, checked from the children's recorded events; fail_fast; cancel; RetryBatch; the batch's aggregate."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.testing import WorkflowEnvironment

from genmedia.client import GenmediaClient
from genmedia.errors import details_of
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2
from genmedia.v1 import progress_service_pb2 as ps
from tests.integration.jobstack import EventLog, Stack, add_api, add_workers, configure_env, job_services

pytestmark = pytest.mark.timeout(240)

TERMINAL = (pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED)
ENDINGS = (pb.EVENT_TYPE_COMPLETED, pb.EVENT_TYPE_FAILED, pb.EVENT_TYPE_CANCELLED)


def null(seconds: float = 0.2, fail_with: str = "", **fields) -> job_service_pb2.CreateJobRequest:
    duration = Duration()
    duration.FromNanoseconds(int(seconds * 1e9))
    return job_service_pb2.CreateJobRequest(spec=pb.JobSpec(null=pb.NullSpec(duration=duration, fail_with=fail_with)),
                                            **fields)


@pytest.fixture
async def stack(temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    configure_env(monkeypatch, tmp_path)
    async with job_services(tmp_path) as stack:
        await add_api(stack, temporal)
        await add_workers(stack, temporal)
        yield stack


async def children(client: GenmediaClient, batch_id: str) -> list[pb.Job]:
    """Every child of a batch (every attempt), in batch order."""
    jobs, token = [], ""
    while True:
        page = await client.list_jobs(100, token, ps.JobFilter(batch_id=batch_id), oldest_first=True)
        jobs += page.jobs
        if not (token := page.next_page_token):
            return jobs


async def timelines(client: GenmediaClient, jobs: list[pb.Job]) -> dict[str, list[pb.JobEvent]]:
    return {job.id: [e async for e in client.job_events(job.id)] for job in jobs}


def running_intervals(events: dict[str, list[pb.JobEvent]]) -> dict[str, tuple[float, float]]:
    """Each started child's time running: from its STARTED event to its terminal event (store times)."""
    out = {}
    for job_id, timeline in events.items():
        started = [e for e in timeline if e.type == pb.EVENT_TYPE_STARTED]
        if started:
            end = next(e for e in timeline if e.type in ENDINGS)
            out[job_id] = (started[0].time.ToNanoseconds() / 1e9, end.time.ToNanoseconds() / 1e9)
    return out


def most_at_once(intervals: dict[str, tuple[float, float]]) -> int:
    """The largest number of intervals open at one moment (an end at the same time as a start comes first)."""
    edges = sorted([(s, 1) for s, _ in intervals.values()] + [(e, -1) for _, e in intervals.values()])
    running = peak = 0
    for _, delta in edges:
        running += delta
        peak = max(peak, running)
    return peak


async def test_50_null_jobs_with_max_concurrent_5_never_run_more_than_5_and_all_complete(stack: Stack) -> None:
    batch = await stack.client.create_batch([null(0.2) for _ in range(50)], max_concurrent=5)
    assert batch.kind == pb.JOB_KIND_BATCH and batch.batch.total == 50 and batch.batch.max_concurrent == 5
    listed = await stack.client.list_jobs(100, filter=ps.JobFilter(batch_id=batch.id))
    assert listed.total_size == 50  # every child is listable at once, PENDING until its turn
    log = EventLog(stack.client, batch.id)
    events = await log.end(timeout=120)
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED, events[-1]
    assert events[-1].batch.completed == 50 and events[-1].percent == 100.0
    progress = [e for e in events if e.type == pb.EVENT_TYPE_PROGRESS]
    assert progress and max(e.batch.running for e in progress) <= 5
    assert [e.percent for e in progress] == sorted(e.percent for e in progress)  # the mean never goes back
    jobs = await children(stack.client, batch.id)
    assert [j.batch_index for j in jobs] == list(range(50)) and {j.state for j in jobs} == {pb.JOB_STATE_COMPLETED}
    intervals = running_intervals(await timelines(stack.client, jobs))
    assert len(intervals) == 50
    assert most_at_once(intervals) == 5  # the cap was used, and never exceeded
    final = (await stack.client.get_job(batch.id)).job
    assert final.state == pb.JOB_STATE_COMPLETED and final.batch.completed == 50 and final.percent == 100.0
