"""Jobs through the real stack (JobService, Temporal, the worker, the image and video services) on OpenAI,
Replicate and ComfyUI, each a local server speaking the provider's documented protocol."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from temporalio.testing import WorkflowEnvironment

from genmedia.domain.errors import details_of
from genmedia.v1 import common_pb2 as pb
from services.orchestrator.backends import with_service_slots
from tests.conftest import venv_bin
from tests.integration.fakes.common import Fault
from tests.integration.jobstack import EventLog, add_api, job_services, watch_to_end
from tests.integration.providerstack import (
    fake_providers,
    image_spec,
    provider_env,
    provider_stack,
    stored,
    video_spec,
)

pytestmark = pytest.mark.timeout(120)
PROGRESS = {"openai": "openai rendering", "replicate": "replicate processing", "comfyui": "comfyui node 3: step"}


@pytest.mark.parametrize("provider", ["openai", "replicate", "comfyui"])
async def test_image_and_video_jobs_complete_with_what_the_provider_served(
        provider: str, temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with fake_providers(delay=0.3) as fakes, \
            provider_stack(temporal, tmp_path, monkeypatch, fakes, provider, provider) as stack:
        fake = fakes[provider]
        image_job = await stack.client.create_job(image_spec(num_images=2, seed=5))
        image_events = await watch_to_end(stack.client, image_job.id)
        video_job = await stack.client.create_job(video_spec())
        video_events = await watch_to_end(stack.client, video_job.id)
    assert image_events[-1].type == pb.EVENT_TYPE_COMPLETED, image_events[-1]
    assert video_events[-1].type == pb.EVENT_TYPE_COMPLETED, video_events[-1]
    images, (image, video) = image_events[-1].assets, video_events[-1].assets
    assert [a.mime_type for a in (*images, image, video)] == ["image/png"] * 3 + ["video/mp4"]
    for asset in (*images, image, video):
        assert stored(asset) in fake.served, "the stored asset is byte-identical to what the provider served"
        assert (asset.provider, bool(asset.model), bool(asset.provider_request_id)) == (provider, True, True)
        assert asset.provider_latency_seconds > 0 and asset.uri.startswith("file://")
    assert images[0].sha256 != images[1].sha256
    assert (video.width, video.height, video.frame_count) == (64, 48, 12)
    messages = [e.message for e in image_events + video_events]
    assert any(m.startswith(f"generating with {provider}") for m in messages)
    assert any(PROGRESS[provider] in m for m in messages), messages
    if provider == "replicate":
        assert image.provider_seconds > 0  # metrics.predict_time
    if provider == "openai":
        assert images[0].provider_tokens == 50  # usage.total_tokens, shared by the call's two images


@pytest.mark.parametrize("provider", ["openai", "replicate", "comfyui"])
async def test_cancel_job_reaches_the_providers_cancel_endpoint_within_2s(
        provider: str, temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with fake_providers(delay=30) as fakes, \
            provider_stack(temporal, tmp_path, monkeypatch, fakes, "procedural", provider) as stack:
        fake = fakes[provider]
        job = await stack.client.create_job(video_spec())
        log = EventLog(stack.client, job.id)
        await log.wait_for(lambda e: e.step == pb.JOB_STEP_VIDEO_GENERATION and PROGRESS[provider] in e.message)
        started = time.monotonic()
        await stack.client.cancel_job(job.id, reason="changed my mind")
        events = await log.end(timeout=10)
        cancels = getattr(fake, {"openai": "deleted", "replicate": "cancelled", "comfyui": "interrupted"}[provider])
        for _ in range(40):
            if cancels:
                break
            await asyncio.sleep(0.05)
    assert events[-1].type == pb.EVENT_TYPE_CANCELLED
    assert cancels, f"{provider}'s cancel endpoint was not called"
    assert cancels[0][1] - started < 2.0, f"cancel reached {provider} after {cancels[0][1] - started:.2f}s"


async def test_create_job_refuses_a_backend_the_service_has_not_configured(
        temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with fake_providers() as fakes:
        provider_env(monkeypatch, tmp_path, {"openai": fakes["openai"]})
        monkeypatch.setenv("GENMEDIA_IMAGE_BACKEND", "openai")
        async with job_services(tmp_path) as stack:
            await add_api(stack, temporal)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stack.client.create_job(image_spec(backend="replicate"))
            sized = await with_service_slots(stack.settings)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    reason, violations = details_of(info.value)
    assert reason == "BACKEND_NOT_CONFIGURED" and violations[0][0] == "spec.image.backend"
    assert "replicate" in info.value.details()
    assert (sized.image_slots, sized.video_slots) == (8, 1), "the slots follow what the services take"


async def cli(stack, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(venv_bin("genmedia")), "--server", f"127.0.0.1:{stack.servers['api'].port}", "--progress-server",
        stack.settings.progress_addr, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={"COLUMNS": "200", "PATH": "/usr/bin"})
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode()


async def test_cli_backend_choice_get_usage_and_provider_stats(
        temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    down = Fault(503, {"title": "Service Unavailable", "detail": "down for maintenance", "status": 503})
    async with fake_providers(delay=0.1) as fakes, \
            provider_stack(temporal, tmp_path, monkeypatch, fakes, "procedural") as stack:
        fakes["replicate"].faults["create"] = [down]
        made = await cli(stack, "image", "a kite", "--width", "64", "--height", "64", "--backend", "replicate,openai",
                         "--watch")
        job_id = made[1].split()[1]
        got = await cli(stack, "get", job_id)
        stats = await cli(stack, "stats", "--since", "1h")
        unknown = await cli(stack, "video", "a kite", "--backend", "nope")
    assert made[0] == 0, made[1]
    assert got[0] == 0 and "made by openai gpt-image-1, request req_" in got[1] and "usage: 100 tokens" in got[1]
    assert "provider openai   1 calls, 0 failed" in stats[1] and "provider replicate 1 calls, 1 failed" in stats[1]
    assert unknown[0] == 5 and "FAILED_PRECONDITION" in unknown[1] and "spec.video.backend" in unknown[1]


async def test_a_passed_deadline_cancels_the_work_at_the_provider_within_2s(
        temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with fake_providers(delay=30) as fakes, \
            provider_stack(temporal, tmp_path, monkeypatch, fakes, "replicate") as stack:
        deadline = datetime.now(UTC) + timedelta(seconds=3)
        job = await stack.client.create_job(image_spec(), deadline=deadline)
        events = await watch_to_end(stack.client, job.id)
        for _ in range(40):
            if fakes["replicate"].cancelled:
                break
            await asyncio.sleep(0.05)
    assert events[-1].type == pb.EVENT_TYPE_FAILED and events[-1].error.code == "DEADLINE_EXCEEDED"
    assert fakes["replicate"].cancelled, "the prediction was cancelled at the provider"
    cancelled_at = fakes["replicate"].cancelled[0][1] - time.monotonic() + time.time()
    assert cancelled_at - deadline.timestamp() < 2.0
