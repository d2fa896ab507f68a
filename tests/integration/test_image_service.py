"""ImageService over real gRPC: streamed progress and PNG assets, validation, saturation, cancellation."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import pytest
from PIL import Image

from genmedia.assetstore import StoreSettings
from genmedia.domain.errors import details_of
from genmedia.serving.settings import ServingSettings
from genmedia.v1 import common_pb2, image_service_pb2_grpc
from genmedia.v1 import image_service_pb2 as pb
from services.image.config import Settings
from services.image.server import build_registrations
from services.image.servicer import ImageServicer
from tests.conftest import grpcurl_path, serve_on_port0


@dataclass
class Running:
    stub: image_service_pb2_grpc.ImageServiceStub
    servicer: ImageServicer
    port: int


@asynccontextmanager
async def image_service(
    root: Path | None, step_delay: float = 0.0, max_concurrency: int = 2
) -> AsyncIterator[Running]:
    settings = Settings(
        serving=ServingSettings.from_env("image"),
        assets=replace(StoreSettings.from_env(), url=root.as_uri()) if root else StoreSettings.from_env(),
        backend="procedural",
        max_concurrency=max_concurrency,
        step_delay=step_delay,
    )
    registrations = build_registrations(settings)
    try:
        async for server in serve_on_port0(registrations):
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                yield Running(
                    image_service_pb2_grpc.ImageServiceStub(channel), registrations[0].servicer, server.port
                )
    finally:
        await registrations[0].servicer.aclose()


def request(job_id: str = "job-1", **spec) -> pb.GenerateImagesRequest:
    fields = {"prompt": "a red kite over the dunes", "width": 80, "height": 64, "seed": 5, **spec}
    return pb.GenerateImagesRequest(job_id=job_id, spec=common_pb2.ImageSpec(**fields))


async def test_streams_progress_for_each_image_then_the_assets(asset_root: Path) -> None:
    async with image_service(asset_root) as svc:
        responses = [r async for r in svc.stub.GenerateImages(request(num_images=2), timeout=30)]
    *progress, last = responses
    assert all(r.HasField("progress") for r in progress) and last.HasField("result")
    for index in (0, 1):
        assert sum(1 for r in progress if r.progress.item_index == index) >= 5
    percents = [r.progress.percent for r in progress]
    assert percents == sorted(percents) and percents[0] == 0 and percents[-1] == 100
    assert any(r.progress.message == "image 2/2: rendering rows 0-7" for r in progress)
    assets = last.result.assets
    assert [Path(a.uri.removeprefix("file://")).name for a in assets] == ["image-0.png", "image-1.png"]
    for asset in assets:
        assert (asset.mime_type, asset.width, asset.height) == ("image/png", 80, 64)
        check_png(asset, asset_root / "job-1")
    assert assets[0].sha256 != assets[1].sha256


def check_png(asset: common_pb2.Asset, folder: Path) -> None:
    """The asset is a file in `folder` whose size and hash match, and Pillow opens it at the stated size."""
    path = Path(asset.uri.removeprefix("file://"))
    assert path.parent == folder.resolve()
    data = path.read_bytes()
    assert asset.sha256 == hashlib.sha256(data).hexdigest() and asset.size_bytes == len(data)
    with Image.open(path) as image:
        assert image.size == (asset.width, asset.height)


def is_empty(folder: Path) -> bool:
    return not folder.exists() or not any(p for p in folder.iterdir() if not p.name.startswith("."))


async def test_a_retried_call_rewrites_identical_files(asset_root: Path) -> None:
    async with image_service(asset_root) as svc:
        first = [r async for r in svc.stub.GenerateImages(request(), timeout=30)][-1].result.assets
        second = [r async for r in svc.stub.GenerateImages(request(), timeout=30)][-1].result.assets
        other = [r async for r in svc.stub.GenerateImages(request("job-2", seed=6), timeout=30)][-1]
    assert [a.sha256 for a in first] == [a.sha256 for a in second]
    assert other.result.assets[0].sha256 != first[0].sha256
    assert sorted(p.name for p in (asset_root / "job-1").iterdir() if not p.name.startswith(".")) == ["image-0.png"]


@pytest.mark.parametrize(
    ("req", "fields"),
    [
        (request(job_id=""), ["job_id"]),
        (request(job_id="../etc"), ["job_id"]),
        (request(prompt="  "), ["spec.prompt"]),
        (request(width=63), ["spec.width"]),
        (request(height=2049), ["spec.height"]),
        (request(num_images=5), ["spec.num_images"]),
        (request(num_images=0), ["spec.num_images"]),
        (request(style="x" * 101), ["spec.style"]),
        (request(negative_prompt="x" * 2001), ["spec.negative_prompt"]),
        (request(job_id="a b", prompt="", width=10), ["job_id", "spec.prompt", "spec.width"]),
    ],
    ids=[
        "no-job-id",
        "bad-job-id",
        "blank-prompt",
        "narrow",
        "tall",
        "too-many",
        "zero-images",
        "long-style",
        "long-negative",
        "three-at-once",
    ],
)
async def test_bad_input_is_invalid_argument_naming_each_field(
    asset_root: Path, req: pb.GenerateImagesRequest, fields: list[str]
) -> None:
    async with image_service(asset_root) as svc:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            [r async for r in svc.stub.GenerateImages(req, timeout=10)]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    reason, violations = details_of(caught.value)
    assert reason == "INVALID_ARGUMENT"
    assert [field for field, _ in violations] == fields
    assert is_empty(asset_root), "nothing is written for a rejected call"


async def test_a_call_beyond_the_limit_is_refused_at_once(asset_root: Path) -> None:
    async with image_service(asset_root, step_delay=0.05, max_concurrency=1) as svc:
        busy = svc.stub.GenerateImages(request(num_images=4), timeout=30)
        await busy.read()  # the first call holds the only slot
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            [r async for r in svc.stub.GenerateImages(request("job-2"), timeout=5)]
        busy.cancel()
        await asyncio.wait_for(svc.servicer.limit.wait_idle(), 10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details_of(caught.value)[0] == "SERVICE_SATURATED"


async def test_cancelling_mid_stream_leaves_no_file_and_keeps_serving(asset_root: Path) -> None:
    job_dir = asset_root / "job-1"
    async with image_service(asset_root, step_delay=0.05) as svc:
        call = svc.stub.GenerateImages(request(num_images=3), timeout=30)
        async for response in call:
            if response.progress.item_index == 1:
                break  # image 1 is being rendered; image 0 is made but the call has not ended
        assert is_empty(job_dir), "the store is written only once every image of the call is made"
        call.cancel()
        await asyncio.wait_for(svc.servicer.limit.wait_idle(), 10)
        assert is_empty(job_dir)
        after = [r async for r in svc.stub.GenerateImages(request("job-2"), timeout=30)]
    assert after[-1].result.assets[0].uri.endswith("/job-2/image-0.png")


async def test_cancelling_after_the_result_keeps_the_delivered_files(asset_root: Path) -> None:
    async with image_service(asset_root) as svc:
        call = svc.stub.GenerateImages(request(), timeout=30)
        async for response in call:
            if response.WhichOneof("payload") == "result":
                break
        call.cancel()
        await asyncio.wait_for(svc.servicer.limit.wait_idle(), 10)
    assert (asset_root / "job-1" / "image-0.png").is_file()


async def test_grpcurl_lists_and_calls_the_service_by_reflection(asset_root: Path) -> None:
    async with image_service(asset_root) as svc:
        proc = await asyncio.create_subprocess_exec(
            str(grpcurl_path()),
            "-plaintext",
            "-d",
            '{"job_id": "curl", "spec": {"prompt": "a boat", "width": 64, "height": 64}}',
            f"127.0.0.1:{svc.port}",
            "genmedia.v1.ImageService/GenerateImages",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert '"result"' in out.decode() and '"image/png"' in out.decode()
    assert (asset_root / "curl" / "image-0.png").exists()


async def test_a_later_revision_keeps_the_earlier_files(asset_root: Path) -> None:
    async with image_service(asset_root) as svc:
        for revision in (1, 2):
            request_ = request("job-rev", num_images=2)
            request_.revision = revision
            [m async for m in svc.stub.GenerateImages(request_, timeout=30)]
        bad = request("job-rev")
        bad.revision = -1
        with pytest.raises(grpc.aio.AioRpcError) as info:
            [m async for m in svc.stub.GenerateImages(bad, timeout=30)]
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "revision" in info.value.details()
    names = sorted(p.name for p in (asset_root / "job-rev").iterdir() if not p.name.startswith("."))
    assert names == ["image-0.png", "image-1.png", "image-2-0.png", "image-2-1.png"]
