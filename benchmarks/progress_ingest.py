"""Ingest: ReportProgress events/s and latency into SQLite (WAL) and PostgreSQL, against a bare gRPC unary
call on the same server, with the same concurrency, in the same run. Goal: >= 2,000 events/s, p99 < 10 ms."""

from __future__ import annotations

import asyncio
import os
import time

from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks.common import backends, database, latency_line
from genmedia.channels import aio_channel
from genmedia.serving import create_server
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from genmedia.v1 import progress_service_pb2_grpc
from services.progress.bus import Bus
from services.progress.server import build_registrations
from services.progress.store import Store

EVENTS = int(os.environ.get("GENMEDIA_BENCH_INGEST_EVENTS", "4000"))
LANES = int(os.environ.get("GENMEDIA_BENCH_INGEST_CONCURRENCY", "16"))
JOBS = 64


async def lanes(call, count: int) -> tuple[list[float], float]:
    """Latencies (ms) of `count` calls made by LANES concurrent lanes, and the calls per second."""
    latencies: list[float] = []

    async def lane(n: int) -> None:
        for i in range(n):
            start = time.perf_counter()
            await call(i)
            latencies.append((time.perf_counter() - start) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(lane(count // LANES) for _ in range(LANES)))
    return latencies, len(latencies) / (time.perf_counter() - began)


async def run(var: str) -> None:
    print(f"\nReportProgress ingest: {EVENTS} events over {JOBS} jobs, {LANES} concurrent callers")
    for kind in backends():
        async with database(kind, var) as engine:
            running = await create_server(build_registrations(Store.for_engine(engine), Bus(1000), 15))
            channel = aio_channel(f"127.0.0.1:{running.port}")
            try:
                await measure(kind, channel)
            finally:
                await channel.close()
                await running.stop(0)


async def measure(kind: str, channel) -> None:
    stub = progress_service_pb2_grpc.ProgressServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    for j in range(JOBS):
        job = pb.Job(id=f"job{j}", kind=pb.JOB_KIND_IMAGE)
        event = pb.JobEvent(job_id=job.id, type=pb.EVENT_TYPE_CREATED)
        await stub.ReportProgress(ps.ReportProgressRequest(event=event, idempotency_key="c", job=job))
    counter = iter(range(10**9))

    async def report(_: int) -> None:
        n = next(counter)
        event = pb.JobEvent(job_id=f"job{n % JOBS}", type=pb.EVENT_TYPE_PROGRESS, percent=min(100.0, n / 50))
        await stub.ReportProgress(ps.ReportProgressRequest(event=event, idempotency_key=f"p{n}"), timeout=10)

    bare, bare_rate = await lanes(lambda _: health.Check(health_pb2.HealthCheckRequest(), timeout=5), EVENTS)
    await lanes(report, LANES * 20)  # warm-up
    ingest, rate = await lanes(report, EVENTS)
    name = "SQLite (WAL)" if kind == "sqlite" else "PostgreSQL"
    print(latency_line(f"baseline: bare gRPC unary ({name} run)", bare))
    print(latency_line(f"ReportProgress into {name}", ingest, bare))
    print(f"{'':<44} {rate:7.0f} events/s   (bare gRPC {bare_rate:7.0f} calls/s, "
          f"ratio {rate / bare_rate:4.2f}x; goal >= 2000 events/s)")
