"""The CLI's notifications: `--webhook`, `--slack`, `--email` and `--notify-events` on submits, and the
`deliveries JOB`, `redeliver DELIVERY_ID` and `webhook-secret` commands."""

from __future__ import annotations

import argparse
import datetime as dt

from google.protobuf import json_format
from rich.console import Console

from genmedia import notify
from genmedia.client import GenmediaClient
from genmedia.v1 import common_pb2 as pb

EVENTS = {name.replace("_", "-"): event for event, name in notify.EVENTS.items()}
COMMANDS = ("deliveries", "redeliver", "webhook-secret")


def _events(text: str) -> list[int]:
    """`completed,failed` (names as in notify.EVENTS, `_` or `-`)."""
    names = [n.strip().lower().replace("_", "-") for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in EVENTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: events are {', '.join(EVENTS)}")
    return [EVENTS[n] for n in names]


def add_notify_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--webhook", default="", metavar="URL", help="POST a signed JSON notification here")
    p.add_argument("--slack", default="", metavar="URL", help="a Slack incoming-webhook URL")
    p.add_argument("--email", action="append", default=[], metavar="ADDRESS", help="repeat for several")
    p.add_argument("--notify-events", "--webhook-events", dest="notify_events", type=_events, action="append",
                   default=[], metavar="EVENT,...",
                   help=f"which events notify ({', '.join(EVENTS)}); default: completed, failed, cancelled")


def build_notify(args: argparse.Namespace) -> pb.Notify | None:
    events = [e for group in args.notify_events for e in group]
    settings = pb.Notify(webhook_url=args.webhook, slack_url=args.slack, emails=args.email, events=events)
    return settings if settings.ListFields() else None


def add_notify_commands(sub: argparse._SubParsersAction) -> None:
    deliveries = sub.add_parser("deliveries", help="a job's notifications and every attempt at sending them")
    deliveries.add_argument("job_id")
    redeliver = sub.add_parser("redeliver", help="send a notification again (same id, fresh signature)")
    redeliver.add_argument("delivery_id")
    redeliver.add_argument("--request-id", default="", help="a UUID: repeating it redelivers once")
    sub.add_parser("webhook-secret", help="your webhook signing secret (whsec_...)")


def notify_text(settings: pb.Notify) -> str:
    """One line: where the job's notifications go (as the server shows them, redacted) and on which events."""
    targets = ([f"webhook {settings.webhook_url}"] if settings.webhook_url else []) + (
        [f"slack {settings.slack_url}"] if settings.slack_url else []) + [f"email {a}" for a in settings.emails]
    events = ", ".join(notify.EVENTS[e] for e in settings.events or notify.DEFAULT_EVENTS)
    return f"notify: {', '.join(targets)} on {events}"


def _name(enum, value: int, prefix: str) -> str:
    return enum.Name(value).removeprefix(prefix).lower() if value else "-"


def print_delivery(console: Console, d: pb.Delivery, as_json: bool) -> None:
    if as_json:
        console.print_json(json_format.MessageToJson(d, preserving_proto_field_name=True))
        return
    redelivered = f", redelivered {d.redeliveries}x" if d.redeliveries else ""
    console.print(f"{d.id}  {_name(pb.NotifyChannel, d.channel, 'NOTIFY_CHANNEL_')}  {d.target}  "
                  f"{notify.event_name(d.event)}  {_name(pb.DeliveryState, d.state, 'DELIVERY_STATE_').upper()}  "
                  f"{len(d.attempts)} attempts{redelivered}", highlight=False, soft_wrap=True)
    for a in d.attempts:
        when = f"{a.time.ToDatetime(tzinfo=dt.UTC):%Y-%m-%d %H:%M:%S.%f}"[:-3]
        millis = a.latency.ToTimedelta().total_seconds() * 1000
        outcome = "ok" if a.succeeded else a.error
        console.print(f"  {a.attempt:>3}  {when}  {a.status_code or '-':>3}  {millis:7.0f} ms  "
                      f"{'(redelivery ' + str(a.redelivery) + ')  ' if a.redelivery else ''}{outcome}",
                      highlight=False, soft_wrap=True)


async def run_notify_command(client: GenmediaClient, args: argparse.Namespace, console: Console) -> int:
    if args.command == "webhook-secret":
        answer = await client.webhook_secret()
        if args.json:
            console.print_json(json_format.MessageToJson(answer, preserving_proto_field_name=True))
        else:
            console.print(f"{answer.secret}  [dim](webhooks of {answer.owner})[/dim]", highlight=False)
        return 0
    if args.command == "redeliver":
        delivery = await client.redeliver(args.delivery_id, args.request_id)
        print_delivery(console, delivery, args.json)
        return 0
    count = 0
    async for delivery in client.deliveries(args.job_id):
        count += 1
        print_delivery(console, delivery, args.json)
    if not args.json:
        console.print(f"{count} deliveries", highlight=False)
    return 0
