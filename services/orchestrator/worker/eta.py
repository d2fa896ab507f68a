"""Expected durations of generation steps, for a running job's estimated completion time.

A step's cost grows with its work: megapixels for images, megapixel-frames for videos. The worker keeps,
per step, a moving average of the seconds one unit of work took in the steps it finished; a fresh
worker starts from a prior measured on the bundled backends. While a step runs, its own progress rate
replaces the estimate of that step (see `remaining`)."""

from __future__ import annotations

import threading
from typing import Any

from genmedia.v1 import common_pb2 as pb

# Seconds per unit of work on the bundled backends with their default delays, measured on a 2-core machine:
# a 512x512 image in 1.6 s (6.0 s/MP), a 640x360 96-frame video in 1.2 s (0.054 s per megapixel-frame).
PRIORS = {pb.JOB_STEP_IMAGE_GENERATION: 6.0, pb.JOB_STEP_VIDEO_GENERATION: 0.054}
SMOOTHING = 0.3  # weight of the newest observation
MIN_FRACTION = 0.05  # below this share done, a step's own rate is too noisy to extrapolate


def units(step: int, spec: dict[str, Any]) -> float:
    """The work of a step in its unit: megapixels (images) or megapixel-frames (videos)."""
    pixels = int(spec.get("width", 512)) * int(spec.get("height", 512)) / 1e6
    if step == pb.JOB_STEP_VIDEO_GENERATION:
        return pixels * float(spec.get("duration_seconds", 4)) * int(spec.get("fps", 24))
    return pixels * int(spec.get("num_images", 1))


class StepDurations:
    """Seconds per unit of work of each step, learned from the steps this worker finished."""

    def __init__(self, priors: dict[int, float] | None = None) -> None:
        self._rate = dict(priors or PRIORS)
        self._lock = threading.Lock()

    def estimate(self, step: int, spec: dict[str, Any]) -> float:
        with self._lock:
            return self._rate.get(step, 0.0) * units(step, spec)

    def observe(self, step: int, spec: dict[str, Any], seconds: float) -> None:
        work = units(step, spec)
        if work <= 0 or seconds <= 0:
            return
        with self._lock:
            old = self._rate.get(step)
            rate = seconds / work
            self._rate[step] = rate if old is None else (1 - SMOOTHING) * old + SMOOTHING * rate


def queued(estimate_s: float, position: int) -> float:
    """Seconds left for a step queued at a provider at `position` (1 = next): the requests ahead of it, then
    itself, each taking about the step's estimate (a provider like ComfyUI runs its queue one at a time)."""
    return estimate_s * (position + 1)


def remaining(estimate_s: float, elapsed_s: float, fraction_done: float) -> float:
    """Seconds left in a running step: extrapolated from its own rate once it has made some progress,
    otherwise what the estimate leaves."""
    if fraction_done >= MIN_FRACTION:
        return elapsed_s * (1.0 - fraction_done) / fraction_done
    return max(estimate_s - elapsed_s, 0.0)
