"""The CLI's read commands on the progress service: `list` filters, `history ID` and `stats`."""

from __future__ import annotations

import argparse
import datetime as dt
import re

from google.protobuf import json_format
from rich.console import Console

from genmedia.client import GenmediaClient
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps

STATES = {n.removeprefix("JOB_STATE_").lower().replace("_", "-"): v for n, v in pb.JobState.items() if v}
KINDS = {"image": pb.JOB_KIND_IMAGE, "video": pb.JOB_KIND_VIDEO, "batch": pb.JOB_KIND_BATCH, "null": pb.JOB_KIND_NULL}
SPAN = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def when(text: str) -> dt.datetime:
    """An ISO 8601 time (UTC when no zone is given) or a span back from now: 90s, 15m, 24h, 7d."""
    if match := SPAN.match(text):
        return dt.datetime.now(dt.UTC) - dt.timedelta(**{UNITS[match[2]]: float(match[1])})
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither an ISO 8601 time nor a span like 24h") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def add_filter_options(p: argparse.ArgumentParser, created: bool = True) -> None:
    p.add_argument("--state", action="append", default=[], choices=sorted(STATES), help="repeat for several")
    p.add_argument("--kind", choices=sorted(KINDS))
    p.add_argument("--batch", default="", help="jobs of this batch")
    p.add_argument("--top-level", action="store_true", help="only jobs that are not in a batch (and batches)")
    p.add_argument("--label", type=_label, action="append", default=[], metavar="KEY=VALUE",
                   help="jobs with this label (repeat: all must match)")
    if created:
        p.add_argument("--created-after", type=when, metavar="TIME", help="ISO 8601 or a span back (24h, 7d)")
        p.add_argument("--created-before", type=when, metavar="TIME")


def add_read_commands(sub: argparse._SubParsersAction, lst: argparse.ArgumentParser) -> None:
    """The filters of `list`, and the `history` and `stats` commands."""
    add_filter_options(lst)
    lst.add_argument("--oldest-first", action="store_true")
    history = sub.add_parser("history", help="the timeline of one job, every event in order")
    history.add_argument("job_id")
    stats = sub.add_parser("stats", help="success rate, durations, reviews and backlog over a time window")
    stats.add_argument("--since", type=when, default=None, metavar="TIME", help="default 24h")
    stats.add_argument("--until", type=when, default=None, metavar="TIME", help="default now")
    add_filter_options(stats, created=False)


def job_filter(args: argparse.Namespace) -> ps.JobFilter:
    f = ps.JobFilter(states=[STATES[s] for s in args.state], kind=KINDS.get(args.kind or "", 0),
                     batch_id=args.batch, labels=dict(args.label), top_level=args.top_level)
    for name in ("created_after", "created_before"):
        if getattr(args, name, None) is not None:
            getattr(f, name).FromDatetime(getattr(args, name))
    return f


def _name(enum, value: int, prefix: str) -> str:
    return enum.Name(value).removeprefix(prefix).lower().replace("_", " ") if value else "-"


async def history(client: GenmediaClient, job_id: str, console: Console, as_json: bool) -> int:
    count = 0
    async for event in client.job_events(job_id):
        count += 1
        if as_json:
            console.print_json(json_format.MessageToJson(event, preserving_proto_field_name=True))
            continue
        kind = _name(pb.EventType, event.type, "EVENT_TYPE_")
        state, step = _name(pb.JobState, event.state, "JOB_STATE_"), _name(pb.JobStep, event.step, "JOB_STEP_")
        line = (f"{event.sequence:>5}  {event.time.ToDatetime(tzinfo=dt.UTC):%Y-%m-%d %H:%M:%S.%f}"[:-3]
                + f"  {kind:<15} {state:<16} {step:<17} {event.percent:5.1f}%  {event.message}")
        if event.error.code:
            line += f"  [{event.error.code}: {event.error.message}]"
        if event.HasField("review"):
            decision = _name(pb.ReviewDecision, event.review.decision, "REVIEW_DECISION_")
            line += f"  review round {event.review.round}: {decision}"
        console.print(line, highlight=False, soft_wrap=True)
    if not as_json:
        console.print(f"{count} events", highlight=False)
    return 0


def _seconds(duration) -> str:
    return f"{duration.ToTimedelta().total_seconds():.1f}s"


async def stats(client: GenmediaClient, args: argparse.Namespace, console: Console) -> int:
    request = ps.GetStatsRequest(filter=job_filter(args))
    if args.since is not None:
        request.start_time.FromDatetime(args.since)
    if args.until is not None:
        request.end_time.FromDatetime(args.until)
    s = await client.get_stats(request)
    if args.json:
        console.print_json(json_format.MessageToJson(s, preserving_proto_field_name=True))
        return 0
    start, end = (t.ToDatetime(tzinfo=dt.UTC).strftime("%Y-%m-%d %H:%M") for t in (s.start_time, s.end_time))
    print_ = lambda text: console.print(text, highlight=False)  # noqa: E731
    print_(f"jobs created {start} .. {end} UTC: {s.total_jobs}")
    print_(f"  success rate      {s.success_rate:.1%}")
    print_(f"  backlog now       {s.backlog} (pending + running + retrying)")
    print_(f"  reviews           {s.reviews}, approved {s.review_approval_rate:.1%}")
    print_("  by state          " + (", ".join(f"{_name(pb.JobState, c.state, 'JOB_STATE_')} {c.count}"
                                             for c in s.counts) or "-"))
    for k in s.kinds:
        print_(f"  {_name(pb.JobKind, k.kind, 'JOB_KIND_') + ' jobs':<17} {k.duration.count} completed, "
               f"mean {_seconds(k.duration.mean)}, p95 {_seconds(k.duration.p95)}")
    for step in s.steps:
        print_(f"  step {_name(pb.JobStep, step.step, 'JOB_STEP_'):<12} {step.duration.count} runs, "
               f"mean {_seconds(step.duration.mean)}, p95 {_seconds(step.duration.p95)}")
    for p in s.providers:
        print_(f"  provider {p.provider:<8} {p.calls} calls, {p.failures} failed, latency p95 "
               f"{_seconds(p.latency.p95) if p.latency.count else '-'}")
    return 0
