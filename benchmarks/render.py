"""Ken Burns render speed: KenBurnsBackend.render against FFmpeg's zoompan with the same encoder settings
(benchmarks/zoompan.py), 150 frames of the zoom-in at 512x512 and 1280x720 from a placeholder still of the
video's size (what a video job renders from). The two alternate, the first one changing each round; the
figure is the median fps and the ratio the median of the rounds' ratios. Goal: ratio >= 1.0. Their output's
quality is tested (tests/unit/test_kenburns_quality.py), not measured here."""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
from pathlib import Path

from benchmarks import zoompan
from benchmarks.table import Row, add, ratios
from services.image.backends.procedural import ImageRequest
from services.image.backends.procedural import render as render_png
from services.video.backends import Motion, VideoRequest
from services.video.backends.kenburns import KenBurnsBackend

SIZES = [tuple(int(n) for n in size.split("x"))
         for size in os.environ.get("GENMEDIA_BENCH_RENDER_SIZES", "512x512,1280x720").split(",")]
FRAMES = int(os.environ.get("GENMEDIA_BENCH_RENDER_FRAMES", "150"))
ROUNDS = int(os.environ.get("GENMEDIA_BENCH_RENDER_ROUNDS", "9"))
FPS = 30


def timed(render) -> tuple[float, float]:
    """fps, and milliseconds of CPU (this process's, all threads) per frame."""
    began, used = time.perf_counter(), time.process_time()
    render()
    return FRAMES / (time.perf_counter() - began), (time.process_time() - used) / FRAMES * 1000


def measure(var: str, width: int, height: int) -> dict[str, list[tuple[float, float]]]:
    """fps and CPU per frame of genmedia's renderer ("ours") and of the baseline ("base"), round by round."""
    still = render_png(ImageRequest("a lighthouse at dusk", "", "", 1, width, height, 0), lambda *_: None,
                       threading.Event())
    request = VideoRequest(still, width, height, FPS, FRAMES, Motion.ZOOM_IN)
    ours_path, base_path = Path(var, "kenburns.mp4"), Path(var, "zoompan.mp4")
    backend = KenBurnsBackend()

    def ours() -> None:
        backend.render(request, ours_path, lambda *_: None, threading.Event())

    def base() -> None:
        zoompan.render(still, str(base_path), width, height, FPS, FRAMES, backend.crf, backend.preset)

    rounds: dict[str, list[tuple[float, float]]] = {"ours": [], "base": []}
    for i in range(ROUNDS):
        for name, render in ((("ours", ours), ("base", base)) if i % 2 else (("base", base), ("ours", ours))):
            rounds[name].append(timed(render))
    ours_path.unlink()
    base_path.unlink()
    return rounds


async def run(var: str) -> None:
    print(f"\nKen Burns render, {FRAMES} frames, {ROUNDS} alternating rounds against FFmpeg zoompan")
    for width, height in SIZES:
        rounds = await asyncio.to_thread(measure, var, width, height)
        (ours, ours_cpu), (base, base_cpu) = (list(zip(*rounds[name], strict=True)) for name in ("ours", "base"))
        print(f"  {width}x{height}: genmedia {[round(f) for f in ours]} fps, zoompan {[round(f) for f in base]} fps; "
              f"CPU per frame {[round(c, 2) for c in ours_cpu]} ms, zoompan {[round(c, 2) for c in base_cpu]} ms")
        ratio, spread = ratios(list(ours), list(base))
        cpu = statistics.median(ours_cpu), statistics.median(base_cpu)
        add(Row("render", f"Ken Burns render, {FRAMES} frames, {width}x{height}", statistics.median(ours), "fps",
                statistics.median(base), ratio, ">= 1.0x", ratio >= 1.0, "FFmpeg zoompan, same x264",
                f"{spread}; CPU/frame {cpu[0]:.2f} vs {cpu[1]:.2f} ms",
                extra={"cpu_ms_per_frame": cpu[0], "baseline_cpu_ms_per_frame": cpu[1]}))
