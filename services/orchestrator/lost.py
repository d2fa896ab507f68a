"""Attempts of a step that end without a word: their worker was killed (no heartbeat came within the
heartbeat timeout) or they ran out of time. Temporal retries them, but the attempt itself could not report
its failure, so the job looked RUNNING while nothing ran. The next attempt reports it (RETRYING, saying
why) before it starts, on whichever worker it runs: one restarted in place of the lost one, or another.
JobService.GetJob shows the same reason while the retry waits for a worker."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from temporalio import activity
from temporalio.api.enums.v1 import TimeoutType
from temporalio.api.failure.v1 import Failure
from temporalio.service import RPCError

from genmedia.serving import logs
from genmedia.v1 import common_pb2 as pb
from services.orchestrator.model import EventInput, StepInput

log = logging.getLogger(__name__)
BUDGET = 2.0  # seconds at most before the step starts (and heartbeats): well within a heartbeat timeout


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


async def report_silent_failure(send, step: StepInput) -> None:
    """At the start of attempt n > 1 of a step: when attempt n-1 ended silently (a timeout), reports RETRYING
    with the reason, under the key its own report of a failure would have had (so it is recorded once).
    `send` records an EventInput. Best effort: the step runs on whatever happens here."""
    info = activity.info()
    if info.attempt <= 1:
        return
    try:
        async with asyncio.timeout(BUDGET):
            await _report(send, step, info)
    except TimeoutError:
        log.warning("could not tell within %g s how attempt %d ended", BUDGET, info.attempt - 1,
                    **logs.job(step.job_id))


async def _report(send, step: StepInput, info: activity.Info) -> None:
    try:
        handle = activity.client().get_workflow_handle(info.workflow_id, run_id=info.workflow_run_id)
        description = await handle.describe()
    except (RPCError, RuntimeError) as err:
        log.warning("could not read how attempt %d ended: %s", info.attempt - 1, err, **logs.job(step.job_id))
        return
    pending = next((p for p in description.raw_description.pending_activities if p.activity_id == info.activity_id),
                   None)
    reason = silent_failure(pending.last_failure, info.heartbeat_timeout) if pending is not None else None
    if reason is None:
        return
    code, what = reason
    previous = info.attempt - 1
    message = f"attempt {previous} failed, retrying: {what}"
    try:
        await send(EventInput(
            job_id=step.job_id, key=f"{step.step}.{step.round}:attempt:{previous}:retrying",
            type=pb.EVENT_TYPE_RETRYING, state=pb.JOB_STATE_RETRYING, step=step.step, percent=step.percent_from,
            message=message, attempt=previous, error={"code": code, "message": what, "retryable": True},
        ))
    except Exception as err:  # grpc.aio.AioRpcError as a rule: progress is best effort
        log.warning("could not report that attempt %d was lost: %s", previous, err, **logs.job(step.job_id))
