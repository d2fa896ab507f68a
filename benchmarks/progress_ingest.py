"""Ingest: reports into SQLite (WAL) and PostgreSQL, measured on a real genmedia-progress process (as
deployed: the load generator runs in this process, not in the server's), each figure against a bare gRPC
unary call (health Check) on the same server, driven the same way in the same run.

The reports are sent as the orchestrator's workers send them: through genmedia.reporting's batching
stub, so concurrent reports share ReportProgressBatch calls. One ReportProgress call per report is
measured too, for reference: it is bounded by gRPC's per-call cost, about what a bare call costs.

LANES callers each send their next report when the last one is answered (closed loop): the events/s
(goal >= 2,000) and the latency of each report (goal p99 < 10 ms) are measured in the same run, so both
goals hold at once.
"""

from __future__ import annotations

import asyncio
import os
import time

from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks.common import backends, latency_line, progress_process
from genmedia.channels import aio_channel
from genmedia.reporting import BatchingProgressStub
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from genmedia.v1 import progress_service_pb2_grpc

EVENTS = int(os.environ.get("GENMEDIA_BENCH_INGEST_EVENTS", "6000"))
LANES = int(os.environ.get("GENMEDIA_BENCH_INGEST_CONCURRENCY", "16"))
JOBS = 64


async def closed_loop(call, count: int) -> tuple[float, list[float]]:
    """Calls per second of `count` calls made by LANES concurrent callers, and each call's latency (ms)."""
    latencies: list[float] = []

    async def lane(n: int) -> None:
        for i in range(n):
            began = time.perf_counter()
            await call(i)
            latencies.append((time.perf_counter() - began) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(lane(count // LANES) for _ in range(LANES)))
    return len(latencies) / (time.perf_counter() - began), latencies


async def run(var: str) -> None:
    print(f"\nIngest into a genmedia-progress process: {EVENTS} progress events over {JOBS} jobs from {LANES} "
          "concurrent callers")
    for kind in backends():
        async with progress_process(kind, var) as (_, port):
            channel = aio_channel(f"127.0.0.1:{port}")
            try:
                await measure(kind, channel)
            finally:
                await channel.close()


async def measure(kind: str, channel) -> None:
    stub = progress_service_pb2_grpc.ProgressServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    for j in range(JOBS):
        job = pb.Job(id=f"job{j}", kind=pb.JOB_KIND_IMAGE)
        event = pb.JobEvent(job_id=job.id, type=pb.EVENT_TYPE_CREATED)
        await stub.ReportProgress(ps.ReportProgressRequest(event=event, idempotency_key="c", job=job))
    counter = iter(range(10**9))

    def report_with(target):
        async def report(_: int) -> None:
            n = next(counter)
            event = pb.JobEvent(job_id=f"job{n % JOBS}", type=pb.EVENT_TYPE_PROGRESS, percent=min(100.0, n / 100))
            await target.ReportProgress(ps.ReportProgressRequest(event=event, idempotency_key=f"p{n}"), timeout=10)

        return report

    def bare(_: int):
        return health.Check(health_pb2.HealthCheckRequest(), timeout=10)

    unary, batched = report_with(stub), report_with(BatchingProgressStub(stub, timeout=10))
    for call in (bare, unary, batched):
        await closed_loop(call, LANES * 20)  # warm-up
    (bare_rate, bare_ms), (unary_rate, unary_ms), (rate, ms) = [
        await closed_loop(call, EVENTS) for call in (bare, unary, batched)]
    name = "SQLite (WAL)" if kind == "sqlite" else "PostgreSQL"
    print(latency_line(f"baseline: bare gRPC unary ({name} run)", bare_ms))
    print(latency_line(f"reports into {name} (goal p99 < 10 ms)", ms, bare_ms))
    print(f"{'':<44} {rate:7.0f} events/s   (bare gRPC {bare_rate:7.0f} calls/s, ratio {rate / bare_rate:4.2f}x; "
          "goal >= 2000 events/s)")
    print(latency_line("  for reference: a ReportProgress per event", unary_ms, bare_ms))
    print(f"{'':<44} {unary_rate:7.0f} events/s   (ratio {unary_rate / bare_rate:4.2f}x)")
