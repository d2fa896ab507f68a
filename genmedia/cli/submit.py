"""`genmedia image PROMPT` and `genmedia video PROMPT`: submit a job; `--watch` follows it with a bar,
`--wait` blocks until it ends and prints it."""

from __future__ import annotations

import argparse
from typing import Any

from genmedia.cli import assets, exitcodes, options
from genmedia.cli.batch import wait_and_print
from genmedia.cli.context import Context
from genmedia.cli.follow import follow


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    image = sub.add_parser("image", parents=parents, help="text to image(s)")
    _common(image)
    image.add_argument("-n", "--num-images", type=int, help="how many images, 1-4 (default 1)")
    image.set_defaults(handler=run)
    video = sub.add_parser("video", parents=parents, help="text to image to video (H.264 MP4)")
    _common(video)
    video.add_argument("--duration", type=float, help="seconds, 1-30 (default 4)")
    video.add_argument("--fps", type=int, help="frames per second, 12-60 (default 24)")
    video.add_argument("--motion", choices=options.MOTIONS, help="camera motion (default zoom-in)")
    video.set_defaults(handler=run)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", help="what to make (1-2000 characters)")
    p.add_argument("--negative-prompt", default="", help="what to keep out of it")
    p.add_argument("--width", type=int, help="pixels (image 64-2048, default 512; video even, 64-1920, default 640)")
    p.add_argument("--height", type=int, help="pixels (image 64-2048, default 512; video even, 64-1920, default 360)")
    p.add_argument("--seed", type=int, help="the same prompt, seed and size give the same pixels")
    p.add_argument("--style", default="", help="a free-form style hint (watercolor, ...)")
    p.add_argument("--label", type=options.label, action="append", default=[], metavar="KEY=VALUE",
                   help="a label to find the job by (repeat for several)")
    p.add_argument("--request-id", default="", help="a UUID: repeating it returns the same job")
    p.add_argument("--review", action="store_true", help="stop after image generation for a human review")
    p.add_argument("--review-timeout", type=options.duration, help="how long the review may wait (default 24h)")
    p.add_argument("--deadline", type=options.deadline, help="stop and fail past this: 30m, 2h, or an RFC 3339 time")
    p.add_argument("--priority", type=int, default=0, choices=range(1, 6), metavar="1-5",
                   help="1 is the highest (default 3)")
    p.add_argument("--backend", default="", metavar="NAME",
                   help="a backend the service has configured (openai, replicate, comfyui...) or a comma list "
                        "tried in order")
    options.add_notify(p)
    how = p.add_mutually_exclusive_group()
    how.add_argument("--watch", action="store_true", help="show live progress until the job ends")
    how.add_argument("--wait", action="store_true",
                     help="block until the job ends, then print it (no bars); the exit code is its outcome")
    p.add_argument("--download", action="store_true",
                   help="once the job COMPLETED, fetch its files (sha256 checked) into --out; waits if neither "
                        "--watch nor --wait is given")
    assets.add_download_options(p)


def job_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The submit's keyword arguments for the client, from the command line."""
    kwargs: dict[str, Any] = {
        "negative_prompt": args.negative_prompt, "style": args.style, "backend": args.backend,
        "labels": dict(args.label),
        "request_id": args.request_id or None, "review": args.review, "priority": args.priority,
        **options.notify_kwargs(args)}
    for name in ("width", "height", "seed", "review_timeout", "deadline"):
        if getattr(args, name) is not None:
            kwargs[name] = getattr(args, name)
    if args.command == "image":
        if args.num_images is not None:
            kwargs["n"] = args.num_images
    else:
        for name in ("duration", "fps", "motion"):
            if getattr(args, name) is not None:
                kwargs[name] = getattr(args, name)
    return kwargs


async def run(ctx: Context) -> int:
    a = ctx.args
    create = ctx.client.create_image if a.command == "image" else ctx.client.create_video
    job = await create(a.prompt, **job_kwargs(a))
    if a.download:
        if a.watch:
            ctx.out.line(f"job {job.id} created")
        return await assets.finish_and_download(ctx, job.id, a.watch)
    if a.wait:
        return await wait_and_print(ctx, job.id)
    if not a.watch:
        ctx.out.job(job)
        return exitcodes.OK
    ctx.out.line(f"job {job.id} created")
    return await follow(ctx, [job.id])
