"""The built-in image placeholder: a seeded procedural landscape (sky, sun or moon, clouds, mountain ridges)
with the prompt as a caption, so nobody takes it for a picture of the prompt. Real PNGs, deterministic for the
same prompt + seed + size; not prompt-faithful (set GENMEDIA_IMAGE_BACKEND to a real provider for that)."""

from __future__ import annotations

import colorsys
import hashlib
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from genmedia.providers.backend import Output, Progress, Report, Request
from genmedia.serving.workers import Cancelled, in_thread
from services.image.backends.png import PngWriter

BLOCKS = 8  # row blocks per image; with the PNG encoding that makes 9 progress steps
PNG_LEVEL = 1  # zlib level: a 1024x1024 placeholder in ~60 ms instead of ~500 ms at the default 6, ~20% larger
# (steps done, steps in all, what was just done), called from the rendering thread.
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

HUES = {"red": 0.0, "orange": 0.07, "gold": 0.12, "yellow": 0.15, "green": 0.33, "teal": 0.48, "cyan": 0.52,
        "blue": 0.6, "purple": 0.76, "violet": 0.74, "pink": 0.92, "magenta": 0.86}
NIGHT = {"night", "moon", "midnight", "starry", "stars", "dark"}
GREY = {"mono", "monochrome", "noir", "grayscale", "greyscale"}


@dataclass(frozen=True)
class Ridge:
    base: float  # height of the ridge line, 0 = top of the picture, 1 = bottom
    amps: np.ndarray
    freqs: np.ndarray
    phases: np.ndarray
    jag: np.ndarray  # 1-D value noise for a rugged outline
    color: np.ndarray
    depth: float  # 0 = farthest, 1 = nearest


@dataclass(frozen=True)
class Scene:
    night: bool
    grey: bool
    sky_top: np.ndarray
    horizon: np.ndarray
    sun: tuple[float, float, float]  # centre x, centre y, radius (in picture heights)
    sun_color: np.ndarray
    clouds: tuple[np.ndarray, np.ndarray]
    cloud_color: np.ndarray
    ridges: tuple[Ridge, ...]
    grain_seed: int


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v))


def build_scene(request: ImageRequest) -> Scene:
    """Everything random about a picture, drawn from sha256 of the inputs (the size only scales it)."""
    material = "\x1f".join(
        (request.prompt, request.negative_prompt, request.style, str(request.seed), str(request.index))
    )
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "big"))
    words = set(re.findall(r"[a-z]+", f"{request.prompt} {request.style}".lower()))
    named = [HUES[w] for w in sorted(words & HUES.keys())]
    hue = (named[0] if named else rng.random()) + rng.uniform(-0.03, 0.03)
    night = bool(words & NIGHT)
    if night:
        sky_top, horizon = _hsv(hue, 0.7, 0.07), _hsv(hue + 0.05, 0.55, 0.32)
        sun_color = np.array([0.96, 0.95, 0.86])
    else:
        sky_top, horizon = _hsv(hue, 0.55, 0.6), _hsv(hue + 0.1, 0.3, 0.98)
        sun_color = _hsv(0.08 + 0.06 * rng.random(), 0.45, 1.0)
    sun = (rng.uniform(0.15, 0.85), rng.uniform(0.12, 0.35), rng.uniform(0.04, 0.08))
    clouds = (rng.random((7, 4)), rng.random((13, 8)))
    layers = int(rng.integers(3, 6))
    ridges = []
    for k in range(layers):
        depth = k / (layers - 1)
        dark = _hsv(hue + 0.45 + 0.1 * rng.random(), 0.3 + 0.35 * depth, 0.7 - 0.6 * depth)
        ridges.append(
            Ridge(
                base=0.48 + 0.38 * depth + rng.uniform(-0.03, 0.03),
                amps=np.array([0.11, 0.04, 0.012]) * (1.0 - 0.45 * depth) * rng.uniform(0.7, 1.3, 3),
                freqs=np.array([rng.uniform(0.6, 1.8), rng.uniform(2.5, 5.5), rng.uniform(9, 16)]),
                phases=rng.uniform(0, 2 * np.pi, 3),
                jag=rng.random(97),
                color=dark * (0.25 + 0.75 * depth) + horizon * 0.75 * (1 - depth),
                depth=depth,
            )
        )
    return Scene(
        night=night,
        grey=bool(words & GREY),
        sky_top=sky_top,
        horizon=horizon,
        sun=sun,
        sun_color=sun_color,
        clouds=clouds,
        cloud_color=horizon * 0.6 + 0.4,
        ridges=tuple(ridges),
        grain_seed=int(rng.integers(0, 2**63)),
    )


