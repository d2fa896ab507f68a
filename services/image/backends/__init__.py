"""The one place every image backend is registered (the async interface is genmedia.providers.backend)."""

from __future__ import annotations

from genmedia.providers.registry import Factory, build_backends
from genmedia.providers.runner import Backends
from genmedia.providers.settings import ProviderSettings

SETTING = "GENMEDIA_IMAGE_BACKEND"


def factories() -> dict[str, Factory]:
    from services.image.backends.comfyui import ComfyImages
    from services.image.backends.openai import OpenAIImages
    from services.image.backends.replicate import ReplicateImages

    return {"openai": OpenAIImages, "replicate": ReplicateImages, "comfyui": ComfyImages}


def create_backends(value: str, providers: ProviderSettings, step_delay: float, max_concurrency: int) -> Backends:
    """Every configured image backend, in GENMEDIA_IMAGE_BACKEND's fallback order."""
    from services.image.backends.procedural import ProceduralBackend

    placeholder = ProceduralBackend(step_delay=step_delay, max_concurrency=max_concurrency)
    return build_backends("image", SETTING, value, [placeholder], factories(), providers)
