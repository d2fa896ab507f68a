"""The asset store's one interface, whichever store is behind it (file:// or s3://): streamed writes that
become visible whole or not at all, with their sha256 recorded; reads from an offset; a job's objects
deleted together; links; and the sweeps that remove what killed writers left behind.

An asset's key is `<job id>/<name>`. Temporary files and objects are `.tmp/<service>/<job id>.<time>-<uuid>`
inside the store (local scratch files of an S3 store under the scratch folder, in the same layout), so a
service sweeps only its own, and a job's leftovers are found by its id. docs/assets.md has the design."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from genmedia.domain.jobrules import MAX_JOB_ID, STORABLE_JOB_ID

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # the largest piece read() yields (DownloadAsset's chunk)
TMP = ".tmp"  # the store's folder of temporary files and objects; never a job id (those start with no dot)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
SERVICE_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


JOB_ID_PATTERN = STORABLE_JOB_ID  # (genmedia.domain.jobrules: the one job-id rule)


class AssetError(ValueError):
    """A URI or name that does not address an asset of this store."""


class AssetNotFound(LookupError):
    """No object under that key."""


class AssetChanged(RuntimeError):
    """The object was replaced while it was being read: the bytes already read belong to another version."""


class StoreUnavailable(RuntimeError):
    """The store did not answer, or refused (network, credentials, a server error)."""


class LinksNotSupported(RuntimeError):
    """This store has no HTTP face to link to."""


def asset_key(job_id: str, name: str) -> str:
    """`<job id>/<name>`; AssetError when either part could escape its folder or clash with temporary files."""
    if not JOB_ID_PATTERN.match(job_id):
        raise AssetError(f"job id {job_id!r} may hold only 1-{MAX_JOB_ID} letters, digits, '-' and '_'")
    if not NAME_PATTERN.match(name):
        raise AssetError(f"asset name {name!r} must be 1-128 letters, digits, '.', '-' or '_', not starting with '.'")
    return f"{job_id}/{name}"


def split_key(key: str) -> tuple[str, str]:
    """(job id, name) of a valid key; AssetError otherwise."""
    job_id, _, name = key.partition("/")
    asset_key(job_id, name)
    return job_id, name


def temp_name(job_id: str, suffix: str = "") -> str:
    """A unique temporary name of a job's write that carries its creation time (ms), so a sweep can age it
    without the store's timestamps (some S3 servers report none for uploads). Job ids hold no '.'."""
    return f"{job_id}.{int(time.time() * 1000):013d}-{uuid.uuid4().hex}{suffix}"


def temp_created(name: str) -> datetime | None:
    """When a temporary name was made, or None for a name temp_name() did not make."""
    stamp = name.partition(".")[2].partition("-")[0]
    if len(stamp) != 13 or not stamp.isdigit():
        return None
    return datetime.fromtimestamp(int(stamp) / 1000, UTC)


@dataclass(frozen=True)
class StoredObject:
    """What a store knows of one object."""

    key: str
    uri: str
    size: int
    sha256: str  # hex, recorded at write
    mime_type: str
    version: str  # changes whenever the object is replaced (S3 ETag; a file's inode, size and mtime)
    modified: datetime


@dataclass
class SweepReport:
    removed: list[str] = field(default_factory=list)  # temporary files and objects
    aborted: list[str] = field(default_factory=list)  # incomplete multipart uploads (their keys)

    def __bool__(self) -> bool:
        return bool(self.removed or self.aborted)


