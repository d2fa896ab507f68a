"""200 image jobs through the real stack (JobService, Temporal, the worker, the image service's `openai`
backend) against a provider simulator that answers POST /v1/images/generations after 1 s and takes at most 8
requests at once (a 9th is refused 429). Figures: how busy genmedia keeps the provider (goal >= 90%, never
more than 8 at once), and the latency genmedia adds per job over a direct client call to the same simulator
(baseline measured in the same run; goal p50 <= 50 ms)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import signal
import statistics
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import httpx
from PIL import Image
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from benchmarks.common import percentile, progress_process, start
from benchmarks.provider_sim import DELAY, LIMIT
from benchmarks.table import Row, add
from genmedia.channels import aio_channel
from genmedia.client import GenmediaClient
from genmedia.serving.server import create_server
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from genmedia.v1 import progress_service_pb2_grpc
from services.orchestrator.api.backends import with_service_slots
from services.orchestrator.api.jobs import JobManager
from services.orchestrator.config import Settings
from services.orchestrator.server import build_registrations as api_registrations
from services.orchestrator.worker.run import build_workers

JOBS = int(os.environ.get("GENMEDIA_BENCH_PROVIDER_JOBS", "200"))
LATENCY_JOBS = int(os.environ.get("GENMEDIA_BENCH_PROVIDER_LATENCY_JOBS", "20"))
KEY = "sk-bench"


class Simulator:
    """The provider, in its own process (benchmarks.provider_sim); its log of busy intervals comes back at stop."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.spans: list[tuple[float, float]] = []
        self.most = self.refused = 0

    async def start(self) -> str:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.provider_sim", stdout=asyncio.subprocess.PIPE,
            cwd=str(Path(__file__).resolve().parent.parent))
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        return f"http://127.0.0.1:{int(line.split()[1])}/v1"

    async def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = await self.proc.communicate()
        facts = dict(line.split(" ", 1) for line in out.decode().splitlines() if " " in line)
        self.spans = [tuple(s) for s in json.loads(facts["spans"])]
        self.most, self.refused = int(facts["most"]), int(facts["refused"])

    def gaps(self, since: float) -> list[float]:
        """How long each slot stood idle between a response and the next request it took (ms)."""
        spans = [s for s in self.spans if s[0] >= since]
        starts, ends = sorted(s[0] for s in spans), sorted(s[1] for s in spans)
        return [(start - end) * 1000 for start, end in zip(starts[LIMIT:], ends, strict=False)]

    def busy(self, since: float) -> tuple[float, float]:
        """Busy fraction of the LIMIT slots from the first request after `since` to the last response."""
        spans = [s for s in self.spans if s[0] >= since]
        first, last = min(s[0] for s in spans), max(s[1] for s in spans)
        return sum(b - a for a, b in spans) / (LIMIT * (last - first)), last - first


async def direct_calls(base_url: str, count: int) -> list[float]:
    """The baseline: a client calling the simulator itself and decoding the image, one call at a time (ms)."""
    latencies = []
    async with httpx.AsyncClient(base_url=base_url + "/", headers={"Authorization": f"Bearer {KEY}"},
                                 timeout=30) as client:
        for _ in range(count):
            began = time.perf_counter()
            response = await client.post("images/generations", json={"model": "gpt-image-1", "prompt": "a kite",
                                                                      "n": 1, "size": "256x256"})
            with Image.open(io.BytesIO(base64.b64decode(response.json()["data"][0]["b64_json"]))) as image:
                image.load()
            latencies.append((time.perf_counter() - began) * 1000)
    return latencies


async def one_job(client: GenmediaClient, temporal: Client, stages: dict[str, list[float]] | None = None) -> float:
    """CreateJob to the COMPLETED event seen on WatchJob (ms); the time between its events (the store's
    clock, this machine's) goes to `stages`. Returns once the job's workflow has closed too (its last
    workflow task comes after COMPLETED is recorded), so that the next job does not share the dev server's
    one history shard with this one's ending, as a direct call does not share the provider with the last."""
    began, wall = time.perf_counter(), time.time()
    job = await client.create_job(pb.JobSpec(image=pb.ImageSpec(prompt="a kite", width=256, height=256)))
    events = []
    async for message in client.watch(job.id, after_sequence=1):
        if message.WhichOneof("payload") == "event":
            events.append((message.event, time.time()))
            if message.event.state in (pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED):
                assert message.event.state == pb.JOB_STATE_COMPLETED, message.event.error
                break
    if stages is not None:
        stamps = [("submit", wall)] + [(pb.EventType.Name(e.type).removeprefix("EVENT_TYPE_").lower(),
                                        e.time.ToNanoseconds() / 1e9) for e, _ in events]
        stamps.append(("seen by the watcher", events[-1][1]))
        for (a, t0), (b, t1) in zip(stamps, stamps[1:], strict=False):
            stages.setdefault(f"{a} -> {b}", []).append((t1 - t0) * 1000)
    took = (time.perf_counter() - began) * 1000
    await temporal.get_workflow_handle(job.id).result()
    return took


