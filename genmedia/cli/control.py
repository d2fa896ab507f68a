"""Steering a job: `cancel`, `pause`, `resume` and `review`; each prints the job as the command left it."""

from __future__ import annotations

import argparse

from genmedia.cli import exitcodes
from genmedia.cli.context import Context


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    cancel = sub.add_parser("cancel", parents=parents, help="stop a job (or every job of a batch); it ends CANCELLED")
    cancel.add_argument("job_id", help="the job or batch to cancel")
    cancel.add_argument("--reason", default="", help="kept in the job's message (up to 500 characters)")
    cancel.set_defaults(handler=run)
    for name, text in (("pause", "let the current step finish, then wait in PAUSED"),
                       ("resume", "continue a paused job")):
        p = sub.add_parser(name, parents=parents, help=text)
        p.add_argument("job_id", help=f"the job or batch to {name}")
        p.set_defaults(handler=run)
    review = sub.add_parser("review", parents=parents, help="decide on a job awaiting review")
    review.add_argument("job_id", help="the job awaiting review")
    decision = review.add_mutually_exclusive_group(required=True)
    decision.add_argument("--approve", action="store_true", help="go on (video jobs render)")
    decision.add_argument("--reject", action="store_true",
                          help="with corrections: regenerate and review again; without: the job fails REJECTED")
    review.add_argument("--feedback", default="", help="why (kept with the decision)")
    review.add_argument("--round", type=int, default=0, help="the round decided (default: the current one)")
    for name in ("prompt", "negative-prompt", "style"):
        review.add_argument(f"--{name}", help=f"correction: a new {name.replace('-', ' ')}")
    for name in ("seed", "width", "height"):
        review.add_argument(f"--{name}", type=int, help=f"correction: a new {name}")
    review.set_defaults(handler=run)


async def run(ctx: Context) -> int:
    a, client = ctx.args, ctx.client
    if a.command == "cancel":
        job = await client.cancel(a.job_id, a.reason)
    elif a.command == "pause":
        job = await client.pause(a.job_id)
    elif a.command == "resume":
        job = await client.resume(a.job_id)
    else:
        job = await client.review(a.job_id, approve=a.approve, feedback=a.feedback, round=a.round, prompt=a.prompt,
                                  negative_prompt=a.negative_prompt, seed=a.seed, style=a.style, width=a.width,
                                  height=a.height)
    ctx.out.job(job)
    return exitcodes.OK
