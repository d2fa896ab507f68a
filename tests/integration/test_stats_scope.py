"""GetStats' backlog is the caller's, like every other figure it answers: a user with no jobs sees 0, not the
whole system's load; an admin sees every user's (or one owner's, by filter)."""

from __future__ import annotations

import grpc
import pytest

from genmedia.serving.server import create_server
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from services.progress.bus import Bus
from services.progress.models import make_engine
from services.progress.schema import upgrade
from services.progress.server import build_registrations
from services.progress.store import Store
from tests.integration.progress import Stub, created, report
from tests.integration.test_security import ALICE, BOB, INTERNAL, ROOT, guard


@pytest.fixture
async def server(database):
    engine = make_engine(database.url, database.connect_args)
    await upgrade(engine)
    running = await create_server(build_registrations(Store.for_engine(engine), Bus(100), 15), guard=guard())
    yield f"127.0.0.1:{running.port}"
    await running.stop(0)
    await engine.dispose()


async def stats_as(address: str, key: str, request: ps.GetStatsRequest | None = None) -> ps.GetStatsResponse:
    async with grpc.aio.insecure_channel(address) as channel:
        return await Stub(channel).GetStats(request or ps.GetStatsRequest(),
                                            metadata=(("authorization", f"Bearer {key}"),), timeout=10)


async def test_the_backlog_counts_only_the_callers_jobs_and_an_admin_sees_all(server: str) -> None:
    internal = (("authorization", f"Bearer {INTERNAL}"),)
    async with grpc.aio.insecure_channel(server) as channel:
        stub = Stub(channel)
        for job_id, owner, kind in (("a1", "alice", pb.JOB_KIND_IMAGE), ("b1", "bob", pb.JOB_KIND_IMAGE),
                                    ("b2", "bob", pb.JOB_KIND_VIDEO), ("b3", "bob", pb.JOB_KIND_VIDEO)):
            await stub.ReportProgress(created(job_id, owner=owner, kind=kind), metadata=internal)
        await stub.ReportProgress(report("b2", "started", pb.EVENT_TYPE_STARTED), metadata=internal)
        await stub.ReportProgress(report("b3", "done", pb.EVENT_TYPE_COMPLETED), metadata=internal)
    alice, bob, admin = [await stats_as(server, key) for key in (ALICE, BOB, ROOT)]
    assert (alice.total_jobs, alice.backlog) == (1, 1)
    assert (bob.total_jobs, bob.backlog) == (3, 2)  # b3 has ended
    assert (admin.total_jobs, admin.backlog) == (4, 3)
    bobs = await stats_as(server, ROOT, ps.GetStatsRequest(filter=ps.JobFilter(owner="bob")))
    assert (bobs.total_jobs, bobs.backlog) == (3, 2)
    videos = await stats_as(server, BOB, ps.GetStatsRequest(filter=ps.JobFilter(kind=pb.JOB_KIND_VIDEO)))
    assert (videos.total_jobs, videos.backlog) == (2, 1)
    running = await stats_as(server, ROOT, ps.GetStatsRequest(filter=ps.JobFilter(states=[pb.JOB_STATE_RUNNING])))
    assert (running.total_jobs, running.backlog) == (1, 1)
