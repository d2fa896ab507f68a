"""The Python client (`AsyncClient`, `Client`) against real servers: wait, typed exceptions, list across
pages, watch across a progress-service restart."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from genmedia import (
    AlreadyExists,
    AsyncClient,
    Client,
    EventType,
    FailedPrecondition,
    InvalidArgument,
    Job,
    JobCancelled,
    JobEvent,
    JobFailed,
    JobKind,
    JobState,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from genmedia.serving.ratelimit import RateLimit, RoleLimits
from genmedia.serving.server import create_server
from genmedia.v1 import common_pb2 as pb
from services.progress.bus import Bus
from services.progress.models import make_engine
from services.progress.schema import upgrade
from services.progress.server import build_registrations
from services.progress.store import Store
from tests.integration.jobstack import Stack, configure_env, full_stack, job_services
from tests.integration.progress import Stub, created, report
from tests.integration.test_security import ALICE, BOB, guard

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
async def stack(temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # A 6 s video renders for about 6 s.
    async with full_stack(temporal, tmp_path, monkeypatch, {"GENMEDIA_VIDEO_FRAME_DELAY_SECONDS": "0.08"}) as stack:
        yield stack


def addresses(stack: Stack) -> tuple[str, str]:
    return f"127.0.0.1:{stack.servers['api'].port}", stack.settings.progress_addr


async def test_async_and_sync_wait_return_the_completed_job_or_raise_with_it(stack: Stack) -> None:
    api, progress = addresses(stack)
    async with AsyncClient(api, progress, token="") as client:
        job = await client.create_image("a red kite", width=64, height=64, n=2, labels={"team": "kites"})
        assert job.state == JobState.PENDING and job.kind == JobKind.IMAGE and job.request_id  # made for retries
        done = await client.wait(job.id, timeout=60)
        assert done.state == JobState.COMPLETED and done.labels == {"team": "kites"}
        assert [a.mime_type for a in done.assets] == ["image/png"] * 2 and all(a.path.is_file() for a in done.assets)
        # A rejected review fails the job: wait raises JobFailed carrying it.
        reviewed = await client.create_image("a grey kite", width=64, height=64, review=True)
        async for item in client.watch(reviewed.id):
            if item.state == JobState.AWAITING_REVIEW:
                break
        await client.review(reviewed.id, approve=False, feedback="off brief")
        with pytest.raises(JobFailed) as failed:
            await client.wait(reviewed.id, timeout=60)
        assert failed.value.job.state == JobState.FAILED and failed.value.job.error.code == "REJECTED"

    def sync_side() -> tuple[Job, JobCancelled, TimeoutError]:
        with Client(api, progress, token="") as client:
            video = client.create_video("a long pan", width=96, height=64, duration=6, fps=12, motion="pan-left")
            with pytest.raises(TimeoutError) as slow:
                client.wait(video.id, timeout=0.5)  # the job goes on
            client.cancel(video.id, "enough")
            with pytest.raises(JobCancelled) as cancelled:
                client.wait(video.id, timeout=60)
            image = client.create_image("a blue kite", width=64, height=64)
            return client.wait(image.id, timeout=60), cancelled.value, slow.value

    image, cancelled, slow = await asyncio.to_thread(sync_side)
    assert image.state == JobState.COMPLETED and len(image.assets) == 1
    assert cancelled.job.state == JobState.CANCELLED and cancelled.job.kind == JobKind.VIDEO
    assert isinstance(slow, TimeoutError)


async def test_each_refusal_is_its_own_exception(stack: Stack) -> None:
    api, progress = addresses(stack)
    async with AsyncClient(api, progress, token="") as client:
        with pytest.raises(NotFound) as missing:
            await client.get(str(uuid.uuid4()))
        assert missing.value.code == "NOT_FOUND" and missing.value.reason == "JOB_NOT_FOUND"
        with pytest.raises(InvalidArgument) as invalid:
            await client.create_image("", width=3)
        fields = dict(invalid.value.field_violations)
        assert {"spec.image.prompt", "spec.image.width"} <= fields.keys(), fields
        request_id = str(uuid.uuid4())
        job = await client.create_image("a kite", width=64, height=64, request_id=request_id)
        assert (await client.create_image("a kite", width=64, height=64, request_id=request_id)).id == job.id
        with pytest.raises(AlreadyExists):
            await client.create_image("another kite", width=64, height=64, request_id=request_id)
        await client.wait(job.id, timeout=60)
        with pytest.raises(FailedPrecondition) as ended:
            await client.cancel(job.id)
        assert "COMPLETED" in ended.value.message
    async with AsyncClient("127.0.0.1:1", "127.0.0.1:1", token="", timeout=5) as nowhere:
        with pytest.raises(Unavailable) as unavailable:
            await nowhere.get("x")
        assert unavailable.value.address == "JobService at 127.0.0.1:1" and "127.0.0.1:1" in str(unavailable.value)


async def test_credentials_permissions_and_rate_limits_raise_typed_errors(tmp_path: Path, monkeypatch) -> None:
    configure_env(monkeypatch, tmp_path)
    limits = {"user": RoleLimits(RateLimit(1000, 1000), RateLimit(1, 2)), "admin": RoleLimits()}
    async with job_services(tmp_path, guard=guard(limits)) as stack:
        progress = stack.settings.progress_addr
        async with AsyncClient("127.0.0.1:1", progress, token="not-a-key") as stranger:
            with pytest.raises(Unauthenticated):
                await stranger.list_page()
        async with AsyncClient("127.0.0.1:1", progress, token=BOB) as bob:
            with pytest.raises(PermissionDenied):
                await bob.list_page(owner="alice")  # only admins may read another user's jobs
        async with AsyncClient("127.0.0.1:1", progress, token=ALICE) as alice:
            await alice.list_page()
            with pytest.raises(ResourceExhausted) as limited:
                await alice.list_page()  # a burst of 2 reads: the 2nd is not refused, the 3rd is
                await alice.list_page()
        assert limited.value.reason == "RATE_LIMITED"
        assert dt.timedelta(0) < limited.value.retry_after <= dt.timedelta(seconds=1)


@pytest.fixture
async def progress_server(tmp_path: Path):
    """A progress server that a test can stop and start again on the same address (its store stays)."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    await upgrade(engine)
    store = Store.for_engine(engine)

    class Server:
        running, bus, address = None, None, "127.0.0.1:0"

        async def start(self) -> None:
            self.bus = Bus(1000)
            self.running = await create_server(build_registrations(store, self.bus, 15), self.address)
            self.address = f"127.0.0.1:{self.running.port}"

        async def stop(self) -> None:
            await self.running.stop(1, on_drain=self.bus.close)  # as on SIGTERM: streams end UNAVAILABLE

    server = Server()
    server.store = store
    await server.start()
    try:
        yield server
    finally:
        await server.running.stop(0)
        await engine.dispose()


