"""The file:// store: assets as files under a root folder (`<root>/<job id>/<name>`).

A write goes to `<root>/.tmp/<service>/<temporary name>` (the same filesystem), is fsynced and renamed over
its final name, so a reader sees the old file or the new one, never a part. Its sha256 and mime type are
kept beside it in `.<name>.meta`, with the size and mtime they describe: a file replaced by other means
is hashed again on its next stat instead of being described wrongly."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import mimetypes
import os
import shutil
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from genmedia.assetstore.base import (
    CHUNK,
    TMP,
    AssetChanged,
    AssetError,
    AssetNotFound,
    LinksNotSupported,
    Store,
    StoredObject,
    SweepReport,
    remove_job_files,
    split_key,
    sweep_folder,
    temp_name,
)

READ_BLOCK = 4  # pieces read at once


def _meta_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.meta")


def _version(st: os.stat_result) -> str:
    return f"{st.st_ino}-{st.st_size}-{st.st_mtime_ns}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class FileStore(Store):
    has_links = False

    def __init__(self, root: Path, service: str) -> None:
        self.root = root.resolve()
        self.url = self.root.as_uri()
        super().__init__(service, self.root / TMP)

    def _path(self, key: str) -> Path:
        job_id, name = split_key(key)
        return self.root / job_id / name

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def key_of(self, uri: str) -> str:
        parsed = urlparse(uri)
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            raise AssetError(f"{uri!r} is not a file:// URI")
        path = Path(unquote(parsed.path))
        if not path.is_relative_to(self.root):
            raise AssetError(f"{uri!r} is not in the asset store {self.url}")
        key = path.relative_to(self.root).as_posix()
        split_key(key)
        return key

    # -- writes --

    async def write_chunks(self, key: str, chunks: AsyncIterable[bytes], mime_type: str) -> StoredObject:
        final = self._path(key)
        temp = await asyncio.to_thread(self._temp, final.parent.name)
        digest = hashlib.sha256()
        try:
            with temp.open("wb") as f:  # close() waits for a write still running in its thread
                async for chunk in chunks:
                    await asyncio.to_thread(_write, f, digest, chunk)
                await asyncio.to_thread(_sync, f)
            return await asyncio.to_thread(self._publish, temp, final, digest.hexdigest(), mime_type)
        finally:
            temp.unlink(missing_ok=True)  # gone already when published

    async def write_file(self, key: str, path: Path, mime_type: str) -> StoredObject:
        final = self._path(key)
        scratch = path.resolve().parent == self.scratch_root / self.service
        temp = path if scratch else await asyncio.to_thread(self._temp, final.parent.name)
        try:
            if not scratch:
                await asyncio.to_thread(_copy, path, temp)
            sha256 = await asyncio.to_thread(_synced_sha256, temp)
            return await asyncio.to_thread(self._publish, temp, final, sha256, mime_type)
        finally:
            if not scratch:
                temp.unlink(missing_ok=True)

    def _temp(self, job_id: str) -> Path:
        folder = self.scratch_root / self.service
        folder.mkdir(parents=True, exist_ok=True)
        return folder / temp_name(job_id, ".partial")

    def _publish(self, temp: Path, final: Path, sha256: str, mime_type: str) -> StoredObject:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, final)
        st = final.stat()
        meta = {"sha256": sha256, "mime_type": mime_type, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        _write_meta(_meta_path(final), meta)
        _fsync_dir(final.parent)
        return self._describe(final, st, sha256, mime_type)

    def _describe(self, path: Path, st: os.stat_result, sha256: str, mime_type: str) -> StoredObject:
        key = f"{path.parent.name}/{path.name}"
        return StoredObject(key=key, uri=path.as_uri(), size=st.st_size, sha256=sha256, mime_type=mime_type,
                            version=_version(st), modified=datetime.fromtimestamp(st.st_mtime, UTC))

    # -- reads --

    async def stat(self, key: str) -> StoredObject:
        return await asyncio.to_thread(self._stat, self._path(key))

    def _stat(self, path: Path) -> StoredObject:
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise AssetNotFound(path.as_uri()) from None
        if not path.is_file():
            raise AssetNotFound(path.as_uri())
        meta_path = _meta_path(path)
        try:
            meta = json.loads(meta_path.read_text())
            if meta["size"] == st.st_size and meta["mtime_ns"] == st.st_mtime_ns:
                return self._describe(path, st, meta["sha256"], meta["mime_type"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no record (written by other means) or a damaged one: described afresh below
        sha256 = file_sha256(path)
        mime_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.stat().st_mtime_ns == st.st_mtime_ns:  # not replaced while hashed
            try:
                _write_meta(meta_path, {"sha256": sha256, "mime_type": mime_type, "size": st.st_size,
                                        "mtime_ns": st.st_mtime_ns})
            except OSError:  # a read-only mount: described again next time
                pass
        return self._describe(path, st, sha256, mime_type)

    async def read(self, key: str, offset: int = 0, chunk_size: int = CHUNK,
                   version: str = "") -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            f = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise AssetNotFound(path.as_uri()) from None
        ahead = None
        try:
            if version and _version(os.fstat(f.fileno())) != version:
                raise AssetChanged(path.as_uri())
            f.seek(offset)
            # Several pieces per trip to a thread: a trip costs far more CPU than the read (GIL hand-offs); one
            # per 1 MiB piece added 130 ms of CPU to a 100 MB download, one per 4 MiB 20 ms (docs/assets.md).
            ahead = asyncio.ensure_future(asyncio.to_thread(f.read, READ_BLOCK * chunk_size))
            while block := await ahead:  # the next block is read while this one is sent
                ahead = asyncio.ensure_future(asyncio.to_thread(f.read, READ_BLOCK * chunk_size))
                for start in range(0, len(block), chunk_size):
                    yield block[start:start + chunk_size]
        finally:
            if ahead is not None:
                ahead.cancel()
            f.close()  # waits for a read still running in its thread

    @contextlib.asynccontextmanager
    async def local_file(self, key: str, job_id: str) -> AsyncIterator[Path]:
        path = self._path(key)
        if not await asyncio.to_thread(path.is_file):
            raise AssetNotFound(path.as_uri())
        yield path  # the file itself: a write replaces it by renaming, so a reader keeps what it opened

    # -- removal --

    async def delete(self, key: str) -> bool:
        path = self._path(key)
        return await asyncio.to_thread(_delete_file, path)

    async def delete_job(self, job_id: str) -> int:
        folder = self._path(f"{job_id}/x").parent
        return await asyncio.to_thread(self._delete_job, folder, job_id)

    def _delete_job(self, folder: Path, job_id: str) -> int:
        assets = [p for p in folder.iterdir() if not p.name.startswith(".")] if folder.is_dir() else []
        shutil.rmtree(folder, ignore_errors=True)
        for service in self.scratch_root.iterdir() if self.scratch_root.is_dir() else []:
            remove_job_files(service, job_id)
        return len(assets)

    async def link(self, key: str, lifetime: timedelta) -> str:
        raise LinksNotSupported(f"the asset store {self.url} is a folder with no HTTP face: download the asset "
                                "with DownloadAsset, or use an s3:// store (GENMEDIA_ASSET_URL) for links")

    async def sweep(self, older_than: datetime) -> SweepReport:
        removed = await asyncio.to_thread(sweep_folder, self.scratch_root / self.service, older_than)
        return SweepReport(removed=removed)

    async def discard_partials(self, job_id: str) -> SweepReport:
        split_key(f"{job_id}/x")
        return SweepReport(removed=await asyncio.to_thread(remove_job_files, self.scratch_root / self.service, job_id))


def _delete_file(path: Path) -> bool:
    _meta_path(path).unlink(missing_ok=True)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    with contextlib.suppress(OSError):  # the job's folder goes with its last asset, as a bucket's prefix does
        path.parent.rmdir()
    return True


def _write(f: BinaryIO, digest, chunk: bytes) -> None:
    f.write(chunk)
    digest.update(chunk)


def _sync(f: BinaryIO) -> None:
    f.flush()
    os.fsync(f.fileno())


def _copy(source: Path, temp: Path) -> None:
    with source.open("rb") as src, temp.open("wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)


def _synced_sha256(path: Path) -> str:
    """The file's sha256, once it is on disk (it is renamed into place next)."""
    with path.open("rb+") as f:
        os.fsync(f.fileno())
    return file_sha256(path)


def _write_meta(path: Path, meta: dict) -> None:
    temp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    temp.write_text(json.dumps(meta))
    os.replace(temp, path)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
