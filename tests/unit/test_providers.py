"""The provider layer's pure parts: fallback order, error statuses, redaction, Retry-After, sizes, workflows."""

from __future__ import annotations

import email.utils
import time

import grpc
import httpx
import pytest

from genmedia.config import ConfigError
from genmedia.providers.errors import Kind, ProviderError, redact, to_service_error
from genmedia.providers.http import retry_after
from genmedia.providers.openai import IMAGE_SIZES, VIDEO_SIZES, nearest_size
from genmedia.providers.replicate import log_progress, output_urls
from genmedia.providers.runner import Backends
from genmedia.providers.settings import ProviderSettings, parse_chain
from genmedia.providers.workflows import check_workflow, filled
from services.image.backends.procedural import ProceduralBackend
from services.orchestrator.worker import eta


class Named(ProceduralBackend):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


def test_each_retry_moves_to_the_next_provider_of_the_list() -> None:
    backends = Backends("image", "GENMEDIA_IMAGE_BACKEND", {n: Named(n) for n in ("a", "b", "c")}, ["a", "b"])
    picked = [(backends.pick(["a", "b"], attempt)[0].name, backends.pick(["a", "b"], attempt)[1])
              for attempt in (0, 1, 2, 3)]
    assert picked == [("a", "b"), ("a", "b"), ("b", "a"), ("a", "b")]
    assert backends.chain_for("", "spec.backend") == ["a", "b"] and backends.chain_for("c,a", "f") == ["c", "a"]
    with pytest.raises(Exception, match="backend nope is not configured") as info:
        backends.chain_for("nope", "spec.backend")
    assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION and info.value.reason == "BACKEND_NOT_CONFIGURED"


def test_a_rate_limit_carries_its_delay_only_back_to_the_same_provider() -> None:
    limited = ProviderError(Kind.RATE_LIMITED, "openai", "slow down", "req_1", retry_after=2.5)
    same, other = to_service_error(limited, "openai"), to_service_error(limited, "replicate")
    assert same.code == grpc.StatusCode.RESOURCE_EXHAUSTED and same.reason == "PROVIDER_RATE_LIMITED"
    assert same.details[0].retry_delay.seconds == 2 and same.details[0].retry_delay.nanos == 500_000_000
    assert other.details == [] and other.metadata["next_provider"] == "replicate"
    assert same.message == "openai: slow down (request req_1)"
    refused = to_service_error(ProviderError(Kind.AUTH, "openai", "bad key"), "replicate")
    assert (refused.code, refused.metadata["next_provider"]) == (grpc.StatusCode.FAILED_PRECONDITION, "")


def test_keys_are_redacted_from_provider_messages() -> None:
    key = "sk-proj-abcdefghijklmnop"
    assert redact(f"Incorrect API key provided: {key}.", (key,)) == "Incorrect API key provided: [redacted]."
    assert "r8_" not in redact("token r8_ABCDEFGHIJ is invalid") and "sk-" not in redact("sk-******abcd")


def test_retry_after_reads_seconds_and_http_dates() -> None:
    def answer(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value} if value else {})

    assert retry_after(answer("2")) == 2.0 and retry_after(answer("")) is None and retry_after(answer("soon")) is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= retry_after(answer(later)) <= 31


def test_hosted_models_get_the_nearest_size_they_take() -> None:
    assert nearest_size("gpt-image-1", 512, 512, IMAGE_SIZES) == (1024, 1024)
    assert nearest_size("gpt-image-1", 1280, 720, IMAGE_SIZES) == (1536, 1024)
    assert nearest_size("sora-2", 640, 360, VIDEO_SIZES) == (1280, 720)
    assert nearest_size("my-local-model", 640, 360, IMAGE_SIZES) == (640, 360)


def test_replicate_outputs_and_log_progress() -> None:
    assert output_urls(["https://x/1.png", {"video": "https://x/2.mp4"}, 3, "text"]) == [
        "https://x/1.png", "https://x/2.mp4"]
    logs = "Using seed: 3\n 40%|####      | 4/10\n 70%|#######   | 7/10\n"
    assert log_progress(logs) == (70.0, "70%|#######   | 7/10")


def test_workflow_inputs_go_into_the_titled_nodes() -> None:
    workflow = {"6": {"class_type": "CLIPTextEncode", "inputs": {"text": ""}, "_meta": {"title": "genmedia.prompt"}},
                "3": {"class_type": "KSampler", "inputs": {"seed": 0}, "_meta": {"title": "genmedia.seed"}},
                "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1, "height": 1, "batch_size": 4},
                      "_meta": {"title": "genmedia.size"}}}
    out = filled(workflow, {"prompt": "a fox", "seed": 7, "width": 640, "height": 360})
    assert out["6"]["inputs"]["text"] == "a fox" and out["3"]["inputs"]["seed"] == 7
    assert out["5"]["inputs"] == {"width": 640, "height": 360, "batch_size": 1}
    assert workflow["6"]["inputs"]["text"] == "", "the template is not changed"
    with pytest.raises(ConfigError, match="genmedia.prompt"):
        check_workflow("GENMEDIA_COMFYUI_IMAGE_WORKFLOW", {"1": {"class_type": "SaveImage", "inputs": {}}})


def test_backend_lists_are_checked() -> None:
    known = ("procedural", "openai", "replicate")
    assert parse_chain("GENMEDIA_IMAGE_BACKEND", " replicate , openai ", known) == ["replicate", "openai"]
    for bad in ("", "openai,openai", "dall-e"):
        with pytest.raises(ConfigError, match="GENMEDIA_IMAGE_BACKEND"):
            parse_chain("GENMEDIA_IMAGE_BACKEND", bad, known)
    assert ProviderSettings().missing("openai", "image").startswith("GENMEDIA_OPENAI_API_KEY")
    assert "sk-secret" not in repr(ProviderSettings(openai_api_key="sk-secret"))


def test_a_queued_step_counts_the_requests_ahead_of_it() -> None:
    assert eta.queued(10.0, 1) == 20.0 and eta.queued(10.0, 3) == 40.0
