"""Issue 15 through the whole stack: with an s3:// store a video job's PNG and MP4 land in the bucket, nothing
lands on the local disk, and `genmedia download` fetches both with their sha256 checked; a video service
SIGKILLed mid-render and restarted leaves no temporary file or object once the job completes; `genmedia link`
gives a URL that serves the MP4 to anyone."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import grpc
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from genmedia.v1 import common_pb2 as pb
from tests.conftest import ROOT, free_port, venv_bin
from tests.integration.jobstack import EventLog, add_api, add_workers, configure_env, job_services
from tests.integration.stores import StoreUnderTest, make_store

pytestmark = pytest.mark.timeout(240)
VIDEO = pb.JobSpec(video=pb.VideoSpec(prompt="a lighthouse", width=96, height=64, duration_seconds=1, fps=12))
SLOW_VIDEO = pb.JobSpec(video=pb.VideoSpec(prompt="a long pan", width=96, height=64, duration_seconds=4, fps=12))
NOTHING = {"files": [], "objects": [], "uploads": []}


async def test_a_video_job_on_s3_leaves_nothing_on_disk_and_downloads_verified(
        temporal: WorkflowEnvironment, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    var = tmp_path / "var"
    configure_env(monkeypatch, var)
    under = await make_store("s3", s3_endpoint, tmp_path)
    for name, value in under.env.items():
        monkeypatch.setenv(name, value)
    async with under.closing, job_services(var) as stack:
        await add_api(stack, temporal)
        await add_workers(stack, temporal)
        job = await stack.client.create_job(VIDEO)
        events = await EventLog(stack.client, job.id).end()
        assert events[-1].type == pb.EVENT_TYPE_COMPLETED, events[-1]
        bucket, prefix = under.bucket_and_prefix
        assert [a.uri for a in events[-1].assets] == [f"s3://{bucket}/{prefix}/{job.id}/image-0.png",
                                                      f"s3://{bucket}/{prefix}/{job.id}/video.mp4"]
        assert await under.object_names(job.id) == ["image-0.png", "video.mp4"]
        assert await under.leftovers() == NOTHING
        assert not (var / "assets").exists(), "an s3:// stack writes no asset to the local disk"
        stored = {}
        async with under.s3() as s3:
            for name in ("image-0.png", "video.mp4"):
                reply = await s3.get_object(Bucket=bucket, Key=f"{prefix}/{job.id}/{name}")
                stored[name] = await reply["Body"].read()

        out = tmp_path / "downloaded"
        env = dict(os.environ, GENMEDIA_ORCHESTRATOR_ADDR=f"127.0.0.1:{stack.servers['api'].port}",
                   GENMEDIA_PROGRESS_ADDR=stack.settings.progress_addr)
        cli = await asyncio.create_subprocess_exec(str(venv_bin("genmedia")), "download", job.id, "--out", str(out),
                                                   "-o", "json", env=env, stdout=subprocess.PIPE,
                                                   stderr=subprocess.PIPE)
        stdout, stderr = await asyncio.wait_for(cli.communicate(), 60)
        linker = await asyncio.create_subprocess_exec(str(venv_bin("genmedia")), "link", job.id, "--asset", "1",
                                                      "--expires", "10m", "-o", "json", env=env,
                                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        linked, why = await asyncio.wait_for(linker.communicate(), 60)
        assert linker.returncode == 0, why.decode()
        async with httpx.AsyncClient() as http:  # anyone holding the link, with no credential of ours
            fetched = await http.get(json.loads(linked)["url"])
        assert fetched.status_code == 200 and fetched.content == stored["video.mp4"]
    assert cli.returncode == 0, stderr.decode()
    files = json.loads(stdout)["files"]
    assert [Path(f["path"]).name for f in files] == ["image-0.png", "video.mp4"]
    for f, asset in zip(files, events[-1].assets, strict=True):
        data = Path(f["path"]).read_bytes()
        assert data == stored[Path(f["path"]).name]
        assert f["sha256"] == asset.sha256 == hashlib.sha256(data).hexdigest() and f["size_bytes"] == len(data)
    assert sorted(p.name for p in out.iterdir()) == ["image-0.png", "video.mp4"]  # no part file left


@asynccontextmanager
async def video_process(address: str, log: Path, frame_delay: float) -> AsyncIterator[subprocess.Popen]:
    """`python -m services.video` on `address`, serving once this yields; killed at the end if still alive."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), GENMEDIA_VIDEO_PORT=address.rpartition(":")[2],
               GENMEDIA_VIDEO_FRAME_DELAY_SECONDS=str(frame_delay))
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "services.video"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            await asyncio.wait_for(channel.channel_ready(), 60)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


async def scratch_files(under: StoreUnderTest, job_id: str) -> list[str]:
    return [f for f in (await under.leftovers())["files"] if f.startswith(f"video/{job_id}.")]


def plant_stale(folder: Path, name: str) -> Path:
    """A temporary file a run long ago left (its name and mtime both say so)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"left by a killed run")
    os.utime(path, (1_000_000_000, 1_000_000_000))
    return path


async def test_a_video_service_killed_mid_render_then_restarted_leaves_nothing_behind(
        temporal: WorkflowEnvironment, store_env: StoreUnderTest, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    var = tmp_path / "var"
    configure_env(monkeypatch, var)
    monkeypatch.setenv("GENMEDIA_VIDEO_RETRY_INITIAL_SECONDS", "0.2")
    monkeypatch.setenv("GENMEDIA_VIDEO_RETRY_MAX_SECONDS", "0.5")
    address = f"127.0.0.1:{free_port()}"
    scratch = store_env.open("video").scratch_root
    async with job_services(var) as stack:
        stack.settings = replace(stack.settings, video_addr=address)
        await add_api(stack, temporal)
        await add_workers(stack, temporal)
        async with video_process(address, tmp_path / "video.log", frame_delay=0.05) as first:
            job = await stack.client.create_job(SLOW_VIDEO)
            log = EventLog(stack.client, job.id)
            await log.wait_for(lambda e: e.step == pb.JOB_STEP_VIDEO_GENERATION)
            async with asyncio.timeout(30):  # mid-render: the MP4 is being encoded into its scratch file
                while not await scratch_files(store_env, job.id):  # noqa: ASYNC110 - another process's file
                    await asyncio.sleep(0.05)
            first.send_signal(signal.SIGKILL)
        assert await scratch_files(store_env, job.id), "SIGKILL left the render's file: the next attempt takes it"
        stale = plant_stale(scratch / "video", "old-job.0000000000001-0.mp4")
        others = plant_stale(scratch / "image", "old-job.0000000000001-0.png")  # not the video service's
        async with video_process(address, tmp_path / "video.log", frame_delay=0.0):
            events = await log.end(timeout=120)
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED, events[-1]
    assert not stale.exists() and others.exists(), "the start-up sweep takes the service's own stale files only"
    others.unlink()
    assert await store_env.object_names(job.id) == ["image-0.png", "video.mp4"]
    assert await store_env.leftovers() == NOTHING
