"""The CLI's live view of one job: a rich progress bar with the step and percent, a line for every
change of state or step, and the assets at the end."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import unquote, urlparse

from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from genmedia.client import GenmediaClient
from genmedia.v1 import common_pb2 as pb


def asset_path(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def describe_asset(asset: pb.Asset) -> str:
    size = f"{asset.width}x{asset.height}"
    if asset.mime_type.startswith("video/"):
        size += f", {asset.duration_seconds:g}s, {asset.frame_count} frames @ {asset.fps:g} fps"
    return f"{asset.mime_type:<10} {asset_path(asset.uri)}  ({size}, {asset.size_bytes} bytes)"


def provenance_text(asset: pb.Asset) -> str:
    """`made by openai gpt-image-1, request req_1, 1.20 s; usage: 100 tokens`."""
    text = f"made by {asset.provider} {asset.model}".rstrip()
    if asset.provider_request_id:
        text += f", request {asset.provider_request_id}"
    if asset.provider_latency_seconds:
        text += f", {asset.provider_latency_seconds:.2f} s"
    usage = [f"{asset.provider_seconds:.2f} s of compute"] if asset.provider_seconds else []
    usage += [f"{asset.provider_tokens} tokens"] if asset.provider_tokens else []
    return text + (f"; usage: {', '.join(usage)}" if usage else "")


def eta_text(eta: Timestamp) -> str:
    """`ETA 12:03:04 (in 35s)`, in local time."""
    when = eta.ToDatetime(tzinfo=UTC)
    left = max((when - datetime.now(UTC)).total_seconds(), 0)
    return f"ETA {when.astimezone():%H:%M:%S} (in {left:.0f}s)"


def _name(enum, value: int, prefix: str) -> str:
    return enum.Name(value).removeprefix(prefix).lower().replace("_", " ")


class _View:
    def __init__(self, progress: Progress, console: Console) -> None:
        self.progress, self.console = progress, console
        self.task = progress.add_task("pending", total=100)
        self.state = self.step = None
        self.job: pb.Job | None = None

    def apply(self, item: pb.Job | pb.JobEvent, job_id: str) -> None:
        """Shows a snapshot or an event: a line when the state or step changes, and the bar."""
        state, step, percent, attempt = item.state, item.step, item.percent, item.attempt
        message, error = item.message, item.error if item.HasField("error") else None
        if (state, step) != (self.state, self.step):
            self.state, self.step = state, step
            line = _name(pb.JobState, state, "JOB_STATE_")
            if step and state not in (pb.JOB_STATE_PENDING, pb.JOB_STATE_COMPLETED):
                line += f": {_name(pb.JobStep, step, 'JOB_STEP_')}"
            if state == pb.JOB_STATE_RETRYING and error is not None:
                line += f" (attempt {attempt} failed: {error.code} {error.message})"
            self.console.print(f"[{time.strftime('%H:%M:%S')}] {line}", highlight=False)
            if state == pb.JOB_STATE_AWAITING_REVIEW:
                for asset in item.assets:
                    self.console.print(f"  candidate: {describe_asset(asset)}", highlight=False, soft_wrap=True)
                self.console.print(f"  decide with: genmedia review {job_id} --approve | --reject "
                                   "[--prompt ... --seed ... --feedback ...]", highlight=False, soft_wrap=True)
        label = _name(pb.JobStep, step, "JOB_STEP_") if step else _name(pb.JobState, state, "JOB_STATE_")
        eta = eta_text(item.estimated_completion_time) if item.HasField("estimated_completion_time") else ""
        self.progress.update(self.task, completed=percent, description=f"{label:<17} {message[:40]:<40} {eta}")


async def watch_job(client: GenmediaClient, job_id: str, console: Console) -> int:
    """Follows the job to its end; returns the exit code (0 when it completed)."""
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    final: pb.Job | None = None
    assets: list[pb.Asset] = []
    with Progress(*columns, console=console, transient=False) as progress:
        view = _View(progress, console)
        async for message in client.watch(job_id):
            kind = message.WhichOneof("payload")
            if kind == "snapshot":
                job = message.snapshot
                final, assets = job, list(job.assets)
                view.apply(job, job_id)
            elif kind == "event":
                e = message.event
                view.apply(e, job_id)
                if e.type == pb.EVENT_TYPE_COMPLETED:
                    assets = list(e.assets)
                final = final or pb.Job(id=job_id)
                final.state = e.state
                final.error.CopyFrom(e.error)
    return _summary(console, job_id, final, assets)


def _summary(console: Console, job_id: str, job: pb.Job | None, assets: list[pb.Asset]) -> int:
    if job is None:
        console.print(f"job {job_id}: no updates", highlight=False)
        return 1
    state = _name(pb.JobState, job.state, "JOB_STATE_").upper()
    console.print(f"job {job_id} {state}", highlight=False)
    if job.state == pb.JOB_STATE_COMPLETED:
        for asset in assets:
            console.print(f"  {describe_asset(asset)}", highlight=False, soft_wrap=True)
        return 0
    if job.error.code:
        console.print(f"  error: {job.error.code}: {job.error.message}", highlight=False)
    return 1
