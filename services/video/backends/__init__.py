"""Video backends: the Ken Burns placeholder's request, and the one place every video backend is registered."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from genmedia.providers.registry import Factory, build_backends
from genmedia.providers.runner import Backends
from genmedia.providers.settings import ProviderSettings

# (frames encoded, frames in all) — called from the worker thread after every frame.
OnFrame = Callable[[int, int], None]
SETTING = "GENMEDIA_VIDEO_BACKEND"


class Motion(enum.Enum):
    ZOOM_IN = "zoom_in"
    ZOOM_OUT = "zoom_out"
    PAN_LEFT = "pan_left"
    PAN_RIGHT = "pan_right"


class UnreadableImage(ValueError):
    """The source image exists but cannot be decoded."""


@dataclass(frozen=True)
class VideoRequest:
    """One video to render from one still image (its encoded bytes)."""

    image: bytes
    width: int
    height: int
    fps: int
    frame_count: int
    motion: Motion


def factories() -> dict[str, Factory]:
    from services.video.backends.comfyui import ComfyVideo
    from services.video.backends.openai import OpenAIVideo
    from services.video.backends.replicate import ReplicateVideo

    return {"openai": OpenAIVideo, "replicate": ReplicateVideo, "comfyui": ComfyVideo}


def create_backends(value: str, providers: ProviderSettings, frame_delay: float, crf: int, preset: str,
                    max_concurrency: int) -> Backends:
    """Every configured video backend, in GENMEDIA_VIDEO_BACKEND's fallback order."""
    from services.video.backends.kenburns import KenBurnsBackend

    placeholder = KenBurnsBackend(frame_delay=frame_delay, crf=crf, preset=preset, max_concurrency=max_concurrency)
    return build_backends("video", SETTING, value, [placeholder], factories(), providers)
