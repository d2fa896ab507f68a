"""`genmedia`: submit image and video jobs and batches of them, read them, list them and watch them live."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from google.protobuf import json_format
from rich.console import Console

from genmedia import cli_notify
from genmedia.cli_batch import add_batch_commands, run_batch_command, summary_text, watch_batch
from genmedia.cli_reads import add_read_commands, history, job_filter, stats
from genmedia.client import GenmediaClient
from genmedia.errors import details_of
from genmedia.tls import ClientTls
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2
from genmedia.watch import describe_asset, eta_text, provenance_text, watch_job

MOTIONS = {m.removeprefix("MOTION_").lower().replace("_", "-"): v
           for m, v in pb.Motion.items() if v != pb.MOTION_UNSPECIFIED}


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> timedelta:
    """`90s`, `10m`, `2h`, `1d`, or plain seconds."""
    number, unit = (text[:-1], text[-1]) if text and text[-1] in UNITS else (text, "s")
    try:
        return timedelta(seconds=float(number) * UNITS[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 10m, 2h or 1d") from None


def _deadline(text: str) -> datetime:
    """A duration from now (`10m`) or an RFC 3339 time (`2026-11-23T18:00:00Z`)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return datetime.now(UTC) + _duration(text)
    return when if when.tzinfo else when.astimezone()


