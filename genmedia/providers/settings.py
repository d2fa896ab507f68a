"""Provider settings from GENMEDIA_* variables (their names are a contract; README "Generators").

A backend named in GENMEDIA_IMAGE_BACKEND / GENMEDIA_VIDEO_BACKEND whose credential or URL is missing stops the
service at start-up naming the variable. Keys are read from NAME or the file NAME_FILE and are never logged."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genmedia.config import ConfigError, Section, Var, env_float, env_int, env_str, secret
from genmedia.providers.http import Timeouts
from genmedia.providers.workflows import check_workflow

PROVIDERS = ("openai", "replicate", "comfyui")


@dataclass(frozen=True)
class ProviderSettings:
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: str = field(default="", repr=False)
    openai_image_model: str = "gpt-image-1"
    openai_video_model: str = "sora-2"
    replicate_base_url: str = "https://api.replicate.com/v1"
    replicate_api_token: str = field(default="", repr=False)
    replicate_image_model: str = "black-forest-labs/flux-schnell"
    replicate_video_model: str = "bytedance/seedance-1-lite"
    # Prefer: wait=N seconds on create (1-60). 0 (the default) polls from the start: a prediction has an id to
    # cancel from its first moment, which a cancel during a sync wait would not have.
    replicate_wait: int = 0
    comfyui_url: str = ""
    comfyui_image_workflow: str = ""
    comfyui_video_workflow: str = ""
    concurrency: dict[str, int] = field(default_factory=lambda: {"openai": 8, "replicate": 8, "comfyui": 2})
    timeouts: Timeouts = Timeouts()
    poll_interval: float = 1.0  # seconds between two status polls (OpenAI videos, Replicate)
    max_output_bytes: int = 256 * 1024 * 1024
    cancel_timeout: float = 1.5  # the provider's cancel call may take this long (cancel must land within 2 s)

    @classmethod
    def from_env(cls) -> ProviderSettings:
        return cls(
            openai_base_url=env_str("GENMEDIA_OPENAI_BASE_URL", "https://api.openai.com/v1"),
            openai_api_key=secret("GENMEDIA_OPENAI_API_KEY"),
            openai_image_model=env_str("GENMEDIA_OPENAI_IMAGE_MODEL", "gpt-image-1"),
            openai_video_model=env_str("GENMEDIA_OPENAI_VIDEO_MODEL", "sora-2"),
            replicate_base_url=env_str("GENMEDIA_REPLICATE_BASE_URL", "https://api.replicate.com/v1"),
            replicate_api_token=secret("GENMEDIA_REPLICATE_API_TOKEN"),
            replicate_image_model=env_str("GENMEDIA_REPLICATE_IMAGE_MODEL", "black-forest-labs/flux-schnell"),
            replicate_video_model=env_str("GENMEDIA_REPLICATE_VIDEO_MODEL", "bytedance/seedance-1-lite"),
            replicate_wait=env_int("GENMEDIA_REPLICATE_WAIT_SECONDS", 0, 0, 60),
            comfyui_url=env_str("GENMEDIA_COMFYUI_URL", ""),
            comfyui_image_workflow=env_str("GENMEDIA_COMFYUI_IMAGE_WORKFLOW", ""),
            comfyui_video_workflow=env_str("GENMEDIA_COMFYUI_VIDEO_WORKFLOW", ""),
            concurrency={p: env_int(f"GENMEDIA_{p.upper()}_MAX_CONCURRENCY", d, 1, 1000)
                         for p, d in (("openai", 8), ("replicate", 8), ("comfyui", 2))},
            timeouts=Timeouts(connect=env_float("GENMEDIA_PROVIDER_CONNECT_TIMEOUT_SECONDS", 10.0, lo=0.01),
                              read=env_float("GENMEDIA_PROVIDER_TIMEOUT_SECONDS", 60.0, lo=0.01)),
            poll_interval=env_float("GENMEDIA_PROVIDER_POLL_SECONDS", 1.0, lo=0.01),
            max_output_bytes=env_int("GENMEDIA_PROVIDER_MAX_OUTPUT_BYTES", 256 * 1024 * 1024, 1024),
        )

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.openai_api_key, self.replicate_api_token) if s)

    def missing(self, provider: str, kind: str) -> str:
        """The variable a backend still needs ('' when it has everything), e.g. GENMEDIA_OPENAI_API_KEY."""
        if provider == "openai" and not self.openai_api_key:
            return "GENMEDIA_OPENAI_API_KEY (or GENMEDIA_OPENAI_API_KEY_FILE)"
        if provider == "replicate" and not self.replicate_api_token:
            return "GENMEDIA_REPLICATE_API_TOKEN (or GENMEDIA_REPLICATE_API_TOKEN_FILE)"
        if provider == "comfyui":
            if not self.comfyui_url:
                return "GENMEDIA_COMFYUI_URL"
            if not getattr(self, f"comfyui_{kind}_workflow"):
                return f"GENMEDIA_COMFYUI_{kind.upper()}_WORKFLOW"
        return ""


def parse_chain(setting: str, value: str, known: tuple[str, ...]) -> list[str]:
    """A backend name or a comma list of them (fallback order), each known and named once."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"{setting} is empty: name a backend ({', '.join(known)}) or a comma list of them")
    for name in names:
        if name not in known:
            raise ConfigError(f"{setting}={value!r}: {name!r} is not one of {', '.join(known)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"{setting}={value!r} names a backend twice")
    return names


def load_workflow(setting: str, path: str) -> dict[str, Any]:
    """A ComfyUI workflow in API format (File > Export (API)): {node id: {class_type, inputs, _meta}}."""
    try:
        workflow = json.loads(Path(path).read_text())
    except OSError as err:
        raise ConfigError(f"{setting}: cannot read {path}: {err.strerror}") from None
    except ValueError as err:
        raise ConfigError(f"{setting}: {path} is not JSON: {err}") from None
    if not isinstance(workflow, dict) or not all(isinstance(n, dict) and "class_type" in n for n in workflow.values()):
        raise ConfigError(f"{setting}: {path} is not a workflow in ComfyUI's API format "
                          "(export it with File > Export (API))")
    return workflow


def check_chain(setting: str, value: str, known: tuple[str, ...], providers: ProviderSettings, kind: str) -> list[str]:
    """The service's backend list, checked at start-up: every backend it names has what it needs."""
    chain = parse_chain(setting, value, known)
    for name in chain:
        if name in PROVIDERS and (missing := providers.missing(name, kind)):
            raise ConfigError(f"{setting} names {name}, which needs {missing}")
        if name == "comfyui":
            setting = f"GENMEDIA_COMFYUI_{kind.upper()}_WORKFLOW"
            check_workflow(setting, load_workflow(setting, getattr(providers, f"comfyui_{kind}_workflow")))
    return chain


ENV = Section("Generators (docs/providers.md)", (
    Var("GENMEDIA_OPENAI_BASE_URL", "https://api.openai.com/v1", "OpenAI's API, or any OpenAI-compatible server"),
    Var("GENMEDIA_OPENAI_API_KEY", "unset", "OpenAI's API key; needed by the `openai` backends"),
    Var("GENMEDIA_OPENAI_API_KEY_FILE", "unset", "a file holding GENMEDIA_OPENAI_API_KEY (wins over it)"),
    Var("GENMEDIA_OPENAI_IMAGE_MODEL", "gpt-image-1", "the OpenAI image model"),
    Var("GENMEDIA_OPENAI_VIDEO_MODEL", "sora-2", "the OpenAI video model"),
    Var("GENMEDIA_REPLICATE_BASE_URL", "https://api.replicate.com/v1", "Replicate's API"),
    Var("GENMEDIA_REPLICATE_API_TOKEN", "unset", "Replicate's API token; needed by the `replicate` backends"),
    Var("GENMEDIA_REPLICATE_API_TOKEN_FILE", "unset", "a file holding GENMEDIA_REPLICATE_API_TOKEN (wins over it)"),
    Var("GENMEDIA_REPLICATE_IMAGE_MODEL", "black-forest-labs/flux-schnell", "the Replicate image model"),
    Var("GENMEDIA_REPLICATE_VIDEO_MODEL", "bytedance/seedance-1-lite", "the Replicate video model"),
    Var("GENMEDIA_REPLICATE_WAIT_SECONDS", "0", "`Prefer: wait=N` on create (1-60); 0 polls from the start"),
    Var("GENMEDIA_COMFYUI_URL", "unset", "a ComfyUI server; needed by the `comfyui` backends"),
    Var("GENMEDIA_COMFYUI_IMAGE_WORKFLOW", "unset", "the image workflow file (ComfyUI's API format)"),
    Var("GENMEDIA_COMFYUI_VIDEO_WORKFLOW", "unset", "the video workflow file (ComfyUI's API format)"),
    Var("GENMEDIA_<PROVIDER>_MAX_CONCURRENCY", "OPENAI 8, REPLICATE 8, COMFYUI 2",
        "calls to one provider at once, per service process"),
    Var("GENMEDIA_PROVIDER_CONNECT_TIMEOUT_SECONDS", "10", "connecting to a provider"),
    Var("GENMEDIA_PROVIDER_TIMEOUT_SECONDS", "60", "one read from a provider"),
    Var("GENMEDIA_PROVIDER_POLL_SECONDS", "1", "between two status polls (OpenAI videos, Replicate)"),
    Var("GENMEDIA_PROVIDER_MAX_OUTPUT_BYTES", "268435456", "the largest output a provider may send"),
))