async def under_load(client: GenmediaClient) -> None:
    """JOBS jobs submitted at once, followed the way a batch client would: by listing, not a stream each."""
    run = uuid.uuid4().hex[:8]
    spec = pb.JobSpec(image=pb.ImageSpec(prompt="a kite", width=256, height=256))
    await asyncio.gather(*(client.create_job(spec, labels={"run": run}) for _ in range(JOBS)))
    ended = ps.JobFilter(labels={"run": run}, states=[pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED])
    for _ in range(3000):  # 10 minutes at most
        if (listed := await client.list_jobs(1, "", ended)).total_size >= JOBS:
            break
        await asyncio.sleep(0.2)
    failed = await client.list_jobs(1, "", ps.JobFilter(labels={"run": run}, states=[pb.JOB_STATE_FAILED]))
    assert failed.total_size == 0 and listed.total_size == JOBS, f"{failed.total_size} jobs failed"


async def run(var: str, env: WorkflowEnvironment) -> None:
    print(f"\nProvider: {JOBS} image jobs, simulator {DELAY:g} s per request, at most {LIMIT} at once")
    simulator = Simulator()
    base_url = await simulator.start()
    os.environ.update(GENMEDIA_IMAGE_BACKEND="openai", GENMEDIA_OPENAI_BASE_URL=base_url, GENMEDIA_OPENAI_API_KEY=KEY,
                      GENMEDIA_OPENAI_MAX_CONCURRENCY=str(LIMIT), GENMEDIA_IMAGE_METRICS_PORT="-1")
    queue = f"bench-providers-{uuid.uuid4().hex[:8]}"
    # The progress and image services as their own processes, as deployed; the API and the worker in this one.
    async with progress_process("sqlite", var) as (_, progress_port):
        image, image_port = await start([str(Path(sys.executable).parent / "genmedia-image")],
                                        {**os.environ, "GENMEDIA_IMAGE_PORT": "0", "GENMEDIA_LOG_LEVEL": "INFO",
                                         "GENMEDIA_VAR_DIR": var})
        settings = replace(Settings.from_env(), task_queue=queue, image_task_queue=f"{queue}-image",
                           video_task_queue=f"{queue}-video", progress_addr=f"127.0.0.1:{progress_port}",
                           image_addr=f"127.0.0.1:{image_port}")
        settings = await with_service_slots(replace(settings, video_slots=1))
        channel = aio_channel(settings.progress_addr)
        api = await create_server(api_registrations(
            JobManager(env.client, progress_service_pb2_grpc.ProgressServiceStub(channel), settings)))
        workers = build_workers(env.client, settings)
        tasks = [asyncio.create_task(w.run()) for w in workers]
        client = GenmediaClient(f"127.0.0.1:{api.port}", settings.progress_addr, timeout=60, token="")
        try:
            direct = await direct_calls(base_url, LATENCY_JOBS)
            await one_job(client, env.client)  # warm-up
            stages: dict[str, list[float]] = {}
            jobs = [await one_job(client, env.client, stages) for _ in range(LATENCY_JOBS)]
            began = time.time()
            load_started = time.perf_counter()
            await under_load(client)
            elapsed = time.perf_counter() - load_started
        finally:
            await client.close()
            await asyncio.gather(*(w.shutdown() for w in workers))
            await asyncio.gather(*tasks, return_exceptions=True)
            await channel.close()
            await api.stop(0)
            image.terminate()
            await image.wait()
            await simulator.stop()
    busy, span = simulator.busy(began)
    gaps = simulator.gaps(began)
    base = statistics.median(direct)
    added = [ms - base for ms in jobs]
    print(f"{'baseline: direct client call':<44} p50 {base:7.1f} ms   p95 {percentile(direct, 95):7.1f} ms")
    print(f"{'image job, CreateJob to COMPLETED (1 at a time)':<44} p50 {statistics.median(jobs):7.1f} ms   "
          f"p95 {percentile(jobs, 95):7.1f} ms")
    print(f"{'added latency per job over the direct call':<44} p50 {statistics.median(added):7.1f} ms   "
          f"p95 {percentile(added, 95):7.1f} ms   (goal p50 <= 50 ms)")
    print(f"{f'{JOBS} jobs at once':<44} {elapsed:7.1f} s ({JOBS / elapsed:.1f} jobs/s); provider busy "
          f"{busy:.1%} of {LIMIT} slots over {span:.1f} s (goal >= 90%); at most {simulator.most} at once, "
          f"{simulator.refused} refused (goal <= {LIMIT}, 0)")
    print("    where a job's time goes (p50 ms): " + ", ".join(
        f"{name} {statistics.median(ms):.1f}" for name, ms in stages.items() if len(ms) == len(jobs)))
    first = min(s[0] for s in simulator.spans if s[0] >= began) - began
    print(f"{'idle gap of a slot between two requests':<44} p50 {statistics.median(gaps):7.1f} ms   "
          f"p95 {percentile(gaps, 95):7.1f} ms; first request {first:.2f} s after the submits began")
    add(Row("providers", f"provider kept busy: {JOBS} image jobs at once, {LIMIT} slots", busy * 100, "%",
            goal=">= 90%", met=busy >= 0.9, extra={"jobs_per_s": JOBS / elapsed}))
    add(Row("providers", "most requests the provider saw at once", simulator.most, "", LIMIT, simulator.most / LIMIT,
            f"<= {LIMIT}, none refused", simulator.most <= LIMIT and not simulator.refused, "the provider's limit"))
    add(Row("providers", "latency genmedia adds per image job, p50", statistics.median(added), "ms", base,
            statistics.median(jobs) / base, "p50 <= 50 ms", statistics.median(added) <= 50,
            "direct call; ratio: job / direct"))
