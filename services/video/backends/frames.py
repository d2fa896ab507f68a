"""The Ken Burns frames: the still converted to YUV 4:2:0 once, then for each frame its window cropped from
the planes and scaled to the output by libswscale, a frame or more ahead of the encoder in a thread of its own.
docs/speed.md explains the choices (precision of the window, filter, read-ahead)."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np
from PIL import Image

Box = tuple[float, float, float, float]
INTERPOLATION = "BILINEAR"  # output within 0.3 dB of bicubic's for a 1-1.25x upscale, and cheaper
MAX_SOURCE = 2.0  # a window wider than twice the output is scaled down once, not in every frame
AHEAD = 4  # frames made ahead of the encoder


class Planes:
    """The still as three 8-bit planes (Y full size, U and V half size), which every frame crops from."""

    def __init__(self, image: Image.Image, window: tuple[float, float], out: tuple[int, int]) -> None:
        # A source far larger than the output: scaled once, so each frame's scaling reads fewer pixels.
        factor = min(1.0, MAX_SOURCE * out[0] / window[0], MAX_SOURCE * out[1] / window[1])
        width, height = max(2, round(image.width * factor)), max(2, round(image.height * factor))
        frame = av.VideoFrame.from_image(image).reformat(width, height, "yuv420p", interpolation="AREA")
        self.scale = (width / image.width, height / image.height)
        self.y, self.u, self.v = (plane_array(plane) for plane in frame.planes)

    def frame(self, box: Box, out: tuple[int, int]) -> av.VideoFrame:
        """The output frame showing `box` (source pixels): the window rounded to whole luma pixels (chroma to
        whole chroma pixels), cropped and scaled in one libswscale pass."""
        sx, sy = self.scale
        left, top, right, bottom = box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy
        height, width = self.y.shape
        # Chroma sized crop, so the luma crop is twice it: a yuv420p frame of even size.
        cw = max(1, min(round((right - left) / 2), width // 2))
        ch = max(1, min(round((bottom - top) / 2), height // 2))
        ly, ty = clamp(left, width - 2 * cw), clamp(top, height - 2 * ch)
        lc, tc = clamp(left / 2, self.u.shape[1] - cw), clamp(top / 2, self.u.shape[0] - ch)
        crop = av.VideoFrame(2 * cw, 2 * ch, "yuv420p")
        for plane, source, (x, y, w, h) in zip(crop.planes, (self.y, self.u, self.v),
                                              ((ly, ty, 2 * cw, 2 * ch), (lc, tc, cw, ch), (lc, tc, cw, ch)),
                                              strict=True):
            plane_array(plane)[:, :] = source[y:y + h, x:x + w]
        return crop.reformat(out[0], out[1], interpolation=INTERPOLATION, threads=1)


def clamp(value: float, upper: int) -> int:
    return max(0, min(round(value), upper))


def plane_array(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """A writable view of a plane's pixels (without its row padding)."""
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, :plane.width]


def ahead(make: Callable[[int], av.VideoFrame], count: int) -> Iterator[av.VideoFrame]:
    """make(0) .. make(count - 1) in order, made in another thread AHEAD frames before they are wanted:
    libswscale and x264 both release the GIL, so scaling overlaps encoding. Closing the iterator (a cancel)
    drops what is queued and waits for the frame in progress."""
    pending: collections.deque = collections.deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kenburns-frames") as pool:
        try:
            for i in range(count):
                pending.append(pool.submit(make, i))
                if len(pending) > AHEAD:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
