"""JobService.DownloadAsset and CreateAssetLink over real gRPC, with authentication on, on both stores: the
asset's description then its bytes, resumable from an offset; another user's job answered exactly like an
unknown one; every bad field named; and the download helper (genmedia.client.downloads), which resumes a cut
stream and refuses bytes that do not match their sha256."""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.testing import WorkflowEnvironment

from genmedia.assetstore import asset_key
from genmedia.client.downloads import ChecksumMismatch, asset_filename, download_asset
from genmedia.domain.errors import details_of
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import job_service_pb2_grpc, progress_service_pb2_grpc
from tests.integration.jobstack import Stack, add_api, configure_env, job_services
from tests.integration.progress import created, report
from tests.integration.stores import PART, StoreUnderTest
from tests.integration.tcpproxy import TcpProxy
from tests.integration.test_security import ALICE, BOB, INTERNAL, ROOT, guard

pytestmark = pytest.mark.timeout(180)
MiB = 1 << 20


@pytest.fixture
async def stack(temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                store_env: StoreUnderTest):
    configure_env(monkeypatch, tmp_path)
    checker = guard()
    async with job_services(tmp_path, guard=checker) as stack:
        stack.settings = replace(stack.settings, internal_token=INTERNAL)
        await add_api(stack, temporal, guard=checker, token=ALICE)
        yield stack


async def finished_job(stack: Stack, under: StoreUnderTest, owner: str,
                       *contents: bytes) -> tuple[str, list[pb.Asset]]:
    """A COMPLETED job of `owner` whose assets (image-0.png, video.mp4, ...) hold `contents`, in the store."""
    job_id = str(uuid.uuid4())
    assets = []
    async with under.open("video") as store:
        for n, data in enumerate(contents):
            name, mime = ("video.mp4", "video/mp4") if n else ("image-0.png", "image/png")
            stored = await store.write_chunks(asset_key(job_id, name), _chunks(data), mime)
            assets.append(pb.Asset(uri=stored.uri, mime_type=mime, size_bytes=stored.size, sha256=stored.sha256,
                                   width=64, height=64))
    async with stack.settings.channel(stack.settings.progress_addr) as channel:
        progress = progress_service_pb2_grpc.ProgressServiceStub(channel)
        await progress.ReportProgress(created(job_id, owner=owner, kind=pb.JOB_KIND_VIDEO))
        await progress.ReportProgress(report(job_id, "done", pb.EVENT_TYPE_COMPLETED, assets=assets))
    return job_id, assets


async def _chunks(data: bytes):
    for start in range(0, len(data), MiB):
        yield data[start:start + MiB]


def stub_for(stack: Stack, token: str, address: str | None = None
             ) -> tuple[grpc.aio.Channel, job_service_pb2_grpc.JobServiceStub]:
    channel = grpc.aio.insecure_channel(address or f"127.0.0.1:{stack.servers['api'].port}")
    return channel, job_service_pb2_grpc.JobServiceStub(channel)


