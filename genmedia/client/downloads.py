"""Downloads one asset of a job through JobService.DownloadAsset into a file: a cut stream is resumed from
the bytes already written, the sha256 the server announced is verified, and nothing but the whole, verified
asset ever stands under the file's name. Needs only grpc and the generated stubs (the CLI and the Python
client build on it).

    result = await download_asset(job_service_stub, job_id, Path("out/video.mp4"), asset_index=1)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

import grpc

from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2, job_service_pb2_grpc

# What a retry can cure: a cut connection or a server going away (UNAVAILABLE, INTERNAL for a reset stream),
# a stall, the rate limit, and an asset replaced mid-download (ABORTED: start again from 0).
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.DEADLINE_EXCEEDED,
             grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED}


class DownloadError(Exception):
    """The download could not be completed; no file was left under its name."""


class ChecksumMismatch(DownloadError):
    """The bytes received do not hash to the sha256 the server announced."""


@dataclass
class Downloaded:
    path: Path
    asset: pb.Asset  # as the server described it (uri, mime type, size, sha256, dimensions)
    resumed_from: list[int] = field(default_factory=list)  # the offset of each resumed call


def asset_filename(asset: pb.Asset) -> str:
    """The asset's own file name (the last part of its URI): image-0.png, video.mp4."""
    return PurePosixPath(unquote(urlparse(asset.uri).path)).name or "asset"


class _Partial:
    """The file being written: `.<name>.part` beside the destination, with the sha256 of what it holds."""

    def __init__(self, dest: Path) -> None:
        self.path = dest.with_name(f".{dest.name}.part")
        self.digest, self.size = hashlib.sha256(), 0
        self.file = self.path.open("ab")
        self.size = self.file.tell()
        if self.size:  # an earlier run's bytes: counted, and checked with the rest at the end
            with self.path.open("rb") as earlier:
                while block := earlier.read(1 << 20):
                    self.digest.update(block)

    def restart(self) -> None:
        self.file.truncate(0)
        self.file.seek(0)
        self.digest, self.size = hashlib.sha256(), 0

    def append(self, data: bytes) -> None:
        self.file.write(data)
        self.digest.update(data)
        self.size += len(data)

    def close(self) -> None:
        self.file.close()


class _Stalled(Exception):
    """No message came within the idle timeout: the call is dropped and made again."""


async def download_asset(stub: job_service_pb2_grpc.JobServiceStub, job_id: str, dest: Path, asset_index: int = 0,
                         *, metadata: Sequence[tuple[str, str]] | None = None, attempts: int = 6,
                         idle_timeout: float = 60.0, on_progress: Callable[[int, int], None] | None = None,
                         ) -> Downloaded:
    """Downloads the asset into `dest`. Up to `attempts` calls in a row may fail without a byte of progress
    before it gives up, each after a longer wait (0.2 s doubling to 5 s). `on_progress(done, size)` follows
    every chunk. Raises ChecksumMismatch, DownloadError, or the grpc.aio.AioRpcError of a refusal (NOT_FOUND,
    PERMISSION_DENIED, ...). A download given up on a network failure keeps its `.<name>.part` file, so the
    next call resumes it; any other failure removes it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    download = _Download(stub, job_id, asset_index, _Partial(dest), metadata, idle_timeout, on_progress)
    partial = download.partial
    fresh = partial.size == 0  # False: an earlier run's part, which one full restart may replace
    failures, keep = 0, False
    try:
        while True:
            before = partial.size
            try:
                asset = await download.stream()
            except (grpc.aio.AioRpcError, _Stalled) as err:
                code = err.code() if isinstance(err, grpc.aio.AioRpcError) else grpc.StatusCode.DEADLINE_EXCEEDED
                if code == grpc.StatusCode.OUT_OF_RANGE and not fresh:  # an earlier run's part, longer than the asset
                    partial.restart()
                    fresh = True
                    continue
                failures = 1 if partial.size > before else failures + 1
                if code not in RETRYABLE or failures >= attempts:
                    keep = code in RETRYABLE
                    if isinstance(err, _Stalled):
                        raise DownloadError(f"no data for {idle_timeout:g}s, {attempts} times in a row") from None
                    raise
                if code == grpc.StatusCode.ABORTED:
                    partial.restart()
                await asyncio.sleep(min(5.0, 0.2 * 2 ** (failures - 1)))
                download.resumed_from.append(partial.size)
                continue
            if partial.digest.hexdigest() == asset.sha256:
                partial.close()
                os.replace(partial.path, dest)
                return Downloaded(dest, asset, download.resumed_from)
            if not fresh:  # the earlier run's bytes were of something else: once more, from nothing
                partial.restart()
                fresh = True
                continue
            raise ChecksumMismatch(f"asset {asset_index} of job {job_id}: the {partial.size} bytes received have "
                                   f"sha256 {partial.digest.hexdigest()}, the server announced {asset.sha256}")
    finally:
        partial.close()
        if not keep:
            partial.path.unlink(missing_ok=True)  # gone already after a success


@dataclass
class _Download:
    stub: job_service_pb2_grpc.JobServiceStub
    job_id: str
    asset_index: int
    partial: _Partial
    metadata: Sequence[tuple[str, str]] | None
    idle_timeout: float
    on_progress: Callable[[int, int], None] | None
    asset: pb.Asset | None = None  # as the first call announced it
    resumed_from: list[int] = field(default_factory=list)

    async def stream(self) -> pb.Asset:
        """One DownloadAsset call, from the partial file's end to the asset's end; returns the asset's header."""
        request = job_service_pb2.DownloadAssetRequest(job_id=self.job_id, asset_index=self.asset_index,
                                                       offset=self.partial.size)
        call = self.stub.DownloadAsset(request, metadata=self.metadata)
        announced = None
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout):
                        message = await call.read()
                except TimeoutError:
                    raise _Stalled() from None
                if message is grpc.aio.EOF:
                    break
                if message.HasField("asset"):
                    announced = message.asset
                    if self.asset is not None and (announced.sha256, announced.size_bytes) != (
                            self.asset.sha256, self.asset.size_bytes) and self.partial.size:
                        self.partial.restart()  # another version of the asset: what we have is of the old one
                        self.asset = announced
                        call.cancel()
                        return await self.stream()
                    self.asset = announced
                    continue
                chunk = message.chunk
                if announced is None or chunk.offset != self.partial.size:
                    raise DownloadError(f"the server sent bytes at {chunk.offset}, expected {self.partial.size}")
                await asyncio.to_thread(self.partial.append, chunk.data)
                if self.on_progress is not None:
                    self.on_progress(self.partial.size, announced.size_bytes)
        finally:
            call.cancel()
        if announced is None or self.partial.size != announced.size_bytes:
            raise DownloadError(f"the stream ended after {self.partial.size} bytes of "
                                f"{announced.size_bytes if announced else 'an unannounced size'}")
        return announced
