"""Every asset write and read of the image and video services goes through these functions, and only they
touch the asset store (so the store can be swapped in one place). Outputs arrive as checked bytes; what is
written is exactly what the provider served."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from genmedia.assets import AssetStore
from genmedia.providers.media import Media
from genmedia.v1 import common_pb2 as pb


@dataclass(frozen=True)
class Provenance:
    """Who made an asset, and what the provider reports it used."""

    provider: str
    model: str
    request_id: str = ""
    provider_seconds: float = 0.0
    tokens: int = 0
    latency_seconds: float = 0.0


async def save_asset(store: AssetStore, job_id: str, stem: str, data: bytes, media: Media,
                     made_by: Provenance) -> pb.Asset:
    """Writes `<job_id>/<stem>.<ext>` atomically and describes it (sha256 of what was written)."""
    def write() -> pb.Asset:
        path = store.path_for(job_id, f"{stem}.{media.extension}")
        store.write(path, lambda tmp: Path(tmp).write_bytes(data))
        video = media.mime.startswith("video/")
        return store.describe(path, media.mime, width=media.width, height=media.height,
                              duration_seconds=media.duration if video else 0.0,
                              frame_count=media.frames if video else 0, fps=media.fps if video else 0.0)

    asset = await asyncio.to_thread(write)
    asset.provider, asset.model, asset.provider_request_id = made_by.provider, made_by.model, made_by.request_id
    asset.provider_seconds, asset.provider_tokens = made_by.provider_seconds, made_by.tokens
    asset.provider_latency_seconds = round(made_by.latency_seconds, 3)
    return asset


async def load_asset(store: AssetStore, uri: str) -> bytes:
    """The bytes of an asset of this store (AssetError for a URI that is not one)."""
    return await asyncio.to_thread(lambda: store.resolve(uri).read_bytes())


async def discard_assets(store: AssetStore, job_id: str, assets: list[pb.Asset]) -> None:
    """Removes assets written by a call that then failed or was cancelled, and the job's folder if now empty."""
    def remove() -> None:
        for asset in assets:
            try:
                store.resolve(asset.uri).unlink(missing_ok=True)
            except (OSError, ValueError):
                pass  # already gone
        try:
            store.path_for(job_id, "x").parent.rmdir()  # only when nothing else is in it
        except OSError:
            pass

    await asyncio.to_thread(remove)
