"""The Ken Burns video backend: eased crop windows, and real H.264 MP4s checked by decoding them with PyAV."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import numpy as np
import pytest

from genmedia.serving.workers import Cancelled
from services.image.backends.procedural import ImageRequest
from services.image.backends.procedural import render as render_png
from services.video.backends import Motion, UnreadableImage, VideoRequest
from services.video.backends.kenburns import KenBurnsBackend, crop_window, ease


@pytest.fixture(scope="module")
def still() -> bytes:
    request = ImageRequest("a harbour at dawn", "", "", 3, 192, 128, 0)
    return render_png(request, lambda *_: None, threading.Event())


def render(still: bytes, out: Path, motion: Motion = Motion.ZOOM_IN, fps: int = 12, frames: int = 12) -> list:
    progress: list[tuple[int, int]] = []
    request = VideoRequest(image=still, width=96, height=64, fps=fps, frame_count=frames, motion=motion)
    KenBurnsBackend().render(request, out, lambda *p: progress.append(p), threading.Event())
    return progress


def test_ease_starts_and_stops_gently() -> None:
    assert ease(0) == 0 and ease(1) == pytest.approx(1) and ease(0.5) == pytest.approx(0.5)
    assert ease(0.05) < 0.05 and ease(0.95) > 0.95


@pytest.mark.parametrize("motion", list(Motion))
def test_windows_keep_the_output_aspect_and_stay_inside_the_image(motion: Motion) -> None:
    for t in np.linspace(0, 1, 11):
        left, top, right, bottom = crop_window((400, 300), (160, 90), motion, t)
        assert -1e-9 <= left < right <= 400 + 1e-9 and -1e-9 <= top < bottom <= 300 + 1e-9
        assert (right - left) / (bottom - top) == pytest.approx(160 / 90)


def test_zoom_in_narrows_and_pans_travel_in_their_direction() -> None:
    def width(m: Motion, t: float) -> float:
        box = crop_window((400, 300), (160, 90), m, t)
        return box[2] - box[0]

    assert width(Motion.ZOOM_IN, 0) > width(Motion.ZOOM_IN, 0.5) > width(Motion.ZOOM_IN, 1)
    assert width(Motion.ZOOM_OUT, 0) < width(Motion.ZOOM_OUT, 1)
    left = [crop_window((400, 300), (160, 90), Motion.PAN_LEFT, t)[0] for t in (0, 0.5, 1)]
    right = [crop_window((400, 300), (160, 90), Motion.PAN_RIGHT, t)[0] for t in (0, 0.5, 1)]
    assert left == sorted(left, reverse=True) and right == sorted(right) and left[0] > left[-1]


def test_mp4_is_h264_yuv420p_with_the_requested_size_frames_and_duration(still: bytes, tmp_path: Path) -> None:
    progress = render(still, tmp_path / "v.mp4", fps=24, frames=36)
    assert progress == [(i, 36) for i in range(1, 37)]
    with av.open(str(tmp_path / "v.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (96, 64)
        assert stream.average_rate == 24
        assert float(stream.duration * stream.time_base) == pytest.approx(1.5, abs=1 / 24)
        frames = [frame.to_ndarray(format="rgb24").astype(float) for frame in container.decode(video=0)]
    assert abs(len(frames) - 36) <= 1
    assert np.abs(frames[0] - frames[-1]).mean() > 3, "the camera moves"


@pytest.mark.parametrize("motion", [Motion.ZOOM_IN, Motion.ZOOM_OUT])
def test_same_inputs_give_identical_bytes(still: bytes, tmp_path: Path, motion: Motion) -> None:
    # Short tiny zooms are where x264's defaults were not reproducible, so render them a few times.
    outputs = set()
    for attempt in range(5):
        render(still, tmp_path / f"{attempt}.mp4", motion)
        outputs.add((tmp_path / f"{attempt}.mp4").read_bytes())
    assert len(outputs) == 1
    render(still, tmp_path / "pan.mp4", Motion.PAN_RIGHT)
    assert (tmp_path / "pan.mp4").read_bytes() not in outputs


def test_cancel_stops_at_the_next_frame(still: bytes, tmp_path: Path) -> None:
    cancel = threading.Event()
    seen: list[int] = []

    def on_frame(done: int, total: int) -> None:
        seen.append(done)
        if done == 3:
            cancel.set()

    request = VideoRequest(still, 96, 64, 12, 24, Motion.ZOOM_IN)
    with pytest.raises(Cancelled):
        KenBurnsBackend().render(request, tmp_path / "cancelled.mp4", on_frame, cancel)
    assert seen == [1, 2, 3]
    assert not [t for t in threading.enumerate() if t.name.startswith("kenburns-frames")], "read-ahead stopped"


@pytest.mark.parametrize(("source", "motion"), [((1000, 300), Motion.PAN_LEFT), ((191, 127), Motion.ZOOM_OUT),
                                                 ((97, 301), Motion.ZOOM_IN)], ids=["large-wide", "odd", "tall"])
def test_any_source_size_gives_the_requested_frames(tmp_path: Path, source: tuple[int, int], motion: Motion) -> None:
    request = ImageRequest("a harbour at dawn", "", "", 3, *source, 0)
    still = render_png(request, lambda *_: None, threading.Event())
    render(still, tmp_path / "v.mp4", motion, frames=10)
    with av.open(str(tmp_path / "v.mp4")) as container:
        frames = [frame.to_ndarray(format="rgb24").astype(float) for frame in container.decode(video=0)]
    assert len(frames) == 10 and frames[0].shape == (64, 96, 3)
    assert np.abs(frames[0] - frames[-1]).mean() > 1, "the camera moves"


def test_an_undecodable_image_is_reported_as_such(tmp_path: Path) -> None:
    request = VideoRequest(b"\x89PNG\r\n\x1a\n" + b"\0" * 40, 96, 64, 12, 12, Motion.ZOOM_IN)
    with pytest.raises(UnreadableImage):
        KenBurnsBackend().render(request, tmp_path / "bad.mp4", lambda *_: None, threading.Event())
