"""A job's assets fetched through JobService alone (no shared disk, no other address): `download` writes
them into a folder with every byte's sha256 checked (genmedia.client.downloads resumes a cut stream), `link` asks
for a time-limited HTTPS link to one. AsyncClient and Client expose both."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from genmedia.client import downloads
from genmedia.client.errors import ChecksumMismatch, DownloadError, from_rpc_error
from genmedia.client.models import Asset
from genmedia.client.rpc import GenmediaClient
from genmedia.v1 import job_service_pb2 as js

# (asset index, bytes so far, size): called after every chunk
OnProgress = Callable[[int, int, int], None]


@dataclass(frozen=True)
class DownloadedAsset:
    """One asset written to `path`, whole, its sha256 checked against the one recorded when it was made."""

    path: Path
    index: int  # which of the job's assets (a video job: 0 the image, 1 the video)
    asset: Asset = field(repr=False)

    @property
    def size_bytes(self) -> int:
        return self.asset.size_bytes

    @property
    def sha256(self) -> str:
        return self.asset.sha256

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "asset_index": self.index, "uri": self.asset.uri,
                "mime_type": self.asset.mime_type, "size_bytes": self.size_bytes, "sha256": self.sha256}


@dataclass(frozen=True)
class AssetLink:
    """An HTTPS URL anyone holding it may GET the asset from until `expire_time`."""

    url: str
    expire_time: dt.datetime
    asset: Asset = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "expire_time": self.expire_time.isoformat().replace("+00:00", "Z"),
                "uri": self.asset.uri, "mime_type": self.asset.mime_type, "size_bytes": self.asset.size_bytes,
                "sha256": self.asset.sha256}


def _address(raw: GenmediaClient) -> str:
    return f"JobService at {raw.orchestrator_addr}"


async def download(raw: GenmediaClient, job_id: str, dest: str | Path = ".", asset: int | None = None,
                   on_progress: OnProgress | None = None) -> list[DownloadedAsset]:
    """Writes the job's assets (or only asset number `asset`) into the folder `dest`, each under its own name
    (image-0.png, video.mp4); returns them in order. Raises the typed RpcError of a refusal (NotFound, ...),
    ChecksumMismatch when the bytes are not the recorded ones, DownloadError when the stream cannot be
    completed, OSError when `dest` cannot be written; no partial file is left under an asset's name."""
    folder = Path(dest)
    try:
        job = (await raw.jobs.GetJob(js.GetJobRequest(job_id=job_id), timeout=raw.timeout)).job
    except grpc.aio.AioRpcError as err:
        raise from_rpc_error(err, _address(raw)) from None
    # No asset yet (or no such one): ask for it anyway, so that the server says why (the job's state).
    indexes = (list(range(len(job.assets))) or [0]) if asset is None else [asset]
    done: list[DownloadedAsset] = []
    for index in indexes:
        report = (lambda got, size, index=index: on_progress(index, got, size)) if on_progress else None
        name = downloads.asset_filename(job.assets[index]) if 0 <= index < len(job.assets) else f"asset-{index}"
        try:
            result = await downloads.download_asset(raw.jobs, job_id, folder / name, index, on_progress=report)
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err, _address(raw)) from None
        except downloads.ChecksumMismatch as err:
            raise ChecksumMismatch(str(err)) from None
        except downloads.DownloadError as err:
            raise DownloadError(str(err)) from None
        done.append(DownloadedAsset(result.path, index, Asset.from_proto(result.asset)))
    return done


async def link(raw: GenmediaClient, job_id: str, asset: int = 0,
               expires: dt.timedelta = dt.timedelta(hours=1)) -> AssetLink:
    """A link to asset number `asset` of the job, valid for `expires` (1 second to 7 days). FailedPrecondition
    when the server's asset store has no HTTP face (a folder)."""
    request = js.CreateAssetLinkRequest(job_id=job_id, asset_index=asset)
    request.expires_in.FromTimedelta(expires)
    try:
        answer = await raw.jobs.CreateAssetLink(request, timeout=raw.timeout)
    except grpc.aio.AioRpcError as err:
        raise from_rpc_error(err, _address(raw)) from None
    return AssetLink(answer.url, answer.expire_time.ToDatetime(tzinfo=dt.UTC), Asset.from_proto(answer.asset))
