"""Every asset write and read of the image and video services goes through these functions, and only they
touch the asset store (genmedia.assetstore: a folder or an S3 bucket). What is written is exactly what the
provider served: bytes in one piece, or a local file (a video) streamed into the store and then deleted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import grpc

from genmedia.assetstore import AssetError, AssetNotFound, Store, StoredObject, StoreUnavailable, asset_key
from genmedia.domain.errors import ServiceError
from genmedia.providers.backend import Output, Scratch
from genmedia.providers.media import Media
from genmedia.v1 import common_pb2 as pb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Provenance:
    """Who made an asset, and what the provider reports it used."""

    provider: str
    model: str
    request_id: str = ""
    provider_seconds: float = 0.0
    tokens: int = 0
    latency_seconds: float = 0.0


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """A store that cannot be reached as UNAVAILABLE, which the step's retry policy retries."""
    try:
        yield
    except StoreUnavailable as err:
        log.warning("asset store unavailable: %s", err)
        raise ServiceError(grpc.StatusCode.UNAVAILABLE, f"the asset store is unavailable, try again: {err}",
                           "ASSET_STORE_UNAVAILABLE") from None


class SourceTooLarge(ValueError):
    """An input asset larger than the caller will hold in memory."""


async def _one(data: bytes):
    yield data


async def save_asset(store: Store, job_id: str, stem: str, output: Output, media: Media,
                     made_by: Provenance) -> pb.Asset:
    """Stores `<job_id>/<stem>.<ext>` (visible only once whole) and describes it with the sha256 recorded at
    write. The output's local file is gone afterwards, whatever happens."""
    key = asset_key(job_id, f"{stem}.{media.extension}")
    try:
        if output.path is not None:
            stored = await store.write_file(key, output.path, media.mime)
        else:
            stored = await store.write_chunks(key, _one(output.data), media.mime)
    except BaseException:
        # A cancel can land after a folder store's rename ran in its thread: the object may exist after all.
        with contextlib.suppress(Exception):
            await asyncio.shield(store.delete(key))
        raise
    finally:
        if output.path is not None:
            output.path.unlink(missing_ok=True)  # gone already when a folder store moved it into place
    return describe(stored, media, made_by)


def describe(stored: StoredObject, media: Media, made_by: Provenance) -> pb.Asset:
    video = media.mime.startswith("video/")
    return pb.Asset(
        uri=stored.uri, mime_type=media.mime, size_bytes=stored.size, sha256=stored.sha256, width=media.width,
        height=media.height, duration_seconds=media.duration if video else 0.0,
        frame_count=media.frames if video else 0, fps=media.fps if video else 0.0, provider=made_by.provider,
        model=made_by.model, provider_request_id=made_by.request_id, provider_seconds=made_by.provider_seconds,
        provider_tokens=made_by.tokens, provider_latency_seconds=round(made_by.latency_seconds, 3))


async def load_asset(store: Store, uri: str, max_bytes: int) -> bytes:
    """The bytes of an asset of this store (an input image). AssetError for a URI the store does not hold,
    AssetNotFound for a missing object, SourceTooLarge past `max_bytes`; StoreUnavailable passes through."""
    key = store.key_of(uri)
    stored = await store.stat(key)
    if stored.size > max_bytes:
        raise SourceTooLarge(f"{uri!r} is {stored.size} bytes, more than the {max_bytes} an input image may be")
    pieces = [piece async for piece in store.read(key, version=stored.version)]
    return b"".join(pieces)


async def discard_assets(store: Store, assets: list[pb.Asset]) -> None:
    """Removes assets written by a call that then failed or was cancelled (none is left half-made)."""
    for asset in assets:
        with contextlib.suppress(AssetError, AssetNotFound, StoreUnavailable):  # best effort: the call failed anyway
            await store.delete(store.key_of(asset.uri))


def scratch_for(store: Store, job_id: str) -> Scratch:
    """Where a backend puts an output too large for memory: the service's scratch folder of the store."""
    return lambda suffix: store.scratch_path(job_id, suffix)


async def discard_partials(store: Store, job_id: str) -> None:
    """What an earlier attempt of this service at the job left (it was killed mid-write): its temporary files,
    objects and uploads."""
    await store.discard_partials(job_id)


async def sweep_stale(store: Store, grace: timedelta) -> None:
    """The start-up sweep of this service's temporary files and objects older than `grace` (a killed run's). A
    store that does not answer yet is no reason not to start: the next attempt at each job cleans its own."""
    try:
        await store.sweep_stale(grace)
    except StoreUnavailable as err:
        log.warning("the start-up sweep of the asset store %s failed, going on: %s", store.url, err)
