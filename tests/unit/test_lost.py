"""Which failures of a step's attempt the attempt could not report itself, and how they are named."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import TimeoutType
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure, TimeoutFailureInfo

from services.orchestrator.failures import silent_failure


def timeout(kind: TimeoutType.ValueType) -> Failure:
    return Failure(message="activity timeout", timeout_failure_info=TimeoutFailureInfo(timeout_type=kind))


def test_a_heartbeat_timeout_is_a_lost_worker() -> None:
    code, what = silent_failure(timeout(TimeoutType.TIMEOUT_TYPE_HEARTBEAT), timedelta(seconds=4))
    assert code == "WORKER_LOST" and what == "the worker running it was lost (no heartbeat for 4 s)"
    assert silent_failure(timeout(TimeoutType.TIMEOUT_TYPE_HEARTBEAT))[1].endswith("(no heartbeat)")


def test_an_attempt_out_of_time_is_a_step_timeout_and_a_raised_failure_is_not_silent() -> None:
    assert silent_failure(timeout(TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE))[0] == "STEP_TIMEOUT"
    raised = Failure(message="UNAVAILABLE: down", application_failure_info=ApplicationFailureInfo(type="UNAVAILABLE"))
    assert silent_failure(raised) is None