def _submit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt")
    p.add_argument("--negative-prompt", default="")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--style", default="")
    p.add_argument("--label", type=_label, action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--request-id", default="", help="a UUID: repeating it returns the same job")
    p.add_argument("--watch", action="store_true", help="show live progress until the job ends")
    p.add_argument("--review", action="store_true", help="stop after image generation for a human review")
    p.add_argument("--review-timeout", type=_duration, help="how long the review may wait (default 24h)")
    p.add_argument("--deadline", type=_deadline, help="stop and fail past this: 30m, 2h, or an RFC 3339 time")
    p.add_argument("--priority", type=int, default=0, choices=range(1, 6), metavar="1-5",
                   help="1 is the highest (default 3)")
    p.add_argument("--backend", default="", metavar="NAME",
                   help="a backend the service has configured (openai, replicate, comfyui...) or a comma list")
    cli_notify.add_notify_options(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genmedia", description=__doc__)
    parser.add_argument("--server", help="JobService address (GENMEDIA_ORCHESTRATOR_ADDR, 127.0.0.1:50051)")
    parser.add_argument("--progress-server",
                        help="ProgressService address (GENMEDIA_PROGRESS_ADDR, 127.0.0.1:50052)")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--token", help="API key or JWT (GENMEDIA_TOKEN)")
    parser.add_argument("--tls", action="store_true", help="connect with TLS (GENMEDIA_TLS=on)")
    parser.add_argument("--ca", help="CA certificate to trust (GENMEDIA_TLS_CA_FILE); implies --tls")
    parser.add_argument("--cert", help="client certificate for mTLS (GENMEDIA_TLS_CLIENT_CERT_FILE)")
    parser.add_argument("--key", help="client private key for mTLS (GENMEDIA_TLS_CLIENT_KEY_FILE)")
    sub = parser.add_subparsers(dest="command", required=True)
    image = sub.add_parser("image", help="text to image(s)")
    _submit_options(image)
    image.add_argument("--num-images", type=int)
    video = sub.add_parser("video", help="text to image to video")
    _submit_options(video)
    video.add_argument("--duration", type=float, help="seconds, 1-30 (default 4)")
    video.add_argument("--fps", type=int, help="12-60 (default 24)")
    video.add_argument("--motion", choices=sorted(MOTIONS), help="camera motion (default zoom-in)")
    get = sub.add_parser("get", help="one job, read live from its workflow")
    get.add_argument("job_id")
    lst = sub.add_parser("list", help="jobs, newest first")
    lst.add_argument("--page-size", type=int, default=20)
    lst.add_argument("--page-token", default="")
    add_read_commands(sub, lst)
    watch = sub.add_parser("watch", help="follow a job live until it ends")
    watch.add_argument("job_id")
    cancel = sub.add_parser("cancel", help="stop a job; it ends CANCELLED")
    cancel.add_argument("job_id")
    cancel.add_argument("--reason", default="")
    for name, text in (("pause", "let the current step finish, then wait"), ("resume", "continue a paused job")):
        sub.add_parser(name, help=text).add_argument("job_id")
    review = sub.add_parser("review", help="decide on a job awaiting review")
    review.add_argument("job_id")
    decision = review.add_mutually_exclusive_group(required=True)
    decision.add_argument("--approve", action="store_true", help="go on (video jobs render)")
    decision.add_argument("--reject", action="store_true",
                          help="with corrections: regenerate and review again; without: the job fails REJECTED")
    review.add_argument("--feedback", default="")
    review.add_argument("--round", type=int, default=0, help="the round decided (default: the current one)")
    for name in ("prompt", "negative-prompt", "style"):
        review.add_argument(f"--{name}", help=f"correction: a new {name.replace('-', ' ')}")
    for name in ("seed", "width", "height"):
        review.add_argument(f"--{name}", type=int, help=f"correction: a new {name}")
    add_batch_commands(sub, _label, "a UUID: repeating it returns the same batch")
    cli_notify.add_notify_commands(sub)
    return parser


def build_corrections(args: argparse.Namespace) -> pb.ReviewCorrections | None:
    fields = {name: getattr(args, name) for name in ("prompt", "negative_prompt", "style", "seed", "width", "height")
              if getattr(args, name) is not None}
    return pb.ReviewCorrections(**fields) if fields else None


def build_spec(args: argparse.Namespace) -> pb.JobSpec:
    common = {"prompt": args.prompt, "negative_prompt": args.negative_prompt, "style": args.style,
              "backend": args.backend}
    for name in ("width", "height", "seed"):
        if getattr(args, name) is not None:
            common[name] = getattr(args, name)
    if args.command == "image":
        if args.num_images is not None:
            common["num_images"] = args.num_images
        return pb.JobSpec(kind=pb.JOB_KIND_IMAGE, image=pb.ImageSpec(**common))
    if args.duration is not None:
        common["duration_seconds"] = args.duration
    if args.fps is not None:
        common["fps"] = args.fps
    if args.motion:
        common["motion"] = MOTIONS[args.motion]
    return pb.JobSpec(kind=pb.JOB_KIND_VIDEO, video=pb.VideoSpec(**common))


def print_job(console: Console, job: pb.Job, as_json: bool, source: str = "") -> None:
    if as_json:
        console.print_json(json_format.MessageToJson(job, preserving_proto_field_name=True))
        return
    state = pb.JobState.Name(job.state).removeprefix("JOB_STATE_")
    step = pb.JobStep.Name(job.step).removeprefix("JOB_STEP_").lower()
    console.print(f"job {job.id}  {state}  {step}  {job.percent:.0f}%  {job.message}"
                  + (f"  [dim](from {source})[/dim]" if source else ""), highlight=False, soft_wrap=True)
    if job.error.code:
        console.print(f"  error: {job.error.code}: {job.error.message}", highlight=False)
    if job.error.provider:
        console.print(f"  provider: {job.error.provider}, request {job.error.provider_request_id or '-'}",
                      highlight=False)
    if job.HasField("batch"):
        strategy = pb.BatchStrategy.Name(job.batch.strategy).removeprefix("BATCH_STRATEGY_").lower()
        console.print(f"  batch: {summary_text(job.batch)}; attempt {job.batch.attempt}, {strategy}, at most "
                      f"{job.batch.max_concurrent} at once" + (", fail fast" if job.batch.fail_fast else ""),
                      highlight=False)
    if job.batch_id:
        console.print(f"  job {job.batch_index} of batch {job.batch_id} (attempt {job.batch_attempt})",
                      highlight=False)
    if job.HasField("estimated_completion_time"):
        console.print(f"  {eta_text(job.estimated_completion_time)}", highlight=False)
    if job.HasField("notify"):
        console.print(f"  {cli_notify.notify_text(job.notify)}", highlight=False, soft_wrap=True)
    if job.review:
        console.print(f"  review round {job.review_round}" if job.review_round else "  review requested",
                      highlight=False)
    for review in job.reviews:
        decision = pb.ReviewDecision.Name(review.decision).removeprefix("REVIEW_DECISION_").lower()
        corrections = json_format.MessageToDict(review.corrections, preserving_proto_field_name=True)
        console.print(f"  round {review.round}: {decision} by {review.reviewer} at {review.time.ToJsonString()}"
                      + (f": {review.feedback}" if review.feedback else "")
                      + (f" corrections {corrections}" if corrections else ""), highlight=False, soft_wrap=True)
    for asset in job.assets:
        console.print(f"  {describe_asset(asset)}", highlight=False, soft_wrap=True)
        if asset.provider:
            console.print(f"    {provenance_text(asset)}", highlight=False, soft_wrap=True)


def client_tls(args: argparse.Namespace) -> ClientTls | None:
    """TLS from the flags, else from GENMEDIA_TLS_* (None: plaintext)."""
    if not (args.tls or args.ca or args.cert or args.key):
        return None
    if bool(args.cert) != bool(args.key):
        raise SystemExit("error: --cert and --key go together")
    try:
        read = {name: Path(path).read_bytes() if path else None
                for name, path in (("ca", args.ca), ("cert", args.cert), ("key", args.key))}
    except OSError as err:
        raise SystemExit(f"error: cannot read {err.filename}: {err.strerror}") from None
    return ClientTls(read["ca"], read["cert"], read["key"])


async def run(args: argparse.Namespace, console: Console) -> int:
    async with GenmediaClient(args.server, args.progress_server, token=args.token, tls=client_tls(args)) as client:
        if args.command in ("image", "video"):
            job = await client.create_job(build_spec(args), request_id=args.request_id, labels=dict(args.label),
                                          review=args.review, review_timeout=args.review_timeout,
                                          deadline=args.deadline, priority=args.priority,
                                          notify=cli_notify.build_notify(args))
            if not args.watch:
                print_job(console, job, args.json)
                return 0
            console.print(f"job {job.id} created", highlight=False)
            return await watch_job(client, job.id, console)
        if args.command == "watch":
            job = await client.progress.GetJob(job_service_pb2.GetJobRequest(job_id=args.job_id),
                                               timeout=client.timeout)
            if job.kind == pb.JOB_KIND_BATCH:
                return await watch_batch(client, args.job_id, console)
            return await watch_job(client, args.job_id, console)
        if args.command in ("batch", "retry-batch"):
            return await run_batch_command(args, client, console, print_job)
        if args.command in cli_notify.COMMANDS:
            return await cli_notify.run_notify_command(client, args, console)
        if args.command in ("cancel", "pause", "resume", "review"):
            if args.command == "cancel":
                job = await client.cancel_job(args.job_id, args.reason)
            elif args.command == "review":
                job = await client.review_job(args.job_id, approve=args.approve, feedback=args.feedback,
                                              corrections=build_corrections(args), round=args.round)
            else:
                job = await getattr(client, f"{args.command}_job")(args.job_id)
            print_job(console, job, args.json)
            return 0
        if args.command == "get":
            response = await client.get_job(args.job_id)
            source = "workflow" if response.source == response.SOURCE_WORKFLOW else "store"
            print_job(console, response.job, args.json, source)
            return 1 if response.job.state in (pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED) else 0
        if args.command == "history":
            return await history(client, args.job_id, console, args.json)
        if args.command == "stats":
            return await stats(client, args, console)
        response = await client.list_jobs(args.page_size, args.page_token, job_filter(args), args.oldest_first)
        for job in response.jobs:
            print_job(console, job, args.json)
        if response.next_page_token:
            console.print(f"more: --page-token {response.next_page_token}", highlight=False)
        console.print(f"{len(response.jobs)} of {response.total_size} jobs", highlight=False)
        return 0


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        code = asyncio.run(run(args, console))
    except grpc.aio.AioRpcError as err:
        _, violations = details_of(err)
        errors = Console(stderr=True)
        errors.print(f"error: {err.code().name}" + ("" if violations else f": {err.details()}"), highlight=False)
        for field, description in violations:
            errors.print(f"  {field}: {description}", highlight=False)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
