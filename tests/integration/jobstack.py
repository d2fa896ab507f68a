"""The pieces of a job stack inside the test process: the real progress, image and video servicers on
port-0 servers, orchestrator settings with unique task queues, and the API and workers when asked."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from genmedia.assetstore import open_store
from genmedia.client import GenmediaClient
from genmedia.serving.auth import Authenticator
from genmedia.serving.server import RunningServer, create_server
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2_grpc
from services.image import config as image_config
from services.image import server as image_server
from services.orchestrator.api.jobs import JobManager
from services.orchestrator.config import Settings
from services.orchestrator.server import build_registrations
from services.orchestrator.worker.run import build_workers
from services.progress import config as progress_config
from services.progress import server as progress_server
from services.progress.bus import Bus
from services.progress.store import Store
from services.video import config as video_config
from services.video import server as video_server
from tests.conftest import venv_bin


@dataclass
class Stack:
    settings: Settings
    var: Path
    servers: dict[str, RunningServer]
    client: GenmediaClient | None = None
    engine: AsyncEngine | None = None
    closers: list = field(default_factory=list)

    def process_env(self, temporal: WorkflowEnvironment) -> dict[str, str]:
        """The environment that points an orchestrator process at this stack."""
        s = self.settings
        return dict(
            os.environ, GENMEDIA_TEMPORAL_ADDR=temporal.client.service_client.config.target_host,
            GENMEDIA_TASK_QUEUE=s.task_queue, GENMEDIA_IMAGE_TASK_QUEUE=s.image_task_queue,
            GENMEDIA_VIDEO_TASK_QUEUE=s.video_task_queue, GENMEDIA_PROGRESS_ADDR=s.progress_addr,
            GENMEDIA_IMAGE_ADDR=s.image_addr, GENMEDIA_VIDEO_ADDR=s.video_addr,
        )


def configure_env(monkeypatch: pytest.MonkeyPatch, var: Path) -> None:
    monkeypatch.setenv("GENMEDIA_VAR_DIR", str(var))
    # The stack shares this process and 2 cores with the test and the Temporal server: a stall of a busy CI
    # machine must not fail a progress call (5 s by default; one CreateBatch failed so once).
    monkeypatch.setenv("GENMEDIA_RPC_TIMEOUT_SECONDS", "15")
    monkeypatch.setenv("GENMEDIA_IMAGE_STEP_DELAY_SECONDS", "0")
    for name in ("ORCHESTRATOR", "PROGRESS", "IMAGE", "VIDEO", "WORKER"):
        monkeypatch.setenv(f"GENMEDIA_{name}_METRICS_PORT", "-1")
    monkeypatch.setenv("GENMEDIA_WORKER_PORT", "0")  # the worker's health server, on a free port
    monkeypatch.setenv("GENMEDIA_IMAGE_RETRY_INITIAL_SECONDS", "0.2")
    monkeypatch.setenv("GENMEDIA_IMAGE_RETRY_MAX_SECONDS", "0.5")
    monkeypatch.setenv("GENMEDIA_IMAGE_HEARTBEAT_TIMEOUT_SECONDS", "2")


async def start_image_server(address: str = "127.0.0.1:0") -> RunningServer:
    return await create_server(image_server.build_registrations(image_config.Settings.from_env()), address)


@asynccontextmanager
async def job_services(var: Path, guard: Authenticator | None = None) -> AsyncIterator[Stack]:
    """Progress, image and video servers (checking credentials with `guard`), and orchestrator settings
    whose queues no other test uses."""
    engine = await progress_server.open_database(progress_config.Settings.from_env())
    registrations = progress_server.build_registrations(Store.for_engine(engine), Bus(1000), 15)
    media = {"image": image_server.build_registrations(image_config.Settings.from_env()),
             "video": video_server.build_registrations(video_config.Settings.from_env())}
    servers = {"progress": await create_server(registrations, guard=guard)}
    for name, media_registrations in media.items():
        servers[name] = await create_server(media_registrations, guard=guard)
    queue = f"jobs-{uuid.uuid4().hex[:8]}"
    settings = replace(
        Settings.from_env(), task_queue=queue, image_task_queue=f"{queue}-image",
        video_task_queue=f"{queue}-video", progress_addr=f"127.0.0.1:{servers['progress'].port}",
        image_addr=f"127.0.0.1:{servers['image'].port}", video_addr=f"127.0.0.1:{servers['video'].port}",
        progress_interval=0.05,
    )
    stack = Stack(settings, var, servers, engine=engine)
    stack.client = GenmediaClient("127.0.0.1:1", settings.progress_addr, token="")
    try:
        yield stack
    finally:
        for close in reversed(stack.closers):
            await close()
        await stack.client.close()
        for server in stack.servers.values():
            await server.stop(0)
        for media_registrations in media.values():
            await media_registrations[0].servicer.aclose()  # their asset stores' connections
        await engine.dispose()


async def start_progress_server(stack: Stack, address: str) -> RunningServer:
    """A new progress server on the stack's database (after the old one was stopped)."""
    registrations = progress_server.build_registrations(Store.for_engine(stack.engine), Bus(1000), 15)
    return await create_server(registrations, address)


