"""The asset store: one async interface (base.Store) over a folder (file://) or an S3 bucket (s3://), chosen
by GENMEDIA_ASSET_URL. `open_store(service)` gives the one the settings name; docs/assets.md describes it."""

from __future__ import annotations

from pathlib import Path

from genmedia.assetstore.base import (
    CHUNK,
    JOB_ID_PATTERN,
    AssetChanged,
    AssetError,
    AssetNotFound,
    LinksNotSupported,
    Store,
    StoredObject,
    StoreUnavailable,
    SweepReport,
    asset_key,
    split_key,
)
from genmedia.assetstore.settings import StoreSettings, parse_url

__all__ = ["CHUNK", "JOB_ID_PATTERN", "AssetChanged", "AssetError", "AssetNotFound", "LinksNotSupported", "Store",
           "StoreSettings", "StoreUnavailable", "StoredObject", "SweepReport", "asset_key", "open_store", "split_key"]


def open_store(service: str, settings: StoreSettings | None = None) -> Store:
    """The store GENMEDIA_ASSET_URL names, for `service` (whose temporary files it makes and sweeps). Nothing
    connects until it is used; `await store.close()` (or `async with store`) releases its connections."""
    settings = settings or StoreSettings.from_env()
    scheme, bucket, where = parse_url(settings.url, "GENMEDIA_ASSET_URL")
    if scheme == "file":
        from genmedia.assetstore.filestore import FileStore

        return FileStore(Path(where), service)
    from genmedia.assetstore.s3store import S3Store  # imports aioboto3: only where s3:// is used

    return S3Store(bucket, where, service, settings.scratch_dir, settings.part_bytes, settings.link_endpoint)
