"""The provider simulator of benchmarks/providers.py, in its own process (the provider is not genmedia's CPU):
POST /v1/images/generations answers after DELAY s, at most LIMIT at once (a 9th gets 429). Prints `port N`
when serving; on SIGTERM prints `spans <json>` (each request's busy interval), `most N` and `refused N`."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import signal
import sys
import time
import uuid

from aiohttp import web
from PIL import Image

LIMIT, DELAY = 8, 1.0


class Simulator:
    def __init__(self) -> None:
        out = io.BytesIO()
        Image.new("RGB", (256, 256), (40, 90, 160)).save(out, format="PNG")
        self.body = json.dumps({"created": 0, "data": [{"b64_json": base64.b64encode(out.getvalue()).decode()}]})
        self.active = self.most = self.refused = 0
        self.spans: list[tuple[float, float]] = []

    async def generate(self, request: web.Request) -> web.Response:
        if self.active >= LIMIT:
            self.refused += 1
            return web.json_response({"error": {"message": "too many requests"}}, status=429,
                                     headers={"Retry-After": "1"})
        self.active += 1
        self.most = max(self.most, self.active)
        began = time.time()
        try:
            await request.read()
            await asyncio.sleep(DELAY)
            return web.Response(text=self.body, content_type="application/json",
                                headers={"x-request-id": uuid.uuid4().hex})
        finally:
            self.active -= 1
            self.spans.append((began, time.time()))


async def main() -> None:
    sim = Simulator()
    app = web.Application()
    app.router.add_post("/v1/images/generations", sim.generate)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"port {site._server.sockets[0].getsockname()[1]}", flush=True)  # noqa: SLF001
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()
    print(f"spans {json.dumps(sim.spans)}\nmost {sim.most}\nrefused {sim.refused}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
