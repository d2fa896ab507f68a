"""The asset store, the same tests on both stores (a folder; a bucket on the local S3 server): streamed
writes visible only whole, with their sha256; reads from an offset; failures, cancellations and killed
writers that leave nothing for good; deletion per job; links; and URIs that are not the store's."""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from genmedia.assetstore import AssetChanged, AssetError, AssetNotFound, LinksNotSupported, asset_key
from genmedia.assetstore.base import temp_name
from tests.integration.stores import PART, StoreUnderTest, kill_mid_write

pytestmark = pytest.mark.timeout(120)
MiB = 1 << 20


async def chunks_of(data: bytes, size: int = MiB, gate: asyncio.Event | None = None, at: int = 0,
                    fail_at: int = -1):
    """The data in pieces; waits for `gate` once `at` bytes are out; raises once `fail_at` bytes are out."""
    for start in range(0, len(data), size):
        if gate is not None and start == at:
            await gate.wait()
        if start == fail_at:
            raise ConnectionResetError("the provider's download broke off")
        yield data[start:start + size]


async def test_a_streamed_write_reads_back_whole_with_the_sha256_recorded_at_write(store_env: StoreUnderTest):
    data = os.urandom(2 * PART + 12345)  # more than two parts: a multipart upload on S3
    async with store_env.open() as store:
        key = asset_key("job-1", "video.mp4")
        written = await store.write_chunks(key, chunks_of(data), "video/mp4")
        stat = await store.stat(key)
        pieces = [piece async for piece in store.read(key)]
        middle = b"".join([piece async for piece in store.read(key, offset=len(data) // 2, version=stat.version)])
        at_end = [piece async for piece in store.read(key, offset=len(data))]
        assert store.key_of(written.uri) == key and written.uri == store.uri(key)
    expected = hashlib.sha256(data).hexdigest()
    assert written.sha256 == stat.sha256 == expected and written.size == stat.size == len(data)
    assert stat.mime_type == "video/mp4"
    assert b"".join(pieces) == data and {len(p) for p in pieces[:-1]} == {MiB} and 0 < len(pieces[-1]) <= MiB
    assert middle == data[len(data) // 2:] and at_end == []
    assert written.uri.startswith("file:///" if store_env.kind == "file" else "s3://")
    if store_env.kind == "s3":  # the sha256 travels with the object itself
        bucket, prefix = store_env.bucket_and_prefix
        async with store_env.s3() as s3:
            head = await s3.head_object(Bucket=bucket, Key=f"{prefix}/job-1/video.mp4")
        assert head["Metadata"]["sha256"] == expected and head["ContentType"] == "video/mp4"
    assert await store_env.leftovers() == {"files": [], "objects": [], "uploads": []}


async def test_small_writes_files_and_scratch_files(store_env: StoreUnderTest, tmp_path):
    local = tmp_path / "local.png"
    local.write_bytes(os.urandom(3 * MiB))
    async with store_env.open("image") as store:
        small = await store.write_chunks(asset_key("job-2", "tiny.txt"), chunks_of(b"hello"), "text/plain")
        empty = await store.write_chunks(asset_key("job-2", "empty.bin"), chunks_of(b""), "application/octet-stream")
        copied = await store.write_file(asset_key("job-2", "image-0.png"), local, "image/png")
        async with store.scratch("job-2", ".mp4") as scratch:
            scratch.write_bytes(os.urandom(PART + 7))  # as an encoder would
            encoded = await store.write_file(asset_key("job-2", "video.mp4"), scratch, "video/mp4")
        assert not scratch.exists()
        assert b"".join([p async for p in store.read(small.key)]) == b"hello"
        assert [p async for p in store.read(empty.key)] == [] and (await store.stat(empty.key)).size == 0
        assert (await store.stat(copied.key)).sha256 == hashlib.sha256(local.read_bytes()).hexdigest()
        assert (await store.stat(encoded.key)).size == PART + 7
    assert local.exists()  # a file from elsewhere is copied, not taken
    assert await store_env.object_names("job-2") == ["empty.bin", "image-0.png", "tiny.txt", "video.mp4"]
    assert await store_env.leftovers() == {"files": [], "objects": [], "uploads": []}


async def test_nothing_is_visible_under_the_final_key_until_the_write_is_whole(store_env: StoreUnderTest):
    data, gate = os.urandom(3 * PART), asyncio.Event()
    async with store_env.open() as store:
        key = asset_key("job-3", "video.mp4")
        writing = asyncio.create_task(store.write_chunks(key, chunks_of(data, gate=gate, at=2 * PART), "video/mp4"))
        async with asyncio.timeout(30):
            while not await store_env.has_partial("job-3"):  # noqa: ASYNC110 - the store's state, polled
                await asyncio.sleep(0.02)
        with pytest.raises(AssetNotFound):
            await store.stat(key)
        assert await store_env.object_names("job-3") == []
        gate.set()
        written = await writing
        assert (await store.stat(key)).sha256 == written.sha256 == hashlib.sha256(data).hexdigest()
    assert await store_env.leftovers() == {"files": [], "objects": [], "uploads": []}


@pytest.mark.parametrize("ending", ["failed", "cancelled"])
async def test_a_failed_or_cancelled_write_leaves_no_object_file_or_part(store_env: StoreUnderTest, ending: str):
    data, gate = os.urandom(3 * PART), asyncio.Event()
    async with store_env.open() as store:
        key = asset_key("job-4", "video.mp4")
        source = chunks_of(data, gate=gate, at=2 * PART, fail_at=2 * PART if ending == "failed" else -1)
        writing = asyncio.create_task(store.write_chunks(key, source, "video/mp4"))
        async with asyncio.timeout(30):
            while not await store_env.has_partial("job-4"):  # noqa: ASYNC110 - the store's state, polled
                await asyncio.sleep(0.02)
        uploads = await _uploads(store_env)
        if ending == "failed":
            gate.set()
            with pytest.raises(ConnectionResetError):
                await writing
        else:
            writing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await writing
        with pytest.raises(AssetNotFound):
            await store.stat(key)
    assert await store_env.leftovers() == {"files": [], "objects": [], "uploads": []}
    assert await store_env.object_names("job-4") == []
    await _assert_no_parts(store_env, uploads)


async def _uploads(under: StoreUnderTest) -> list[tuple[str, str]]:
    if under.kind == "file":
        return []
    async with under.s3() as s3:
        listed = await s3.list_multipart_uploads(Bucket=under.bucket_and_prefix[0])
    found = [(u["Key"], u["UploadId"]) for u in listed.get("Uploads", [])]
    assert found, "a write of three parts is a multipart upload"
    return found


async def _assert_no_parts(under: StoreUnderTest, uploads: list[tuple[str, str]]) -> None:
    """An aborted upload keeps no parts: S3 knows the upload no more."""
    if under.kind == "file":
        return
    async with under.s3() as s3:
        for key, upload_id in uploads:
            with pytest.raises(s3.exceptions.NoSuchUpload):
                await s3.list_parts(Bucket=under.bucket_and_prefix[0], Key=key, UploadId=upload_id)


async def test_an_overwrite_replaces_the_object_whole_and_a_reader_of_the_old_one_is_told(store_env):
    first, second = os.urandom(PART + 1), os.urandom(PART + 2)
    async with store_env.open() as store:
        key = asset_key("job-5", "video.mp4")
        await store.write_chunks(key, chunks_of(first), "video/mp4")
        old = await store.stat(key)
        await store.write_file(key, _local(store_env, second), "video/mp4")
        new = await store.stat(key)
        assert new.version != old.version and new.sha256 == hashlib.sha256(second).hexdigest()
        with pytest.raises(AssetChanged):
            async for _ in store.read(key, version=old.version):
                pass
        assert b"".join([p async for p in store.read(key, version=new.version)]) == second
        with pytest.raises(AssetNotFound):
            await store.stat(asset_key("job-5", "nothing.png"))


def _local(under: StoreUnderTest, data: bytes):
    path = under.tmp / f"local-{len(data)}.bin"
    path.write_bytes(data)
    return path


async def test_delete_job_removes_its_assets_and_every_services_leftovers_and_nothing_else(store_env):
    async with store_env.open() as store:
        for job in ("job-a", "job-b"):
            for name in ("image-0.png", "video.mp4"):
                await store.write_chunks(asset_key(job, name), chunks_of(os.urandom(1000)), "image/png")
        await kill_mid_write(store_env, "video", "job-a", 12)
        await kill_mid_write(store_env, "image", "job-a", 12)
        await kill_mid_write(store_env, "video", "job-b", 12)
        assert await store.delete_job("job-a") == 2
        assert await store.delete_job("job-a") == 0  # again: nothing left, no error
    assert await store_env.object_names("job-a") == [] and await store_env.object_names("job-b") == [
        "image-0.png", "video.mp4"]
    left = await store_env.leftovers()
    assert all("job-a." not in name for names in left.values() for name in names), left
    assert any("job-b." in name for names in left.values() for name in names), left


async def test_the_start_up_sweep_removes_this_services_stale_leftovers_and_nothing_else(store_env):
    async with store_env.open("video") as store:
        await store.write_chunks(asset_key("done", "video.mp4"), chunks_of(os.urandom(PART + 1)), "video/mp4")
        await kill_mid_write(store_env, "video", "stale", 12)
        await kill_mid_write(store_env, "image", "other-service", 12)
        _killed_encoder(store, "stale-scratch")
        outside = await _outside(store_env)
        cutoff = datetime.now(UTC)
        await asyncio.sleep(0.05)
        await kill_mid_write(store_env, "video", "fresh", 12)
        report = await store.sweep(cutoff)
        second = await store.sweep(cutoff)
        grace = await store.sweep_stale(timedelta(hours=1))
    assert not second and not grace
    left = await store_env.leftovers()
    flat = [name for names in left.values() for name in names]
    assert not any("stale" in name for name in flat), left
    assert any("other-service." in name for name in flat) and any("fresh." in name for name in flat), left
    assert report.removed and all("stale" in name for name in report.removed + report.aborted)
    if store_env.kind == "s3":
        assert [name.partition(".")[0] for name in report.aborted] == ["stale"]
    assert await store_env.object_names("done") == ["video.mp4"]
    assert await outside()


def _killed_encoder(store, job_id: str) -> None:
    """The scratch file an encoder killed mid-file leaves (scratch() would remove it on any other ending)."""
    folder = store.scratch_root / store.service
    folder.mkdir(parents=True, exist_ok=True)
    (folder / temp_name(job_id, ".mp4")).write_bytes(b"half an encode")


async def _outside(under: StoreUnderTest):
    """Something beside the store's prefix (a file beside its folder, an object outside its prefix, an upload
    outside it); returns a check that it is all still there."""
    if under.kind == "file":
        beside = under.tmp / "beside.partial"
        beside.write_bytes(b"not ours")
        os.utime(beside, (0, 0))

        async def still_there() -> bool:
            return beside.exists()

        return still_there
    bucket, _ = under.bucket_and_prefix
    async with under.s3() as s3:
        await s3.put_object(Bucket=bucket, Key="other-app/.tmp/video/foreign.0000000000001-x", Body=b"not ours")
        upload = await s3.create_multipart_upload(Bucket=bucket, Key="other-app/.tmp/video/foreign.0000000000001-y")

    async def still_there() -> bool:
        async with under.s3() as s3:
            await s3.head_object(Bucket=bucket, Key="other-app/.tmp/video/foreign.0000000000001-x")
            uploads = (await s3.list_multipart_uploads(Bucket=bucket, Prefix="other-app/")).get("Uploads", [])
        return [u["UploadId"] for u in uploads] == [upload["UploadId"]]

    return still_there


async def test_discard_partials_clears_a_killed_attempt_of_one_job_whatever_its_age(store_env: StoreUnderTest):
    async with store_env.open("video") as store:
        await kill_mid_write(store_env, "video", "job-k", 12)
        await kill_mid_write(store_env, "video", "job-other", 12)
        _killed_encoder(store, "job-k")
        report = await store.discard_partials("job-k")
    assert report.removed or report.aborted
    left = [name for names in (await store_env.leftovers()).values() for name in names]
    assert not any("job-k." in name for name in left) and any("job-other." in name for name in left), left


async def test_links_are_presigned_gets_on_s3_and_refused_on_a_folder(store_env: StoreUnderTest):
    data = os.urandom(PART + 3)
    async with store_env.open() as store:
        key = asset_key("job-l", "video.mp4")
        await store.write_chunks(key, chunks_of(data), "video/mp4")
        if store_env.kind == "file":
            with pytest.raises(LinksNotSupported, match="no HTTP face"):
                await store.link(key, timedelta(hours=1))
            return
        url = await store.link(key, timedelta(days=7))
    assert parse_qs(urlparse(url).query)["X-Amz-Expires"] == [str(7 * 86400)]
    async with httpx.AsyncClient() as http:
        reply = await http.get(url)  # moto checks no signature: what AWS checks is not proven here
    assert reply.status_code == 200 and reply.content == data
    assert reply.headers["content-type"] == "video/mp4"
    assert parse_qs(urlparse(url).query)["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]


async def test_uris_and_names_that_are_not_the_stores_are_refused(store_env: StoreUnderTest):
    async with store_env.open() as store:
        own = store.uri(asset_key("job-u", "video.mp4"))
        assert store.key_of(own) == "job-u/video.mp4"
        parent = own.rsplit("/", 3)[0]  # the folder or bucket path the store's root is in
        foreign = [f"{parent}/elsewhere/job-u/video.mp4", f"{parent}/assets/.tmp/video/x.1-y",
                   own.replace("job-u/video.mp4", "job-u/../../etc/passwd"), "https://example.com/video.mp4",
                   own.replace("job-u/video.mp4", "job-u"), own.replace("/video.mp4", "/sub/video.mp4")]
        if store_env.kind == "s3":
            foreign += [own.replace(store_env.bucket_and_prefix[0], "another-bucket"), own.replace("s3:", "file:")]
        else:
            foreign += [own.replace("file:///", "file://remote-host/"), own.replace("file:", "s3:")]
        for uri in foreign:
            with pytest.raises(AssetError):
                store.key_of(uri)
    for job, name in (("", "a.png"), ("../x", "a.png"), ("job", ".meta"), ("job", "a/b.png"), ("job.1", "a.png")):
        with pytest.raises(AssetError):
            asset_key(job, name)


async def test_one_object_deleted_and_an_object_read_as_a_local_file(store_env: StoreUnderTest):
    """What a video step does with its input image (an encoder reads files) and a cancelled step's output."""
    data = os.urandom(PART + 11)
    async with store_env.open("video") as store:
        image = await store.write_chunks(asset_key("job-f", "image-0.png"), chunks_of(data), "image/png")
        video = await store.write_chunks(asset_key("job-f", "video.mp4"), chunks_of(b"mp4"), "video/mp4")
        async with store.local_file(image.key, "job-f") as path:
            assert path.read_bytes() == data and path.suffix == ".png"
        assert path.exists() == (store_env.kind == "file")  # a copy is removed; a folder's own file stays
        with pytest.raises(AssetNotFound):
            async with store.local_file(asset_key("job-f", "nothing.png"), "job-f"):
                pass
        assert await store.delete(video.key) and not await store.delete(video.key)
        with pytest.raises(AssetNotFound):
            await store.stat(video.key)
    assert await store_env.object_names("job-f") == ["image-0.png"]
    assert await store_env.leftovers() == {"files": [], "objects": [], "uploads": []}
