"""`genmedia watch ID...`: follows jobs live to their end, one bar per job; also `--watch` on submits.
A single batch gets the batch view (cli/batch.py). The exit code is the worst outcome (exitcodes.worst)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from genmedia.cli import exitcodes
from genmedia.cli.batch import watch_batch
from genmedia.cli.context import Context
from genmedia.cli.failures import report_error
from genmedia.cli.views import Bars, JobView, summary_lines
from genmedia.client.enums import JobKind, JobState
from genmedia.client.errors import RpcError
from genmedia.client.models import Job, JobEvent


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("watch", parents=parents, help="follow jobs live until they end (exit code: the worst)",
                       description="Follows each job to its end, resuming by itself after a disconnect: one bar "
                                   "per job on a terminal, a line per change of state or step. -o jsonl streams "
                                   "every event; -o json prints the final jobs.")
    p.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="a job or batch id (several: one bar each)")
    p.set_defaults(handler=run)


async def run(ctx: Context) -> int:
    return await follow(ctx, ctx.args.job_ids)


def outcome(job: Job) -> int:
    return exitcodes.OK if job.state == JobState.COMPLETED else exitcodes.JOB_FAILED


async def follow(ctx: Context, job_ids: list[str]) -> int:
    """Watches the jobs to their ends; prints (text) their summaries or (json) the final jobs."""
    if len(job_ids) == 1:
        items = ctx.client.watch(job_ids[0])
        first = await anext(items, None)
        if isinstance(first, Job) and first.kind == JobKind.BATCH:
            return await watch_batch(ctx, first, items)
        with Bars(ctx.out) as bars:
            final = await _follow_one(ctx, job_ids[0], JobView(ctx.out, bars, job_ids[0]), items, first)
        return _report(ctx, [final])
    with Bars(ctx.out) as bars:
        views = [JobView(ctx.out, bars, job_id, job_id[:8]) for job_id in job_ids]
        finals = await asyncio.gather(*(_follow_one(ctx, v.job_id, v, ctx.client.watch(v.job_id)) for v in views),
                                      return_exceptions=True)
    for result in finals:
        if isinstance(result, BaseException) and not isinstance(result, RpcError):
            raise result
    return _report(ctx, finals)


async def _follow_one(ctx: Context, job_id: str, view: JobView, items, first: Job | JobEvent | None = None) -> Job:
    async with contextlib.aclosing(items):
        if first is not None:
            _show(ctx, view, first)
        async for item in items:
            _show(ctx, view, item)
    return await ctx.client.get(job_id, live=False)


def _show(ctx: Context, view: JobView, item: Job | JobEvent) -> None:
    if ctx.out.mode == "jsonl":
        ctx.stream(item)
    else:
        view.apply(item)


def _report(ctx: Context, finals: list) -> int:
    """Prints each job's end (or its error); the exit code of the worst."""
    codes, jobs = [], []
    for final in finals:
        if isinstance(final, RpcError):
            codes.append(report_error(ctx.out, final))
            continue
        codes.append(outcome(final))
        jobs.append(final)
    if ctx.out.mode == "json":
        if len(finals) == 1 and jobs:
            ctx.out.document(jobs[0].to_dict())
        else:
            ctx.out.jobs(jobs)
    elif ctx.out.text:
        for job in jobs:
            for line in summary_lines(job):
                ctx.out.line(line)
    return exitcodes.worst(codes)
