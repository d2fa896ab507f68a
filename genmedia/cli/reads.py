"""Reading jobs: `get ID...`, `list` (filters, pages), `history ID` and `stats`."""

from __future__ import annotations

import argparse
import asyncio

from genmedia.cli import exitcodes, options
from genmedia.cli.context import Context
from genmedia.cli.failures import report_error
from genmedia.cli.text import history_line, stats_lines
from genmedia.client.errors import RpcError
from genmedia.client.models import Page


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    get = sub.add_parser("get", parents=parents, help="jobs, read live from their workflows",
                         description="Each job as its workflow sees it now (else as the progress store has it). "
                                     "-o json prints the job, or {\"jobs\": [...]} for several.")
    get.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="a job or batch id (several: each in turn)")
    get.set_defaults(handler=run_get)
    lst = sub.add_parser("list", parents=parents, help="jobs, newest first",
                         description="-o json prints {\"jobs\": [...], \"next_page_token\": \"...\", "
                                     "\"total_size\": N}; -o jsonl one job per line.")
    lst.add_argument("--page-size", type=int, default=20, help="jobs per page, 1-100 (default 20)")
    lst.add_argument("--page-token", default="", help="the page after the one that printed this token")
    lst.add_argument("--all", action="store_true", help="every page, not just one")
    lst.add_argument("--oldest-first", action="store_true", help="oldest first instead of newest first")
    options.add_filters(lst)
    lst.set_defaults(handler=run_list)
    history = sub.add_parser("history", parents=parents, help="the timeline of one job, every event in order")
    history.add_argument("job_id", help="the job whose events to print")
    history.set_defaults(handler=run_history)
    stats = sub.add_parser("stats", parents=parents,
                           help="success rate, durations, reviews and backlog over a time window")
    stats.add_argument("--since", type=options.when, default=None, metavar="TIME",
                       help="ISO 8601 or a span back (default 24h)")
    stats.add_argument("--until", type=options.when, default=None, metavar="TIME", help="default now")
    options.add_filters(stats, created=False)
    stats.set_defaults(handler=run_stats)


async def run_get(ctx: Context) -> int:
    ids = ctx.args.job_ids
    results = await asyncio.gather(*(ctx.client.get(job_id) for job_id in ids), return_exceptions=True)
    jobs, codes = [], []
    for result in results:
        if isinstance(result, RpcError):
            codes.append(report_error(ctx.out, result))
        elif isinstance(result, BaseException):
            raise result
        else:
            jobs.append(result)
            codes.append(exitcodes.OK)
    if len(ids) == 1:
        for job in jobs:
            ctx.out.job(job)
    else:  # with -o json: {"jobs": [...]} of those read, even none
        ctx.out.jobs(jobs)
    return exitcodes.worst(codes)


async def run_list(ctx: Context) -> int:
    a = ctx.args
    flt = options.filter_kwargs(a)
    if a.all:
        jobs = [job async for job in ctx.client.list(oldest_first=a.oldest_first, **flt)]
        page = Page(tuple(jobs), "", len(jobs))
    else:
        page = await ctx.client.list_page(a.page_size, a.page_token, oldest_first=a.oldest_first, **flt)
    if ctx.out.mode == "json":
        ctx.out.document(page.to_dict())
        return exitcodes.OK
    for job in page.jobs:
        ctx.out.job(job)
    if page.next_page_token:
        ctx.out.line(f"more: --page-token {page.next_page_token}")
    ctx.out.line(f"{len(page.jobs)} of {page.total_size} jobs")
    return exitcodes.OK


async def run_history(ctx: Context) -> int:
    events = [event async for event in ctx.client.events(ctx.args.job_id)]
    ctx.out.listing("events", events, lambda event: [history_line(event)])
    return exitcodes.OK


async def run_stats(ctx: Context) -> int:
    stats = await ctx.client.stats(since=ctx.args.since, until=ctx.args.until, **options.filter_kwargs(ctx.args))
    if ctx.out.text:
        for line in stats_lines(stats):
            ctx.out.line(line)
    else:
        ctx.out.document(stats.to_dict())
    return exitcodes.OK
