"""`genmedia batch FILE` and `genmedia retry-batch ID`, and the live view of a batch: one bar for the batch
(the mean of its children, counts, ETA) and one bar per running child."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from genmedia.cli import exitcodes, options
from genmedia.cli.context import Context
from genmedia.cli.feed import Feed
from genmedia.cli.text import eta_text, step_label, summary_text
from genmedia.cli.views import Bars, stamp
from genmedia.client import requests as rq
from genmedia.client.enums import JobState
from genmedia.client.errors import JobEnded, RpcError
from genmedia.client.models import Job, JobEvent

LIVE = [s for s in JobState if s.value > 1 and not s.terminal]  # running, retrying, awaiting review, paused


class BadFile(Exception):
    """The batch file cannot be read or is not a list of jobs (exit code 2)."""


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    batch = sub.add_parser("batch", parents=parents, help="run the jobs of a file (JSON array or JSON lines) as one "
                                                          "batch")
    batch.add_argument("file", help="jobs as CreateJob takes them ({\"spec\": {...}, \"labels\": ...}, or just the "
                                    "spec); - reads standard input")
    how = batch.add_mutually_exclusive_group()
    how.add_argument("--parallel", type=int, default=0, metavar="N", help="at most N jobs at once (default 10)")
    how.add_argument("--sequential", action="store_true", help="one job at a time, in the file's order")
    batch.add_argument("--fail-fast", action="store_true", help="cancel the rest at the first failure")
    options.add_notify(batch)  # the batch's own start and end
    batch.add_argument("--request-id", default="", help="a UUID: repeating it returns the same batch")
    batch.add_argument("--label", type=options.label, action="append", default=[], metavar="KEY=VALUE",
                       help="a label of the batch and its jobs (repeat for several)")
    batch.add_argument("--priority", type=int, default=0, choices=range(1, 6), metavar="1-5",
                       help="the jobs' priority unless they set one (default 3)")
    _add_follow(batch)
    batch.set_defaults(handler=run_batch)
    retry = sub.add_parser("retry-batch", parents=parents, help="rerun the failed and cancelled jobs of an ended "
                                                                "batch")
    retry.add_argument("batch_id", help="the batch to retry")
    retry.add_argument("--attempt", type=int, default=0, help="the attempt to retry (default: the newest)")
    _add_follow(retry)
    retry.set_defaults(handler=run_retry)


def _add_follow(p: argparse.ArgumentParser) -> None:
    how = p.add_mutually_exclusive_group()
    how.add_argument("--watch", action="store_true", help="a bar for the batch and one per running job, to the end")
    how.add_argument("--wait", action="store_true", help="block until the batch ends, then print it (no bars)")


def read_jobs(path: str) -> list:
    """The jobs of a JSON array or JSON-lines file; BadFile naming the item when one is not a job."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as err:
        raise BadFile(f"cannot read {path}: {err.strerror}") from None
    stripped = text.strip()
    try:
        items = json.loads(stripped) if stripped.startswith("[") else [
            json.loads(line) for line in stripped.splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise BadFile(f"{path} is neither a JSON array nor JSON lines: {err}") from None
    jobs = []
    for number, item in enumerate(items, 1):
        try:
            jobs.append(rq.job_from_dict(item))
        except ValueError as err:
            raise BadFile(f"{path}: job {number} {err}") from None
    return jobs


async def run_batch(ctx: Context) -> int:
    a = ctx.args
    jobs = [rq.JobRequest(job) for job in read_jobs(a.file)]
    batch = await ctx.client.create_batch(jobs, sequential=a.sequential, max_concurrent=a.parallel,
                                          fail_fast=a.fail_fast, request_id=a.request_id or None,
                                          labels=dict(a.label), priority=a.priority, **options.notify_kwargs(a))
    return await _then(ctx, batch, "created")


async def run_retry(ctx: Context) -> int:
    return await _then(ctx, await ctx.client.retry_batch(ctx.args.batch_id, ctx.args.attempt), "retrying")


async def _then(ctx: Context, batch: Job, verb: str) -> int:
    if ctx.args.wait:
        return await wait_and_print(ctx, batch.id)
    if not ctx.args.watch:
        ctx.out.job(batch)
        return exitcodes.OK
    assert batch.batch is not None
    ctx.out.line(f"batch {batch.id} {verb}: {batch.batch.total} jobs, attempt {batch.batch.attempt}")
    items = ctx.client.watch(batch.id)
    return await watch_batch(ctx, await anext(items), items)


async def wait_and_print(ctx: Context, job_id: str) -> int:
    """--wait: blocks until the job (or batch) ends, prints it; the exit code of its outcome."""
    try:
        job, code = await ctx.client.wait(job_id), exitcodes.OK
    except JobEnded as ended:
        job, code = ended.job, exitcodes.JOB_FAILED
    ctx.out.job(job)
    return code


class _BatchView:
    """The batch's bar, a bar per running child, and a line for every change of the batch's state and
    every child that does not complete."""

    def __init__(self, ctx: Context, bars: Bars) -> None:
        self.ctx, self.bars = ctx, bars
        self.batch_task = bars.add("batch")
        self.children: dict[str, object] = {}
        self.state: JobState | None = None

    def batch(self, item: Job | JobEvent) -> None:
        if self.ctx.out.mode == "jsonl":
            self.ctx.stream(item)
            return
        if item.state != self.state:
            self.state = item.state
            name = item.state.label
            line = item.message if item.message.startswith(name) else f"{name}: {item.message}"
            self.ctx.out.line(f"{stamp()} batch {line}")
        eta = eta_text(item.estimated_completion_time) if item.estimated_completion_time else ""
        summary = summary_text(item.batch) if item.batch else ""
        self.bars.update(self.batch_task, item.percent, f"{'batch':<10} {summary:<44} {eta}")

    def child(self, job_id: str, index: int, item: Job | JobEvent) -> None:
        if self.ctx.out.mode == "jsonl":
            self.ctx.stream(item)
            return
        if item.state.terminal:
            if job_id in self.children:
                self.bars.remove(self.children.pop(job_id))  # type: ignore[arg-type]
            if item.state != JobState.COMPLETED:
                error = f": {item.error.code} {item.error.message}" if item.error else ""
                self.ctx.out.line(f"{stamp()} job {index} {job_id} {item.state.label}{error}")
            return
        if item.state == JobState.PENDING:
            return
        if job_id not in self.children:
            self.children[job_id] = self.bars.add()
        self.bars.update(self.children[job_id], item.percent,  # type: ignore[arg-type]
                         f"{f'job {index}':<10} {step_label(item):<17} {item.message[:26]:<26}")


async def watch_batch(ctx: Context, first: Job | JobEvent, items: AsyncIterator[Job | JobEvent]) -> int:
    """Follows a batch to its end (its own watch, `first` and then `items`) and its children (one WatchJobs
    stream filtered by the batch); the exit code is 0 when every child completed."""
    batch_id = first.id if isinstance(first, Job) else first.job_id
    with Bars(ctx.out) as bars:
        view = _BatchView(ctx, bars)
        children = asyncio.create_task(_follow_children(ctx, batch_id, view))
        try:
            view.batch(first)
            async with contextlib.aclosing(items):
                async for item in items:
                    view.batch(item)
        finally:
            children.cancel()
            with contextlib.suppress(asyncio.CancelledError, RpcError):  # the children's bars are a view only
                await children
    final = await ctx.client.get(batch_id, live=False)
    if ctx.out.mode == "json":
        ctx.out.document(final.to_dict())
    elif ctx.out.text:
        ctx.out.line(f"batch {batch_id} {final.state.name}: {summary_text(final.batch) if final.batch else ''}")
        if final.error:
            ctx.out.line(f"  error: {final.error.code}: {final.error.message}")
    return exitcodes.OK if final.state == JobState.COMPLETED else exitcodes.JOB_FAILED


async def _follow_children(ctx: Context, batch_id: str, view: _BatchView) -> None:
    """Bars for the children running now, then every child event as it comes."""
    indexes: dict[str, int] = {}
    async with Feed(ctx.client, batch_id=batch_id) as feed:
        async for job in ctx.client.list(batch_id=batch_id, state=LIVE, oldest_first=True):
            indexes[job.id] = job.batch_index
            view.child(job.id, job.batch_index, job)
        async for event in feed:
            if event.job_id not in indexes:
                indexes[event.job_id] = int(event.job_id.removeprefix(batch_id + "_").split("_")[0])
            view.child(event.job_id, indexes[event.job_id], event)
