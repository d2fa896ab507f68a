"""Writes to S3 that are never seen in part: an object that fits in one part is one PUT; a larger one is a
multipart upload to a temporary key, then a server-side copy to its final key carrying the sha256 (known
only at the end of the stream) in its metadata. Any failure or cancellation aborts the upload or deletes
the temporary object before it is raised."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

log = logging.getLogger(__name__)

MAX_COPY = 5 * 1024**3  # CopyObject's limit; larger objects are copied in parts
COPY_PART = 1024**3
HASH_IN_THREAD = 256 * 1024  # hashlib lets go of the GIL: bigger pieces are hashed off the event loop


class Upload:
    """One multipart upload: parts are sent as they fill, at most `parallel` at once."""

    def __init__(self, s3, bucket: str, key: str, upload_id: str, parallel: int) -> None:
        self.s3, self.bucket, self.key, self.upload_id = s3, bucket, key, upload_id
        self._slots = asyncio.Semaphore(parallel)
        self._tasks: list[asyncio.Task] = []
        self._etags: dict[int, str] = {}
        self.completed = False

    @classmethod
    async def begin(cls, s3, bucket: str, key: str, parallel: int = 2) -> Upload:
        reply = await s3.create_multipart_upload(Bucket=bucket, Key=key)
        return cls(s3, bucket, key, reply["UploadId"], parallel)

    async def send(self, data: bytes) -> None:
        """Queues a part; waits while `parallel` parts are in flight, and raises a failed part's error."""
        await self._slots.acquire()
        for task in self._tasks:
            if task.done() and task.exception() is not None:
                self._slots.release()
                raise task.exception()
        self._tasks.append(asyncio.create_task(self._part(len(self._tasks) + 1, data)))

    async def _part(self, number: int, data: bytes) -> None:
        try:
            reply = await self.s3.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                              PartNumber=number, Body=data)
            self._etags[number] = reply["ETag"]
        finally:
            self._slots.release()

    async def finish(self) -> None:
        await asyncio.gather(*self._tasks)
        parts = [{"PartNumber": n, "ETag": self._etags[n]} for n in sorted(self._etags)]
        await self.s3.complete_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                                MultipartUpload={"Parts": parts})
        self.completed = True

    async def discard(self) -> None:
        """Stops the parts in flight, then aborts the upload (or deletes the finished temporary object)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.completed:
            await self.s3.delete_object(Bucket=self.bucket, Key=self.key)
        else:
            await self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)


async def hashed(chunks: AsyncIterable[bytes], digest) -> AsyncIterator[bytes]:
    """The chunks, each added to `digest` on its way."""
    async for chunk in chunks:
        if len(chunk) >= HASH_IN_THREAD:
            await asyncio.to_thread(digest.update, chunk)
        else:
            digest.update(chunk)
        yield chunk


async def parts_of(chunks: AsyncIterable[bytes], size: int) -> AsyncIterator[bytes]:
    """The stream cut into pieces of exactly `size` bytes (the last may be shorter; none is empty unless the
    stream is)."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            with memoryview(buffer) as view:
                part = bytes(view[:size])
            del buffer[:size]
            yield part
    yield bytes(buffer)


async def file_chunks(path: Path, size: int) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := await asyncio.to_thread(f.read, size):
            yield chunk


async def write_object(s3, bucket: str, key: str, temp_key: str, chunks: AsyncIterable[bytes], mime_type: str,
                       part_bytes: int) -> tuple[int, str, str]:
    """Writes the object; returns its (size, sha256, ETag)."""
    digest, size, upload = hashlib.sha256(), 0, None
    parts = parts_of(hashed(chunks, digest), part_bytes)
    try:
        first = await anext(parts)
        size += len(first)
        second = await anext(parts, None) if len(first) == part_bytes else None
        if not second:  # all of it fits in one part: one PUT, atomic by itself
            reply = await s3.put_object(Bucket=bucket, Key=key, Body=first, ContentType=mime_type,
                                        Metadata={"sha256": digest.hexdigest()})
            return size, digest.hexdigest(), reply["ETag"]
        upload = await Upload.begin(s3, bucket, temp_key)
        await upload.send(first)
        part: bytes | None = second
        while part:  # the stream's end is an empty piece (or none)
            await upload.send(part)
            size += len(part)
            part = await anext(parts, None)
        await upload.finish()
        etag = await copy_object(s3, bucket, temp_key, key, size, mime_type, {"sha256": digest.hexdigest()})
        await s3.delete_object(Bucket=bucket, Key=temp_key)
        return size, digest.hexdigest(), etag
    except BaseException:
        if upload is not None:
            await asyncio.shield(_discard(upload))
        raise
    finally:
        await parts.aclose()


async def _discard(upload: Upload) -> None:
    try:
        await upload.discard()
    except Exception as err:  # the start-up sweep and discard_partials find it later; the write's own error matters
        log.warning("could not abort the upload of %s (%s); a later sweep will", upload.key, err)


async def copy_object(s3, bucket: str, source: str, key: str, size: int, mime_type: str,
                      metadata: dict[str, str]) -> str:
    """A server-side copy with new metadata; returns the copy's ETag."""
    if size <= MAX_COPY:
        reply = await s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source},
                                     MetadataDirective="REPLACE", ContentType=mime_type, Metadata=metadata)
        return reply["CopyObjectResult"]["ETag"]
    reply = await s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType=mime_type, Metadata=metadata)
    upload_id, parts = reply["UploadId"], []
    try:
        for number, start in enumerate(range(0, size, COPY_PART), 1):
            end = min(size, start + COPY_PART) - 1
            part = await s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                             CopySource={"Bucket": bucket, "Key": source},
                                             CopySourceRange=f"bytes={start}-{end}")
            parts.append({"PartNumber": number, "ETag": part["CopyPartResult"]["ETag"]})
        reply = await s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                                   MultipartUpload={"Parts": parts})
        return reply["ETag"]
    except BaseException:
        await asyncio.shield(s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id))
        raise
