"""The built-in video placeholder: a Ken Burns move (eased zoom or pan) over the job's still, H.264 via PyAV.
It ignores the prompt (set GENMEDIA_VIDEO_BACKEND to a real provider for generated motion)."""

from __future__ import annotations

import contextlib
import io
import math
import threading
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, UnidentifiedImageError

from genmedia.providers.backend import Output, Progress, Report, Request
from genmedia.serving.workers import Cancelled, in_thread
from services.video.backends import Motion, OnFrame, UnreadableImage, VideoRequest
from services.video.backends.frames import Planes, ahead

PROGRESS_STEPS = 40  # progress messages over the frames (about every 2.5%)
# Fragmented MP4 (moov first, then fragments): playable while it downloads, like +faststart, and written in
# one pass as it is encoded (faststart needs a second pass over the whole file).
MOVFLAGS = "+frag_keyframe+empty_moov+default_base_moof"

ZOOM = 0.2  # a zoom shows 80% of the widest window at its closest
PAN_ZOOM = 0.15  # a pan looks through a window 15% smaller than the widest, so it has room to move

Box = tuple[float, float, float, float]


def ease(t: float) -> float:
    """Cosine ease-in-out: starts and stops gently, 0 -> 0, 1 -> 1."""
    return 0.5 - 0.5 * math.cos(math.pi * min(1.0, max(0.0, t)))


def crop_window(src: tuple[int, int], out: tuple[int, int], motion: Motion, t: float) -> Box:
    """The source box (left, top, right, bottom) shown at time t in [0, 1]; it has the output's aspect."""
    src_w, src_h = src
    aspect = out[0] / out[1]
    base_w, base_h = (src_h * aspect, src_h) if src_w / src_h > aspect else (src_w, src_w / aspect)
    e = ease(t)
    if motion in (Motion.ZOOM_IN, Motion.ZOOM_OUT):
        scale = 1.0 - ZOOM * (e if motion is Motion.ZOOM_IN else 1.0 - e)
        w, h = base_w * scale, base_h * scale
        left = (src_w - w) / 2
    else:
        w, h = base_w * (1.0 - PAN_ZOOM), base_h * (1.0 - PAN_ZOOM)
        # Panning left turns the camera left: the window travels from the right edge to the left one.
        left = (src_w - w) * (e if motion is Motion.PAN_RIGHT else 1.0 - e)
    top = (src_h - h) / 2
    return (left, top, left + w, top + h)


def widest_window(src: tuple[int, int], out: tuple[int, int], motion: Motion) -> tuple[float, float]:
    """The size of the move's largest window (at its start or its end)."""
    return max((box[2] - box[0], box[3] - box[1]) for box in (crop_window(src, out, motion, t) for t in (0.0, 1.0)))


def load_image(data: bytes) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise UnreadableImage(f"cannot decode the image: {exc}") from exc


class KenBurnsBackend:
    """The `kenburns` placeholder: renders frame by frame in a worker thread, so that progress and cancellation
    act between frames."""

    name = "kenburns"
    model = "ken-burns"
    placeholder = True

    def __init__(self, frame_delay: float = 0.0, crf: int = 20, preset: str = "veryfast",
                 max_concurrency: int = 1) -> None:
        self.frame_delay = frame_delay
        self.crf = crf
        self.preset = preset
        self.max_concurrency = max_concurrency

    async def generate(self, request: Request, report: Report) -> list[Output]:
        video = VideoRequest(image=request.image, width=request.width, height=request.height, fps=request.fps,
                             frame_count=round(request.duration_seconds * request.fps), motion=Motion(request.motion))
        n = video.frame_count
        every = max(1, n // PROGRESS_STEPS)
        dest = request.scratch(".mp4")  # the MP4 goes to disk as it is encoded, never whole in memory

        def work(emit, cancel: threading.Event) -> None:
            def on_frame(done: int, total: int) -> None:
                if done % every == 0 or done == total:
                    emit(Progress(99.0 * done / total, f"encoded {done}/{total} frames"))

            self.render(video, dest, on_frame, cancel)

        report(Progress(0.0, f"rendering {n} frames of {video.width}x{video.height} at {video.fps} fps"))
        try:
            await in_thread(work, report)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        return [Output(content_type="video/mp4", path=dest)]

    async def aclose(self) -> None:
        return None

    def render(self, request: VideoRequest, dest: Path, on_frame: OnFrame, cancel: threading.Event) -> None:
        """Writes the MP4 to `dest`; raises Cancelled once cancel is set, UnreadableImage for an image it cannot
        decode (what it wrote so far is the caller's to remove)."""
        image = load_image(request.image)
        size = (request.width, request.height)
        n = request.frame_count
        planes = Planes(image, widest_window(image.size, size, request.motion), size)

        def make(i: int) -> av.VideoFrame:
            return planes.frame(crop_window(image.size, size, request.motion, i / max(1, n - 1)), size)

        with av.open(str(dest), mode="w", format="mp4", options={"movflags": MOVFLAGS}) as container:
            stream = container.add_stream("libx264", rate=request.fps)
            stream.width, stream.height, stream.pix_fmt = request.width, request.height, "yuv420p"
            # x264's macroblock tree gives different bytes from run to run on short, tiny clips (seen at
            # 96x64 with 12 frames); without it a retried render is byte-identical, which retries rely on.
            stream.options = {"crf": str(self.crf), "preset": self.preset, "x264-params": "mbtree=0"}
            with contextlib.closing(ahead(make, n)) as frames:
                for i, frame in enumerate(frames):
                    if cancel.is_set():
                        raise Cancelled
                    frame.pts, frame.time_base = i, Fraction(1, request.fps)
                    container.mux(stream.encode(frame))
                    on_frame(i + 1, n)
                    if self.frame_delay and cancel.wait(self.frame_delay):
                        raise Cancelled
            container.mux(stream.encode(None))
