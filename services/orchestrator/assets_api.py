"""JobService's asset commands: DownloadAsset streams one of a job's assets out of the asset store, and
CreateAssetLink makes a time-limited link to it. The job, its owner and its assets come from the progress
service, as for every command; another user's job is NOT_FOUND, exactly as an unknown one."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from genmedia.assetstore import CHUNK, AssetChanged, AssetError, AssetNotFound, Store, StoreUnavailable
from genmedia.assetstore.base import StoredObject
from genmedia.domain.errors import NotFound, ServiceError, check
from genmedia.domain.jobrules import TERMINAL_STATES, job_id_violations
from genmedia.serving import logs
from genmedia.serving.auth import Principal
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import progress_service_pb2_grpc

log = logging.getLogger(__name__)
LINK_LIFETIME = (timedelta(seconds=1), timedelta(days=7))  # 7 days: the most an S3 signature (SigV4) lasts
DEFAULT_LINK_LIFETIME = timedelta(hours=1)

Violations = list[tuple[str, str]]


def _asset_violations(job_id: str, asset_index: int) -> Violations:
    violations = job_id_violations(job_id)
    if asset_index < 0:
        violations.append(("asset_index", f"must be 0 (the first asset) or more, got {asset_index}"))
    return violations


def link_lifetime(request: js.CreateAssetLinkRequest, violations: Violations) -> timedelta:
    if not request.HasField("expires_in"):
        return DEFAULT_LINK_LIFETIME
    lo, hi = LINK_LIFETIME
    seconds, nanos = request.expires_in.seconds, request.expires_in.nanos
    # compared as numbers first: a timedelta cannot hold every int64 of seconds a client may send
    if not 0 <= nanos < 1_000_000_000 or not lo.total_seconds() <= seconds + nanos / 1e9 <= hi.total_seconds():
        violations.append(("expires_in", "must be between 1 second and 7 days"))
        return DEFAULT_LINK_LIFETIME
    return timedelta(seconds=seconds, microseconds=nanos // 1000)


@contextlib.contextmanager
def store_errors(job_id: str, index: int) -> Iterator[None]:
    """The store's errors as gRPC statuses a client can act on."""
    try:
        yield
    except AssetNotFound:
        raise ServiceError(grpc.StatusCode.NOT_FOUND, f"asset {index} of job {job_id} is no longer in the asset "
                           "store", "ASSET_NOT_FOUND", metadata={"job_id": job_id, "asset_index": str(index)}) from None
    except AssetChanged:
        raise ServiceError(grpc.StatusCode.ABORTED, f"asset {index} of job {job_id} was replaced while it was being "
                           "sent; download it again from the start", "ASSET_CHANGED",
                           metadata={"job_id": job_id, "asset_index": str(index)}) from None
    except StoreUnavailable as err:
        log.warning("asset store unavailable: %s", err, **logs.job(job_id))
        raise ServiceError(grpc.StatusCode.UNAVAILABLE, f"the asset store is unavailable, try again: {err}",
                           "ASSET_STORE_UNAVAILABLE") from None


def chunk_message(offset: int, data: bytes) -> js.DownloadAssetResponse:
    """Fields set in place: DownloadAssetResponse(chunk=AssetChunk(...)) copies the chunk once more (35 ms of
    CPU more per 100 MB in benchmarks/asset_download.py)."""
    message = js.DownloadAssetResponse()
    message.chunk.offset, message.chunk.data = offset, data
    return message


