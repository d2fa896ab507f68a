"""VideoService over real gRPC: frame progress and an MP4 asset, validation, saturation, cancellation."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import av
import grpc
import pytest

from genmedia.assetstore import StoreSettings, asset_key
from genmedia.domain.errors import details_of
from genmedia.serving.settings import ServingSettings
from genmedia.v1 import common_pb2, video_service_pb2_grpc
from genmedia.v1 import video_service_pb2 as pb
from services.image.backends.procedural import ImageRequest, render
from services.video.config import Settings
from services.video.server import build_registrations
from services.video.servicer import VideoServicer
from tests.conftest import grpcurl_path, serve_on_port0
from tests.integration.stores import StoreUnderTest


@dataclass
class Running:
    stub: video_service_pb2_grpc.VideoServiceStub
    servicer: VideoServicer
    port: int


@asynccontextmanager
async def video_service(
    root: Path | None, frame_delay: float = 0.0, max_concurrency: int = 1
) -> AsyncIterator[Running]:
    settings = Settings(
        serving=ServingSettings.from_env("video"),
        assets=replace(StoreSettings.from_env(), url=root.as_uri()) if root else StoreSettings.from_env(),
        backend="kenburns",
        max_concurrency=max_concurrency,
        frame_delay=frame_delay,
        crf=23,
        preset="veryfast",
    )
    registrations = build_registrations(settings)
    try:
        async for server in serve_on_port0(registrations):
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                yield Running(
                    video_service_pb2_grpc.VideoServiceStub(channel), registrations[0].servicer, server.port
                )
    finally:
        await registrations[0].servicer.aclose()


def still() -> bytes:
    return render(ImageRequest("a lighthouse at dusk", "", "", 11, 160, 96, 0), lambda *_: None, threading.Event())


@pytest.fixture
def image_uri(asset_root: Path) -> str:
    path = asset_root / "src" / "image-0.png"
    path.parent.mkdir()
    path.write_bytes(still())
    return path.resolve().as_uri()


def request(image_uri: str, job_id: str = "job-1", **fields) -> pb.RenderVideoRequest:
    values = {"width": 96, "height": 64, "duration_seconds": 1.0, "fps": 24, **fields}
    return pb.RenderVideoRequest(job_id=job_id, image_uri=image_uri, **values)


async def test_streams_frame_progress_then_a_real_mp4(asset_root: Path, image_uri: str) -> None:
    async with video_service(asset_root) as svc:
        req = request(image_uri, duration_seconds=2.0, motion=common_pb2.MOTION_PAN_LEFT)
        responses = [r async for r in svc.stub.RenderVideo(req, timeout=60)]
    *progress, last = responses
    assert all(r.HasField("progress") for r in progress) and last.HasField("result")
    percents = [r.progress.percent for r in progress]
    assert percents[0] == 0 and percents[-1] == 100 and percents == sorted(percents)
    assert max(b - a for a, b in zip(percents, percents[1:], strict=False)) <= 5, (
        "a message at least every 5%"
    )
    assert "encoded 24/48 frames" in [r.progress.message for r in progress]
    asset = last.result.asset
    assert (asset.mime_type, asset.width, asset.height) == ("video/mp4", 96, 64)
    assert (asset.frame_count, asset.fps, asset.duration_seconds) == (48, 24.0, 2.0)
    check_mp4(asset, asset_root / "job-1" / "video.mp4")


def check_mp4(asset: common_pb2.Asset, expected: Path) -> None:
    """The asset names the expected file, its size and hash match, and PyAV decodes it as described."""
    path = Path(asset.uri.removeprefix("file://"))
    assert path == expected.resolve()
    data = path.read_bytes()
    assert asset.sha256 == hashlib.sha256(data).hexdigest() and asset.size_bytes == len(data)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert (stream.width, stream.height) == (asset.width, asset.height)
        assert sum(1 for _ in container.decode(video=0)) == asset.frame_count


async def test_unspecified_motion_renders_and_a_retry_gives_the_same_bytes(
    asset_root: Path, image_uri: str
) -> None:
    async with video_service(asset_root) as svc:
        first = [r async for r in svc.stub.RenderVideo(request(image_uri), timeout=60)][-1].result.asset
        again = [r async for r in svc.stub.RenderVideo(request(image_uri), timeout=60)][-1].result.asset
        zoom_in = request(image_uri, job_id="job-2", motion=common_pb2.MOTION_ZOOM_IN)
        explicit = [r async for r in svc.stub.RenderVideo(zoom_in, timeout=60)][-1].result.asset
    assert first.sha256 == again.sha256 == explicit.sha256
    assert first.frame_count == 24


BAD = [
    ({"job_id": ""}, ["job_id"]),
    ({"job_id": "a/b"}, ["job_id"]),
    ({"image_uri": ""}, ["image_uri"]),
    ({"image_uri": "https://example.com/cat.png"}, ["image_uri"]),
    ({"image_uri": "file:///etc/hostname"}, ["image_uri"]),
    ({"image_uri": "MISSING"}, ["image_uri"]),
    ({"image_uri": "NOT_AN_IMAGE"}, ["image_uri"]),
    ({"width": 0}, ["width"]),
    ({"width": 97}, ["width"]),
    ({"height": 1922}, ["height"]),
    ({"duration_seconds": 0.5}, ["duration_seconds"]),
    ({"duration_seconds": 31}, ["duration_seconds"]),
    ({"duration_seconds": float("nan")}, ["duration_seconds"]),
    ({"fps": 11}, ["fps"]),
    ({"fps": 61}, ["fps"]),
    ({"motion": 99}, ["motion"]),
    ({"width": 63, "fps": 0, "job_id": ""}, ["job_id", "width", "width", "fps"]),
]


@pytest.mark.parametrize(
    ("change", "fields"), BAD, ids=[",".join(f"{k}={v}" for k, v in c.items()) for c, _ in BAD]
)
async def test_bad_input_is_invalid_argument_naming_each_field(
    asset_root: Path, image_uri: str, change: dict, fields: list[str]
) -> None:
    if change.get("image_uri") == "MISSING":
        change = {"image_uri": (asset_root / "src" / "nope.png").resolve().as_uri()}
    elif change.get("image_uri") == "NOT_AN_IMAGE":
        (asset_root / "src" / "notes.png").write_text("not a picture")
        change = {"image_uri": (asset_root / "src" / "notes.png").resolve().as_uri()}
    req = request(image_uri)
    for name, value in change.items():
        setattr(req, name, value)
    async with video_service(asset_root) as svc:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            [r async for r in svc.stub.RenderVideo(req, timeout=10)]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    reason, violations = details_of(caught.value)
    assert reason == "INVALID_ARGUMENT"
    assert [field for field, _ in violations] == fields
    assert not (asset_root / "job-1").exists()


async def test_a_call_beyond_the_limit_is_refused_at_once(asset_root: Path, image_uri: str) -> None:
    async with video_service(asset_root, frame_delay=0.05, max_concurrency=1) as svc:
        busy = svc.stub.RenderVideo(request(image_uri, duration_seconds=10), timeout=60)
        await busy.read()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            [r async for r in svc.stub.RenderVideo(request(image_uri, job_id="job-2"), timeout=5)]
        busy.cancel()
        await asyncio.wait_for(svc.servicer.limit.wait_idle(), 10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details_of(caught.value)[0] == "SERVICE_SATURATED"


async def test_cancelling_mid_stream_leaves_no_file_and_keeps_serving(
    asset_root: Path, image_uri: str
) -> None:
    async with video_service(asset_root, frame_delay=0.02) as svc:
        call = svc.stub.RenderVideo(request(image_uri, duration_seconds=10), timeout=60)
        async for response in call:
            if response.progress.message.startswith("encoded 6/"):
                break
        assert not (asset_root / "job-1").exists(), "the store is written only once the video is whole"
        call.cancel()
        await asyncio.wait_for(svc.servicer.limit.wait_idle(), 10)
        assert not (asset_root / "job-1").exists()
        after = [
            r async for r in svc.stub.RenderVideo(request(image_uri, job_id="job-2", fps=12), timeout=60)
        ]
    assert after[-1].result.asset.frame_count == 12


async def test_cancelling_mid_render_leaves_nothing_in_either_store(store_env: StoreUnderTest) -> None:
    """The input image is read from the store; a cancelled render leaves no object, no temporary file or
    object, no scratch file and no upload."""
    async def one(data: bytes):
        yield data

    async with store_env.open("image") as images:
        source = await images.write_chunks(asset_key("src", "image-0.png"), one(still()), "image/png")
    async with video_service(None, frame_delay=0.02) as svc:
        call = svc.stub.RenderVideo(request(source.uri, duration_seconds=10), timeout=60)
        async for response in call:
            if response.progress.message.startswith("encoded 6/"):
                break
        assert len((await store_env.leftovers())["files"]) == 1, "the MP4 is encoded into a scratch file"
        call.cancel()
        await asyncio.wait_for(svc.servicer.limit.wait_idle(), 10)
    assert await store_env.object_names("job-1") == []
    assert await store_env.leftovers() == {"files": [], "objects": [], "uploads": []}


async def test_grpcurl_describes_the_service_by_reflection(asset_root: Path) -> None:
    async with video_service(asset_root) as svc:
        proc = await asyncio.create_subprocess_exec(
            str(grpcurl_path()),
            "-plaintext",
            f"127.0.0.1:{svc.port}",
            "describe",
            "genmedia.v1.VideoService",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    rpc = (
        "rpc RenderVideo ( .genmedia.v1.RenderVideoRequest )"
        " returns ( stream .genmedia.v1.RenderVideoResponse )"
    )
    assert rpc in out.decode()
