"""How a step's attempt ended when it could not say so itself (its worker lost, or out of time): shared by the
worker, which reports it at the next attempt (worker/lost.py), and by the API, which shows it in GetJob while
the retry waits for a worker."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import TimeoutType
from temporalio.api.failure.v1 import Failure


def silent_failure(failure: Failure, heartbeat_timeout: timedelta | None = None) -> tuple[str, str] | None:
    """The (code, what happened) of an attempt's failure that the attempt could not report itself: a
    timeout. None for a failure its activity raised (and reported)."""
    if not failure.HasField("timeout_failure_info"):
        return None
    kind = failure.timeout_failure_info.timeout_type
    if kind == TimeoutType.TIMEOUT_TYPE_HEARTBEAT:
        silence = f" for {heartbeat_timeout.total_seconds():g} s" if heartbeat_timeout else ""
        return "WORKER_LOST", f"the worker running it was lost (no heartbeat{silence})"
    if kind == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE:
        return "STEP_TIMEOUT", "it did not finish within its time limit"
    return None