class AssetCommands:
    def __init__(self, progress: progress_service_pb2_grpc.ProgressServiceStub, store: Store,
                 rpc_timeout: float) -> None:
        self.progress, self.store, self.rpc_timeout = progress, store, rpc_timeout

    async def download(self, request: js.DownloadAssetRequest,
                       principal: Principal) -> AsyncIterator[js.DownloadAssetResponse]:
        violations = _asset_violations(request.job_id, request.asset_index)
        if request.offset < 0:
            violations.append(("offset", f"must be 0 or more, got {request.offset}"))
        check(violations)
        job_id, index = request.job_id, request.asset_index
        asset, key, stored = await self._locate(job_id, index, principal)
        if request.offset > stored.size:
            raise ServiceError(grpc.StatusCode.OUT_OF_RANGE, f"offset {request.offset} is past the end of asset "
                               f"{index} of job {job_id} ({stored.size} bytes)", "OFFSET_OUT_OF_RANGE",
                               violations=[("offset", f"must be at most the asset's size, {stored.size}")],
                               metadata={"job_id": job_id, "size_bytes": str(stored.size)})
        yield js.DownloadAssetResponse(asset=asset)
        offset = request.offset
        if offset == stored.size:
            return
        with store_errors(job_id, index):
            async for data in self.store.read(key, offset, CHUNK, stored.version):
                yield chunk_message(offset, data)
                offset += len(data)
        log.info("sent asset %d (%d bytes from %d)", index, offset - request.offset, request.offset, **logs.job(job_id))

    async def link(self, request: js.CreateAssetLinkRequest, principal: Principal) -> js.CreateAssetLinkResponse:
        violations = _asset_violations(request.job_id, request.asset_index)
        lifetime = link_lifetime(request, violations)
        check(violations)
        job_id, index = request.job_id, request.asset_index
        asset, key, _ = await self._locate(job_id, index, principal, need_links=True)
        with store_errors(job_id, index):
            url = await self.store.link(key, lifetime)
        expire = Timestamp()
        expire.FromDatetime(datetime.now(UTC) + lifetime)
        log.info("link to asset %d made, valid for %s", index, lifetime, **logs.job(job_id))
        return js.CreateAssetLinkResponse(url=url, expire_time=expire, asset=asset)

    async def _locate(self, job_id: str, index: int, principal: Principal,
                      need_links: bool = False) -> tuple[pb.Asset, str, StoredObject]:
        """The asset as the store holds it (size and sha256 from the store), its key and the stored object."""
        job = await self._job(job_id, principal)
        if index >= len(job.assets):
            state = pb.JobState.Name(job.state).removeprefix("JOB_STATE_")
            have = f"has {len(job.assets)} asset(s)" if job.assets or job.state in TERMINAL_STATES else \
                f"has no assets yet: it is {state}"
            raise ServiceError(grpc.StatusCode.OUT_OF_RANGE, f"job {job_id} {have}", "ASSET_INDEX_OUT_OF_RANGE",
                               violations=[("asset_index", f"must be below {len(job.assets)}")],
                               metadata={"job_id": job_id, "assets": str(len(job.assets))})
        asset = pb.Asset()
        asset.CopyFrom(job.assets[index])
        try:
            key = self.store.key_of(asset.uri)
        except AssetError:
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"asset {index} of job {job_id} is not in this server's asset store ({self.store.url}): "
                               "GENMEDIA_ASSET_URL must name the store the services write to", "ASSET_NOT_IN_STORE",
                               metadata={"job_id": job_id}) from None
        if need_links and not self.store.has_links:
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"the asset store ({self.store.url}) is a folder with no HTTP face, so it makes no "
                               "links: download the asset with DownloadAsset, or use an s3:// store",
                               "ASSET_STORE_HAS_NO_LINKS")
        with store_errors(job_id, index):
            stored = await self.store.stat(key)
        if asset.sha256 and stored.sha256 and asset.sha256 != stored.sha256:
            log.error("asset %d differs from what the job recorded (sha256 %s, stored %s)", index, asset.sha256,
                      stored.sha256, **logs.job(job_id))
            raise ServiceError(grpc.StatusCode.DATA_LOSS, f"asset {index} of job {job_id} in the store is not the "
                               "one the job made (its sha256 differs)", "ASSET_CORRUPTED", metadata={"job_id": job_id})
        asset.size_bytes, asset.sha256 = stored.size, stored.sha256 or asset.sha256
        asset.mime_type = asset.mime_type or stored.mime_type
        return asset, key, stored

    async def _job(self, job_id: str, principal: Principal) -> pb.Job:
        """The job from the progress service if the caller may see it."""
        try:
            job = await self.progress.GetJob(js.GetJobRequest(job_id=job_id), timeout=self.rpc_timeout)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound("job", job_id) from None
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, f"progress service is unavailable, try again: "
                               f"{err.details()}", "PROGRESS_SERVICE_UNAVAILABLE") from err
        if not principal.admin and job.owner != principal.user:
            raise NotFound("job", job_id)
        return job