def auth(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


async def messages(stub, token: str, job_id: str, index: int = 0, offset: int = 0) -> list[js.DownloadAssetResponse]:
    call = stub.DownloadAsset(js.DownloadAssetRequest(job_id=job_id, asset_index=index, offset=offset),
                              metadata=auth(token), timeout=60)
    return [m async for m in call]


async def refusal(call) -> grpc.aio.AioRpcError:
    """The error of a call (unary, or a stream read to its end) that must be refused."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        if isinstance(call, grpc.aio.UnaryStreamCall):
            async for _ in call:
                pass
        else:
            await call
    return caught.value


async def test_download_sends_the_description_then_the_bytes_from_any_offset(stack: Stack, store_env):
    image, video = os.urandom(200_000), os.urandom(2 * PART + 3)
    job_id, assets = await finished_job(stack, store_env, "alice", image, video)
    channel, stub = stub_for(stack, ALICE)
    async with channel:
        whole = await messages(stub, ALICE, job_id, 1)
        rest = await messages(stub, ALICE, job_id, 1, offset=len(video) // 2 + 1)
        at_end = await messages(stub, ALICE, job_id, 1, offset=len(video))
        first = await messages(stub, ALICE, job_id, 0)
    header = whole[0].asset
    assert whole[0].WhichOneof("payload") == "asset" and all(m.WhichOneof("payload") == "chunk" for m in whole[1:])
    assert (header.uri, header.mime_type, header.size_bytes, header.sha256, header.width) == (
        assets[1].uri, "video/mp4", len(video), hashlib.sha256(video).hexdigest(), 64)
    chunks = [m.chunk for m in whole[1:]]
    assert max(len(c.data) for c in chunks) <= MiB and len(chunks) == -(-len(video) // MiB)
    assert [c.offset for c in chunks] == list(range(0, len(video), MiB))
    assert b"".join(c.data for c in chunks) == video
    assert rest[0].asset == header and rest[1].chunk.offset == len(video) // 2 + 1
    assert b"".join(m.chunk.data for m in rest[1:]) == video[len(video) // 2 + 1:]
    assert [m.WhichOneof("payload") for m in at_end] == ["asset"]
    assert first[0].asset.mime_type == "image/png" and b"".join(m.chunk.data for m in first[1:]) == image


async def test_another_users_asset_is_not_found_exactly_like_an_unknown_job(stack: Stack, store_env):
    job_id, _ = await finished_job(stack, store_env, "alice", b"alice's picture")
    unknown = str(uuid.uuid4())
    channel, stub = stub_for(stack, BOB)
    async with channel:
        for call in (lambda j: stub.DownloadAsset(js.DownloadAssetRequest(job_id=j), metadata=auth(BOB)),
                     lambda j: stub.CreateAssetLink(js.CreateAssetLinkRequest(job_id=j), metadata=auth(BOB))):
            theirs, nothing = await refusal(call(job_id)), await refusal(call(unknown))
            assert theirs.code() == nothing.code() == grpc.StatusCode.NOT_FOUND
            assert theirs.details().replace(job_id, "ID") == nothing.details().replace(unknown, "ID")
            assert details_of(theirs)[0] == details_of(nothing)[0] == "JOB_NOT_FOUND"
        admin = await messages(stub, ROOT, job_id)  # the admin role reads every job's assets
    assert b"".join(m.chunk.data for m in admin[1:]) == b"alice's picture"


async def test_every_bad_field_is_named(stack: Stack, store_env):
    job_id, _ = await finished_job(stack, store_env, "alice", b"0123456789")
    channel, stub = stub_for(stack, ALICE)
    async with channel:
        bad = await refusal(stub.DownloadAsset(js.DownloadAssetRequest(job_id="", asset_index=-1, offset=-5),
                                               metadata=auth(ALICE)))
        assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in details_of(bad)[1]] == ["job_id", "asset_index", "offset"]
        past = await refusal(stub.DownloadAsset(js.DownloadAssetRequest(job_id=job_id, offset=11),
                                                metadata=auth(ALICE)))
        assert past.code() == grpc.StatusCode.OUT_OF_RANGE and details_of(past)[1][0][0] == "offset"
        beyond = await refusal(stub.DownloadAsset(js.DownloadAssetRequest(job_id=job_id, asset_index=1),
                                                  metadata=auth(ALICE)))
        assert beyond.code() == grpc.StatusCode.OUT_OF_RANGE and details_of(beyond)[1][0][0] == "asset_index"
        assert "has 1 asset" in beyond.details()
        for lifetime in (Duration(seconds=8 * 86400), Duration(seconds=0), Duration(seconds=-3),
                         Duration(seconds=60, nanos=-1), Duration(seconds=2**62), Duration(seconds=-(2**62))):
            refused = await refusal(stub.CreateAssetLink(js.CreateAssetLinkRequest(
                job_id=job_id, asset_index=-2, expires_in=lifetime), metadata=auth(ALICE)))
            assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert [f for f, _ in details_of(refused)[1]] == ["asset_index", "expires_in"]


async def test_links_are_presigned_gets_on_s3_and_failed_precondition_on_a_folder(stack: Stack, store_env):
    video = os.urandom(PART + 5)
    job_id, _ = await finished_job(stack, store_env, "alice", b"png", video)
    channel, stub = stub_for(stack, ALICE)
    async with channel:
        request = js.CreateAssetLinkRequest(job_id=job_id, asset_index=1, expires_in=Duration(seconds=7 * 86400))
        if store_env.kind == "file":
            refused = await refusal(stub.CreateAssetLink(request, metadata=auth(ALICE)))
            assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION and "no HTTP face" in refused.details()
            assert details_of(refused)[0] == "ASSET_STORE_HAS_NO_LINKS"
            return
        link = await stub.CreateAssetLink(request, metadata=auth(ALICE))
        default = await stub.CreateAssetLink(js.CreateAssetLinkRequest(job_id=job_id), metadata=auth(ALICE))
    now = datetime.now(UTC)
    assert abs(link.expire_time.ToDatetime(UTC) - (now + timedelta(days=7))) < timedelta(seconds=30)
    assert abs(default.expire_time.ToDatetime(UTC) - (now + timedelta(hours=1))) < timedelta(seconds=30)
    assert link.asset.sha256 == hashlib.sha256(video).hexdigest() and "X-Amz-Expires=604800" in link.url
    async with httpx.AsyncClient() as http:
        fetched = await http.get(link.url)
    assert fetched.status_code == 200 and fetched.content == video


async def test_an_asset_gone_from_the_store_is_not_found_and_a_changed_one_is_data_loss(stack: Stack, store_env):
    job_id, _ = await finished_job(stack, store_env, "alice", b"first", b"second")
    async with store_env.open("video") as store:
        await store.write_chunks(asset_key(job_id, "video.mp4"), _chunks(b"tampered"), "video/mp4")
        channel, stub = stub_for(stack, ALICE)
        async with channel:
            changed = await refusal(stub.DownloadAsset(js.DownloadAssetRequest(job_id=job_id, asset_index=1),
                                                       metadata=auth(ALICE)))
            await store.delete_job(job_id)
            gone = await refusal(stub.DownloadAsset(js.DownloadAssetRequest(job_id=job_id), metadata=auth(ALICE)))
    assert changed.code() == grpc.StatusCode.DATA_LOSS and details_of(changed)[0] == "ASSET_CORRUPTED"
    assert gone.code() == grpc.StatusCode.NOT_FOUND and details_of(gone)[0] == "ASSET_NOT_FOUND"


async def test_a_client_that_goes_away_mid_download_leaves_the_server_as_it_was(stack: Stack, store_env, caplog):
    video = os.urandom(2 * PART)
    job_id, _ = await finished_job(stack, store_env, "alice", b"png", video)
    channel, stub = stub_for(stack, ALICE)
    async with channel:
        for _ in range(3):
            call = stub.DownloadAsset(js.DownloadAssetRequest(job_id=job_id, asset_index=1), metadata=auth(ALICE))
            assert (await call.read()).asset.size_bytes == len(video)
            await call.read()
            call.cancel()
        again = await messages(stub, ALICE, job_id, 1)
    assert b"".join(m.chunk.data for m in again[1:]) == video
    # genmedia's own records only: gRPC itself may log a send that raced the client's cancel (and ignore it)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith(("genmedia", "services"))]


async def test_the_helper_downloads_to_a_file_and_resumes_a_cut_stream_from_its_offset(stack: Stack, store_env,
                                                                                        tmp_path: Path):
    video = os.urandom(8 * MiB + 1)
    job_id, assets = await finished_job(stack, store_env, "alice", b"png", video)
    async with TcpProxy(stack.servers["api"].port) as proxy:
        channel, stub = stub_for(stack, ALICE, proxy.address)
        async with channel:
            await channel.channel_ready()
            proxy.cut_after(len(video) // 2)  # halfway through the asset, whatever the client has read by then
            dest = tmp_path / "out" / asset_filename(assets[1])
            result = await download_asset(stub, job_id, dest, 1, metadata=auth(ALICE))
    assert dest.name == "video.mp4" and dest.read_bytes() == video
    assert result.asset.sha256 == hashlib.sha256(video).hexdigest() == assets[1].sha256
    assert len(result.resumed_from) == 1 and 0 < result.resumed_from[0] <= len(video) // 2, result.resumed_from
    assert sorted(p.name for p in dest.parent.iterdir()) == ["video.mp4"]  # no .part left


async def test_bytes_that_do_not_match_their_sha256_are_an_error_and_leave_no_file(stack: Stack, store_env,
                                                                                   tmp_path: Path):
    video = os.urandom(PART + 9)
    job_id, _ = await finished_job(stack, store_env, "alice", b"png", video)
    await _rot(store_env, job_id, video)  # the store still vouches for the old sha256
    channel, stub = stub_for(stack, ALICE)
    async with channel:
        dest = tmp_path / "out" / "video.mp4"
        with pytest.raises(ChecksumMismatch, match="sha256"):
            await download_asset(stub, job_id, dest, 1, metadata=auth(ALICE))
    assert list(dest.parent.iterdir()) == []


async def _rot(under: StoreUnderTest, job_id: str, data: bytes) -> None:
    """Flips a byte of the stored video behind the store's back, keeping what the store records of it."""
    rotten = bytes([data[0] ^ 0xFF]) + data[1:]
    if under.kind == "file":
        path = under.root / job_id / "video.mp4"
        stat = path.stat()
        path.write_bytes(rotten)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        return
    bucket, prefix = under.bucket_and_prefix
    async with under.s3() as s3:
        await s3.put_object(Bucket=bucket, Key=f"{prefix}/{job_id}/video.mp4", Body=rotten, ContentType="video/mp4",
                            Metadata={"sha256": hashlib.sha256(data).hexdigest()})


async def test_a_real_image_jobs_png_downloads_as_the_job_recorded_it(temporal, tmp_path: Path, monkeypatch):
    """A real image job's PNG, written by the image service through the store, downloads as the job recorded
    it."""
    from tests.integration.jobstack import EventLog, add_workers

    configure_env(monkeypatch, tmp_path)
    async with job_services(tmp_path) as stack:
        await add_api(stack, temporal)
        await add_workers(stack, temporal)
        job = await stack.client.create_job(pb.JobSpec(image=pb.ImageSpec(prompt="a kite", width=64, height=64)))
        events = await EventLog(stack.client, job.id).end()
        asset = events[-1].assets[0]
        result = await download_asset(stack.client.jobs, job.id, tmp_path / "png" / "kite.png")
    assert result.asset.sha256 == asset.sha256 and result.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert hashlib.sha256(result.path.read_bytes()).hexdigest() == asset.sha256