def _smooth(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) * np.float32(1 / (e1 - e0)), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _cells(coords: np.ndarray, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Each coordinate's grid cell and its smoothed position in it."""
    x = coords * cells
    i = np.minimum(x.astype(int), cells - 1)
    return i, _smooth(0, 1, x - i)


def _value_noise(grid: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Smoothed bilinear value noise at columns u (1, W) by rows v (R, 1). Separable: the rows are
    interpolated on the small grid first, then each pixel mixes two of those columns."""
    (iy, fy), (ix, fx) = _cells(v, grid.shape[0] - 1), _cells(u.ravel(), grid.shape[1] - 1)
    rows = grid[iy[:, 0]].astype(np.float32) * (1 - fy) + grid[iy[:, 0] + 1].astype(np.float32) * fy  # (R, gw+1)
    return rows[:, ix] * (1 - fx) + rows[:, ix + 1] * fx


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    return a + (b - a) * t


def _rgb(color: np.ndarray) -> np.ndarray:
    """A colour as a (3, 1, 1) float32 column: images are shaded channel by channel, (3, rows, columns)."""
    return color.astype(np.float32)[:, None, None]


def shade(scene: Scene, xs: np.ndarray, ys: np.ndarray, grain: np.ndarray, width: int, height: int):
    """RGB bytes (R, W, 3) for the pixels at xs (1, W) by ys (R, 1), in picture-relative coordinates. Shaded
    in float32, channel-first (numpy's inner loops run along rows, not over 3 channels), and each layer only
    over the rows it reaches (docs/speed.md)."""
    xs, ys = xs.astype(np.float32), ys.astype(np.float32)
    horizon = _rgb(scene.horizon)
    horizon_y = min(r.base for r in scene.ridges)
    t = np.clip(ys / np.float32(horizon_y), 0, 1) ** np.float32(0.8)  # (R, 1): the sky varies by row only
    cloudiness = 0.65 * _value_noise(scene.clouds[0], xs, ys) + 0.35 * _value_noise(scene.clouds[1], xs, ys)
    img = _mix(_mix(_rgb(scene.sky_top), horizon, t), _rgb(scene.cloud_color),
               _smooth(0.5, 0.78, cloudiness) * (0.8 * (1 - t) ** 0.5))
    if scene.night:
        img = np.maximum(img, (grain > 3.2) * ((1 - t) * np.float32(0.9)))
    cx, cy, r = scene.sun
    dx, dy = (xs - np.float32(cx)) * np.float32(width / height), ys - np.float32(cy)
    # exp(-(dx² + dy²)) = exp(-dx²) exp(-dy²): each glow is an outer product of a row and a column.
    glow = sum(k * np.exp(-np.square(dy / np.float32(s * r))) * np.exp(-np.square(dx / np.float32(s * r)))
               for k, s in ((0.55, 3), (0.25, 10)))
    disk = np.flatnonzero(np.abs(dy.ravel()) < r)  # the disk's own rows: elsewhere its edge term is 0
    if disk.size:
        glow[disk] += _smooth(r, 0.9 * r, np.hypot(dx, dy[disk]))
    img += (_rgb(scene.sun_color) - img) * np.clip(glow, 0, 1)
    for ridge in scene.ridges:
        outline = sum(
            a * np.sin(2 * np.pi * f * xs + p)
            for a, f, p in zip(ridge.amps, ridge.freqs, ridge.phases, strict=True)
        )
        outline = outline + 0.012 * np.interp(xs, np.linspace(0, 1, ridge.jag.size), ridge.jag)
        top = (ridge.base - outline).astype(np.float32)
        # Rows above the ridge's highest point keep the sky: the cover below is 0 there.
        first = int(np.searchsorted(ys.ravel(), top.min() - 0.5 / height, side="right"))
        if first == ys.shape[0]:
            continue
        below = ys[first:] - top
        color = _mix(_rgb(ridge.color), horizon, 0.4 * (1 - ridge.depth) * _smooth(0.04, 0.3, below))
        color *= 1 - 0.3 * ridge.depth * _smooth(0.0, 0.4, below)
        # Its cover is 1 below the outline's anti-aliased edge, so there the ridge's colour is copied, and
        # only the edge's pixels are blended.
        cover = np.clip(below * height + 0.5, 0, 1)
        part = img[:, first:]
        np.copyto(part, color, where=cover == 1)
        rows, cols = np.nonzero((cover > 0) & (cover < 1))
        part[:, rows, cols] += (color[:, rows, cols] - part[:, rows, cols]) * cover[rows, cols]
    if scene.grey:
        img = (_rgb(np.array([0.299, 0.587, 0.114])) * img).sum(axis=0, keepdims=True).repeat(3, axis=0)
    img += grain * np.float32(0.012)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)


def caption_font_size(height: int) -> int:
    return max(8, height // 24)


def caption_height(height: int) -> int:
    """The rows at the bottom the caption's band covers."""
    size = caption_font_size(height)
    return size + size // 2


def caption(image: Image.Image, prompt: str, height: int) -> None:
    """Writes "placeholder: <prompt>" on a dark band along the bottom (cut to fit the width)."""
    size = caption_font_size(height)  # the picture's: `image` may be its bottom rows only
    font = ImageFont.load_default(size)
    draw = ImageDraw.Draw(image, "RGBA")
    text = f"placeholder: {' '.join(prompt.split())}"
    room = image.width - size
    if draw.textlength(text, font=font) > room:
        while len(text) > 14 and draw.textlength(text + "…", font=font) > room:
            text = text[:-1]
        text = text.rstrip() + "…"
    band = caption_height(height)
    draw.rectangle((0, image.height - band, image.width, image.height), fill=(0, 0, 0, 150))
    draw.text((size // 2, image.height - band + size // 4), text, font=font, fill=(255, 255, 255, 235))


def render(request: ImageRequest, on_progress: OnProgress, cancel: threading.Event, step_delay: float = 0.0) -> bytes:
    """The PNG of one image, rendered row block by row block (pausing `step_delay` after each so progress can
    be seen); raises Cancelled once cancel is set."""
    scene = build_scene(request)
    w, h = request.width, request.height
    grain = np.random.default_rng(scene.grain_seed).standard_normal((h, w), dtype=np.float32)
    pixels = np.empty((h, w, 3), np.uint8)
    xs = ((np.arange(w) + 0.5) / w)[None, :]
    bounds = [int(y) for y in np.linspace(0, h, BLOCKS + 1)]

    def shade_block(b: int) -> None:
        ys = ((np.arange(bounds[b], bounds[b + 1]) + 0.5) / h)[:, None]
        pixels[bounds[b]:bounds[b + 1]] = shade(scene, xs, ys, grain[bounds[b]:bounds[b + 1]], w, h)

    # Blocks shaded two at a time (numpy lets go of the GIL), reported in order; each block above the caption's
    # band goes to the PNG as soon as it is shaded.
    png, fed, uncaptioned = PngWriter(w, h, PNG_LEVEL), 0, h - caption_height(h)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="procedural") as pool:
        blocks = [pool.submit(shade_block, b) for b in range(BLOCKS)]
        try:
            for b, block in enumerate(blocks):
                if cancel.is_set():
                    raise Cancelled
                block.result()
                if bounds[b + 1] <= uncaptioned:
                    png.add(pixels[fed:bounds[b + 1]])
                    fed = bounds[b + 1]
                if step_delay and cancel.wait(step_delay):
                    raise Cancelled
                on_progress(b + 1, BLOCKS + 1, f"rendering rows {bounds[b]}-{bounds[b + 1] - 1}")
        finally:
            for block in blocks:
                block.cancel()
    if cancel.is_set():
        raise Cancelled
    image = Image.fromarray(pixels[fed:], "RGB")
    caption(image, request.prompt, h)
    png.add(np.asarray(image))
    on_progress(BLOCKS + 1, BLOCKS + 1, "encoded PNG")
    return png.finish()


class ProceduralBackend:
    """The `procedural` placeholder behind the async interface: each image rendered in a worker thread."""

    name = "procedural"
    model = "procedural-landscape"
    placeholder = True

    def __init__(self, step_delay: float = 0.0, max_concurrency: int = 2) -> None:
        self.step_delay = step_delay
        self.max_concurrency = max_concurrency

    async def generate(self, request: Request, report: Report) -> list[Output]:
        outputs = []
        n = request.count
        for i in range(n):
            image = ImageRequest(prompt=request.prompt, negative_prompt=request.negative_prompt, style=request.style,
                                 seed=request.seed, width=request.width, height=request.height, index=i)

            def work(emit, cancel: threading.Event, image: ImageRequest = image, i: int = i) -> bytes:
                def on_progress(done: int, total: int, message: str) -> None:
                    emit(Progress(100.0 * (i + done / total) / n, f"image {i + 1}/{n}: {message}", item=i))

                return render(image, on_progress, cancel, self.step_delay)

            outputs.append(Output(await in_thread(work, report), "image/png"))
        return outputs

    async def aclose(self) -> None:
        return None
