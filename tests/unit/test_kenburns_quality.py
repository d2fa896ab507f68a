"""The Ken Burns renderer against FFmpeg's zoompan (the benchmark's baseline): the same kind of file (H.264,
yuv420p, the same frame count) and a picture at least as close to the ideal one (each frame's exact window
scaled from the still with Lanczos), within 0.5 dB PSNR. Its speed is measured by `make bench`, not here."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from benchmarks import zoompan
from services.image.backends.procedural import ImageRequest
from services.image.backends.procedural import render as render_png
from services.video.backends import Motion, VideoRequest
from services.video.backends.kenburns import KenBurnsBackend, crop_window

FPS, FRAMES = 30, 45


def decoded(path: Path) -> tuple[str, str, list[np.ndarray]]:
    with av.open(str(path)) as container:
        context = container.streams.video[0].codec_context
        frames = [frame.to_ndarray(format="rgb24").astype(np.float32) for frame in container.decode(video=0)]
        return context.name, context.pix_fmt, frames


def psnr(frames: list[np.ndarray], still: bytes, size: tuple[int, int]) -> float:
    """Over all frames, against each frame's exact window of the still scaled with Lanczos."""
    with Image.open(io.BytesIO(still)) as image:
        source = image.convert("RGB")
    errors = []
    for i, frame in enumerate(frames):
        box = crop_window(source.size, size, Motion.ZOOM_IN, i / (len(frames) - 1))
        ideal = np.asarray(source.resize(size, Image.Resampling.LANCZOS, box=box), np.float32)
        errors.append(((frame - ideal) ** 2).mean())
    return float(10 * np.log10(255**2 / np.mean(errors)))


@pytest.mark.parametrize("size", [(192, 192), (320, 180)], ids=["square", "16:9"])
def test_renders_like_zoompan_and_at_least_as_close_to_the_ideal(tmp_path: Path, size: tuple[int, int]) -> None:
    still = render_png(ImageRequest("a harbour at dawn", "", "", 3, *size, 0), lambda *_: None, threading.Event())
    assert zoompan.render(still, str(tmp_path / "zoompan.mp4"), *size, FPS, FRAMES) == FRAMES
    request = VideoRequest(still, *size, FPS, FRAMES, Motion.ZOOM_IN)
    KenBurnsBackend().render(request, tmp_path / "kenburns.mp4", lambda *_: None, threading.Event())
    base_codec, base_format, base = decoded(tmp_path / "zoompan.mp4")
    codec, pix_fmt, ours = decoded(tmp_path / "kenburns.mp4")
    assert (codec, pix_fmt, len(ours)) == (base_codec, base_format, len(base)) == ("h264", "yuv420p", FRAMES)
    assert ours[0].shape == (size[1], size[0], 3)
    assert psnr(ours, still, size) >= psnr(base, still, size) - 0.5
