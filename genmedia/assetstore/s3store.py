"""The s3:// store: assets as objects `<prefix>/<job id>/<name>` in a bucket of AWS S3 or any S3-compatible
server (MinIO, Cloudflare R2, Google Cloud Storage's XML API), through aioboto3.

The connection comes from the standard variables and chain (AWS_ENDPOINT_URL, AWS_REGION,
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, web identity, container and instance roles). Why
aioboto3 and not obstore, and how writes stay invisible until whole, is in docs/assets.md."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aioboto3
import aiohttp
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from genmedia.assetstore import s3writes
from genmedia.assetstore.base import (
    CHUNK,
    TMP,
    AssetChanged,
    AssetError,
    AssetNotFound,
    Store,
    StoredObject,
    StoreUnavailable,
    SweepReport,
    remove_job_files,
    split_key,
    sweep_folder,
    temp_created,
    temp_name,
)

DELETE_PARALLEL = 8
NOT_FOUND = ("NoSuchKey", "NoSuchUpload", "404", "NotFound")


@contextlib.contextmanager
def s3_errors(what: str) -> Iterator[None]:
    """S3's and the network's errors as the store's: AssetNotFound, AssetChanged or StoreUnavailable."""
    try:
        yield
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code in NOT_FOUND:
            raise AssetNotFound(what) from None
        if code in ("PreconditionFailed", "412"):
            raise AssetChanged(what) from None
        message = err.response.get("Error", {}).get("Message", "") or str(err)
        raise StoreUnavailable(f"S3 answered {code or 'an error'} for {what}: {message}") from err
    except (BotoCoreError, aiohttp.ClientError, asyncio.IncompleteReadError, TimeoutError) as err:
        raise StoreUnavailable(f"S3 could not be reached for {what}: {err}") from err


def client_config(endpoint: str) -> Config:
    """Path-style addressing where an endpoint is set (MinIO, R2, GCS and moto all take it; bucket.host names
    need DNS that local servers lack). Checksums only where S3 requires them, unless the standard variables
    say otherwise: the flexible checksums of newer botocore are refused by some S3-compatible servers, and the
    sha256 of every asset is checked end to end anyway."""
    extra = {}
    if not os.environ.get("AWS_REQUEST_CHECKSUM_CALCULATION"):
        extra["request_checksum_calculation"] = "when_required"
    if not os.environ.get("AWS_RESPONSE_CHECKSUM_VALIDATION"):
        extra["response_checksum_validation"] = "when_required"
    return Config(signature_version="s3v4", connect_timeout=10, read_timeout=60,
                  retries={"mode": "standard", "max_attempts": 5},
                  s3={"addressing_style": "path" if endpoint else "auto"}, **extra)


