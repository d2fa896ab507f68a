"""Null-job throughput through the whole stack (JobService.CreateJob, the genmedia worker's workflow, its
reports to a genmedia-progress process) against bare Temporal running the same workflow shape (one step
activity on the job queue, started with the same id policy and waited for the same way) on the same dev
server, with a plain Temporal worker as its user would write it (started eagerly, as JobService does when
the worker shares its process). Rounds alternate between the two, so that
the noise of a shared machine falls on both; the figure is the ratio of the medians (goal >= 0.9x)."""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import time
import uuid
from dataclasses import replace
from pathlib import Path

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from benchmarks.bare_job import BareJob, BareJobWorkflow, null_step
from benchmarks.common import progress_process, run_alone
from genmedia.channels import aio_channel
from genmedia.serving.server import create_server
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2, job_service_pb2_grpc, progress_service_pb2_grpc
from services.orchestrator.api.jobs import JobManager
from services.orchestrator.config import Settings
from services.orchestrator.server import build_registrations as api_registrations
from services.orchestrator.worker.run import RUNNER, build_workers

JOBS = int(os.environ.get("GENMEDIA_BENCH_THROUGHPUT_JOBS", "200"))
LANES = [int(n) for n in os.environ.get("GENMEDIA_BENCH_THROUGHPUT_LANES", "20,50").split(",")]
REPEATS = int(os.environ.get("GENMEDIA_BENCH_THROUGHPUT_REPEATS", "3"))


def cpu_seconds() -> dict[str, float]:
    """CPU time so far of this process (the API, the workers, the callers) and of its child processes by
    name (the Temporal dev server, genmedia-progress), from /proc."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    seconds = {"this process": usage.ru_utime + usage.ru_stime}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            name = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            seconds[name] = seconds.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return seconds


async def lanes(count: int, lanes_: int, one, cpu: dict[str, list[float]] | None = None) -> float:
    """Jobs per second of `count` jobs, `lanes_` callers each running one job to its end after another; the
    CPU milliseconds per job of each process go to `cpu`."""
    left = iter(range(count))

    async def lane() -> None:
        for _ in left:
            await one()

    before = cpu_seconds()
    began = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(lanes_)))
    rate = count / (time.perf_counter() - began)
    if cpu is not None:
        for name, seconds in cpu_seconds().items():
            if seconds - before.get(name, 0.0) > 0.001 * count:
                cpu.setdefault(name, []).append((seconds - before.get(name, 0.0)) * 1000 / count)
    return rate


async def run(var: str, env: WorkflowEnvironment) -> list[dict]:
    print(f"\nNull-job throughput: {JOBS} jobs, each caller runs a job to its end then the next; "
          f"{REPEATS} alternating rounds")
    client: Client = env.client
    queue = f"bench-throughput-{uuid.uuid4().hex[:8]}"
    bare_queue = f"{queue}-bare"
    rows = []
    async with progress_process("sqlite", var) as (_, progress_port):
        settings = replace(Settings.from_env(), task_queue=queue, image_task_queue=f"{queue}-image",
                           video_task_queue=f"{queue}-video", progress_addr=f"127.0.0.1:{progress_port}")
        channel = aio_channel(settings.progress_addr)
        api = await create_server(api_registrations(
            JobManager(client, progress_service_pb2_grpc.ProgressServiceStub(channel), settings)))
        api_channel = aio_channel(f"127.0.0.1:{api.port}")
        jobs = job_service_pb2_grpc.JobServiceStub(api_channel)
        workers = build_workers(client, settings)
        tasks = [asyncio.create_task(w.run()) for w in workers]
        bare_worker = Worker(client, task_queue=bare_queue, workflows=[BareJobWorkflow], activities=[null_step],
                             workflow_runner=RUNNER)  # as genmedia's worker runs its workflows
        bare_task = asyncio.create_task(bare_worker.run())
        spec = pb.JobSpec(null=pb.NullSpec())

        async def genmedia_job() -> None:
            job = await jobs.CreateJob(job_service_pb2.CreateJobRequest(spec=spec, request_id=str(uuid.uuid4())),
                                       timeout=30)
            await client.get_workflow_handle(job.id).result()

        async def bare_job() -> None:
            job_id = str(uuid.uuid4())
            handle = await client.start_workflow(BareJobWorkflow.run, BareJob(job_id, {"null": {}}), id=job_id,
                                                 task_queue=bare_queue,
                                                 id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                                                 request_eager_start=True)  # as JobService starts a job
            await handle.result()

        try:
            await lanes(20, 10, bare_job)  # warm-up: both workers' first tasks
            await lanes(20, 10, genmedia_job)
            for width in LANES:
                bare, full = [], []
                bare_cpu: dict[str, list[float]] = {}
                full_cpu: dict[str, list[float]] = {}
                for _ in range(REPEATS):
                    bare.append(await lanes(JOBS, width, bare_job, bare_cpu))
                    full.append(await lanes(JOBS, width, genmedia_job, full_cpu))
                ratio = statistics.median(full) / statistics.median(bare)
                ratios = sorted(f / b for f, b in zip(full, bare, strict=True))
                print(f"{f'{width} callers: bare Temporal':<44} {statistics.median(bare):7.1f} jobs/s "
                      f"({', '.join(f'{b:.1f}' for b in bare)})")
                print(f"{f'{width} callers: genmedia, CreateJob to its end':<44} {statistics.median(full):7.1f} "
                      f"jobs/s ({', '.join(f'{f:.1f}' for f in full)})   ratio {ratio:.2f}x "
                      f"[{ratios[0]:.2f}-{ratios[-1]:.2f}] (goal >= 0.9x)")
                for label, cpu in (("bare", bare_cpu), ("genmedia", full_cpu)):
                    print(f"{'':<4}CPU per job, {label}: " + ", ".join(
                        f"{name} {statistics.median(ms):.1f} ms" for name, ms in sorted(cpu.items())))
                rows.append({"name": f"null-job throughput, {width} callers", "value": statistics.median(full),
                             "unit": "jobs/s", "baseline": statistics.median(bare), "ratio": ratio,
                             "goal": ">= 0.9x"})
        finally:
            await asyncio.gather(*(w.shutdown() for w in [*workers, bare_worker]))
            await asyncio.gather(*tasks, bare_task, return_exceptions=True)
            await api_channel.close()
            await channel.close()
            await api.stop(0)
    return rows


if __name__ == "__main__":
    run_alone(run)
