"""obstore against aioboto3, the two S3 libraries the asset store could be built on, on the same local S3
server in one run: a 100 MB upload from a file and from an async iterator of 1 MiB chunks, and a download
in 1 MiB chunks from an offset. Prints wall time, this process's CPU time and its peak RSS growth.

Not part of `make bench` (obstore is not a dependency): `pip install obstore==0.12.1`, then
`python -m benchmarks.s3_clients`. docs/assets.md has the figures and the choice they led to."""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from tests.s3server import ACCESS_KEY, REGION, SECRET_KEY, s3_server

SIZE, CHUNK, PART = 100 * 1024 * 1024, 1 << 20, 8 << 20
ROUNDS = int(os.environ.get("GENMEDIA_BENCH_ROUNDS", "3"))
BUCKET = "bench"


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


async def measured(work: Callable[[], Awaitable[object]]) -> tuple[float, float, float]:
    """(seconds, CPU seconds of this process, peak RSS growth in MB) of one run of work()."""
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current RSS
    base = rss_kib("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    await work()
    return time.perf_counter() - wall, time.process_time() - cpu, (rss_kib("VmHWM") - base) / 1024


async def chunks_of(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            yield chunk


class Boto:
    name = "aioboto3"

    def __init__(self, s3) -> None:
        self.s3 = s3

    async def put_file(self, key: str, path: Path) -> None:
        await self.put_stream(key, chunks_of(path))

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes]) -> None:
        """A multipart upload with two parts in flight, as obstore's max_concurrency=2."""
        upload = await self.s3.create_multipart_upload(Bucket=BUCKET, Key=key)
        uid, parts, buffer, running = upload["UploadId"], [], bytearray(), set()
        slots = asyncio.Semaphore(2)

        async def send(number: int, body: bytes) -> None:
            reply = await self.s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=number, Body=body)
            parts.append({"ETag": reply["ETag"], "PartNumber": number})
            slots.release()

        async def flush() -> None:
            await slots.acquire()
            running.add(asyncio.create_task(send(len(running) + 1, bytes(buffer))))
            buffer.clear()

        async for chunk in chunks:
            buffer += chunk
            if len(buffer) >= PART:
                await flush()
        if buffer:
            await flush()
        await asyncio.gather(*running)
        parts.sort(key=lambda p: p["PartNumber"])
        await self.s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid,
                                                MultipartUpload={"Parts": parts})

    async def get(self, key: str, offset: int) -> str:
        digest = hashlib.sha256()
        reply = await self.s3.get_object(Bucket=BUCKET, Key=key, Range=f"bytes={offset}-")
        async with reply["Body"] as body:
            async for chunk in body.content.iter_chunked(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()


class Obstore:
    name = "obstore"

    def __init__(self, endpoint: str) -> None:
        from obstore.store import S3Store

        self.store = S3Store(BUCKET, endpoint=endpoint, region=REGION, access_key_id=ACCESS_KEY,
                             secret_access_key=SECRET_KEY, client_options={"allow_http": True})

    async def put_file(self, key: str, path: Path) -> None:
        import obstore

        await obstore.put_async(self.store, key, path, chunk_size=PART, max_concurrency=2)

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes]) -> None:
        import obstore

        await obstore.put_async(self.store, key, chunks, chunk_size=PART, max_concurrency=2)

    async def get(self, key: str, offset: int) -> str:
        import obstore

        digest = hashlib.sha256()
        result = await obstore.get_async(self.store, key, options={"range": {"offset": offset}})
        async for chunk in result.stream(min_chunk_size=CHUNK):
            digest.update(chunk)
        return digest.hexdigest()


async def main() -> None:
    import aioboto3

    with tempfile.TemporaryDirectory(prefix="genmedia-s3bench-") as tmp:
        source = Path(tmp) / "source.bin"
        with source.open("wb") as f:
            for _ in range(SIZE // CHUNK):
                f.write(os.urandom(CHUNK))
        expected = hashlib.sha256(source.read_bytes()[SIZE // 2:]).hexdigest()
        async with s3_server(Path(tmp)) as endpoint:
            session = aioboto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                                       region_name=REGION)
            async with session.client("s3", endpoint_url=endpoint) as s3:
                await s3.create_bucket(Bucket=BUCKET)
                libraries = [Boto(s3), Obstore(endpoint)]
                results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
                moved = {"upload from a file": SIZE, "upload from an async iterator": SIZE,
                         "download from the middle": SIZE // 2}
                for n in range(ROUNDS):  # alternating, so a noisy spell hits both
                    for lib in libraries:
                        key = f"{lib.name}/{n}"
                        for what, work in (
                            ("upload from a file", lambda lib=lib, key=key: lib.put_file(key, source)),
                            ("upload from an async iterator",
                             lambda lib=lib, key=key: lib.put_stream(key + "s", chunks_of(source))),
                            ("download from the middle", lambda lib=lib, key=key: lib.get(key, SIZE // 2)),
                        ):
                            results.setdefault((what, lib.name), []).append(await measured(work))
                        assert await lib.get(key, SIZE // 2) == expected
        print(f"S3 clients against a local moto server, {SIZE >> 20} MB, medians of {ROUNDS} rounds")
        for (what, name), runs in results.items():
            wall, cpu, rss = (statistics.median(r[i] for r in runs) for i in range(3))
            print(f"{what:<32} {name:<9} {wall:6.2f} s  {moved[what] / 2**20 / wall:6.1f} MB/s  CPU {cpu:5.2f} s  "
                  f"peak RSS +{rss:6.1f} MB")


if __name__ == "__main__":
    asyncio.run(main())
