"""`genmedia`: submit image and video jobs, read them, list them and watch them live."""

from __future__ import annotations

import argparse
import asyncio
import sys

import grpc
from google.protobuf import json_format
from rich.console import Console

from genmedia.cli_reads import add_read_commands, history, job_filter, stats
from genmedia.client import GenmediaClient
from genmedia.errors import details_of
from genmedia.v1 import common_pb2 as pb
from genmedia.watch import describe_asset, watch_job

MOTIONS = {m.removeprefix("MOTION_").lower().replace("_", "-"): v
           for m, v in pb.Motion.items() if v != pb.MOTION_UNSPECIFIED}


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genmedia", description=__doc__)
    parser.add_argument("--server", help="JobService address (GENMEDIA_ORCHESTRATOR_ADDR, 127.0.0.1:50051)")
    parser.add_argument("--progress-server",
                        help="ProgressService address (GENMEDIA_PROGRESS_ADDR, 127.0.0.1:50052)")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
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
    return parser


def build_spec(args: argparse.Namespace) -> pb.JobSpec:
    common = {"prompt": args.prompt, "negative_prompt": args.negative_prompt, "style": args.style}
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
    for asset in job.assets:
        console.print(f"  {describe_asset(asset)}", highlight=False, soft_wrap=True)


async def run(args: argparse.Namespace, console: Console) -> int:
    async with GenmediaClient(args.server, args.progress_server) as client:
        if args.command in ("image", "video"):
            job = await client.create_job(build_spec(args), request_id=args.request_id,
                                          labels=dict(args.label))
            if not args.watch:
                print_job(console, job, args.json)
                return 0
            console.print(f"job {job.id} created", highlight=False)
            return await watch_job(client, job.id, console)
        if args.command == "watch":
            return await watch_job(client, args.job_id, console)
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
