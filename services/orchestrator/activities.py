"""Activities: generation steps that stream from the image/video services, and event reports.

Each generation activity forwards the service's progress to the progress service (coalesced), heartbeats
Temporal with the latest progress, and classifies failures: transient gRPC codes are retried by
Temporal (the job shows RETRYING), permanent ones fail the step at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf import json_format
from temporalio import activity
from temporalio.exceptions import ApplicationError

from genmedia.domain.errors import error_info
from genmedia.serving import logs
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import (
    image_service_pb2,
    image_service_pb2_grpc,
    progress_service_pb2,
    progress_service_pb2_grpc,
    video_service_pb2,
    video_service_pb2_grpc,
)
from services.orchestrator import eta, stepmetrics
from services.orchestrator.lost import report_silent_failure
from services.orchestrator.model import EventInput, StepInput

log = logging.getLogger(__name__)
NULL_TICK = 0.05  # seconds between a null job's heartbeats

TRANSIENT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.CANCELLED,
}


def event_request(event: EventInput) -> progress_service_pb2.ReportProgressRequest:
    proto = pb.JobEvent(
        job_id=event.job_id, type=event.type, state=event.state, step=event.step,
        percent=event.percent, message=event.message, attempt=event.attempt,
        assets=[json_format.ParseDict(a, pb.Asset()) for a in event.assets],
    )
    if event.error:
        proto.error.CopyFrom(json_format.ParseDict(event.error, pb.JobError()))
    if event.review:
        proto.review.CopyFrom(json_format.ParseDict(event.review, pb.Review()))
    if event.spec:
        proto.spec.CopyFrom(json_format.ParseDict(event.spec, pb.JobSpec()))
    if event.eta:
        proto.estimated_completion_time.FromJsonString(event.eta)
    proto.review_round = event.review_round
    return progress_service_pb2.ReportProgressRequest(event=proto, idempotency_key=event.key)


def to_dict(message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


class JobActivities:
    """Holds the gRPC stubs of the services the steps call (built once per worker)."""

    def __init__(
        self,
        progress: progress_service_pb2_grpc.ProgressServiceStub,
        image: image_service_pb2_grpc.ImageServiceStub,
        video: video_service_pb2_grpc.VideoServiceStub,
        progress_interval: float = 0.25,
        rpc_timeout: float = 5.0,
        step_timeout: float = 1800.0,
        heartbeat_every: float = 0.5,
    ) -> None:
        self.progress = progress
        self.image = image
        self.video = video
        self.progress_interval = progress_interval
        self.rpc_timeout = rpc_timeout
        self.step_timeout = step_timeout
        self.heartbeat_every = heartbeat_every
        self.durations = eta.StepDurations()

    @activity.defn(name="report_event")
    async def report_event(self, event: EventInput) -> int:
        """Records one job event; the progress service dedupes by key, so retries are harmless."""
        try:
            return await self.send_event(event)
        except grpc.aio.AioRpcError as err:
            raise classify(err) from None

    @activity.defn(name="estimate_steps")
    async def estimate_steps(self, specs: list[dict[str, Any] | None]) -> list[float]:
        """Expected seconds of each step, for [image spec, video spec] (a missing one counts 0)."""
        steps = (pb.JOB_STEP_IMAGE_GENERATION, pb.JOB_STEP_VIDEO_GENERATION)
        return [self.durations.estimate(step, spec) if spec else 0.0 for step, spec in zip(steps, specs, strict=True)]

    async def send_event(self, event: EventInput) -> int:
        response = await self.progress.ReportProgress(event_request(event), timeout=self.rpc_timeout)
        return response.sequence

    @activity.defn(name="generate_images")
    async def generate_images(self, step: StepInput) -> list[dict[str, Any]]:
        request = image_service_pb2.GenerateImagesRequest(
            job_id=step.job_id, spec=json_format.ParseDict(step.spec, pb.ImageSpec()), revision=step.round,
            attempt=activity.info().attempt,  # picks the provider of a fallback list
        )
        began = stepmetrics.started(step.step)
        result = await self._run_step(step, self.image.GenerateImages(request, timeout=self.step_timeout))
        assets = [to_dict(asset) for asset in result.assets]
        stepmetrics.finished(step.step, began, assets)
        return assets

    @activity.defn(name="render_video")
    async def render_video(self, step: StepInput) -> list[dict[str, Any]]:
        spec = json_format.ParseDict(step.spec, pb.VideoSpec())
        request = video_service_pb2.RenderVideoRequest(
            job_id=step.job_id, image_uri=step.image_uri, width=spec.width, height=spec.height,
            duration_seconds=spec.duration_seconds, fps=spec.fps, motion=spec.motion, prompt=spec.prompt,
            negative_prompt=spec.negative_prompt, seed=spec.seed, style=spec.style, backend=spec.backend,
            attempt=activity.info().attempt,
        )
        began = stepmetrics.started(step.step)
        result = await self._run_step(step, self.video.RenderVideo(request, timeout=self.step_timeout))
        assets = [to_dict(result.asset)]
        stepmetrics.finished(step.step, began, assets)
        return assets

    @activity.defn(name="run_null")
    async def run_null(self, step: StepInput) -> list[dict[str, Any]]:
        """A null job's step: waits its duration, heartbeating and reporting progress like a real step, then
        returns no assets, or fails with its fail_with code (permanently: a retry would fail the same way)."""
        spec = json_format.ParseDict(step.spec, pb.NullSpec())
        seconds = spec.duration.ToTimedelta().total_seconds()
        reporter = _ProgressReporter(self, step, activity.info().attempt)
        await report_silent_failure(self.send_event, step)  # an earlier attempt that timed out (its worker lost)
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            await reporter.progress(image_service_pb2.GenerationProgress(percent=100.0 * elapsed / seconds,
                                                                        message="doing nothing"))
            await asyncio.sleep(min(NULL_TICK, seconds - elapsed))  # a cancel arrives in the heartbeat's answer
        if spec.fail_with:
            message = f"the null job failed with {spec.fail_with}, as its spec asked"
            raise ApplicationError(message, {"code": spec.fail_with, "message": message}, type=spec.fail_with,
                                   non_retryable=True)
        return []

    async def _run_step(self, step: StepInput, call):
        """Consumes a generation stream: heartbeat and forward progress, return the result message."""
        reporter = _ProgressReporter(self, step, activity.info().attempt)
        await report_silent_failure(self.send_event, step)  # an earlier attempt that timed out (its worker lost)
        started = time.monotonic()
        result = None
        # Cancellation reaches an activity only in a heartbeat's answer: beat even when the service is
        # quiet, so that a cancelled job stops within about a second.
        beat = asyncio.create_task(reporter.beat_every(self.heartbeat_every))
        try:
            async for message in call:  # read to the end: the call then finishes OK on both sides
                if message.WhichOneof("payload") == "result":
                    result = message.result
                else:
                    await reporter.progress(message.progress)
        except grpc.aio.AioRpcError as err:
            await reporter.failed(err)
            raise classify(err) from None
        except BaseException:
            call.cancel()  # the activity was cancelled or timed out: the service stops and cleans up
            raise
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        if result is None:
            raise ApplicationError("the service ended its stream without a result", type="NO_RESULT")
        self.durations.observe(step.step, step.spec, time.monotonic() - started)
        return result


class _ProgressReporter:
    """Maps a step's own percent onto the job's and forwards it, a few reports per second at most."""

    def __init__(self, acts: JobActivities, step: StepInput, attempt: int) -> None:
        self.acts, self.step, self.attempt = acts, step, attempt
        self.last_sent = 0.0
        self.sent_running = attempt == 1
        self.started = time.monotonic()
        self.details: dict[str, Any] = {"percent": step.percent_from, "message": "", "attempt": attempt,
                                        "eta": self.eta(0.0)}
        self.key = f"{step.step}.{step.round}"  # unique per step and review round

    def eta(self, step_percent: float, queue_position: int = 0) -> str:
        """The job's estimated completion: this step's remaining time plus the later steps'. While queued at a
        provider, the requests ahead of it count a step each."""
        elapsed = time.monotonic() - self.started
        if queue_position > 0:
            left = eta.queued(self.step.estimate_s, queue_position) + self.step.later_s
        else:
            left = eta.remaining(self.step.estimate_s, elapsed, step_percent / 100.0) + self.step.later_s
        return (datetime.now(UTC) + timedelta(seconds=left)).isoformat()

    async def beat_every(self, seconds: float) -> None:
        while True:
            activity.heartbeat(self.details)
            await asyncio.sleep(seconds)

    def job_percent(self, step_percent: float) -> float:
        span = self.step.percent_to - self.step.percent_from
        return round(self.step.percent_from + span * min(max(step_percent, 0.0), 100.0) / 100.0, 1)

    async def progress(self, progress: image_service_pb2.GenerationProgress) -> None:
        percent = self.job_percent(progress.percent)
        self.details = {"percent": percent, "message": progress.message, "attempt": self.attempt,
                        "eta": self.eta(progress.percent, progress.queue_position)}
        activity.heartbeat(self.details)
        now = time.monotonic()
        if self.sent_running and now - self.last_sent < self.acts.progress_interval:
            return
        self.last_sent = now
        # After a retry the first report says RUNNING again under a key of its own.
        key = f"{self.key}:progress:{percent}" if self.sent_running else (
            f"{self.key}:attempt:{self.attempt}:running"
        )
        self.sent_running = True
        await self._send(EventInput(
            job_id=self.step.job_id, key=key, type=pb.EVENT_TYPE_PROGRESS, state=pb.JOB_STATE_RUNNING,
            step=self.step.step, percent=percent, message=progress.message, attempt=self.attempt,
            eta=self.details["eta"],
        ))

    async def failed(self, err: grpc.aio.AioRpcError) -> None:
        if err.code() not in TRANSIENT:
            return  # the workflow reports the failure of the job
        reason, meta, delay = error_info(err)
        provider, following = meta.get("provider", ""), meta.get("next_provider", "")
        message = f"attempt {self.attempt}" + (f" with {provider}" if provider else "") + f" failed: {err.details()}"
        if following and following != provider:
            message += f"; attempt {self.attempt + 1} goes to {following}"
        elif delay:
            message += f"; retrying in {delay:g}s, as {provider or 'the service'} asked"
        await self._send(EventInput(
            job_id=self.step.job_id, key=f"{self.key}:attempt:{self.attempt}:retrying",
            type=pb.EVENT_TYPE_RETRYING, state=pb.JOB_STATE_RETRYING, step=self.step.step,
            percent=self.step.percent_from, message=message, attempt=self.attempt,
            error={"code": reason or err.code().name, "message": err.details() or "", "retryable": True,
                   "provider": provider, "provider_request_id": meta.get("provider_request_id", "")},
        ))

    async def _send(self, event: EventInput) -> None:
        """Progress is best-effort: a progress service that is down must not fail the step."""
        try:
            await self.acts.send_event(event)
        except grpc.aio.AioRpcError as err:
            log.warning("progress report dropped: %s", err.details(), **logs.job(event.job_id))


def classify(err: grpc.aio.AioRpcError) -> ApplicationError:
    """Transient codes are retried by Temporal; the others fail the step at once. The job's error code
    is the service's ErrorInfo reason when it gave one (e.g. CONTENT_POLICY), else the status code; a
    provider's Retry-After (RetryInfo) delays the next attempt by at least that long."""
    code = err.code()
    reason, meta, delay = error_info(err)
    reason = reason or code.name
    details = {"code": reason, "message": err.details() or "", "provider": meta.get("provider", ""),
               "provider_request_id": meta.get("provider_request_id", "")}
    return ApplicationError(
        f"{code.name}: {err.details()}", details, type=reason, non_retryable=code not in TRANSIENT,
        next_retry_delay=timedelta(seconds=delay) if delay and code in TRANSIENT else None,
    )