async def test_list_iterates_every_page(progress_server) -> None:
    async with AsyncClient("127.0.0.1:1", progress_server.address, token="") as client:
        stub = Stub(client.raw._progress)
        for i in range(7):
            await stub.ReportProgress(created(f"job{i}", labels={"run": "pages"}))
        first = await client.list_page(3, labels={"run": "pages"})
        listed = [job.id async for job in client.list(page_size=3, labels={"run": "pages"})]
        oldest = [job.id async for job in client.list(page_size=3, oldest_first=True, limit=5)]
    assert len(first.jobs) == 3 and first.next_page_token and first.total_size == 7
    assert listed == [f"job{i}" for i in reversed(range(7))]  # three pages, newest first
    assert oldest == [f"job{i}" for i in range(5)]
    synced = await asyncio.to_thread(lambda: [j.id for j in Client("127.0.0.1:1", progress_server.address,
                                                                   token="").list(page_size=2)])
    assert synced == listed


async def test_watch_resumes_across_a_progress_service_restart(progress_server) -> None:
    async with AsyncClient("127.0.0.1:1", progress_server.address, token="") as client:
        stub = Stub(client.raw._progress)
        await stub.ReportProgress(created("kite"))
        seen: list[Job | JobEvent] = []
        snapshot, progressed = asyncio.Event(), asyncio.Event()

        async def follow() -> None:
            async for item in client.watch("kite"):
                seen.append(item)
                snapshot.set()
                if isinstance(item, JobEvent) and item.type == EventType.PROGRESS:
                    progressed.set()

        watching = asyncio.create_task(follow())
        await asyncio.wait_for(snapshot.wait(), 10)  # the job as the watch began: PENDING
        await stub.ReportProgress(report("kite", "s", pb.EVENT_TYPE_STARTED))
        await stub.ReportProgress(report("kite", "p1", pb.EVENT_TYPE_PROGRESS, percent=10))
        await asyncio.wait_for(progressed.wait(), 10)
        await progress_server.stop()
        for n in range(3):  # recorded while no server runs (as by another replica)
            await progress_server.store.report(pb.JobEvent(job_id="kite", type=pb.EVENT_TYPE_PROGRESS,
                                                           percent=20 + n), f"down{n}")
        await progress_server.start()
        await asyncio.wait_for(client.raw._progress.channel_ready(), 30)
        await stub.ReportProgress(report("kite", "c", pb.EVENT_TYPE_COMPLETED, percent=100))
        await asyncio.wait_for(watching, 60)
    assert isinstance(seen[0], Job) and seen[0].state == JobState.PENDING
    events = [item for item in seen[1:] if isinstance(item, JobEvent)]
    assert [e.sequence for e in events] == list(range(2, 8))  # every event once, in order
    assert [e.percent for e in events if e.type == EventType.PROGRESS] == [10, 20, 21, 22]
    assert events[-1].state == JobState.COMPLETED
