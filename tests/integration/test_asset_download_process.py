"""DownloadAsset from the orchestrator API as a real process, on both stores: a 100 MB asset streams through
it with little memory (its peak RSS is measured by the kernel), and the file arrives whole and verified."""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from pathlib import Path

import grpc
import pytest
from temporalio.testing import WorkflowEnvironment

from genmedia.assetstore import asset_key
from genmedia.client.downloads import download_asset
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2_grpc, progress_service_pb2_grpc
from tests.conftest import free_port
from tests.integration.jobstack import Stack, configure_env, job_services
from tests.integration.progress import created, report
from tests.integration.stores import StoreUnderTest
from tests.integration.test_orchestrator_process import orchestrator, wait_serving

pytestmark = pytest.mark.timeout(300)
log = logging.getLogger(__name__)
MiB = 1 << 20
LIMIT_MB = 50


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


async def stored_job(stack: Stack, under: StoreUnderTest, size: int) -> tuple[str, str]:
    """A finished job whose one asset is `size` random bytes in the store; (job id, its sha256)."""
    job_id, digest = str(uuid.uuid4()), hashlib.sha256()

    async def chunks():
        for _ in range(size // MiB):
            block = os.urandom(MiB)
            digest.update(block)
            yield block

    async with under.open("video") as store:
        stored = await store.write_chunks(asset_key(job_id, "video.mp4"), chunks(), "video/mp4")
    asset = pb.Asset(uri=stored.uri, mime_type="video/mp4", size_bytes=stored.size, sha256=stored.sha256)
    async with stack.settings.channel(stack.settings.progress_addr) as channel:
        progress = progress_service_pb2_grpc.ProgressServiceStub(channel)
        await progress.ReportProgress(created(job_id, owner="anonymous", kind=pb.JOB_KIND_VIDEO))
        await progress.ReportProgress(report(job_id, "done", pb.EVENT_TYPE_COMPLETED, assets=[asset]))
    assert stored.sha256 == digest.hexdigest()
    return job_id, stored.sha256


async def test_a_100_mb_asset_streams_through_the_api_process_in_little_memory(
        temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_env: StoreUnderTest):
    configure_env(monkeypatch, tmp_path)
    async with job_services(tmp_path) as stack:
        small, _ = await stored_job(stack, store_env, MiB)
        big, sha256 = await stored_job(stack, store_env, 100 * MiB)
        port = free_port()
        with orchestrator(stack, temporal, "api", port) as proc:
            await wait_serving(port)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = job_service_pb2_grpc.JobServiceStub(channel)
                await download_asset(stub, small, tmp_path / "warm-up.mp4")  # its code paths and connections
                Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # the peak RSS starts again from now
                before = memory_kib(proc.pid, "VmRSS")
                result = await download_asset(stub, big, tmp_path / "video.mp4")
                peak = memory_kib(proc.pid, "VmHWM")
    growth_mb = (peak - before) / 1024
    log.warning("%s store: the API process grew by %.1f MB at most while sending 100 MB (from %.1f MB)",
                store_env.kind, growth_mb, before / 1024)
    assert result.asset.sha256 == sha256 and result.path.stat().st_size == 100 * MiB
    assert hashlib.sha256(result.path.read_bytes()).hexdigest() == sha256
    assert growth_mb < LIMIT_MB, f"peak RSS grew by {growth_mb:.1f} MB"
