"""Asset downloads over HTTP with Range (DownloadAsset from the first byte asked for) and asset links
(CreateAssetLink). The browser's <video> seeks with Range requests, so the player works through here."""

from __future__ import annotations

import contextlib
import re

from aiohttp import web

from genmedia.v1 import job_service_pb2 as js
from services.gateway.backend import JOBS
from services.gateway.errors import ApiError, bad_request
from services.gateway.jobs import backend
from services.gateway.messages import read_body, reply

routes = web.RouteTableDef()
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
EXTENSIONS = {"image/png": "png", "video/mp4": "mp4", "image/jpeg": "jpg", "image/webp": "webp"}


def asset_index(request: web.Request) -> int:
    raw = request.match_info["index"]
    if not raw.isdigit() or int(raw) > 1000:
        raise bad_request("index", f"must be an asset's position, 0 the first, got {raw[:20]!r}")
    return int(raw)


def parse_range(header: str) -> tuple[int | None, int | None] | None:
    """bytes=a-b, bytes=a- or bytes=-n as (first, last) with None for an open side; None: no usable Range
    (absent, or several ranges, which a server may answer with the whole asset)."""
    if not header or "," in header:
        return None
    match = RANGE.match(header.replace(" ", ""))
    if match is None or match.group(1) == match.group(2) == "":
        raise ApiError(416, "OUT_OF_RANGE", f"Range {header[:60]!r} is not bytes=first-last, first- or -suffix")
    first = int(match.group(1)) if match.group(1) else None
    last = int(match.group(2)) if match.group(2) else None
    if first is not None and last is not None and last < first:
        raise ApiError(416, "OUT_OF_RANGE", f"Range {header[:60]!r} ends before it starts")
    return first, last


def resolve(spec: tuple[int | None, int | None], size: int) -> tuple[int, int]:
    """The absolute [start, end] (inclusive) of a range within an asset of `size` bytes."""
    first, last = spec
    if first is None:  # the last `last` bytes
        return max(0, size - (last or 0)), size - 1
    if first >= size:
        raise ApiError(416, "OUT_OF_RANGE", f"the range starts at byte {first}, past the asset's {size} bytes",
                       headers={"Content-Range": f"bytes */{size}"})
    return first, min(size - 1, last if last is not None else size - 1)


@routes.get("/v1/jobs/{id}/assets/{index}")
async def download(request: web.Request) -> web.StreamResponse:
    job_id, index = request.match_info["id"], asset_index(request)
    spec = parse_range(request.headers.get("Range", ""))
    offset = spec[0] if spec and spec[0] is not None else 0
    gateway = backend(request)
    # A suffix range needs the size first: the first message says it, then the call restarts at the offset.
    for _ in range(2):
        message = js.DownloadAssetRequest(job_id=job_id, asset_index=index, offset=offset)
        chunks = gateway.stream(request, JOBS, "DownloadAsset", message)
        async with contextlib.aclosing(chunks):
            head = await anext(chunks, None)
            if head is None or head.WhichOneof("payload") != "asset":
                raise ApiError(502, "UNAVAILABLE", "JobService ended the download before describing the asset")
            asset = head.asset
            start, end = resolve(spec, asset.size_bytes) if spec else (0, asset.size_bytes - 1)
            if start != offset:
                offset = start
                continue
            return await stream_bytes(request, chunks, asset, job_id, index, (start, end), spec is not None)
    raise ApiError(502, "UNAVAILABLE", "the asset changed size while it was being read")


async def stream_bytes(request: web.Request, chunks, asset, job_id: str, index: int, span: tuple[int, int],
                       partial: bool) -> web.StreamResponse:
    start, end = span
    ext = EXTENSIONS.get(asset.mime_type, "bin")
    headers = {"Accept-Ranges": "bytes", "Content-Type": asset.mime_type or "application/octet-stream",
               "Content-Length": str(max(0, end - start + 1)), "ETag": f'"{asset.sha256}"',
               "Cache-Control": "private, max-age=3600",
               "Content-Disposition": f'inline; filename="{job_id}-{index}.{ext}"'}
    if partial:
        headers["Content-Range"] = f"bytes {start}-{end}/{asset.size_bytes}"
    response = web.StreamResponse(status=206 if partial else 200, headers=headers)
    await response.prepare(request)
    remaining = end - start + 1
    try:
        async for item in chunks:
            if remaining <= 0:
                break
            data = item.chunk.data[:remaining]
            await response.write(data)
            remaining -= len(data)
    except (ConnectionResetError, ConnectionError, ApiError):
        # The player moved on (a seek), or the service failed mid-way: the short body tells the client.
        return response
    await response.write_eof()
    return response


@routes.post("/v1/jobs/{id}/assets/{index}/link")
async def link(request: web.Request) -> web.Response:
    message = await read_body(request, js.CreateAssetLinkRequest())
    message.job_id, message.asset_index = request.match_info["id"], asset_index(request)
    return reply(await backend(request).call(request, JOBS, "CreateAssetLink", message))
