"""`genmedia batch FILE` and `genmedia retry-batch ID`, and the live view of a batch: one bar for the batch
(the mean of its children, counts, ETA) and one bar per running child."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path

import grpc
from google.protobuf import json_format
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn

from genmedia import cli_notify
from genmedia.client import GenmediaClient
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2
from genmedia.v1 import progress_service_pb2 as ps
from genmedia.watch import eta_text

TERMINAL = (pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED)
LIVE = [s for s in pb.JobState.values() if s not in (pb.JOB_STATE_UNSPECIFIED, pb.JOB_STATE_PENDING, *TERMINAL)]
SPEC_KEYS = {"kind", "image", "video", "null"}


def add_batch_commands(sub: argparse._SubParsersAction, label_type, request_id_help: str) -> None:
    batch = sub.add_parser("batch", help="run the jobs of a file (JSON array or JSON lines) as one batch")
    batch.add_argument("file", help="jobs as CreateJob takes them ({\"spec\": {...}, \"labels\": ...}, or just the "
                                    "spec); - reads standard input")
    how = batch.add_mutually_exclusive_group()
    how.add_argument("--parallel", type=int, default=0, metavar="N", help="at most N jobs at once (default 10)")
    how.add_argument("--sequential", action="store_true", help="one job at a time, in the file's order")
    batch.add_argument("--fail-fast", action="store_true", help="cancel the rest at the first failure")
    batch.add_argument("--watch", action="store_true", help="a bar for the batch and one per running job")
    cli_notify.add_notify_options(batch)  # the batch's own start and end
    batch.add_argument("--request-id", default="", help=request_id_help)
    batch.add_argument("--label", type=label_type, action="append", default=[], metavar="KEY=VALUE")
    batch.add_argument("--priority", type=int, default=0, choices=range(1, 6), metavar="1-5",
                       help="the jobs' priority unless they set one (default 3)")
    retry = sub.add_parser("retry-batch", help="rerun the failed and cancelled jobs of an ended batch")
    retry.add_argument("batch_id")
    retry.add_argument("--attempt", type=int, default=0, help="the attempt to retry (default: the newest)")
    retry.add_argument("--watch", action="store_true")


def read_jobs(path: str) -> list[job_service_pb2.CreateJobRequest]:
    """The jobs of a JSON array or JSON-lines file; SystemExit naming the item when one is not a job."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as err:
        raise SystemExit(f"error: cannot read {path}: {err.strerror}") from None
    stripped = text.strip()
    try:
        items = json.loads(stripped) if stripped.startswith("[") else [
            json.loads(line) for line in stripped.splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise SystemExit(f"error: {path} is neither a JSON array nor JSON lines: {err}") from None
    jobs = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise SystemExit(f"error: {path}: job {number} is not a JSON object")
        if "spec" not in item and SPEC_KEYS & item.keys():
            item = {"spec": item}
        try:
            jobs.append(json_format.ParseDict(item, job_service_pb2.CreateJobRequest()))
        except json_format.ParseError as err:
            raise SystemExit(f"error: {path}: job {number}: {err}") from None
    return jobs


def summary_text(summary: pb.BatchSummary) -> str:
    parts = [f"{summary.completed}/{summary.total} completed"]
    for name in ("running", "retrying", "paused", "awaiting_review", "pending", "failed", "cancelled"):
        if count := getattr(summary, name):
            parts.append(f"{count} {name.replace('_', ' ')}")
    return ", ".join(parts)


async def run_batch_command(args: argparse.Namespace, client: GenmediaClient, console: Console, print_job) -> int:
    if args.command == "retry-batch":
        job = await client.retry_batch(args.batch_id, args.attempt)
    else:
        job = await client.create_batch(read_jobs(args.file), sequential=args.sequential,
                                        max_concurrent=args.parallel, fail_fast=args.fail_fast,
                                        request_id=args.request_id, labels=dict(args.label), priority=args.priority,
                                        notify=cli_notify.build_notify(args))
    if not args.watch:
        print_job(console, job, args.json)
        return 0
    verb = "retrying" if args.command == "retry-batch" else "created"
    console.print(f"batch {job.id} {verb}: {job.batch.total} jobs, attempt {job.batch.attempt}", highlight=False,
                  soft_wrap=True)
    return await watch_batch(client, job.id, console)


class _BatchView:
    """The batch's bar, a bar per running child, and a line for every change of the batch's state and
    every child that does not complete."""

    def __init__(self, progress: Progress, console: Console) -> None:
        self.progress, self.console = progress, console
        self.batch_task = progress.add_task("batch", total=100)
        self.bars: dict[str, TaskID] = {}
        self.state = 0

    def batch(self, item: pb.Job | pb.JobEvent) -> None:
        if item.state != self.state:
            self.state = item.state
            name = pb.JobState.Name(item.state).removeprefix("JOB_STATE_").lower()
            line = item.message if item.message.startswith(name) else f"{name}: {item.message}"
            self.console.print(f"[{time.strftime('%H:%M:%S')}] batch {line}", highlight=False, soft_wrap=True)
        eta = eta_text(item.estimated_completion_time) if item.HasField("estimated_completion_time") else ""
        self.progress.update(self.batch_task, completed=item.percent,
                             description=f"{'batch':<10} {summary_text(item.batch):<44} {eta}")

    def child(self, job_id: str, index: int, item: pb.Job | pb.JobEvent) -> None:
        name = pb.JobState.Name(item.state).removeprefix("JOB_STATE_").lower()
        if item.state in TERMINAL:
            if job_id in self.bars:
                self.progress.remove_task(self.bars.pop(job_id))
            if item.state != pb.JOB_STATE_COMPLETED:
                error = f": {item.error.code} {item.error.message}" if item.error.code else ""
                self.console.print(f"[{time.strftime('%H:%M:%S')}] job {index} {job_id} {name}{error}",
                                   highlight=False, soft_wrap=True)
            return
        if item.state == pb.JOB_STATE_PENDING:
            return
        if job_id not in self.bars:
            self.bars[job_id] = self.progress.add_task("", total=100)
        step = pb.JobStep.Name(item.step).removeprefix("JOB_STEP_").lower().replace("_", " ") if item.step else name
        self.progress.update(self.bars[job_id], completed=item.percent,
                             description=f"{f'job {index}':<10} {step:<17} {item.message[:26]:<26}")


async def watch_batch(client: GenmediaClient, batch_id: str, console: Console) -> int:
    """Follows a batch to its end (its own stream) and its children (one WatchJobs stream filtered by the
    batch); returns the exit code: 0 when every child completed."""
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    indexes: dict[str, int] = {}
    final: pb.Job | None = None
    with Progress(*columns, console=console, transient=False) as progress:
        view = _BatchView(progress, console)
        children = asyncio.create_task(_follow_children(client, batch_id, view, indexes))
        try:
            async for message in client.watch(batch_id):
                kind = message.WhichOneof("payload")
                if kind == "snapshot":
                    final = message.snapshot
                    view.batch(final)
                elif kind == "event":
                    view.batch(message.event)
                    final = final or pb.Job(id=batch_id)
                    final.state, final.message = message.event.state, message.event.message
                    final.batch.CopyFrom(message.event.batch)
                    final.error.CopyFrom(message.event.error)
        finally:
            children.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await children
    if final is None:
        console.print(f"batch {batch_id}: no updates", highlight=False, soft_wrap=True)
        return 1
    state = pb.JobState.Name(final.state).removeprefix("JOB_STATE_")
    console.print(f"batch {batch_id} {state}: {summary_text(final.batch)}", highlight=False, soft_wrap=True)
    if final.error.code:
        console.print(f"  error: {final.error.code}: {final.error.message}", highlight=False, soft_wrap=True)
    return 0 if final.state == pb.JOB_STATE_COMPLETED else 1


async def _follow_children(client: GenmediaClient, batch_id: str, view: _BatchView, indexes: dict[str, int]) -> None:
    """Bars for the children running now, then every child event as it comes."""
    stream = client.progress.WatchJobs(ps.WatchJobsRequest(filter=ps.JobFilter(batch_id=batch_id)))
    await stream.read()  # the first heartbeat: subscribed, so nothing after the listing below is missed
    running = await client.list_jobs(100, "", ps.JobFilter(batch_id=batch_id, states=LIVE), oldest_first=True)
    for job in running.jobs:
        indexes[job.id] = job.batch_index
        view.child(job.id, job.batch_index, job)
    while (message := await stream.read()) != grpc.aio.EOF:
        if message.WhichOneof("payload") != "event":
            continue
        event = message.event
        if event.job_id not in indexes:
            indexes[event.job_id] = int(event.job_id.removeprefix(batch_id + "_").split("_")[0])
        view.child(event.job_id, indexes[event.job_id], event)
