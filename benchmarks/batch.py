"""A batch of 1,000 null jobs (CreateBatch to COMPLETED, through the API, the batch workflow, the child
workflows and the progress store), against a baseline measured in the same run on the same Temporal server:
a bare parent workflow that runs 1,000 empty child workflows with the same concurrency."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from benchmarks.common import database
from benchmarks.table import Row, add
from genmedia.channels import aio_channel
from genmedia.client import GenmediaClient
from genmedia.serving.server import create_server
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2, progress_service_pb2_grpc
from genmedia.v1 import progress_service_pb2 as ps
from services.orchestrator.api.jobs import JobManager
from services.orchestrator.config import Settings
from services.orchestrator.server import build_registrations as api_registrations
from services.orchestrator.worker.run import build_workers
from services.progress.bus import Bus
from services.progress.server import build_registrations as progress_registrations
from services.progress.store import Store

CHILDREN = int(os.environ.get("GENMEDIA_BENCH_BATCH_CHILDREN", "1000"))
CONCURRENCY = int(os.environ.get("GENMEDIA_BENCH_BATCH_CONCURRENCY", "50"))


@workflow.defn(name="BenchEmptyChild")
class EmptyChild:
    @workflow.run
    async def run(self) -> None:
        return None


@workflow.defn(name="BenchBareParent")
class BareParent:
    """`count` empty children, at most `window` at once: what a batch costs Temporal alone."""

    @workflow.run
    async def run(self, count: int, window: int) -> None:
        running: set[asyncio.Task] = set()
        for i in range(count):
            if len(running) >= window:
                _, pending = await workflow.wait(running, return_when=asyncio.FIRST_COMPLETED)
                running = set(pending)
            running.add(asyncio.create_task(workflow.execute_child_workflow(
                EmptyChild.run, id=f"{workflow.info().workflow_id}-{i}")))
        await workflow.wait(running)


async def run(var: str, env: WorkflowEnvironment) -> None:
    print(f"\nBatch of {CHILDREN} null jobs (0 s each), {CONCURRENCY} at once, SQLite progress store")
    queue = f"bench-batch-{uuid.uuid4().hex[:8]}"
    worker = Worker(env.client, task_queue=queue, workflows=[BareParent, EmptyChild],
                    workflow_runner=UnsandboxedWorkflowRunner())
    async with worker:
        began = time.perf_counter()
        await env.client.execute_workflow(BareParent.run, args=[CHILDREN, CONCURRENCY], id=f"{queue}-parent",
                                          task_queue=queue, execution_timeout=timedelta(minutes=30))
        bare = time.perf_counter() - began
    async with database("sqlite", var) as engine:
        progress = await create_server(progress_registrations(Store.for_engine(engine), Bus(1000), 15))
        settings = replace(Settings.from_env(), task_queue=queue, progress_addr=f"127.0.0.1:{progress.port}",
                           image_task_queue=f"{queue}-image", video_task_queue=f"{queue}-video")
        channel = aio_channel(settings.progress_addr)
        api = await create_server(api_registrations(
            JobManager(env.client, progress_service_pb2_grpc.ProgressServiceStub(channel), settings)))
        workers = build_workers(env.client, settings)
        tasks = [asyncio.create_task(w.run()) for w in workers]
        client = GenmediaClient(f"127.0.0.1:{api.port}", settings.progress_addr, timeout=60, token="")
        try:
            batch, elapsed, events = await _one_batch(client)
        finally:
            await client.close()
            await asyncio.gather(*(w.shutdown() for w in workers))
            await asyncio.gather(*tasks, return_exceptions=True)
            await channel.close()
            await api.stop(0)
            await progress.stop(0)
    print(f"{'baseline: bare parent, empty children':<44} {bare:7.1f} s   {CHILDREN / bare:6.0f} children/s")
    print(f"{'batch of null jobs, CreateBatch to COMPLETED':<44} {elapsed:7.1f} s   {CHILDREN / elapsed:6.0f} jobs/s"
          f"   ratio {elapsed / bare:5.1f}x   ({events} progress events, {events / elapsed:.0f}/s; "
          f"{pb.JobState.Name(batch.state)}, {batch.batch.completed} completed)")
    add(Row("batch", f"batch of {CHILDREN} null jobs, {CONCURRENCY} at once: CreateBatch to COMPLETED",
            CHILDREN / elapsed, "jobs/s", CHILDREN / bare, bare / elapsed, baseline_name="bare parent, empty children",
            extra={"seconds": elapsed, "state": pb.JobState.Name(batch.state)}))


async def _one_batch(client: GenmediaClient) -> tuple[pb.Job, float, int]:
    """Runs one batch to its end; its duration and how many events the store recorded for it and its jobs."""
    jobs = [job_service_pb2.CreateJobRequest(spec=pb.JobSpec(null=pb.NullSpec())) for _ in range(CHILDREN)]
    began = time.perf_counter()
    batch = await client.create_batch(jobs, max_concurrent=CONCURRENCY)
    print(f"{f'CreateBatch of {CHILDREN} jobs (recorded PENDING)':<44} {(time.perf_counter() - began) * 1000:7.0f} ms")
    async for message in client.watch(batch.id):
        if message.WhichOneof("payload") == "event" and message.event.state in (
                pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED):
            break
    elapsed = time.perf_counter() - began
    final = (await client.get_job(batch.id)).job
    events = final.last_sequence
    token = ""
    while True:
        page = await client.list_jobs(100, token, ps.JobFilter(batch_id=batch.id))
        events += sum(job.last_sequence for job in page.jobs)
        if not (token := page.next_page_token):
            return final, elapsed, events
