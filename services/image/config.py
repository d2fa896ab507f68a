"""Image service settings from GENMEDIA_* environment variables (see the README's service table)."""

from __future__ import annotations

from dataclasses import dataclass, field

from genmedia.assetstore import StoreSettings
from genmedia.config import Section, Var, env_float, env_int, env_str
from genmedia.providers.settings import PROVIDERS, ProviderSettings, check_chain
from genmedia.serving.settings import ServingSettings

PLACEHOLDERS = ("procedural",)


@dataclass(frozen=True)
class Settings:
    serving: ServingSettings
    assets: StoreSettings  # the asset store (GENMEDIA_ASSET_URL and its knobs)
    backend: str  # GENMEDIA_IMAGE_BACKEND: a backend or a comma list in fallback order (procedural)
    max_concurrency: int  # the procedural placeholder's calls at once; one more gets RESOURCE_EXHAUSTED
    step_delay: float  # seconds of pause per rendered row block, so progress is visible
    providers: ProviderSettings = field(default_factory=ProviderSettings)

    @classmethod
    def from_env(cls) -> Settings:
        backend = env_str("GENMEDIA_IMAGE_BACKEND", "procedural")
        providers = ProviderSettings.from_env()
        check_chain("GENMEDIA_IMAGE_BACKEND", backend, (*PLACEHOLDERS, *PROVIDERS), providers, "image")
        return cls(
            serving=ServingSettings.from_env("image"),
            assets=StoreSettings.from_env(),
            backend=backend,
            max_concurrency=env_int("GENMEDIA_IMAGE_MAX_CONCURRENCY", 2, 1, 1000),
            step_delay=env_float("GENMEDIA_IMAGE_STEP_DELAY_SECONDS", 0.15, lo=0.0),
            providers=providers,
        )


ENV = Section("Image service", (
    Var("GENMEDIA_IMAGE_BACKEND", "procedural",
        "a backend (`procedural`, `openai`, `replicate`, `comfyui`) or a comma list in fallback order"),
    Var("GENMEDIA_IMAGE_MAX_CONCURRENCY", "2", "requests the placeholder backend runs at once (1-1000)"),
    Var("GENMEDIA_IMAGE_STEP_DELAY_SECONDS", "0.15", "the placeholder's pause per progress step (a visible demo)"),
))
