"""200 image jobs through the real stack (JobService, Temporal, the worker, the image service's `openai`
backend) against a provider simulator that answers POST /v1/images/generations after 1 s and takes at most 8
requests at once (a 9th is refused 429). Figures: how busy genmedia keeps the provider (goal >= 90%, never
more than 8 at once), and the latency genmedia adds per job over a direct client call to the same simulator
(baseline measured in the same run; goal p50 <= 50 ms)."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import statistics
import time
import uuid
from dataclasses import replace

import httpx
from aiohttp import web
from PIL import Image
from temporalio.testing import WorkflowEnvironment

from benchmarks.common import database, percentile
from genmedia.channels import aio_channel
from genmedia.client import GenmediaClient
from genmedia.serving import create_server
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2_grpc
from services.image import config as image_config
from services.image import server as image_server
from services.orchestrator.backends import with_service_slots
from services.orchestrator.config import Settings
from services.orchestrator.jobs import JobManager
from services.orchestrator.server import build_registrations as api_registrations
from services.orchestrator.worker import build_workers
from services.progress.bus import Bus
from services.progress.server import build_registrations as progress_registrations
from services.progress.store import Store

JOBS = int(os.environ.get("GENMEDIA_BENCH_PROVIDER_JOBS", "200"))
LATENCY_JOBS = int(os.environ.get("GENMEDIA_BENCH_PROVIDER_LATENCY_JOBS", "20"))
LIMIT, DELAY = 8, 1.0
KEY = "sk-bench"


class Simulator:
    """The provider: 1 s per request, at most LIMIT at once; it logs when each request was busy."""

    def __init__(self) -> None:
        out = io.BytesIO()
        Image.new("RGB", (256, 256), (40, 90, 160)).save(out, format="PNG")
        self.body = {"created": 0, "data": [{"b64_json": base64.b64encode(out.getvalue()).decode()}]}
        self.active = self.most = self.refused = 0
        self.spans: list[tuple[float, float]] = []
        app = web.Application()
        app.router.add_post("/v1/images/generations", self.generate)
        self.runner = web.AppRunner(app, handle_signals=False)

    async def generate(self, request: web.Request) -> web.Response:
        if self.active >= LIMIT:
            self.refused += 1
            return web.json_response({"error": {"message": "too many requests"}}, status=429,
                                     headers={"Retry-After": "1"})
        self.active += 1
        self.most = max(self.most, self.active)
        began = time.monotonic()
        try:
            await request.read()
            await asyncio.sleep(DELAY)
            return web.json_response(self.body, headers={"x-request-id": uuid.uuid4().hex})
        finally:
            self.active -= 1
            self.spans.append((began, time.monotonic()))

    async def start(self) -> str:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1"  # noqa: SLF001

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


async def one_job(client: GenmediaClient) -> float:
    """CreateJob to the COMPLETED event seen on WatchJob (ms)."""
    began = time.perf_counter()
    job = await client.create_job(pb.JobSpec(image=pb.ImageSpec(prompt="a kite", width=256, height=256)))
    async for message in client.watch(job.id, after_sequence=1):
        if message.WhichOneof("payload") == "event" and message.event.state in (
                pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED):
            assert message.event.state == pb.JOB_STATE_COMPLETED, message.event.error
            break
    return (time.perf_counter() - began) * 1000


async def run(var: str, env: WorkflowEnvironment) -> None:
    print(f"\nProvider: {JOBS} image jobs, simulator {DELAY:g} s per request, at most {LIMIT} at once")
    simulator = Simulator()
    base_url = await simulator.start()
    os.environ.update(GENMEDIA_IMAGE_BACKEND="openai", GENMEDIA_OPENAI_BASE_URL=base_url, GENMEDIA_OPENAI_API_KEY=KEY,
                      GENMEDIA_OPENAI_MAX_CONCURRENCY=str(LIMIT), GENMEDIA_IMAGE_METRICS_PORT="-1")
    queue = f"bench-providers-{uuid.uuid4().hex[:8]}"
    async with database("sqlite", var) as engine:
        progress = await create_server(progress_registrations(Store.for_engine(engine), Bus(1000), 15))
        image = await create_server(image_server.build_registrations(image_config.Settings.from_env()))
        settings = replace(Settings.from_env(), task_queue=queue, image_task_queue=f"{queue}-image",
                           video_task_queue=f"{queue}-video", progress_addr=f"127.0.0.1:{progress.port}",
                           image_addr=f"127.0.0.1:{image.port}")
        settings = await with_service_slots(replace(settings, video_slots=1))
        channel = aio_channel(settings.progress_addr)
        api = await create_server(api_registrations(
            JobManager(env.client, progress_service_pb2_grpc.ProgressServiceStub(channel), settings)))
        workers = build_workers(env.client, settings)
        tasks = [asyncio.create_task(w.run()) for w in workers]
        client = GenmediaClient(f"127.0.0.1:{api.port}", settings.progress_addr, timeout=60, token="")
        try:
            direct = await direct_calls(base_url, LATENCY_JOBS)
            await one_job(client)  # warm-up
            jobs = [await one_job(client) for _ in range(LATENCY_JOBS)]
            began = time.monotonic()
            load_started = time.perf_counter()
            await asyncio.gather(*(one_job(client) for _ in range(JOBS)))
            elapsed = time.perf_counter() - load_started
        finally:
            await client.close()
            await asyncio.gather(*(w.shutdown() for w in workers))
            await asyncio.gather(*tasks, return_exceptions=True)
            await channel.close()
            for server in (api, image, progress):
                await server.stop(0)
            await simulator.runner.cleanup()
    busy, span = simulator.busy(began)
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
