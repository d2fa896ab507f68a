"""Notifications: `deliveries JOB`, `redeliver DELIVERY_ID` and `webhook-secret` (the submit options are
in cli/options.py)."""

from __future__ import annotations

import argparse

from genmedia.cli import exitcodes
from genmedia.cli.context import Context
from genmedia.cli.text import delivery_lines


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    deliveries = sub.add_parser("deliveries", parents=parents,
                                help="a job's notifications and every attempt at sending them")
    deliveries.add_argument("job_id", help="the job (or batch) whose notifications to list")
    deliveries.set_defaults(handler=run_deliveries)
    redeliver = sub.add_parser("redeliver", parents=parents,
                               help="send a notification again (same id, fresh signature)")
    redeliver.add_argument("delivery_id", help="the delivery (msg_...) to send again")
    redeliver.add_argument("--request-id", default="", help="a UUID: repeating it redelivers once")
    redeliver.set_defaults(handler=run_redeliver)
    secret = sub.add_parser("webhook-secret", parents=parents, help="your webhook signing secret (whsec_...)")
    secret.set_defaults(handler=run_secret)


async def run_deliveries(ctx: Context) -> int:
    deliveries = [d async for d in ctx.client.deliveries(ctx.args.job_id)]
    ctx.out.listing("deliveries", deliveries, delivery_lines)
    return exitcodes.OK


async def run_redeliver(ctx: Context) -> int:
    delivery = await ctx.client.redeliver(ctx.args.delivery_id, ctx.args.request_id or None)
    if ctx.out.text:
        for line in delivery_lines(delivery):
            ctx.out.line(line)
    else:
        ctx.out.document(delivery.to_dict())
    return exitcodes.OK


async def run_secret(ctx: Context) -> int:
    secret = await ctx.client.webhook_secret()
    if ctx.out.text:
        ctx.out.line(f"{secret.secret}  (webhooks of {secret.owner})")
    else:
        ctx.out.document(secret.to_dict())
    return exitcodes.OK