class Store(ABC):
    """One asset store. `service` names whose temporary files this instance makes and sweeps."""

    url: str  # GENMEDIA_ASSET_URL of this store
    has_links: bool = False

    def __init__(self, service: str, scratch_root: Path) -> None:
        if not SERVICE_PATTERN.match(service):
            raise ValueError(f"service name {service!r} must be 1-32 of a-z, 0-9 and '-'")
        self.service, self.scratch_root = service, scratch_root

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:  # noqa: B027 - a store without connections has nothing to release
        """Releases connections; the store opens them again when used."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """The URI of an asset (file:///… or s3://…), as Asset.uri carries it."""

    @abstractmethod
    def key_of(self, uri: str) -> str:
        """The key of a URI of this store; AssetError for a URI this store does not hold."""

    @abstractmethod
    async def write_chunks(self, key: str, chunks: AsyncIterable[bytes], mime_type: str) -> StoredObject:
        """Streams the chunks to the object `key`. It appears whole when this returns and not before; on any
        failure or cancellation nothing is left: no object, no temporary file, no upload."""

    @abstractmethod
    async def write_file(self, key: str, path: Path, mime_type: str) -> StoredObject:
        """Stores a local file as the object `key`, as write_chunks does. A file made in scratch() may be
        moved instead of copied (it is gone afterwards)."""

    @abstractmethod
    async def stat(self, key: str) -> StoredObject:
        """AssetNotFound when there is no such object."""

    @abstractmethod
    def read(self, key: str, offset: int = 0, chunk_size: int = CHUNK,
             version: str = "") -> AsyncIterator[bytes]:
        """The bytes from `offset` on, in pieces of `chunk_size` (the last may be shorter). With `version`
        (from stat), AssetChanged when the object is not that version any more."""

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Deletes one object (a cancelled step's output); False when there was none."""

    @abstractmethod
    async def delete_job(self, job_id: str) -> int:
        """Deletes every object of the job, and every service's temporary files and uploads of it; returns
        how many assets went."""

    @abstractmethod
    async def link(self, key: str, lifetime: timedelta) -> str:
        """A URL anyone may GET the object from until `lifetime` has passed; LinksNotSupported otherwise."""

    @abstractmethod
    async def sweep(self, older_than: datetime) -> SweepReport:
        """Removes this service's temporary files and objects made before `older_than`, and aborts its
        incomplete multipart uploads begun before then. Touches nothing of other services."""

    @abstractmethod
    async def discard_partials(self, job_id: str) -> SweepReport:
        """Removes this service's temporary files, objects and uploads of one job, whatever their age: a new
        attempt of a step calls it first, so an earlier attempt that was killed leaves nothing."""

    async def sweep_stale(self, grace: timedelta) -> SweepReport:
        """The start-up sweep: what this service left more than `grace` ago (longer than any write takes)."""
        report = await self.sweep(datetime.now(UTC) - grace)
        if report:
            log.info("asset store %s: removed %d stale temporary file(s) of %s, aborted %d upload(s)", self.url,
                     len(report.removed), self.service, len(report.aborted))
        return report

    @contextlib.asynccontextmanager
    async def local_file(self, key: str, job_id: str) -> AsyncIterator[Path]:
        """The object as a local file to read (an encoder's input): a copy in scratch(), removed afterwards; a
        folder store gives its own file. AssetNotFound when there is no such object."""
        await self.stat(key)
        async with self.scratch(job_id, Path(key).suffix) as path:
            await copy_to_file(self, key, path)
            yield path

    @contextlib.asynccontextmanager
    async def scratch(self, job_id: str, suffix: str = "") -> AsyncIterator[Path]:
        """A local path to make a file at (e.g. PyAV's output) before write_file; removed afterwards."""
        path = await asyncio.to_thread(self.scratch_path, job_id, suffix)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def scratch_path(self, job_id: str, suffix: str = "") -> Path:
        """A new local path in this service's scratch folder (made if missing); whoever makes the file removes
        it. It lies where discard_partials and the sweeps find it, so a killed process leaves nothing for good.
        (Blocking: a mkdir at most.)"""
        asset_key(job_id, "x")
        folder = self.scratch_root / self.service
        folder.mkdir(parents=True, exist_ok=True)
        return folder / temp_name(job_id, suffix)


def sweep_folder(folder: Path, older_than: datetime) -> list[str]:
    """Removes the temporary files in `folder` last written before `older_than`; returns their names. A
    file being written has a fresh mtime, so only what nobody writes any more goes. (Runs in a thread.)"""
    removed: list[str] = []
    cutoff = older_than.timestamp()
    for path in sorted(folder.glob("*.*-*")) if folder.is_dir() else []:
        try:
            if path.lstat().st_mtime < cutoff:
                path.unlink()
                removed.append(path.name)
        except OSError:  # removed meanwhile by its writer: nothing to do
            continue
    return removed


def remove_job_files(folder: Path, job_id: str) -> list[str]:
    """Removes a job's temporary files from `folder`; returns their names. (Runs in a thread.)"""
    removed: list[str] = []
    for path in sorted(folder.glob(f"{job_id}.*")) if folder.is_dir() else []:
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


async def copy_to_file(store: Store, key: str, path: Path) -> None:
    """Writes an object into a local file, piece by piece."""
    with path.open("wb") as f:  # noqa: ASYNC230 - each write goes to a thread below
        async for piece in store.read(key):
            await asyncio.to_thread(f.write, piece)
