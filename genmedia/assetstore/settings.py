"""The asset store's settings: GENMEDIA_ASSET_URL (or GENMEDIA_ASSET_ROOT, its older name for a folder)
and the knobs of writes, links and sweeps. A value that cannot be used fails at start-up, naming it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

from genmedia.config import ConfigError, Section, Var, env_float, env_int, env_str, var_dir

BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
MIN_PART = 5 * 1024 * 1024  # S3's smallest part (all but the last)


@dataclass(frozen=True)
class StoreSettings:
    url: str  # file:///abs/path or s3://bucket/prefix
    scratch_dir: Path  # local scratch files of an s3:// store (GENMEDIA_ASSET_SCRATCH_DIR)
    part_bytes: int  # multipart part size; objects up to it go in one PUT (GENMEDIA_ASSET_PART_BYTES)
    sweep_grace: timedelta  # temporary files older than this are stale (GENMEDIA_ASSET_SWEEP_GRACE_SECONDS)
    link_endpoint: str  # where links point, when not AWS_ENDPOINT_URL (GENMEDIA_ASSET_LINK_ENDPOINT_URL)

    @classmethod
    def from_env(cls) -> StoreSettings:
        url = env_str("GENMEDIA_ASSET_URL", "")
        root = env_str("GENMEDIA_ASSET_ROOT", "")
        if root and not Path(root).is_absolute():
            root = str(Path(root).resolve())
        if not url:
            url = Path(root or var_dir() / "assets").resolve().as_uri()
        elif root and parse_file_url(url, "GENMEDIA_ASSET_URL") != Path(root):
            raise ConfigError(f"GENMEDIA_ASSET_URL={url!r} and GENMEDIA_ASSET_ROOT={root!r} disagree; set only "
                              "GENMEDIA_ASSET_URL")
        parse_url(url, "GENMEDIA_ASSET_URL")
        link = env_str("GENMEDIA_ASSET_LINK_ENDPOINT_URL", "")
        if link and urlparse(link).scheme not in ("http", "https"):
            raise ConfigError(f"GENMEDIA_ASSET_LINK_ENDPOINT_URL={link!r} must be an http(s) URL")
        return cls(
            url=url,
            scratch_dir=Path(env_str("GENMEDIA_ASSET_SCRATCH_DIR", str(var_dir() / "scratch"))).resolve(),
            part_bytes=env_int("GENMEDIA_ASSET_PART_BYTES", 8 * 1024 * 1024, MIN_PART, 1024 * 1024 * 1024),
            sweep_grace=timedelta(seconds=env_float("GENMEDIA_ASSET_SWEEP_GRACE_SECONDS", 7200.0, lo=0.0)),
            link_endpoint=link,
        )


def parse_url(url: str, name: str) -> tuple[str, str, str]:
    """('file', '', '/abs/path') or ('s3', bucket, prefix); ConfigError naming `name` otherwise."""
    scheme = urlparse(url).scheme
    if scheme == "file":
        return "file", "", str(parse_file_url(url, name))
    if scheme == "s3":
        bucket, prefix = parse_s3_url(url, name)
        return "s3", bucket, prefix
    raise ConfigError(f"{name}={url!r} must be file:///absolute/path or s3://bucket/prefix")


def parse_file_url(url: str, name: str) -> Path:
    parsed = urlparse(url)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost") or not parsed.path.startswith("/"):
        raise ConfigError(f"{name}={url!r} must be file:///absolute/path")
    return Path(unquote(parsed.path)).resolve()


def parse_s3_url(url: str, name: str) -> tuple[str, str]:
    parsed = urlparse(url)
    bucket, prefix = parsed.netloc, unquote(parsed.path).strip("/")
    if not BUCKET.match(bucket):
        raise ConfigError(f"{name}={url!r}: {bucket!r} is not a bucket name (3-63 of a-z, 0-9, '.', '-', '_')")
    if parsed.query or parsed.fragment or any(part in ("", ".", "..") for part in prefix.split("/") if prefix):
        raise ConfigError(f"{name}={url!r}: the prefix must be plain path segments, without '.', '..' or '//'")
    return bucket, prefix


ENV = Section("Asset store (docs/assets.md)", (
    Var("GENMEDIA_ASSET_URL", "file://$GENMEDIA_VAR_DIR/assets",
        "the asset store: a folder (`file://`), or `s3://bucket/prefix` on AWS S3, MinIO, R2 or GCS with the "
        "standard `AWS_*` variables"),
    Var("GENMEDIA_ASSET_ROOT", "unset", "the older name of a folder store (a path); must agree with the URL"),
    Var("GENMEDIA_ASSET_SCRATCH_DIR", "$GENMEDIA_VAR_DIR/scratch", "local scratch files of an s3:// store"),
    Var("GENMEDIA_ASSET_PART_BYTES", "8388608", "multipart part size; smaller objects go in one PUT (5 MiB-1 GiB)"),
    Var("GENMEDIA_ASSET_SWEEP_GRACE_SECONDS", "7200", "temporary files of killed writers older than this are removed"),
    Var("GENMEDIA_ASSET_LINK_ENDPOINT_URL", "unset",
        "where CreateAssetLink's links point, when not AWS_ENDPOINT_URL (an http(s) URL)"),
))
