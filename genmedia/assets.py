"""The first asset store: generated files under a root folder, addressed by file:// URIs, written by the image
and video services in a thread. genmedia.assetstore replaces it (file:// and s3://, async, streamed); this
class stays until those services move to it.

Files are written atomically (temporary name, then rename), so a retried or cancelled step never
leaves a half-written asset under its final name."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

from genmedia.assetstore.base import JOB_ID_PATTERN, AssetError
from genmedia.assetstore.settings import parse_file_url
from genmedia.config import env_str, var_dir
from genmedia.jobrules import MAX_JOB_ID
from genmedia.v1 import common_pb2 as pb

__all__ = ["JOB_ID_PATTERN", "AssetError", "AssetStore"]


class AssetStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    @classmethod
    def from_env(cls) -> AssetStore:
        """The folder of GENMEDIA_ASSET_URL when it is a file:// URL, else GENMEDIA_ASSET_ROOT, default
        <GENMEDIA_VAR_DIR>/assets (an s3:// store is not written by this class)."""
        url = env_str("GENMEDIA_ASSET_URL", "")
        if url.startswith("file:"):
            return cls(parse_file_url(url, "GENMEDIA_ASSET_URL"))
        return cls(Path(env_str("GENMEDIA_ASSET_ROOT", str(var_dir() / "assets"))))

    def path_for(self, job_id: str, name: str) -> Path:
        if not JOB_ID_PATTERN.match(job_id):
            raise AssetError(f"job id {job_id!r} may hold only 1-{MAX_JOB_ID} letters, digits, '-' and '_'")
        return self.root / job_id / name

    def write(self, path: Path, produce: Callable[[Path], None]) -> None:
        """Calls produce(tmp_path) and moves the result to path; removes the temporary file on error."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")  # unique: calls may overlap
        try:
            produce(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def resolve(self, uri: str) -> Path:
        """The file behind a file:// URI of this store; AssetError for anything else."""
        parsed = urlparse(uri)
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            raise AssetError(f"{uri!r} is not a file:// URI")
        path = Path(unquote(parsed.path)).resolve()
        if not path.is_relative_to(self.root):
            raise AssetError(f"{uri!r} is outside the asset store")
        if not path.is_file():
            raise AssetError(f"{uri!r} does not exist")
        return path

    def describe(self, path: Path, mime_type: str, **fields) -> pb.Asset:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return pb.Asset(
            uri=path.as_uri(), mime_type=mime_type, size_bytes=path.stat().st_size,
            sha256=digest.hexdigest(), **fields,
        )

    def delete_job(self, job_id: str) -> None:
        shutil.rmtree(self.path_for(job_id, "x").parent, ignore_errors=True)
