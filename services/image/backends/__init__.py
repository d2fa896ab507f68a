"""Image backends: the interface every generator implements and the factory the settings pick from."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from genmedia.config import ConfigError

# (steps done, steps in all, what was just done) — called from the worker thread.
OnProgress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ImageRequest:
    """One image to make: the normalized spec plus which of the call's images it is."""

    prompt: str
    negative_prompt: str
    style: str
    seed: int
    width: int
    height: int
    index: int


class ImageBackend(Protocol):
    name: str

    def render(
        self, request: ImageRequest, out: Path, on_progress: OnProgress, cancel: threading.Event
    ) -> None:
        """Writes one PNG to `out`, reporting at least 5 steps; raises Cancelled once cancel is set."""


BACKENDS = ("procedural",)


def create_backend(name: str, step_delay: float) -> ImageBackend:
    """The backend called `name` (GENMEDIA_IMAGE_BACKEND); unknown names fail at start-up."""
    if name == "procedural":
        from services.image.backends.procedural import ProceduralBackend

        return ProceduralBackend(step_delay=step_delay)
    raise ConfigError(f"GENMEDIA_IMAGE_BACKEND={name!r} is not one of {', '.join(BACKENDS)}")
