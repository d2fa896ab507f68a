"""Argument types and the option groups several commands share (connection, output, submit, filters)."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from typing import Any

from genmedia.cli.output import MODES
from genmedia.client import requests as rq
from genmedia.client.enums import JobKind, JobState, Motion

SPAN = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
STATES = sorted(s.name.lower().replace("_", "-") for s in JobState if s.value > 0)
KINDS = sorted(k.name.lower() for k in JobKind if k.value > 0)
MOTIONS = sorted(m.name.lower().replace("_", "-") for m in Motion if m.value > 0)


def label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def duration(text: str) -> dt.timedelta:
    """`90s`, `10m`, `2h`, `1d`, or plain seconds."""
    number, unit = (text[:-1], text[-1]) if text and text[-1] in UNITS else (text, "s")
    try:
        return dt.timedelta(seconds=float(number) * UNITS[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 10m, 2h or 1d") from None


def deadline(text: str) -> dt.datetime:
    """A duration from now (`10m`) or an RFC 3339 time (`2026-11-23T18:00:00Z`)."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return dt.datetime.now(dt.UTC) + duration(text)
    return when if when.tzinfo else when.astimezone()


def when(text: str) -> dt.datetime:
    """An ISO 8601 time (UTC when no zone is given) or a span back from now: 90s, 15m, 24h, 7d."""
    if match := SPAN.match(text):
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=float(match[1]) * UNITS[match[2]])
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither an ISO 8601 time nor a span like 24h") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def events(text: str) -> list[str]:
    """`completed,failed`: events that notify."""
    names = [n.strip().lower().replace("_", "-") for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in rq.NOTIFY_EVENTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: events are {', '.join(rq.NOTIFY_EVENTS)}")
    return names


def add_common(parser: argparse.ArgumentParser, top: bool) -> None:
    """Output and connection options. The top-level parser holds the defaults; every command takes them
    too (default SUPPRESS, so a command's parser never overwrites what was given before the command)."""
    d = (lambda value: value) if top else (lambda value: argparse.SUPPRESS)  # noqa: E731
    out = parser.add_argument_group("output")
    out.add_argument("-o", "--output", choices=MODES, default=d("text"),
                     help="text (default), json (one document) or jsonl (one object per line)")
    out.add_argument("--json", dest="output", action="store_const", const="json", default=d("text"),
                     help="the same as -o json")
    conn = parser.add_argument_group("connection")
    conn.add_argument("--server", default=d(None), metavar="HOST:PORT",
                      help="JobService address (GENMEDIA_ORCHESTRATOR_ADDR, else 127.0.0.1:50051)")
    conn.add_argument("--progress-server", default=d(None), metavar="HOST:PORT",
                      help="ProgressService address (GENMEDIA_PROGRESS_ADDR, else 127.0.0.1:50052)")
    conn.add_argument("--token", default=d(None), help="API key or JWT (GENMEDIA_TOKEN)")
    conn.add_argument("--tls", action="store_true", default=d(False),
                      help="connect with TLS, trusting the system's roots (GENMEDIA_TLS=on)")
    conn.add_argument("--ca", default=d(None), metavar="FILE",
                      help="CA certificate to trust (GENMEDIA_TLS_CA_FILE); implies --tls")
    conn.add_argument("--cert", default=d(None), metavar="FILE",
                      help="client certificate for mTLS (GENMEDIA_TLS_CLIENT_CERT_FILE)")
    conn.add_argument("--key", default=d(None), metavar="FILE",
                      help="client private key for mTLS (GENMEDIA_TLS_CLIENT_KEY_FILE)")
    conn.add_argument("--timeout", type=float, default=d(30.0), metavar="SECONDS",
                      help="deadline of every call (default 30)")


def add_notify(p: argparse.ArgumentParser) -> None:
    p.add_argument("--webhook", default="", metavar="URL", help="POST a signed JSON notification here")
    p.add_argument("--slack", default="", metavar="URL", help="a Slack incoming-webhook URL")
    p.add_argument("--email", action="append", default=[], metavar="ADDRESS",
                   help="email this address (repeat for several)")
    p.add_argument("--notify-events", "--webhook-events", dest="notify_events", type=events, action="append",
                   default=[], metavar="EVENT,...",
                   help=f"which events notify ({', '.join(rq.NOTIFY_EVENTS)}); default: completed, failed, cancelled")


def notify_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"webhook": args.webhook, "slack": args.slack, "emails": args.email,
            "notify_events": [e for group in args.notify_events for e in group]}


def add_filters(p: argparse.ArgumentParser, created: bool = True) -> None:
    p.add_argument("--state", action="append", default=[], choices=STATES, help="jobs in this state (repeat: any)")
    p.add_argument("--kind", choices=KINDS, help="jobs of this kind")
    p.add_argument("--batch", default="", metavar="BATCH_ID", help="jobs of this batch")
    p.add_argument("--top-level", action="store_true", help="only jobs that are not in a batch (and batches)")
    p.add_argument("--label", type=label, action="append", default=[], metavar="KEY=VALUE",
                   help="jobs with this label (repeat: all must match)")
    if created:
        p.add_argument("--created-after", type=when, metavar="TIME", help="ISO 8601, or a span back (24h, 7d)")
        p.add_argument("--created-before", type=when, metavar="TIME", help="ISO 8601, or a span back (24h, 7d)")


def filter_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"state": args.state, "kind": args.kind or None, "batch_id": args.batch,
                              "labels": dict(args.label), "top_level": args.top_level}
    for name in ("created_after", "created_before"):
        if getattr(args, name, None) is not None:
            kwargs[name] = getattr(args, name)
    return kwargs
