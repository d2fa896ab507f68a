"""Server-Sent Events: one job's events (`/v1/jobs/{id}/events`) and every event of the caller's jobs
(`/v1/events`). Each SSE id is where to resume: the job's event sequence, or the feed cursor across jobs;
a browser's EventSource sends it back as Last-Event-ID when it reconnects, so nothing is lost or repeated."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from genmedia.v1 import progress_service_pb2 as ps
from services.gateway.backend import PROGRESS
from services.gateway.errors import ApiError, bad_request
from services.gateway.jobs import backend
from services.gateway.keys import DRAINING
from services.gateway.messages import int_param, job_filter, reply, to_json

routes = web.RouteTableDef()
RETRY_MS = 1000


def last_event_id(request: web.Request) -> str:
    """Last-Event-ID (an EventSource reconnecting), else ?lastEventId= (a client's first connect)."""
    return request.headers.get("Last-Event-ID", "") or request.query.get("lastEventId", "")


def frame(event: str, data: Any, id: str | None = None) -> bytes:
    lines = [f"event: {event}"]
    if id is not None:
        lines.append(f"id: {id}")
    lines.append(f"data: {json.dumps(data, separators=(',', ':'))}")
    return ("\n".join(lines) + "\n\n").encode()


async def send(request: web.Request, frames: AsyncIterator[bytes]) -> web.StreamResponse:
    """Answers the first frame's errors as JSON (before any byte is sent), then streams. A stream that has
    nothing to send (resumed after the end) is 204, which tells EventSource to stop reconnecting."""
    async with contextlib.aclosing(frames):
        first = await anext(frames, None)
        if first is None:
            return web.Response(status=204)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MS}\n\n".encode() + first)
        try:
            async for chunk in until_draining(request.app[DRAINING], frames):
                await response.write(chunk)
        except (ConnectionResetError, ConnectionError, ApiError):
            # The client went away, or the service behind failed mid-stream (the client resumes from its
            # Last-Event-ID); closing `frames` cancels the call behind it.
            pass
        return response


async def until_draining(draining: asyncio.Event, frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The frames until the gateway starts draining: open streams end at once, and their clients reconnect
    (to another replica) with Last-Event-ID instead of holding the shutdown for the whole grace period."""
    stop = asyncio.ensure_future(draining.wait())
    try:
        while True:
            following = asyncio.ensure_future(anext(frames, None))
            await asyncio.wait({following, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not following.done():
                following.cancel()
                await asyncio.gather(following, return_exceptions=True)
                return
            chunk = following.result()
            if chunk is None:
                return
            yield chunk
    finally:
        stop.cancel()


def wants_stream(request: web.Request) -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


async def job_frames(request: web.Request, job_id: str, after: int) -> AsyncIterator[bytes]:
    message = ps.WatchJobRequest(job_id=job_id, after_sequence=after)
    async for item in backend(request).stream(request, PROGRESS, "WatchJob", message):
        kind = item.WhichOneof("payload")
        if kind == "snapshot":
            yield frame("snapshot", to_json(item.snapshot), str(item.snapshot.last_sequence))
        elif kind == "event":
            yield frame("event", to_json(item.event), str(item.event.sequence))
        else:
            yield b": heartbeat\n\n"


@routes.get("/v1/jobs/{id}/events")
async def job_events(request: web.Request) -> web.StreamResponse:
    job_id = request.match_info["id"]
    if not wants_stream(request):
        message = ps.ListJobEventsRequest(job_id=job_id, page_size=int_param(request, "pageSize", 100, 1, 1000),
                                          page_token=request.query.get("pageToken", ""))
        return reply(await backend(request).call(request, PROGRESS, "ListJobEvents", message))
    raw = last_event_id(request)
    if raw and not raw.isdigit():
        raise bad_request("Last-Event-ID", f"must be an event sequence (a whole number), got {raw[:40]!r}")
    return await send(request, job_frames(request, job_id, int(raw or 0)))


async def feed_frames(request: web.Request, message: ps.WatchJobsRequest) -> AsyncIterator[bytes]:
    async for item in backend(request).stream(request, PROGRESS, "WatchJobs", message):
        if item.WhichOneof("payload") == "event":
            yield frame("event", to_json(item.event), item.cursor)
        else:  # the first message (subscribed) and every interval: its cursor is a place to resume from
            yield frame("heartbeat", {}, item.cursor)


@routes.get("/v1/events")
async def events(request: web.Request) -> web.StreamResponse:
    message = ps.WatchJobsRequest(filter=job_filter(request), cursor=last_event_id(request))
    return await send(request, feed_frames(request, message))
