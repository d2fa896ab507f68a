"""A job stack whose image and video services talk to fake providers (tests/integration/fakes), configured
through the same GENMEDIA_* variables a deployment sets."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from genmedia.v1 import common_pb2 as pb
from tests.integration.fakes.comfyui import FakeComfy, workflow
from tests.integration.fakes.common import FakeServer
from tests.integration.fakes.openai import FakeOpenAI
from tests.integration.fakes.replicate import FakeReplicate
from tests.integration.jobstack import Stack, add_api, add_workers, configure_env, job_services

KEY = f"sk-genmedia-test-{uuid.uuid4().hex}"
TOKEN = f"r8_genmediatest{uuid.uuid4().hex}"


def provider_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fakes: dict[str, FakeServer]) -> None:
    """Points every configured provider at its fake; short timeouts and polls, quick retries."""
    configure_env(monkeypatch, tmp_path)
    for step in ("IMAGE", "VIDEO"):
        monkeypatch.setenv(f"GENMEDIA_{step}_RETRY_INITIAL_SECONDS", "0.2")
        monkeypatch.setenv(f"GENMEDIA_{step}_RETRY_MAX_SECONDS", "0.5")
        monkeypatch.setenv(f"GENMEDIA_{step}_HEARTBEAT_TIMEOUT_SECONDS", "3")
    monkeypatch.setenv("GENMEDIA_PROVIDER_POLL_SECONDS", "0.05")
    monkeypatch.setenv("GENMEDIA_PROVIDER_TIMEOUT_SECONDS", "5")
    if "openai" in fakes:
        monkeypatch.setenv("GENMEDIA_OPENAI_BASE_URL", fakes["openai"].base_url)
        monkeypatch.setenv("GENMEDIA_OPENAI_API_KEY", KEY)
    if "replicate" in fakes:
        monkeypatch.setenv("GENMEDIA_REPLICATE_BASE_URL", fakes["replicate"].base_url)
        monkeypatch.setenv("GENMEDIA_REPLICATE_API_TOKEN", TOKEN)
    if "comfyui" in fakes:
        for kind, video in (("IMAGE", False), ("VIDEO", True)):
            path = tmp_path / f"{kind.lower()}-workflow.json"
            path.write_text(json.dumps(workflow(video)))
            monkeypatch.setenv(f"GENMEDIA_COMFYUI_{kind}_WORKFLOW", str(path))
        monkeypatch.setenv("GENMEDIA_COMFYUI_URL", fakes["comfyui"].url)


@asynccontextmanager
async def fake_providers(delay: float = 0.2) -> AsyncIterator[dict[str, FakeServer]]:
    fakes: dict[str, FakeServer] = {"openai": FakeOpenAI(KEY), "replicate": FakeReplicate(TOKEN),
                                    "comfyui": FakeComfy()}
    for fake in fakes.values():
        fake.delay = delay
        await fake.start()
    try:
        yield fakes
    finally:
        for fake in fakes.values():
            await fake.stop()


@asynccontextmanager
async def provider_stack(temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         fakes: dict[str, FakeServer], image: str, video: str = "kenburns") -> AsyncIterator[Stack]:
    provider_env(monkeypatch, tmp_path, fakes)
    monkeypatch.setenv("GENMEDIA_IMAGE_BACKEND", image)
    monkeypatch.setenv("GENMEDIA_VIDEO_BACKEND", video)
    async with job_services(tmp_path) as stack:
        await add_api(stack, temporal)
        await add_workers(stack, temporal)
        yield stack


def image_spec(prompt: str = "two foxes in snow", **fields) -> pb.JobSpec:
    return pb.JobSpec(image=pb.ImageSpec(prompt=prompt, width=64, height=64, **fields))


def video_spec(prompt: str = "a lighthouse at dusk", **fields) -> pb.JobSpec:
    return pb.JobSpec(video=pb.VideoSpec(prompt=prompt, width=64, height=64, duration_seconds=1, fps=12, **fields))


def stored(asset: pb.Asset) -> bytes:
    return Path(asset.uri.removeprefix("file://")).read_bytes()
