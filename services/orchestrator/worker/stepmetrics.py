"""Step metrics, observed where steps run (the worker's activities): each attempt runs on exactly one worker, so
a sum across workers counts it once."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Histogram
from temporalio import activity

from genmedia.v1 import common_pb2 as pb

STEPS = {value: name.removeprefix("JOB_STEP_").lower() for name, value in pb.JobStep.items()}
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600)
WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

STEP_DURATION = Histogram("genmedia_step_duration_seconds", "Time a step's successful attempt took, by step and the "
                          "backend that made its output (procedural, kenburns, openai...).", ("step", "backend"),
                          buckets=BUCKETS)
STEP_QUEUE_WAIT = Histogram("genmedia_step_queue_wait_seconds", "Time a step's attempt waited in its task queue for "
                            "a worker slot (scheduled to started).", ("step",), buckets=WAIT_BUCKETS)


def started(step: int) -> float:
    """At the start of a step's attempt: observes how long it waited for a slot; returns the start, to pass to
    `finished`."""
    info = activity.info()
    waited = (info.started_time - info.current_attempt_scheduled_time).total_seconds()
    STEP_QUEUE_WAIT.labels(STEPS.get(step, str(step))).observe(max(0.0, waited))
    return time.monotonic()


def finished(step: int, began: float, assets: list[dict[str, Any]]) -> None:
    """A step's attempt succeeded with `assets`: the backend is the first asset's provider, if it names one."""
    backend = (assets[0].get("provider") if assets else None) or "builtin"
    STEP_DURATION.labels(STEPS.get(step, str(step)), backend).observe(time.monotonic() - began)
