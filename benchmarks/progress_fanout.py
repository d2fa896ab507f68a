"""Fan-out: 1,000 concurrent WatchJob streams on one progress replica (a real genmedia-progress process on
SQLite), 100 per job on 10 jobs, each job reporting 10 events/s: event -> watcher latency p50/p99 and
delivery, against the bare grpc.aio fan-out server (benchmarks.fanout_baseline) driven the same way in
the same run, quiet and again beside a CPU-bound process (the two alternate, trial by trial); and the
server's memory per idle stream. Goal: p99 <= 1.5x the baseline in both, 100% delivered, <= 50 KiB per idle
stream."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from benchmarks.common import latency_line, percentile, progress_env, start
from benchmarks.table import Row, add, ratios
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from genmedia.v1 import progress_service_pb2_grpc

STREAMS = int(os.environ.get("GENMEDIA_BENCH_STREAMS", "1000"))
TRIALS = int(os.environ.get("GENMEDIA_BENCH_FANOUT_TRIALS", "5"))
SECONDS = float(os.environ.get("GENMEDIA_BENCH_FANOUT_SECONDS", "5"))
JOBS, RATE, CHANNELS = 10, 10, 10


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def drive(port: int, pid: int) -> tuple[list[float], int, int, float]:
    """Latencies (ms), events delivered, events expected and KiB per idle stream."""
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.channel_id", i)])
                for i in range(CHANNELS)]
    stubs = [progress_service_pb2_grpc.ProgressServiceStub(c) for c in channels]
    jobs = [f"fan{i}" for i in range(JOBS)]
    for job_id in jobs:
        event = pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_CREATED)
        await stubs[0].ReportProgress(ps.ReportProgressRequest(
            event=event, idempotency_key="c", job=pb.Job(id=job_id, kind=pb.JOB_KIND_IMAGE)))
    before = rss_kib(pid)
    latencies: list[float] = []
    calls = [stubs[i % CHANNELS].WatchJob(ps.WatchJobRequest(job_id=jobs[i % JOBS])) for i in range(STREAMS)]
    await asyncio.gather(*(call.read() for call in calls))  # every snapshot: all streams are open
    await asyncio.sleep(1)
    per_stream = (rss_kib(pid) - before) / STREAMS

    async def read(call) -> None:
        while (response := await call.read()) is not grpc.aio.EOF:
            if not response.HasField("event"):
                continue  # heartbeats
            sent = response.event.time.seconds + response.event.time.nanos / 1e9
            latencies.append((time.time() - sent) * 1000)

    readers = [asyncio.create_task(read(call)) for call in calls]

    async def report(job_id: str) -> None:
        for n in range(round(RATE * SECONDS)):
            began = time.perf_counter()
            event = pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_PROGRESS, percent=n / 2)
            await stubs[0].ReportProgress(ps.ReportProgressRequest(event=event, idempotency_key=f"p{n}"))
            await asyncio.sleep(max(0.0, 1 / RATE - (time.perf_counter() - began)))

    await asyncio.gather(*(report(job_id) for job_id in jobs))
    expected = STREAMS * round(RATE * SECONDS)
    with contextlib.suppress(TimeoutError):  # what is missing then shows as less than 100% delivered
        async with asyncio.timeout(30):
            while True:  # the readers append; nothing to await for "all delivered"
                if len(latencies) >= expected:
                    break
                await asyncio.sleep(0.05)
    for call in calls:
        call.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    await asyncio.gather(*(c.close() for c in channels))
    return latencies, len(latencies), expected, per_stream


@contextlib.asynccontextmanager
async def neighbour(busy: bool) -> AsyncIterator[None]:
    """A CPU-bound process beside the trial (when busy): the machine's other work, competing for a core."""
    if not busy:
        yield
        return
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "while True: pass")
    try:
        yield
    finally:
        proc.kill()
        await proc.wait()


async def trial(var: str, name: str) -> tuple[list[float], int, int, float]:
    """One server process driven once: the progress service on a database of its own (the jobs and reports
    of an earlier trial would be duplicates, published to no one)."""
    args = {"baseline": [sys.executable, "-m", "benchmarks.fanout_baseline"],
            "progress": [str(Path(sys.executable).parent / "genmedia-progress")]}[name]
    own = Path(var, f"fanout-{uuid.uuid4().hex[:8]}")
    own.mkdir()
    proc, port = await start(args, progress_env(str(own), GENMEDIA_WATCH_BUFFER="10000"))
    try:
        return await drive(port, proc.pid)
    finally:
        proc.terminate()
        await proc.wait()


async def run(var: str) -> None:
    print(f"\nFan-out: {STREAMS} WatchJob streams ({STREAMS // JOBS} per job, {JOBS} jobs), {RATE} events/s "
          f"per job for {SECONDS} s; {TRIALS} trials each quiet and beside a CPU-bound process")
    delivered, memory = [], []
    for busy in (False, True):
        p99s: dict[str, list[float]] = {"baseline": [], "progress": []}
        for i in range(TRIALS):
            async with neighbour(busy):
                for name in ("baseline", "progress") if i % 2 == 0 else ("progress", "baseline"):
                    ms, got, expected, per_stream = await trial(var, name)
                    p99s[name].append(percentile(ms, 99))
                    print(latency_line(f"  {name}{' (neighbour)' * busy}, trial {i + 1}", ms)
                          + f"   delivered {got}/{expected}")
                    if name == "progress":
                        delivered.append(got / expected)
                        memory.append(per_stream)
        ratio, spread = ratios(p99s["progress"], p99s["baseline"])
        add(Row("fanout", f"WatchJob event -> watcher p99, {STREAMS} streams"
                + (", CPU-bound neighbour" if busy else ""), statistics.median(p99s["progress"]), "ms",
                statistics.median(p99s["baseline"]), ratio, "<= 1.5x", ratio <= 1.5, "bare grpc.aio",
                spread))
    add(Row("fanout", "WatchJob events delivered (worst trial)", min(delivered) * 100, "%", goal="100%",
            met=min(delivered) == 1.0))
    add(Row("fanout", "server memory per idle WatchJob stream", statistics.median(memory), "KiB",
            goal="<= 50 KiB", met=statistics.median(memory) <= 50))
