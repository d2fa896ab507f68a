"""`genmedia monitor`: a live table of my running and recent jobs (state, step, %, ETA, age), kept up to date
from one WatchJobs stream that resumes by itself across restarts of the progress service. Ctrl-C ends it.
Not on a terminal it prints a line per change; -o jsonl streams the jobs, then every event; -o json prints
the table once as {"jobs": [...]} and ends."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt

from rich.live import Live
from rich.table import Table

from genmedia.cli import exitcodes, options
from genmedia.cli.context import Context
from genmedia.cli.feed import Feed
from genmedia.cli.text import age_text, eta_text, step_label
from genmedia.cli.views import stamp
from genmedia.client.enums import JobState
from genmedia.client.errors import RpcError
from genmedia.client.models import Job, JobEvent

LIVE_STATES = [s for s in JobState if s.value > 0 and not s.terminal]


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("monitor", parents=parents, help="a live table of my running and recent jobs",
                       description=__doc__)
    p.add_argument("--since", type=options.when, default=None, metavar="TIME",
                   help="recent means created after this: ISO 8601 or a span back (default 1h)")
    p.add_argument("--limit", type=int, default=30, help="at most this many rows, unfinished jobs first (default 30)")
    options.add_filters(p, created=False)
    p.set_defaults(handler=run)


class Rows:
    """The jobs shown: the newest view of each, unfinished ones first, then the newest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.jobs: dict[str, Job] = {}
        self.latest: dict[str, JobEvent] = {}  # the newest event of a job, applied over its Job

    def add(self, job: Job) -> None:
        self.jobs.setdefault(job.id, job)

    def apply(self, event: JobEvent) -> None:
        self.latest[event.job_id] = event

    def shown(self) -> list[tuple[Job, Job | JobEvent]]:
        def order(job: Job) -> tuple:
            state = self.latest[job.id].state if job.id in self.latest else job.state
            created = job.create_time or dt.datetime.min.replace(tzinfo=dt.UTC)
            return (state.terminal, -created.timestamp())

        jobs = sorted(self.jobs.values(), key=order)[: self.limit]
        return [(job, self.latest.get(job.id, job)) for job in jobs]

    def table(self) -> Table:
        table = Table(title=f"genmedia monitor  {dt.datetime.now():%H:%M:%S}", title_justify="left")
        for column in ("job", "kind", "state", "step", "%", "ETA", "age", "message"):
            table.add_column(column, justify="right" if column in ("%", "age") else "left")
        for job, now in self.shown():
            eta = eta_text(now.estimated_completion_time) if now.estimated_completion_time and not \
                now.state.terminal else ""
            table.add_row(job.id, job.kind.label, now.state.label, step_label(now), f"{now.percent:.0f}",
                          eta.removeprefix("ETA "), age_text(job.create_time), now.message[:50])
        return table


async def run(ctx: Context) -> int:
    a = ctx.args
    flt = options.filter_kwargs(a)
    since = a.since or dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    rows = Rows(a.limit)
    async with Feed(ctx.client, **flt) as feed:
        # Subscribed: the listing below and the events after it miss nothing.
        async for job in ctx.client.list(limit=100, **{**flt, "state": flt["state"] or LIVE_STATES}):
            rows.add(job)
        async for job in ctx.client.list(limit=a.limit, created_after=since, **flt):
            rows.add(job)
        if ctx.out.mode == "json":
            ctx.out.document({"jobs": [job.to_dict() for job, _ in rows.shown()]})
            return exitcodes.OK
        for job, _ in reversed(rows.shown()):
            if ctx.out.mode == "jsonl":
                ctx.stream(job)
            else:
                _line(ctx, job, job)
        if ctx.out.live:
            with Live(rows.table(), console=ctx.out.console, refresh_per_second=2) as live:
                redraw = asyncio.create_task(_redraw(live, rows))
                try:
                    await _follow(ctx, feed, rows)
                finally:
                    redraw.cancel()
        else:
            await _follow(ctx, feed, rows)
    return exitcodes.OK


async def _follow(ctx: Context, feed: Feed, rows: Rows) -> None:
    async for event in feed:
        if event.job_id not in rows.jobs:
            try:
                rows.add(await ctx.client.get(event.job_id, live=False))
            except RpcError:
                continue  # gone already (purged): nothing to show
        rows.apply(event)
        if ctx.out.mode == "jsonl":
            ctx.stream(event)
        elif not ctx.out.live:
            _line(ctx, rows.jobs[event.job_id], event)


async def _redraw(live: Live, rows: Rows) -> None:
    while True:
        live.update(rows.table())
        await asyncio.sleep(0.5)


def _line(ctx: Context, job: Job, now: Job | JobEvent) -> None:
    ctx.out.line(f"{stamp()} {job.id}  {job.kind.label}  {now.state.name}  {step_label(now)}  {now.percent:.0f}%  "
                 f"{now.message}")