class S3Store(Store):
    has_links = True

    def __init__(self, bucket: str, prefix: str, service: str, scratch_root: Path,
                 part_bytes: int = 8 * 1024 * 1024, link_endpoint: str = "") -> None:
        super().__init__(service, scratch_root)
        self.bucket, self.prefix, self.part_bytes = bucket, prefix.strip("/"), part_bytes
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.link_endpoint = link_endpoint
        self._session = aioboto3.Session()
        self._clients: dict[str, object] = {}
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()

    async def _client(self, endpoint: str = ""):
        """One client per endpoint for the store's life (aiobotocore pools its connections)."""
        async with self._lock:
            if endpoint not in self._clients:
                endpoint_url = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
                client = self._session.client("s3", region_name=os.environ.get("AWS_REGION") or None,
                                              endpoint_url=endpoint or None, config=client_config(endpoint_url or ""))
                self._clients[endpoint] = await self._stack.enter_async_context(client)
            return self._clients[endpoint]

    async def close(self) -> None:
        async with self._lock:
            await self._stack.aclose()
            self._clients.clear()
            self._stack = contextlib.AsyncExitStack()

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _own_temp(self) -> str:
        return self._full(f"{TMP}/{self.service}/")

    def uri(self, key: str) -> str:
        split_key(key)
        return f"s3://{self.bucket}/{self._full(key)}"

    def key_of(self, uri: str) -> str:
        head = f"s3://{self.bucket}/{self._full('')}"
        if not uri.startswith(head):
            raise AssetError(f"{uri!r} is not in the asset store {self.url}")
        key = uri[len(head):]
        split_key(key)
        return key

    # -- writes --

    async def write_chunks(self, key: str, chunks: AsyncIterable[bytes], mime_type: str) -> StoredObject:
        job_id, _ = split_key(key)
        s3 = await self._client()
        temp = self._own_temp() + temp_name(job_id)
        with s3_errors(key):
            size, sha256, etag = await s3writes.write_object(s3, self.bucket, self._full(key), temp, chunks,
                                                             mime_type, self.part_bytes)
        return StoredObject(key=key, uri=self.uri(key), size=size, sha256=sha256, mime_type=mime_type,
                            version=etag, modified=datetime.now(UTC))

    async def write_file(self, key: str, path: Path, mime_type: str) -> StoredObject:
        return await self.write_chunks(key, s3writes.file_chunks(path, self.part_bytes), mime_type)

    # -- reads --

    async def stat(self, key: str) -> StoredObject:
        split_key(key)
        s3 = await self._client()
        with s3_errors(key):
            head = await s3.head_object(Bucket=self.bucket, Key=self._full(key))
        return StoredObject(key=key, uri=self.uri(key), size=head["ContentLength"],
                            sha256=head.get("Metadata", {}).get("sha256", ""),
                            mime_type=head.get("ContentType", "application/octet-stream"), version=head["ETag"],
                            modified=head["LastModified"])

    async def read(self, key: str, offset: int = 0, chunk_size: int = CHUNK,
                   version: str = "") -> AsyncIterator[bytes]:
        split_key(key)
        s3 = await self._client()
        args = {"Bucket": self.bucket, "Key": self._full(key)}
        if offset:
            args["Range"] = f"bytes={offset}-"
        if version:
            args["IfMatch"] = version
        with s3_errors(key):
            try:
                reply = await s3.get_object(**args)
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") == "InvalidRange":
                    return  # from the end: nothing to send
                raise
            remaining = reply["ContentLength"]
            async with reply["Body"] as body:
                while remaining > 0:
                    data = await body.content.readexactly(min(chunk_size, remaining))
                    remaining -= len(data)
                    yield data

    # -- removal --

    async def _keys(self, prefix: str) -> list[tuple[str, datetime]]:
        """Every object under `prefix`: (full key, last modified)."""
        s3, found = await self._client(), []
        paginator = s3.get_paginator("list_objects_v2")
        with s3_errors(prefix):
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                found += [(o["Key"], o["LastModified"]) for o in page.get("Contents", [])]
        return found

    async def _uploads(self, prefix: str) -> list[tuple[str, str, datetime]]:
        """Every incomplete multipart upload under `prefix`: (full key, upload id, initiated)."""
        s3, found, markers = await self._client(), [], {}
        with s3_errors(prefix):
            while True:
                page = await s3.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix, **markers)
                found += [(u["Key"], u["UploadId"], u["Initiated"]) for u in page.get("Uploads", [])]
                if not page.get("IsTruncated"):
                    return found
                markers = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}

    async def _remove(self, keys: list[str], uploads: list[tuple[str, str]]) -> None:
        s3, gate = await self._client(), asyncio.Semaphore(DELETE_PARALLEL)

        async def one(call, **args) -> None:
            async with gate:
                with s3_errors(args["Key"]), contextlib.suppress(AssetNotFound):  # gone already: fine
                    await call(Bucket=self.bucket, **args)

        await asyncio.gather(*(one(s3.abort_multipart_upload, Key=k, UploadId=u) for k, u in uploads),
                             *(one(s3.delete_object, Key=k) for k in keys))

    async def delete(self, key: str) -> bool:
        split_key(key)
        s3 = await self._client()
        with s3_errors(key):
            try:
                await s3.head_object(Bucket=self.bucket, Key=self._full(key))
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") in NOT_FOUND:
                    return False
                raise
            await s3.delete_object(Bucket=self.bucket, Key=self._full(key))
        return True

    async def delete_job(self, job_id: str) -> int:
        split_key(f"{job_id}/x")
        assets = [k for k, _ in await self._keys(self._full(f"{job_id}/"))]
        temps = self._full(f"{TMP}/")
        of_job = [k for k, _ in await self._keys(temps) if k.rpartition("/")[2].startswith(f"{job_id}.")]
        uploads = [(k, u) for k, u, _ in await self._uploads(temps) if k.rpartition("/")[2].startswith(f"{job_id}.")]
        await self._remove(assets + of_job, uploads)
        return len(assets)

    async def link(self, key: str, lifetime: timedelta) -> str:
        split_key(key)
        s3 = await self._client(self.link_endpoint)
        with s3_errors(key):
            return await s3.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": self._full(key)},
                                                   ExpiresIn=int(lifetime.total_seconds()))

    async def sweep(self, older_than: datetime) -> SweepReport:
        return await self._discard(lambda name, created: created < older_than, older_than)

    async def discard_partials(self, job_id: str) -> SweepReport:
        split_key(f"{job_id}/x")
        report = await self._discard(lambda name, created: name.startswith(f"{job_id}."), None)
        report.removed += await asyncio.to_thread(remove_job_files, self.scratch_root / self.service, job_id)
        return report

    async def _discard(self, chosen, older_than: datetime | None) -> SweepReport:
        """Removes this service's temporary objects and uploads that `chosen(name, created)` picks; with
        `older_than`, also its local scratch files older than that."""
        own = self._own_temp()
        keys = [k for k, modified in await self._keys(own)
                if chosen(k[len(own):], temp_created(k[len(own):]) or modified)]
        uploads = [(k, u) for k, u, initiated in await self._uploads(own)
                   if chosen(k[len(own):], temp_created(k[len(own):]) or initiated)]
        await self._remove(keys, uploads)
        report = SweepReport(removed=[k[len(own):] for k in keys], aborted=[k[len(own):] for k, _ in uploads])
        if older_than is not None:
            report.removed += await asyncio.to_thread(sweep_folder, self.scratch_root / self.service, older_than)
        return report
