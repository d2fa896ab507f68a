"""The image and video services on fake providers, without Temporal: refusals and their statuses, the job's
own backend choice, DescribeBackends, queue positions, sync mode, metrics, and start-up checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
from prometheus_client import REGISTRY

from genmedia.config import ConfigError
from genmedia.domain.errors import details_of, error_info
from genmedia.v1 import common_pb2, image_service_pb2_grpc, video_service_pb2_grpc
from genmedia.v1 import image_service_pb2 as ipb
from genmedia.v1 import video_service_pb2 as vpb
from services.image import config as image_config
from services.image import server as image_server
from services.video import config as video_config
from services.video import server as video_server
from tests.conftest import serve_on_port0
from tests.integration.fakes.common import Fault, png_bytes
from tests.integration.providerstack import KEY, fake_providers, provider_env

pytestmark = pytest.mark.timeout(60)


@asynccontextmanager
async def image_stub(monkeypatch, tmp_path: Path, backend: str, delay: float = 0.1) -> AsyncIterator[tuple]:
    async with fake_providers(delay) as fakes:
        provider_env(monkeypatch, tmp_path, fakes)
        monkeypatch.setenv("GENMEDIA_IMAGE_BACKEND", backend)
        monkeypatch.setenv("GENMEDIA_VIDEO_BACKEND", backend if backend != "procedural" else "kenburns")
        async for server in serve_on_port0(image_server.build_registrations(image_config.Settings.from_env())):
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                yield image_service_pb2_grpc.ImageServiceStub(channel), fakes


def request(backend: str = "", **spec) -> ipb.GenerateImagesRequest:
    return ipb.GenerateImagesRequest(job_id="job-1", spec=common_pb2.ImageSpec(
        prompt="a red kite", width=64, height=64, backend=backend, **spec))


async def refusal(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        [m async for m in call]
    return info.value


async def test_a_content_policy_refusal_is_not_retried(monkeypatch, tmp_path) -> None:
    async with image_stub(monkeypatch, tmp_path, "openai") as (stub, fakes):
        fakes["openai"].faults["images"] = [Fault(400, {"error": {
            "message": "Your request was rejected as a result of our safety system.",
            "type": "image_generation_user_error", "code": "content_policy_violation"}})]
        error = await refusal(stub.GenerateImages(request(), timeout=10))
        fakes["replicate"].fail_with = "NSFW content detected. Try running it again, or try a different prompt."
        nsfw = await refusal(stub.GenerateImages(request("replicate"), timeout=10))
    for err in (error, nsfw):
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and details_of(err)[0] == "CONTENT_POLICY"
    assert "safety system" in error.details() and "NSFW" in nsfw.details()
    assert not (tmp_path / "assets" / "job-1").exists()


async def test_a_refused_credential_names_the_setting_to_fix_and_never_the_key(monkeypatch, tmp_path) -> None:
    async with image_stub(monkeypatch, tmp_path, "openai") as (stub, fakes):
        fakes["openai"].key = "sk-another-key-entirely"
        error = await refusal(stub.GenerateImages(request(), timeout=10))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    reason, meta, _ = error_info(error)
    assert (reason, meta["provider"]) == ("PROVIDER_AUTH", "openai")
    assert "GENMEDIA_OPENAI_API_KEY" in error.details() and KEY not in error.details()


async def test_a_job_may_pick_a_configured_backend_and_not_another(monkeypatch, tmp_path) -> None:
    async with image_stub(monkeypatch, tmp_path, "procedural") as (stub, fakes):
        described = await stub.DescribeBackends(ipb.DescribeBackendsRequest(), timeout=5)
        made = [m async for m in stub.GenerateImages(request("replicate"), timeout=10)]
        monkeypatch.delenv("GENMEDIA_OPENAI_API_KEY")
    assert list(described.default_chain) == ["procedural"] and described.capacity == 2
    assert {b.name for b in described.backends} == {"procedural", "openai", "replicate", "comfyui"}
    assert [b.placeholder for b in described.backends if b.name == "procedural"] == [True]
    assert made[-1].result.assets[0].provider == "replicate"
    async with fake_providers() as fakes:
        provider_env(monkeypatch, tmp_path, {"replicate": fakes["replicate"]})
        monkeypatch.setenv("GENMEDIA_IMAGE_BACKEND", "procedural")
        async for server in serve_on_port0(image_server.build_registrations(image_config.Settings.from_env())):
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                stub = image_service_pb2_grpc.ImageServiceStub(channel)
                error = await refusal(stub.GenerateImages(request("openai"), timeout=10))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details_of(error)[0] == "BACKEND_NOT_CONFIGURED" and "openai" in error.details()


async def test_comfyui_queue_position_is_reported_while_waiting(monkeypatch, tmp_path) -> None:
    async def drain(call) -> list:
        return [m async for m in call]

    async with image_stub(monkeypatch, tmp_path, "comfyui", delay=0.6) as (stub, _):
        calls = [stub.GenerateImages(ipb.GenerateImagesRequest(job_id=f"job-{i}", spec=common_pb2.ImageSpec(
            prompt="a kite", width=64, height=64)), timeout=20) for i in range(2)]
        answers = await asyncio.gather(*(drain(call) for call in calls))
    waited = [m.progress for a in answers for m in a if m.HasField("progress") and m.progress.queue_position]
    assert waited and waited[0].queue_position in (1, 2), "the one queued behind the other saw its place"
    assert waited[0].message == f"image 1/1: queued at comfyui, position {waited[0].queue_position}"
    assert all(a[-1].result.assets[0].provider == "comfyui" for a in answers)


async def test_replicate_sync_mode_answers_with_the_output(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GENMEDIA_REPLICATE_WAIT_SECONDS", "10")
    async with image_stub(monkeypatch, tmp_path, "replicate") as (stub, fakes):
        made = [m async for m in stub.GenerateImages(request(), timeout=10)]
    creates = fakes["replicate"].called("POST", "/v1/models/black-forest-labs/flux-schnell/predictions")
    assert creates[0].headers["Prefer"] == "wait=10" and "Cancel-After" in creates[0].headers
    assert not fakes["replicate"].called("GET", "/v1/predictions/"), "no poll needed"
    assert made[-1].result.assets[0].provider_seconds > 0


async def test_provider_requests_are_counted_under_the_contract_names(monkeypatch, tmp_path) -> None:
    def count(outcome: str) -> float:
        return REGISTRY.get_sample_value("genmedia_provider_requests_total", {
            "provider": "openai", "operation": "images.generate", "outcome": outcome}) or 0.0

    ok, limited = count("ok"), count("rate_limited")
    async with image_stub(monkeypatch, tmp_path, "openai") as (stub, fakes):
        fakes["openai"].faults["images"] = [Fault(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"})]
        error = await refusal(stub.GenerateImages(request(), timeout=10))
        [m async for m in stub.GenerateImages(request(), timeout=10)]
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and error_info(error)[2] == 1.0
    assert (count("ok") - ok, count("rate_limited") - limited) == (1, 1)
    assert REGISTRY.get_sample_value("genmedia_provider_requests_in_flight",
                                     {"provider": "openai", "operation": "images.generate"}) == 0
    assert REGISTRY.get_sample_value("genmedia_provider_request_duration_seconds_count",
                                     {"provider": "openai", "operation": "images.generate"}) >= 2


async def test_openai_video_moderation_failure_and_a_truncated_video(monkeypatch, tmp_path) -> None:
    async with fake_providers(0.1) as fakes:
        provider_env(monkeypatch, tmp_path, fakes)
        monkeypatch.setenv("GENMEDIA_VIDEO_BACKEND", "openai")
        source = tmp_path / "assets" / "src" / "image-0.png"
        source.parent.mkdir(parents=True)
        source.write_bytes(png_bytes())
        async for server in serve_on_port0(video_server.build_registrations(video_config.Settings.from_env())):
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                stub = video_service_pb2_grpc.VideoServiceStub(channel)
                call = vpb.RenderVideoRequest(job_id="job-v", image_uri=source.as_uri(), width=64, height=64,
                                              duration_seconds=4, fps=12, prompt="a harbour")
                fakes["openai"].faults["video_fails"] = [Fault()]
                blocked = await refusal(stub.RenderVideo(call, timeout=10))
                fakes["openai"].faults["content"] = [Fault(truncate=True)]
                truncated = await refusal(stub.RenderVideo(call, timeout=10))
    assert details_of(blocked)[0] == "CONTENT_POLICY" and "moderation" in blocked.details()
    assert details_of(truncated)[0] == "PROVIDER_BAD_OUTPUT" and "where a video was expected" in truncated.details()
    # The download went into a scratch file (never whole in memory), removed once the video was refused.
    scratch = tmp_path / "assets" / ".tmp" / "video"
    assert scratch.is_dir() and not list(scratch.iterdir())
    created = fakes["openai"].called("POST", "/v1/videos")[0].body
    assert created["input_reference"].startswith("file:reference.png") and created["seconds"] == "4"


@pytest.mark.parametrize(("env", "named"), [
    ({"GENMEDIA_IMAGE_BACKEND": "openai"}, "GENMEDIA_OPENAI_API_KEY"),
    ({"GENMEDIA_IMAGE_BACKEND": "procedural,replicate"}, "GENMEDIA_REPLICATE_API_TOKEN"),
    ({"GENMEDIA_IMAGE_BACKEND": "comfyui"}, "GENMEDIA_COMFYUI_URL"),
    ({"GENMEDIA_IMAGE_BACKEND": "comfyui", "GENMEDIA_COMFYUI_URL": "http://127.0.0.1:1"},
     "GENMEDIA_COMFYUI_IMAGE_WORKFLOW"),
    ({"GENMEDIA_IMAGE_BACKEND": "dall-e"}, "GENMEDIA_IMAGE_BACKEND"),
])
def test_a_chosen_backend_missing_its_setting_stops_the_service_naming_it(monkeypatch, env, named) -> None:
    for name in ("GENMEDIA_OPENAI_API_KEY", "GENMEDIA_REPLICATE_API_TOKEN", "GENMEDIA_COMFYUI_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=named):
        image_config.Settings.from_env()
