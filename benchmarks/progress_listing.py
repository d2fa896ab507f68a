"""ListJobs with filters over 1,000,000 jobs (bulk-inserted straight into the table): a filtered page with
its total must stay under 50 ms; printed against a bare gRPC unary call on the same server."""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import time

from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from benchmarks.common import backends, database, latency_line, percentile
from benchmarks.table import Row, add
from genmedia.channels import aio_channel
from genmedia.serving.server import create_server
from genmedia.v1 import progress_service_pb2 as ps
from genmedia.v1 import progress_service_pb2_grpc
from services.progress.bus import Bus
from services.progress.server import build_registrations
from services.progress.store import Store

ROWS = int(os.environ.get("GENMEDIA_BENCH_LIST_ROWS", "1000000"))
CALLS = 100
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
COLUMNS = ("id, kind, state, step, percent, message, owner, request_id, spec, labels, assets, error_code, "
           "error_message, error_retryable, attempt, create_time, update_time, last_sequence, priority, review, "
           "review_round, reviews, batch_id")


# Rows inserted straight into jobs bypass the store: count them the way migration 0005 counts existing jobs.
RECOUNT = ("INSERT INTO job_counts (owner, kind, state, count) "
           "SELECT owner, kind, state, count(*) FROM jobs GROUP BY owner, kind, state")


def rows(count: int, postgres: bool):
    rng = random.Random(4)
    for i in range(count):
        created = T0 + dt.timedelta(seconds=i * 30 + rng.randrange(30))
        when = created if postgres else created.replace(tzinfo=None)
        yield (f"job-{i:08d}", rng.choice((1, 2)), rng.randrange(1, 9), 0, 0.0, "", "bench", "", b"",
               "{}", b"", "", "", False, 0, when, when, 1, 3, False, 0, b"", f"batch-{rng.randrange(1000)}")


async def fill(engine: AsyncEngine) -> float:
    """Bulk-inserts ROWS jobs; returns the seconds it took."""
    began = time.perf_counter()
    if engine.dialect.name == "sqlite":
        with sqlite3.connect(engine.url.database) as db:
            db.executemany(f"INSERT INTO jobs ({COLUMNS}) VALUES ({', '.join('?' * 23)})", rows(ROWS, False))
            db.execute(RECOUNT)
            db.execute("ANALYZE")
    else:
        async with engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            await raw.copy_records_to_table("jobs", records=rows(ROWS, True), columns=COLUMNS.split(", "))
            await raw.execute(RECOUNT)
            await raw.execute("ANALYZE")
    return time.perf_counter() - began


async def run(var: str) -> None:
    print(f"\nListJobs over {ROWS:,} jobs: one filtered page of 50 with total_size, {CALLS} calls (goal < 50 ms)")
    for kind in backends():
        async with database(kind, var) as engine:
            seconds = await fill(engine)
            running = await create_server(build_registrations(Store.for_engine(engine), Bus(1000), 15))
            channel = aio_channel(f"127.0.0.1:{running.port}")
            name = "SQLite" if kind == "sqlite" else "PostgreSQL"
            print(f"  ({name}: {ROWS:,} rows inserted in {seconds:.1f} s)")
            try:
                await measure(name, channel)
            finally:
                await channel.close()
                await running.stop(0)


async def measure(name: str, channel) -> None:
    stub = progress_service_pb2_grpc.ProgressServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    bare = await timed(lambda _: health.Check(health_pb2.HealthCheckRequest(), timeout=5))
    print(latency_line(f"baseline: bare gRPC unary ({name})", bare))
    rng = random.Random(1)
    two_states = ps.JobFilter(states=[2, 3])
    first = await stub.ListJobs(ps.ListJobsRequest(filter=two_states, order=ps.LIST_ORDER_OLDEST_FIRST))
    filters = {
        "batch": lambda: ps.ListJobsRequest(filter=ps.JobFilter(batch_id=f"batch-{rng.randrange(1000)}")),
        "state+kind": lambda: ps.ListJobsRequest(filter=ps.JobFilter(
            states=[rng.randrange(1, 9)], kind=rng.choice((1, 2)))),
        "states, oldest first, 2nd page": lambda: ps.ListJobsRequest(
            filter=two_states, order=ps.LIST_ORDER_OLDEST_FIRST, page_token=first.next_page_token),
        "created range (1 day)": lambda: ps.ListJobsRequest(filter=range_filter(rng)),
    }
    for label, make in filters.items():
        page = await stub.ListJobs(make())
        assert page.jobs, label  # 50 with the full table
        ms = await timed(lambda _, make=make: stub.ListJobs(make(), timeout=10))
        print(latency_line(f"ListJobs {label} ({name})", ms, bare))
        p99 = percentile(ms, 99)
        add(Row("listing", f"ListJobs over {ROWS:,} jobs, {label} ({name}), p99", p99, "ms", percentile(bare, 99),
                p99 / percentile(bare, 99), "< 50 ms", p99 < 50, "bare unary"))


def range_filter(rng: random.Random) -> ps.JobFilter:
    f = ps.JobFilter()
    start = T0 + dt.timedelta(days=rng.randrange(max(1, ROWS * 30 // 86400 - 1)))  # within the rows' span
    f.created_after.FromDatetime(start)
    f.created_before.FromDatetime(start + dt.timedelta(days=1))
    return f


async def timed(call) -> list[float]:
    latencies = []
    for i in range(CALLS):
        began = time.perf_counter()
        await call(i)
        latencies.append((time.perf_counter() - began) * 1000)
    return latencies


