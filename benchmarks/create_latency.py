"""CreateJob latency at 20 concurrent callers (each with a request_id, as genmedia's client sends), against
bare Temporal start_workflow of the same input on the same dev server, in alternating rounds. The job's
progress store is a genmedia-progress process, as deployed; no worker polls the queue, so only the submit
is measured. Goal: CreateJob p99 <= 1.2x the bare p99."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from dataclasses import replace

from temporalio.common import WorkflowIDReusePolicy
from temporalio.testing import WorkflowEnvironment

from benchmarks.common import percentile, progress_process, run_alone
from genmedia.channels import aio_channel
from genmedia.serving.server import create_server
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2, job_service_pb2_grpc, progress_service_pb2_grpc
from services.orchestrator.api.jobs import JobManager
from services.orchestrator.config import Settings
from services.orchestrator.model import JobInput
from services.orchestrator.server import build_registrations as api_registrations
from services.orchestrator.worker.workflows import GenerationJobWorkflow

CALLERS = int(os.environ.get("GENMEDIA_BENCH_CREATE_CALLERS", "20"))
# Short rounds, alternating, pooled: a stall of the shared machine hits both sides alike.
CALLS = int(os.environ.get("GENMEDIA_BENCH_CREATE_CALLS", "100"))  # per round and side
ROUNDS = int(os.environ.get("GENMEDIA_BENCH_CREATE_ROUNDS", "16"))


async def callers(one) -> list[float]:
    """Latencies (ms) of CALLS calls made by CALLERS callers, each making its next call when one returns."""
    left = iter(range(CALLS))
    latencies: list[float] = []

    async def caller() -> None:
        for _ in left:
            began = time.perf_counter()
            await one()
            latencies.append((time.perf_counter() - began) * 1000)

    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    return latencies


async def run(var: str, env: WorkflowEnvironment) -> list[dict]:
    print(f"\nCreateJob at {CALLERS} concurrent callers, {ROUNDS} alternating rounds of {CALLS} calls a side")
    queue = f"bench-create-{uuid.uuid4().hex[:8]}"  # polled by nobody
    spec = pb.JobSpec(image=pb.ImageSpec(prompt="a lighthouse at dusk"))
    async with progress_process("sqlite", var) as (_, progress_port):
        settings = replace(Settings.from_env(), task_queue=queue, progress_addr=f"127.0.0.1:{progress_port}")
        channel = aio_channel(settings.progress_addr)
        api = await create_server(api_registrations(
            JobManager(env.client, progress_service_pb2_grpc.ProgressServiceStub(channel), settings)))
        api_channel = aio_channel(f"127.0.0.1:{api.port}")
        jobs = job_service_pb2_grpc.JobServiceStub(api_channel)
        first = await jobs.CreateJob(job_service_pb2.CreateJobRequest(spec=spec), timeout=30)
        history = await env.client.get_workflow_handle(first.id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        template: JobInput = (await env.client.data_converter.decode(started.input.payloads, [JobInput]))[0]

        async def create() -> None:
            request = job_service_pb2.CreateJobRequest(spec=spec, request_id=str(uuid.uuid4()))
            await jobs.CreateJob(request, timeout=30)

        async def start() -> None:  # the same input (spec, policies, record) as the API's start
            job_id = str(uuid.uuid4())
            await env.client.start_workflow(GenerationJobWorkflow.run, replace(template, job_id=job_id), id=job_id,
                                            task_queue=queue, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)

        try:
            await callers(start)  # warm-up of both
            await callers(create)
            bare, full = [], []
            for n in range(ROUNDS):
                first, second = (start, create) if n % 2 == 0 else (create, start)
                a, b = await callers(first), await callers(second)
                bare += a if first is start else b
                full += b if first is start else a
        finally:
            await api_channel.close()
            await channel.close()
            await api.stop(0)
    ratio = percentile(full, 99) / percentile(bare, 99)
    halves = [percentile(f, 99) / percentile(b, 99) for f, b in ((full[:len(full) // 2], bare[:len(bare) // 2]),
                                                                  (full[len(full) // 2:], bare[len(bare) // 2:]))]
    print(f"{'baseline: bare start_workflow':<44} p50 {statistics.median(bare):7.2f} ms   "
          f"p99 {percentile(bare, 99):7.2f} ms")
    print(f"{'CreateJob (record and start)':<44} p50 {statistics.median(full):7.2f} ms   "
          f"p99 {percentile(full, 99):7.2f} ms   ratio p99 {ratio:.2f}x "
          f"[halves {min(halves):.2f}-{max(halves):.2f}], p50 {statistics.median(full) / statistics.median(bare):.2f}x"
          f" (goal p99 <= 1.2x)")
    return [{"name": f"CreateJob p99, {CALLERS} concurrent callers", "value": percentile(full, 99), "unit": "ms",
             "baseline": percentile(bare, 99), "ratio": ratio, "goal": "<= 1.2x"}]


if __name__ == "__main__":
    run_alone(run)
