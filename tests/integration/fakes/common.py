"""What the fake providers share: real media bytes, an aiohttp server on port 0, a log of every request, and
scripted faults (a status with headers, a hung connection, HTML instead of media, a truncated file)."""

from __future__ import annotations

import asyncio
import io
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
import numpy as np
from aiohttp import web
from PIL import Image


def png_bytes(width: int = 64, height: int = 48, shade: int = 0) -> bytes:
    """A real PNG: a gradient, different per shade."""
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
    pixels = np.broadcast_to(x, (height, width, 3)).copy()
    pixels[..., 2] = shade % 256
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, format="PNG")
    return out.getvalue()


def mp4_bytes(width: int = 64, height: int = 48, frames: int = 12, fps: int = 12) -> bytes:
    """A real H.264 MP4 (yuv420p) of moving grey levels."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4", options={"movflags": "+frag_keyframe+empty_moov"}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), (i * 20) % 256, np.uint8), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


HTML = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>upstream error</body></html>"


@dataclass(frozen=True)
class Fault:
    """How one request is answered instead of normally: `status` with `body`/`headers`, or `hang` (never
    answers), `html` (a 200 HTML page where media was due) or `truncate` (half the media)."""

    status: int = 0
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    html: bool = False
    truncate: bool = False


@dataclass
class Call:
    method: str
    path: str
    time: float
    headers: dict[str, str]
    body: Any = None


class FakeServer:
    """An aiohttp app on 127.0.0.1:0. `faults[route]` answers that route's next requests (in order) with
    faults; `calls` logs every request; `served` keeps every media body it sent."""

    def __init__(self) -> None:
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.faults: dict[str, list[Fault]] = {}
        self.calls: list[Call] = []
        self.served: list[bytes] = []
        self.delay = 0.0  # seconds a generation takes
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> FakeServer:
        self.runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 (aiohttp has no public accessor)
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def log(self, request: web.Request) -> None:
        body = None
        if request.content_type == "application/json" and request.can_read_body:
            body = await request.json()
        self.calls.append(Call(request.method, request.path, time.monotonic(), dict(request.headers), body))

    def called(self, method: str, prefix: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.startswith(prefix)]

    async def fault(self, route: str) -> web.StreamResponse | None:
        """The scripted answer for this route's request, if one is due."""
        queue = self.faults.get(route)
        if not queue or queue[0].html or queue[0].truncate:
            return None  # answered by media()
        fault = queue.pop(0)
        if fault.hang:
            await asyncio.sleep(3600)
        if fault.status:
            if isinstance(fault.body, (dict, list)):
                return web.json_response(fault.body, status=fault.status, headers=fault.headers)
            return web.Response(status=fault.status, text=str(fault.body or ""), headers=fault.headers)
        return None

    def media(self, route: str, data: bytes, content_type: str) -> web.Response:
        """Serves media, or HTML / half of it when such a fault is due for the route."""
        queue = self.faults.get(route)
        if queue and (queue[0].html or queue[0].truncate):
            fault = queue.pop(0)
            if fault.html:
                return web.Response(body=HTML, content_type="text/html")
            data = data[: len(data) // 2]
        self.served.append(data)
        return web.Response(body=data, content_type=content_type)


def bearer(request: web.Request, token: str) -> web.Response | None:
    """401 unless the request carries `Authorization: Bearer <token>` (echoing it, as some providers do)."""
    got = request.headers.get("Authorization", "")
    if got != f"Bearer {token}":
        return web.json_response({"error": {"message": f"Incorrect API key provided: {got.removeprefix('Bearer ')}",
                                            "type": "invalid_request_error", "code": "invalid_api_key"}}, status=401)
    return None