async def add_api(stack: Stack, temporal: WorkflowEnvironment, guard: Authenticator | None = None,
                  token: str = "") -> None:
    """JobService on a port-0 server in this process; stack.client talks to it (sending `token`)."""
    progress = progress_service_pb2_grpc.ProgressServiceStub(stack.settings.channel(stack.settings.progress_addr))
    limits = guard.limiter.limits if guard is not None and guard.limiter is not None else None
    manager = JobManager(temporal.client, progress, stack.settings, limits)
    store = open_store("orchestrator", stack.settings.asset_store)
    stack.closers.append(store.close)
    api = await create_server(build_registrations(manager, store), guard=guard)
    stack.servers["api"] = api
    await stack.client.close()
    stack.client = GenmediaClient(f"127.0.0.1:{api.port}", stack.settings.progress_addr, token=token)


async def add_api_on_stopped_temporal(stack: Stack) -> None:
    """JobService connected to a Temporal server that then stopped: every workflow start fails."""
    doomed = await WorkflowEnvironment.start_local(dev_server_existing_path=str(venv_bin("temporal")),
                                                   dev_server_log_level="error")
    await add_api(stack, doomed)
    await doomed.shutdown()


@asynccontextmanager
async def full_stack(temporal: WorkflowEnvironment, var: Path, monkeypatch: pytest.MonkeyPatch,
                     env: dict[str, str] | None = None) -> AsyncIterator[Stack]:
    """The whole stack with its API and workers, in this process; `env` adds or overrides settings."""
    configure_env(monkeypatch, var)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    async with job_services(var) as stack:
        await add_api(stack, temporal)
        await add_workers(stack, temporal)
        yield stack


def slow_stack(temporal: WorkflowEnvironment, var: Path, monkeypatch: pytest.MonkeyPatch):
    """full_stack with steps slow enough to act on mid-job: an image step lasts about a second, and a 6 s
    video renders for about 6 s."""
    return full_stack(temporal, var, monkeypatch, {"GENMEDIA_IMAGE_STEP_DELAY_SECONDS": "0.1",
                                                   "GENMEDIA_VIDEO_FRAME_DELAY_SECONDS": "0.08"})


async def add_workers(stack: Stack, temporal: WorkflowEnvironment) -> None:
    """The three workers (job workflows, image steps, video steps), in this process."""
    await run_workers(stack, build_workers(temporal.client, stack.settings))


async def run_workers(stack: Stack, workers: list) -> None:
    """Runs workers until the stack closes."""
    tasks = [asyncio.create_task(w.run()) for w in workers]

    async def stop_workers() -> None:
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*tasks, return_exceptions=True)

    stack.closers.append(stop_workers)


async def watch_to_end(client: GenmediaClient, job_id: str) -> list[pb.JobEvent]:
    """Every event after CREATED (sequence 1), replayed and then live, until the job ends."""
    return [m.event async for m in client.watch(job_id, after_sequence=1) if m.WhichOneof("payload") == "event"]


class EventLog:
    """Follows a job's events in the background, so a test can wait for one and then act mid-job."""

    def __init__(self, client: GenmediaClient, job_id: str, after_sequence: int = 1) -> None:
        """Events after `after_sequence` (by default every one after CREATED)."""
        self.events: list[pb.JobEvent] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._follow(client, job_id, after_sequence))

    async def _follow(self, client: GenmediaClient, job_id: str, after_sequence: int) -> None:
        async for message in client.watch(job_id, after_sequence=after_sequence):
            if message.WhichOneof("payload") == "event":
                self.events.append(message.event)
                self._changed.set()

    async def wait_for(self, predicate, timeout: float = 60.0) -> pb.JobEvent:
        """The first event (seen so far or to come) that satisfies `predicate`."""
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                if self._task.done():
                    self._task.result()
                    raise AssertionError(f"the job ended without such an event: {[e.type for e in self.events]}")
                self._changed.clear()
                waiter = asyncio.create_task(self._changed.wait())
                try:
                    await asyncio.wait([self._task, waiter], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()

    async def end(self, timeout: float = 60.0) -> list[pb.JobEvent]:
        """Every event once the job has ended."""
        async with asyncio.timeout(timeout):
            await self._task
        return self.events

    def types(self) -> list[int]:
        return [e.type for e in self.events]
