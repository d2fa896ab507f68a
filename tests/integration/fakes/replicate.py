"""A fake of Replicate's predictions API (https://replicate.com/docs/reference/http), at <url>/v1: a prediction
is `starting` for the first tenth of `delay`, then `processing` with tqdm-like logs, then `succeeded` with its
output files served from <url>/files/…; Prefer: wait holds the create request open until it is done."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from typing import Any

from aiohttp import web

from tests.integration.fakes.common import FakeServer, bearer, mp4_bytes, png_bytes


class FakeReplicate(FakeServer):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.predictions: dict[str, dict[str, Any]] = {}
        self.files: dict[str, tuple[bytes, str]] = {}
        self.cancelled: list[tuple[str, float]] = []
        self.ids = itertools.count(1)
        self.fail_with = ""  # a prediction error to fail the next prediction with
        r = self.app.router
        r.add_post("/v1/models/{owner}/{name}/predictions", self.create)
        r.add_post("/v1/predictions", self.create)
        r.add_get("/v1/predictions/{id}", self.get)
        r.add_post("/v1/predictions/{id}/cancel", self.cancel)
        r.add_get("/files/{name}", self.file)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    async def create(self, request: web.Request) -> web.StreamResponse:
        await self.log(request)
        if (denied := bearer(request, self.token)) or (denied := await self.fault("create")):
            return denied
        body = self.calls[-1].body or {}
        inputs = body.get("input")
        if not isinstance(inputs, dict) or not inputs.get("prompt"):
            return web.json_response({"title": "Input validation failed", "status": 422,
                                      "detail": "- input: prompt is required",
                                      "invalid_fields": [{"type": "required", "field": "input.prompt"}]}, status=422)
        pid = f"p{next(self.ids)}"
        model = "/".join(request.path.split("/")[3:5]) if "models" in request.path else body.get("version", "")
        self.predictions[pid] = {"id": pid, "model": model, "input": inputs, "status": "starting", "logs": "",
                                 "output": None, "error": None, "created_at": time.time(), "started": time.monotonic(),
                                 "fail_with": self.fail_with, "video": "image" in inputs,
                                 "urls": {"get": f"{self.base_url}/predictions/{pid}",
                                          "cancel": f"{self.base_url}/predictions/{pid}/cancel"}}
        self.fail_with = ""
        wait = re.match(r"wait(?:=(\d+))?", request.headers.get("Prefer", ""))
        if wait:
            limit = time.monotonic() + float(wait.group(1) or 60)
            for _ in range(int(float(wait.group(1) or 60) / 0.02)):  # the state is computed from the clock
                if self._public(pid)["status"] in ("succeeded", "failed", "canceled") or time.monotonic() > limit:
                    break
                await asyncio.sleep(0.02)
        return web.json_response(self._public(pid), status=201)

    def _public(self, pid: str) -> dict[str, Any]:
        p = self.predictions[pid]
        if p["status"] in ("starting", "processing"):
            done = (time.monotonic() - p["started"]) / max(self.delay, 1e-6)
            if done >= 1 and p["fail_with"]:
                p.update(status="failed", error=p["fail_with"])
            elif done >= 1:
                name = f"{pid}.{'mp4' if p['video'] else 'png'}"
                data = mp4_bytes() if p["video"] else png_bytes(shade=int(pid[1:]))
                self.files[name] = (data, "video/mp4" if p["video"] else "image/png")
                p.update(status="succeeded", output=[f"{self.url}/files/{name}"], logs=p["logs"] + "100%|done\n",
                         metrics={"predict_time": round(self.delay * 0.9, 3), "total_time": self.delay})
            elif done > 0.1:
                p.update(status="processing", logs=f"Using seed: {p['input'].get('seed')}\n{int(done * 100)}%|###\n")
        return {k: v for k, v in p.items() if k not in ("started", "fail_with", "video")}

    async def get(self, request: web.Request) -> web.StreamResponse:
        await self.log(request)
        if (denied := bearer(request, self.token)) or (denied := await self.fault("get")):
            return denied
        pid = request.match_info["id"]
        if pid not in self.predictions:
            return web.json_response({"title": "Not found", "detail": "Not found.", "status": 404}, status=404)
        return web.json_response(self._public(pid))

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        await self.log(request)
        pid = request.match_info["id"]
        self.cancelled.append((pid, time.monotonic()))
        if pid in self.predictions and self.predictions[pid]["status"] in ("starting", "processing"):
            self.predictions[pid]["status"] = "canceled"
        return web.json_response(self._public(pid) if pid in self.predictions else {})

    async def file(self, request: web.Request) -> web.StreamResponse:
        await self.log(request)
        data, kind = self.files[request.match_info["name"]]
        return self.media("file", data, kind)
