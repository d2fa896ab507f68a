"""The procedural image backend: deterministic PNGs that look like a picture; progress and cancel."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genmedia.config import ConfigError
from genmedia.providers.settings import ProviderSettings
from genmedia.serving.workers import Cancelled
from services.image.backends import create_backends
from services.image.backends.procedural import ImageRequest
from services.image.backends.procedural import render as render_png

REQUEST = ImageRequest(
    prompt="a lighthouse on a cliff", negative_prompt="", style="", seed=7, width=96, height=64, index=0
)


def render(path: Path, request: ImageRequest = REQUEST) -> list[tuple[int, int, str]]:
    steps: list[tuple[int, int, str]] = []
    path.write_bytes(render_png(request, lambda *step: steps.append(step), threading.Event()))
    return steps


def test_same_inputs_give_identical_bytes(tmp_path: Path) -> None:
    render(tmp_path / "a.png")
    render(tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


@pytest.mark.parametrize(
    "change",
    [{"seed": 8}, {"prompt": "a forest at night"}, {"style": "noir"}, {"index": 1}],
    ids=["seed", "prompt", "style", "index"],
)
def test_each_input_changes_the_picture(tmp_path: Path, change: dict) -> None:
    render(tmp_path / "a.png")
    render(tmp_path / "b.png", replace(REQUEST, **change))
    with Image.open(tmp_path / "a.png") as a_png, Image.open(tmp_path / "b.png") as b_png:
        a, b = np.asarray(a_png, dtype=float), np.asarray(b_png, dtype=float)
    assert np.abs(a - b).mean() > 2.0


def test_png_has_the_requested_size_and_is_a_picture_not_noise(tmp_path: Path) -> None:
    render(tmp_path / "a.png", replace(REQUEST, width=160, height=96))
    with Image.open(tmp_path / "a.png") as image:
        assert image.format == "PNG" and image.mode == "RGB" and image.size == (160, 96)
        pixels = np.asarray(image, dtype=float)
    assert pixels.std() > 15, "not a flat colour"
    # Neighbouring pixels are alike (smooth regions), unlike white noise.
    assert np.abs(np.diff(pixels, axis=1)).mean() < 8
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200


def test_reports_at_least_five_increasing_steps(tmp_path: Path) -> None:
    steps = render(tmp_path / "a.png")
    assert len(steps) >= 5
    assert [done for done, _, _ in steps] == list(range(1, len(steps) + 1))
    assert all(total == len(steps) for _, total, _ in steps)
    assert steps[0][2] == "rendering rows 0-7"


def test_cancel_stops_at_the_next_block_and_writes_nothing(tmp_path: Path) -> None:
    cancel = threading.Event()
    steps: list[tuple] = []

    def on_progress(*step) -> None:
        steps.append(step)
        if len(steps) == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        render_png(REQUEST, on_progress, cancel)
    assert len(steps) == 2


def test_cancel_interrupts_the_step_delay(tmp_path: Path) -> None:
    cancel = threading.Event()
    timer = threading.Timer(0.05, cancel.set)
    timer.start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        render_png(REQUEST, lambda *_: None, cancel, step_delay=60)
    assert time.monotonic() - started < 5


def test_unknown_backend_fails_at_start_up() -> None:
    with pytest.raises(ConfigError, match="GENMEDIA_IMAGE_BACKEND"):
        create_backends("dall-e", ProviderSettings(), step_delay=0, max_concurrency=1)
