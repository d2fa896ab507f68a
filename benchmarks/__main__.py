"""`make bench`: every section's figures against their baselines measured in the same run, as one table
(benchmarks/table.py). GENMEDIA_BENCH_ONLY=render,fanout runs some sections alone. The CreateJob section is
here: CreateJob latency against a bare grpc.aio unary call and a bare Temporal start_workflow."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from grpc_health.v1 import health_pb2, health_pb2_grpc
from temporalio.testing import WorkflowEnvironment

from benchmarks.common import percentile, temporal_dev_server
from benchmarks.quiet import report_only
from benchmarks.table import ROWS, Row, add, add_measured, bench_dir, save, text_table
from genmedia.channels import aio_channel
from genmedia.config import var_dir
from genmedia.serving.server import create_server
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2, job_service_pb2_grpc, progress_service_pb2_grpc

CALLS = int(os.environ.get("GENMEDIA_BENCH_CALLS", "300"))
CONCURRENCY = int(os.environ.get("GENMEDIA_BENCH_CONCURRENCY", "1"))


async def measure(call: Callable[[], Awaitable[object]]) -> list[float]:
    """Latencies (ms) of CALLS calls, CONCURRENCY at a time, after a warm-up."""
    for _ in range(20):
        await call()
    latencies: list[float] = []

    async def one_lane(n: int) -> None:
        for _ in range(n):
            start = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - start) * 1000)

    await asyncio.gather(*(one_lane(CALLS // CONCURRENCY) for _ in range(CONCURRENCY)))
    return latencies


def summary(name: str, latencies: list[float], baseline: list[float] | None = None) -> str:
    ordered = sorted(latencies)
    p50, p99 = statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]
    line = f"{name:<34} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms"
    if baseline:
        base = sorted(baseline)
        line += (f"   ratio p50 {p50 / statistics.median(base):5.1f}x"
                 f"  p99 {p99 / base[int(len(base) * 0.99) - 1]:5.1f}x")
    return line


SECTIONS = ("render", "image", "createjob", "createload", "throughput", "ingest", "fanout", "listing", "batch",
            "download", "providers")
# The sections that need a Temporal dev server (each gets one of its own).
TEMPORAL = {"createjob", "createload", "throughput", "batch", "download", "providers"}


def chosen() -> list[str]:
    """GENMEDIA_BENCH_ONLY: a comma list of sections (all when unset)."""
    only = [name.strip() for name in os.environ.get("GENMEDIA_BENCH_ONLY", "").split(",") if name.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"GENMEDIA_BENCH_ONLY: unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    return [name for name in SECTIONS if name in only] if only else list(SECTIONS)


async def main() -> None:
    """Runs the chosen sections in a temporary directory (removed after: its SQLite databases hold a million
    jobs, 400 MB). The terminal gets the table; the sections' own lines go to var/bench/latest.txt and what
    is neither (servers' logs) to var/logs/bench.log."""
    sections, started = chosen(), dt.datetime.now(dt.UTC)
    log = var_dir() / "logs" / "bench.log"
    reports = bench_dir()  # (before run() points GENMEDIA_VAR_DIR at the temporary directory)
    details = reports / "latest.txt"
    details.parent.mkdir(parents=True, exist_ok=True)
    var = Path(tempfile.mkdtemp(prefix="genmedia-bench-"))
    try:
        with report_only(log), details.open("w", buffering=1) as lines, contextlib.redirect_stdout(lines):
            await run(var, sections)
    finally:
        shutil.rmtree(var, ignore_errors=True)
    saved = save(ROWS, started, reports)
    print(text_table(ROWS))
    print(f"\n(as JSON: {saved}; `make bench-compare` compares it with the run before; the sections' lines: "
          f"{details}; the servers' logs: {log})")


async def run(var: Path, sections: list[str]) -> None:
    os.environ.update(GENMEDIA_VAR_DIR=str(var), GENMEDIA_LOG_LEVEL="WARNING")
    from benchmarks import (
        asset_download,
        batch,
        create_latency,
        placeholder,
        progress_fanout,
        progress_ingest,
        progress_listing,
        providers,
        render,
        throughput,
    )

    simple = {"render": render, "image": placeholder, "ingest": progress_ingest, "fanout": progress_fanout,
              "listing": progress_listing}
    for name in sections:
        if name not in TEMPORAL:
            await simple[name].run(str(var))
            continue
        # A dev server of its own: the workflows an earlier section left (thousands, some never finishing)
        # slow the dev server's in-memory store, and with it every later section (docs/benchmarks.md).
        env = await temporal_dev_server()
        try:
            if name == "createjob":
                await create_job(env)
            elif name == "createload":
                add_measured(name, await create_latency.run(str(var), env), "bare start_workflow")
            elif name == "throughput":
                add_measured(name, await throughput.run(str(var), env), "bare Temporal, same workflow shape")
            elif name == "batch":
                await batch.run(str(var), env)
            elif name == "download":
                await asset_download.run(str(var), env.client.service_client.config.target_host)
            else:
                await providers.run(str(var), env)
        finally:
            await env.shutdown()


async def create_job(env: WorkflowEnvironment) -> None:
    from services.orchestrator.api.jobs import JobManager
    from services.orchestrator.config import Settings
    from services.orchestrator.model import JobInput
    from services.orchestrator.server import build_registrations
    from services.orchestrator.worker.workflows import GenerationJobWorkflow
    from services.progress import config as progress_config
    from services.progress import server as progress_server
    from services.progress.bus import Bus
    from services.progress.store import Store

    engine = await progress_server.open_database(progress_config.Settings.from_env())
    progress = await create_server(progress_server.build_registrations(Store.for_engine(engine), Bus(1000), 15))
    settings = replace(Settings.from_env(), progress_addr=f"127.0.0.1:{progress.port}", task_queue="bench-unpolled")
    progress_channel = aio_channel(settings.progress_addr)
    stub = progress_service_pb2_grpc.ProgressServiceStub(progress_channel)
    api = await create_server(build_registrations(JobManager(env.client, stub, settings)))
    channel = aio_channel(f"127.0.0.1:{api.port}")
    jobs = job_service_pb2_grpc.JobServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    spec = pb.JobSpec(video=pb.VideoSpec(prompt="a lighthouse at dusk"))
    try:
        bare = await measure(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=5))
        dummy = JobInput(job_id="bench", kind=pb.JOB_KIND_VIDEO, spec={}, owner="bench", create_time="")
        temporal = await measure(lambda: env.client.start_workflow(
            GenerationJobWorkflow.run, dummy, id=str(uuid.uuid4()), task_queue="bench-unpolled"))
        create = await measure(lambda: jobs.CreateJob(job_service_pb2.CreateJobRequest(spec=spec), timeout=10))
        print(f"\nCreateJob latency, {CALLS} calls, {CONCURRENCY} concurrent (SQLite progress store, "
              "Temporal dev server in memory)")
        print(summary("baseline: bare gRPC unary call", bare))
        print(summary("baseline: Temporal start_workflow", temporal))
        print(summary("CreateJob vs bare gRPC", create, bare))
        print(summary("CreateJob vs start_workflow", create, temporal))
        p99, base = percentile(create, 99), percentile(temporal, 99)
        # One caller at a time: a figure without a goal (the goal is at 20 callers, the createload section).
        add(Row("createjob", f"CreateJob p99, {CONCURRENCY} concurrent", p99, "ms", base, p99 / base,
                baseline_name="bare start_workflow"))
    finally:
        await channel.close()
        await progress_channel.close()
        await api.stop(0)
        await progress.stop(0)
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    # grpcio's poller thread can abort interpreter teardown ("PyGILState_Release ... must be current") once
    # a Temporal runtime and gRPC channels lived in one process; the figures are printed, so skip teardown.
    os._exit(0)
