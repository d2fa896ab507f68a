"""Video service settings from GENMEDIA_* environment variables (see the README's service table)."""

from __future__ import annotations

from dataclasses import dataclass, field

from genmedia.assetstore import StoreSettings
from genmedia.config import ConfigError, Section, Var, env_float, env_int, env_str
from genmedia.providers.settings import PROVIDERS, ProviderSettings, check_chain
from genmedia.serving.settings import ServingSettings

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
PLACEHOLDERS = ("kenburns",)


@dataclass(frozen=True)
class Settings:
    serving: ServingSettings
    assets: StoreSettings  # the asset store (GENMEDIA_ASSET_URL and its knobs)
    backend: str  # GENMEDIA_VIDEO_BACKEND: a backend or a comma list in fallback order (kenburns)
    max_concurrency: int  # the kenburns placeholder's calls at once; one more gets RESOURCE_EXHAUSTED
    frame_delay: float  # seconds of pause per encoded frame (0; raise it for demos)
    crf: int  # x264 constant rate factor: lower is better quality and bigger files
    preset: str  # x264 speed preset
    providers: ProviderSettings = field(default_factory=ProviderSettings)

    @classmethod
    def from_env(cls) -> Settings:
        backend = env_str("GENMEDIA_VIDEO_BACKEND", "kenburns")
        providers = ProviderSettings.from_env()
        check_chain("GENMEDIA_VIDEO_BACKEND", backend, (*PLACEHOLDERS, *PROVIDERS), providers, "video")
        preset = env_str("GENMEDIA_VIDEO_X264_PRESET", "veryfast")
        if preset not in PRESETS:
            raise ConfigError(f"GENMEDIA_VIDEO_X264_PRESET={preset!r} is not one of {', '.join(PRESETS)}")
        return cls(
            serving=ServingSettings.from_env("video"),
            assets=StoreSettings.from_env(),
            backend=backend,
            max_concurrency=env_int("GENMEDIA_VIDEO_MAX_CONCURRENCY", 1, 1, 1000),
            frame_delay=env_float("GENMEDIA_VIDEO_FRAME_DELAY_SECONDS", 0.0, lo=0.0),
            crf=env_int("GENMEDIA_VIDEO_CRF", 20, 0, 51),
            preset=preset,
            providers=providers,
        )


ENV = Section("Video service", (
    Var("GENMEDIA_VIDEO_BACKEND", "kenburns",
        "a backend (`kenburns`, `openai`, `replicate`, `comfyui`) or a comma list in fallback order"),
    Var("GENMEDIA_VIDEO_MAX_CONCURRENCY", "1", "renders the placeholder backend runs at once (1-1000)"),
    Var("GENMEDIA_VIDEO_FRAME_DELAY_SECONDS", "0", "the placeholder's pause per frame (a visible demo)"),
    Var("GENMEDIA_VIDEO_CRF", "20", "the placeholder's H.264 quality (0-51, lower is better)"),
    Var("GENMEDIA_VIDEO_X264_PRESET", "veryfast", "the placeholder's x264 preset (ultrafast … veryslow)"),
))
