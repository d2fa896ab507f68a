"""A job's files: `download JOB_ID` (through JobService, sha256 checked, a bar per file on a terminal) and
`link JOB_ID` (a time-limited HTTPS link, from an S3 store); also `--download` on submits."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from genmedia.cli import exitcodes, options
from genmedia.cli.context import Context
from genmedia.cli.follow import follow
from genmedia.client.errors import ChecksumMismatch, DownloadError, JobEnded
from genmedia.client.transfer import DownloadedAsset


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("download", parents=parents, help="fetch a job's files, their sha256 checked",
                       description="Fetches the job's assets (a video job: the image and the video) through "
                                   "JobService, resuming a cut stream, and checks each against the sha256 "
                                   "recorded when it was made; prints the paths. -o json prints "
                                   "{\"job_id\", \"files\": [{\"path\", \"size_bytes\", \"sha256\", ...}]}.")
    p.add_argument("job_id", help="the job whose files to fetch")
    add_download_options(p)
    p.add_argument("--asset", type=int, metavar="N", help="only asset N (0 the first; a video job's 1 is the video)")
    p.set_defaults(handler=run_download)
    link = sub.add_parser("link", parents=parents, help="a time-limited HTTPS link to one of a job's files",
                          description="A link anyone holding it may GET the file from until it expires (the "
                                      "asset store must be s3://; a folder store has no HTTP face).")
    link.add_argument("job_id", help="the job whose file to link")
    link.add_argument("--asset", type=int, default=0, metavar="N", help="which asset (default 0, the first)")
    link.add_argument("--expires", type=options.duration, default=options.duration("1h"), metavar="DURATION",
                      help="how long the link works: 90s, 10m, 1h (default), up to 7d")
    link.set_defaults(handler=run_link)


def add_download_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                   help="the folder to write the files to (made if missing; default: the current one)")


async def fetch(ctx: Context, job_id: str, asset: int | None = None) -> tuple[list[DownloadedAsset], int]:
    """Downloads, with a bar per file where a person watches; the files and the exit code (an error was
    reported already when it is not OK)."""
    bars = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    console=ctx.out.console) if ctx.out.live else None
    tasks: dict[int, object] = {}

    def progress(index: int, got: int, size: int) -> None:
        if bars is not None:
            if index not in tasks:
                tasks[index] = bars.add_task(f"asset {index}", total=size)
            bars.update(tasks[index], completed=got)

    try:
        if bars is not None:
            bars.start()
        files = await ctx.client.download(job_id, ctx.args.out, asset, on_progress=progress)
    except ChecksumMismatch as error:
        ctx.out.error({"code": "CHECKSUM_MISMATCH", "message": str(error), "reason": "", "field_violations": []})
        return [], exitcodes.INTEGRITY
    except DownloadError as error:
        ctx.out.error({"code": "DOWNLOAD_FAILED", "message": str(error), "reason": "", "field_violations": []})
        return [], exitcodes.UNAVAILABLE
    except OSError as error:  # the folder cannot be written
        ctx.out.error({"code": "USAGE", "message": f"cannot write to {ctx.args.out}: {error.strerror or error}",
                       "reason": "", "field_violations": []})
        return [], exitcodes.USAGE
    finally:
        if bars is not None:
            bars.stop()
    return files, exitcodes.OK


def show_files(ctx: Context, job_id: str, files: list[DownloadedAsset]) -> None:
    if ctx.out.mode == "json":
        ctx.out.document({"job_id": job_id, "files": [f.to_dict() for f in files]})
    elif ctx.out.mode == "jsonl":
        for f in files:
            ctx.out.record({"job_id": job_id, **f.to_dict()})
    else:
        for f in files:
            ctx.out.line(f"{f.path}  {f.size_bytes} bytes  sha256 {f.sha256} verified")


async def run_download(ctx: Context) -> int:
    files, code = await fetch(ctx, ctx.args.job_id, ctx.args.asset)
    if code == exitcodes.OK:
        show_files(ctx, ctx.args.job_id, files)
    return code


async def run_link(ctx: Context) -> int:
    a = ctx.args
    link = await ctx.client.link(a.job_id, a.asset, a.expires)
    if ctx.out.text:
        ctx.out.line(link.url)
        ctx.out.line(f"expires {link.to_dict()['expire_time']}", style="dim")
    else:
        ctx.out.document({"job_id": a.job_id, "asset_index": a.asset, **link.to_dict()})
    return exitcodes.OK


async def finish_and_download(ctx: Context, job_id: str, watch: bool) -> int:
    """--download on a submit: follows (--watch) or waits for the job, then fetches its files when it
    COMPLETED. With -o json, one document: {"job": ..., "files": [...]}."""
    if watch and ctx.out.mode != "json":
        code = await follow(ctx, [job_id])
        if code != exitcodes.OK:
            return code
        files, code = await fetch(ctx, job_id)
        if code == exitcodes.OK:
            show_files(ctx, job_id, files)
        return code
    try:
        job, code = await ctx.client.wait(job_id), exitcodes.OK
    except JobEnded as ended:
        job, code = ended.job, exitcodes.JOB_FAILED
    files = []
    if code == exitcodes.OK:
        files, code = await fetch(ctx, job_id)
    if ctx.out.mode == "json":
        ctx.out.document({"job": job.to_dict(), "files": [f.to_dict() for f in files]})
    else:
        ctx.out.job(job)
        show_files(ctx, job_id, files)
    return code
