"""The asset stores under test: a folder, and a bucket on the local S3 server (moto, its own process), each
made fresh and empty for one test, with what a test needs to look behind the store's back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aioboto3

from genmedia.assetstore import Store, StoreSettings, open_store
from genmedia.assetstore.base import TMP
from genmedia.assetstore.settings import parse_url
from tests.conftest import ROOT
from tests.s3server import s3_env

PART = 5 * 1024 * 1024  # the tests' part size: S3's smallest


@dataclass
class StoreUnderTest:
    kind: str  # file | s3
    env: dict[str, str]  # the variables that name it (already set in the test's environment)
    tmp: Path
    raw: object = None  # the raw client, made once (a client costs a tenth of a second to make)
    closing: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    def open(self, service: str = "video") -> Store:
        return open_store(service, StoreSettings.from_env())

    @contextlib.asynccontextmanager
    async def s3(self):
        """A raw client of the bucket, to look at objects and uploads directly."""
        if self.raw is None:
            session = aioboto3.Session(aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
                                       aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"])
            self.raw = await self.closing.enter_async_context(session.client(
                "s3", endpoint_url=self.env["AWS_ENDPOINT_URL"], region_name=self.env["AWS_REGION"]))
        yield self.raw

    @property
    def bucket_and_prefix(self) -> tuple[str, str]:
        _, bucket, prefix = parse_url(self.env["GENMEDIA_ASSET_URL"], "url")
        return bucket, prefix

    @property
    def root(self) -> Path:
        return Path(parse_url(self.env["GENMEDIA_ASSET_URL"], "url")[2])

    async def leftovers(self) -> dict[str, list[str]]:
        """Every temporary file, object and incomplete upload in the store, by kind."""
        if self.kind == "file":
            tmp = self.root / TMP
            files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file()) if tmp.is_dir() else []
            return {"files": files, "objects": [], "uploads": []}
        bucket, prefix = self.bucket_and_prefix
        async with self.s3() as s3:
            objects = (await s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/{TMP}/")).get("Contents", [])
            uploads = (await s3.list_multipart_uploads(Bucket=bucket)).get("Uploads", [])
        scratch = self.tmp / "scratch"
        files = sorted(str(p.relative_to(scratch)) for p in scratch.rglob("*") if p.is_file()) \
            if scratch.is_dir() else []
        return {"files": files, "objects": sorted(o["Key"] for o in objects),
                "uploads": sorted(u["Key"] for u in uploads)}

    async def has_partial(self, job_id: str) -> bool:
        """Whether a write of the job has left something: a temporary file, or an upload with a part."""
        if self.kind == "file":
            return any(f"/{job_id}." in f for f in (await self.leftovers())["files"])
        bucket, _ = self.bucket_and_prefix
        async with self.s3() as s3:
            for upload in (await s3.list_multipart_uploads(Bucket=bucket)).get("Uploads", []):
                if f"/{job_id}." in upload["Key"]:
                    parts = await s3.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                    if parts.get("Parts"):
                        return True
        return False

    async def object_names(self, job_id: str) -> list[str]:
        """The job's assets as the store holds them (a folder's files, a bucket's keys)."""
        if self.kind == "file":
            folder = self.root / job_id
            return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []
        bucket, prefix = self.bucket_and_prefix
        async with self.s3() as s3:
            found = (await s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/{job_id}/")).get("Contents", [])
        return sorted(o["Key"].rpartition("/")[2] for o in found)


async def make_store(kind: str, endpoint: str, tmp: Path) -> StoreUnderTest:
    """A fresh empty store: a folder under tmp, or a new bucket with the prefix `assets`."""
    env = {"GENMEDIA_ASSET_PART_BYTES": str(PART), "GENMEDIA_ASSET_SCRATCH_DIR": str(tmp / "scratch")}
    if kind == "file":
        env["GENMEDIA_ASSET_URL"] = (tmp / "assets").as_uri()
        return StoreUnderTest(kind, env, tmp)
    bucket = f"genmedia-{uuid.uuid4().hex[:12]}"
    env |= s3_env(endpoint) | {"GENMEDIA_ASSET_URL": f"s3://{bucket}/assets"}
    under = StoreUnderTest(kind, env, tmp)
    async with under.s3() as s3:
        await s3.create_bucket(Bucket=bucket)
    return under


async def kill_mid_write(under: StoreUnderTest, service: str, job_id: str, megabytes: int) -> None:
    """A process writes `megabytes` of an asset of the job and is SIGKILLed mid-write, once its temporary file
    (or its upload's first part) is in the store: what it leaves is what a crashed service leaves."""
    env = dict(os.environ, **under.env, PYTHONPATH=str(ROOT))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.killed_writer", service, job_id, str(megabytes), env=env,
        stdout=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(60):
            line = await proc.stdout.readline()
            assert line.strip() == b"written", line
            while not await under.has_partial(job_id):  # noqa: ASYNC110 - another process's progress
                await asyncio.sleep(0.05)
    finally:
        proc.kill()
        await proc.wait()
