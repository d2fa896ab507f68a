"""Server-Sent Events: one job's events (`/v1/jobs/{id}/events`) and every event of the caller's jobs
(`/v1/events`). Each SSE id is where to resume: the job's event sequence, or the feed cursor across jobs;
a browser's EventSource sends it back as Last-Event-ID when it reconnects, so nothing is lost or repeated.
Errors are answered as JSON before the stream starts (docs/gateway.md, "Server-Sent Events")."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from prometheus_client import Gauge

from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import progress_service_pb2 as ps
from services.gateway.backend import PROGRESS
from services.gateway.errors import ApiError, bad_request
from services.gateway.jobs import backend
from services.gateway.keys import DRAINING
from services.gateway.messages import int_param, job_filter, reply, to_json

routes = web.RouteTableDef()
RETRY_MS = 1000
TERMINAL = frozenset({pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED})
JOB_EVENTS, FEED = "/v1/jobs/{id}/events", "/v1/events"
OPEN_STREAMS = Gauge("genmedia_gateway_open_streams", "Server-Sent Events streams open now, by route.", ("route",))
for _route in (JOB_EVENTS, FEED):
    OPEN_STREAMS.labels(_route)  # at 0 from the start, so a panel shows 0 rather than nothing


def last_event_id(request: web.Request) -> str:
    """Last-Event-ID (an EventSource reconnecting), else ?lastEventId= (a client's first connect)."""
    return request.headers.get("Last-Event-ID", "") or request.query.get("lastEventId", "")


def frame(event: str, data: Any, id: str | None = None) -> bytes:
    lines = [f"event: {event}"]
    if id is not None:
        lines.append(f"id: {id}")
    lines.append(f"data: {json.dumps(data, separators=(',', ':'))}")
    return ("\n".join(lines) + "\n\n").encode()


async def send(request: web.Request, frames: AsyncIterator[bytes], route: str, checked: bool = False
               ) -> web.StreamResponse:
    """Streams `frames` as SSE. Unless `checked` (the caller already knows the stream is allowed and has
    something to wait for), the first frame is read before any byte is sent, so its errors are answered as
    JSON, and a stream with nothing to send (resumed after the end) is 204, which tells EventSource to stop
    reconnecting."""
    async with contextlib.aclosing(frames):
        first = b""
        if not checked:
            first = await anext(frames, None)
            if first is None:
                return web.Response(status=204)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        with OPEN_STREAMS.labels(route).track_inprogress():
            try:
                await response.write(f"retry: {RETRY_MS}\n\n".encode() + first)
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


@routes.get(JOB_EVENTS)
async def job_events(request: web.Request) -> web.StreamResponse:
    job_id = request.match_info["id"]
    if not wants_stream(request):
        message = ps.ListJobEventsRequest(job_id=job_id, page_size=int_param(request, "pageSize", 100, 1, 1000),
                                          page_token=request.query.get("pageToken", ""))
        return reply(await backend(request).call(request, PROGRESS, "ListJobEvents", message))
    raw = last_event_id(request)
    if raw and not (raw.isascii() and raw.isdigit()):  # str.isdigit() alone takes "²", which int() refuses
        raise bad_request("Last-Event-ID", f"must be an event sequence (a whole number), got {raw[:40]!r}")
    after = int(raw or 0)
    if after == 0:  # the stream opens with the job's snapshot at once: its first read answers errors
        return await send(request, job_frames(request, job_id, 0), JOB_EVENTS)
    if not await resumable(request, job_id, after):
        return web.Response(status=204)
    return await send(request, job_frames(request, job_id, after), JOB_EVENTS, checked=True)


async def resumable(request: web.Request, job_id: str, after: int) -> bool:
    """Whether a resume after `after` has anything to wait for, asked with GetJob first (as the caller: another
    user's job is 404 as JSON). WatchJob would say nothing at all until the next event or heartbeat when the
    caller is up to date, and the browser would wait for the response's headers that long."""
    job = await backend(request).call(request, PROGRESS, "GetJob", js.GetJobRequest(job_id=job_id))
    if after > job.last_sequence:
        raise ApiError(400, "OUT_OF_RANGE", f"Last-Event-ID: {after} is beyond the last event {job.last_sequence} "
                       f"of job {job_id!r}", [("Last-Event-ID", f"must be at most {job.last_sequence}")],
                       reason="AFTER_SEQUENCE_OUT_OF_RANGE")
    # Ended and nothing after `after`: WatchJob would end at once, so EventSource is told to stop.
    return not (job.state in TERMINAL and after == job.last_sequence)


async def feed_frames(request: web.Request, message: ps.WatchJobsRequest) -> AsyncIterator[bytes]:
    async for item in backend(request).stream(request, PROGRESS, "WatchJobs", message):
        if item.WhichOneof("payload") == "event":
            yield frame("event", to_json(item.event), item.cursor)
        else:  # the first message (subscribed) and every interval: its cursor is a place to resume from
            yield frame("heartbeat", {}, item.cursor)


@routes.get(FEED)
async def events(request: web.Request) -> web.StreamResponse:
    message = ps.WatchJobsRequest(filter=job_filter(request), cursor=last_event_id(request))
    return await send(request, feed_frames(request, message), FEED)  # its first message comes at once
