"""Video backends: the interface every renderer implements and the factory the settings pick from."""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from genmedia.config import ConfigError

# (frames encoded, frames in all) — called from the worker thread after every frame.
OnFrame = Callable[[int, int], None]


class Motion(enum.Enum):
    ZOOM_IN = "zoom_in"
    ZOOM_OUT = "zoom_out"
    PAN_LEFT = "pan_left"
    PAN_RIGHT = "pan_right"


class UnreadableImage(ValueError):
    """The source image exists but cannot be decoded."""


@dataclass(frozen=True)
class VideoRequest:
    """One video to render from one still image."""

    image: Path
    width: int
    height: int
    fps: int
    frame_count: int
    motion: Motion


class VideoBackend(Protocol):
    name: str

    def render(self, request: VideoRequest, out: Path, on_frame: OnFrame, cancel: threading.Event) -> None:
        """Writes an MP4 to `out`; raises Cancelled once cancel is set, UnreadableImage for bad input."""


BACKENDS = ("kenburns",)


def create_backend(name: str, frame_delay: float, crf: int, preset: str) -> VideoBackend:
    """The backend called `name` (GENMEDIA_VIDEO_BACKEND)."""
    if name == "kenburns":
        from services.video.backends.kenburns import KenBurnsBackend

        return KenBurnsBackend(frame_delay=frame_delay, crf=crf, preset=preset)
    raise ConfigError(f"GENMEDIA_VIDEO_BACKEND={name!r} is not one of {', '.join(BACKENDS)}")
