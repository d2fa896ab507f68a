"""A fake of OpenAI's Images and Videos APIs (https://platform.openai.com/docs/api-reference/images/create,
https://platform.openai.com/docs/api-reference/videos), at <url>/v1."""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
from typing import Any

from aiohttp import web

from tests.integration.fakes.common import Call, FakeServer, bearer, mp4_bytes, png_bytes


class FakeOpenAI(FakeServer):
    def __init__(self, key: str, answer_with: str = "b64_json") -> None:
        super().__init__()
        self.key, self.answer_with = key, answer_with  # b64_json or url
        self.videos: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.deleted: list[tuple[str, float]] = []
        self.ids = itertools.count(1)
        self.video = mp4_bytes()
        r = self.app.router
        r.add_post("/v1/images/generations", self.images)
        r.add_get("/files/{name}", self.file)
        r.add_post("/v1/videos", self.create_video)
        r.add_get("/v1/videos/{id}", self.get_video)
        r.add_get("/v1/videos/{id}/content", self.content)
        r.add_delete("/v1/videos/{id}", self.delete_video)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def _headers(self) -> dict[str, str]:
        return {"x-request-id": f"req_{next(self.ids)}"}

    async def images(self, request: web.Request) -> web.StreamResponse:
        await self.log(request)
        if (denied := bearer(request, self.key)) or (denied := await self.fault("images")):
            return denied
        body = self.calls[-1].body or {}
        if not body.get("prompt"):
            return web.json_response({"error": {"message": "Missing required parameter: 'prompt'.",
                                                "type": "invalid_request_error", "code": None}}, status=400)
        await asyncio.sleep(self.delay)
        width, height = (int(v) for v in str(body.get("size", "64x48")).split("x"))
        data = []
        for i in range(int(body.get("n", 1))):
            png = png_bytes(min(width, 256), min(height, 256), shade=len(self.calls) * 7 + i)
            if self.answer_with == "url":
                name = f"img{next(self.ids)}.png"
                self.files[name] = png
                data.append({"url": f"{self.url}/files/{name}"})
            else:
                self.served.append(png)
                data.append({"b64_json": base64.b64encode(png).decode(), "revised_prompt": body["prompt"]})
        return web.json_response({"created": int(time.time()), "data": data,
                                  "usage": {"total_tokens": 100, "input_tokens": 10, "output_tokens": 90}},
                                 headers=self._headers())

    async def file(self, request: web.Request) -> web.StreamResponse:
        await self.log(request)
        if (fault := await self.fault("file")) is not None:
            return fault
        return self.media("file", self.files[request.match_info["name"]], "image/png")

    async def create_video(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        fields = {k: (v if isinstance(v, str) else f"file:{v.filename}:{len(v.file.read())}") for k, v in form.items()}
        self.calls.append(Call("POST", request.path, time.monotonic(), dict(request.headers), fields))
        if (denied := bearer(request, self.key)) or (denied := await self.fault("videos")):
            return denied
        video_id = f"video_{next(self.ids)}"
        self.videos[video_id] = {"id": video_id, "object": "video", "model": form.get("model"), "status": "queued",
                                 "progress": 0, "created_at": int(time.time()), "seconds": form.get("seconds"),
                                 "size": form.get("size"), "started": time.monotonic()}
        return web.json_response(self._public(video_id), headers=self._headers())

    def _public(self, video_id: str) -> dict[str, Any]:
        video = self.videos[video_id]
        if video["status"] in ("queued", "in_progress"):
            done = (time.monotonic() - video["started"]) / max(self.delay, 1e-6)
            if self.faults.get("video_fails"):
                self.faults["video_fails"].pop(0)
                video.update(status="failed", error={"code": "moderation_blocked",
                                                     "message": "Your request was blocked by our moderation system."})
            elif done >= 1:
                video.update(status="completed", progress=100)
            elif done > 0.1:
                video.update(status="in_progress", progress=int(done * 100))
        return {k: v for k, v in video.items() if k != "started"}

    async def get_video(self, request: web.Request) -> web.StreamResponse:
        await self.log(request)
        if (denied := bearer(request, self.key)) or (denied := await self.fault("video")):
            return denied
        video_id = request.match_info["id"]
        if video_id not in self.videos:
            return web.json_response({"error": {"message": "Video not found", "type": "invalid_request_error"}},
                                     status=404)
        return web.json_response(self._public(video_id), headers=self._headers())

    async def content(self, request: web.Request) -> web.StreamResponse:
        await self.log(request)
        if (denied := bearer(request, self.key)) or (denied := await self.fault("content")):
            return denied
        return self.media("content", self.video, "video/mp4")

    async def delete_video(self, request: web.Request) -> web.StreamResponse:
        await self.log(request)
        video_id = request.match_info["id"]
        self.deleted.append((video_id, time.monotonic()))
        self.videos.pop(video_id, None)
        return web.json_response({"id": video_id, "object": "video.deleted", "deleted": True})
