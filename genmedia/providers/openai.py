"""OpenAI's Images and Videos APIs, at GENMEDIA_OPENAI_BASE_URL (any OpenAI-compatible server).

Protocol, from the API reference:
- Images, create: https://platform.openai.com/docs/api-reference/images/create - POST /images/generations
  {model, prompt, n, size}; answers {created, data: [{b64_json | url, revised_prompt}], usage}.
- Videos: https://platform.openai.com/docs/api-reference/videos - POST /videos (multipart: prompt, model,
  seconds, size, input_reference) answers a video {id, status: queued | in_progress | completed | failed,
  progress, error}; GET /videos/{id} polls it; GET /videos/{id}/content downloads the MP4; DELETE
  /videos/{id} removes it (there is no cancel: a cancelled job's video is deleted).
- Errors: https://platform.openai.com/docs/guides/error-codes - {error: {message, type, code}}; 401 bad
  key, 403 no access, 429 rate limit (Retry-After), 5xx; a safety refusal has code
  `content_policy_violation` or `moderation_blocked`. Every answer has an `x-request-id` header."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

from PIL import Image

from genmedia.providers.backend import Output, Progress, Report, Scratch
from genmedia.providers.errors import Kind, ProviderError, redact
from genmedia.providers.http import Api, decode_base64, make_client
from genmedia.providers.settings import ProviderSettings

log = logging.getLogger(__name__)
POLICY_CODES = frozenset({"content_policy_violation", "moderation_blocked"})
# The sizes the hosted models accept; other models (OpenAI-compatible servers) get the size asked for.
IMAGE_SIZES = {"gpt-image": ((1024, 1024), (1536, 1024), (1024, 1536)),
               "dall-e-3": ((1024, 1024), (1792, 1024), (1024, 1792)),
               "dall-e-2": ((256, 256), (512, 512), (1024, 1024))}
VIDEO_SIZES = {"sora": ((1280, 720), (720, 1280))}
VIDEO_SECONDS = {"sora": (4, 8, 12)}


def is_policy(status: int, body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and (error.get("code") in POLICY_CODES or error.get("type") in POLICY_CODES)


def nearest_size(model: str, width: int, height: int, table: dict[str, tuple[tuple[int, int], ...]]) -> tuple[int, int]:
    """The accepted size closest in aspect (then area) to the one asked for, for the models that have a list."""
    sizes = next((s for prefix, s in table.items() if model.startswith(prefix)), None)
    if sizes is None:
        return width, height
    return min(sizes, key=lambda s: (abs(s[0] / s[1] - width / height), abs(s[0] * s[1] - width * height)))


def fitted_png(data: bytes, width: int, height: int) -> bytes:
    """The reference image cropped to the video's aspect and scaled to its size (Sora needs them equal)."""
    with Image.open(io.BytesIO(data)) as image:
        image = image.convert("RGB")
        scale = max(width / image.width, height / image.height)
        resized = image.resize((max(width, round(image.width * scale)), max(height, round(image.height * scale))))
        left, top = (resized.width - width) // 2, (resized.height - height) // 2
        out = io.BytesIO()
        resized.crop((left, top, left + width, top + height)).save(out, format="PNG")
        return out.getvalue()


class OpenAIClient:
    def __init__(self, settings: ProviderSettings, connections: int) -> None:
        self.settings = settings
        headers = {"Authorization": f"Bearer {settings.openai_api_key}"}
        self.api = Api("openai", make_client(settings.openai_base_url, headers, settings.timeouts, connections),
                       "GENMEDIA_OPENAI_API_KEY (or GENMEDIA_OPENAI_API_KEY_FILE)", settings.secrets(), is_policy)
        # Output URLs live outside the API: fetched without the credential.
        self.cdn = make_client("", {}, settings.timeouts, connections)

    async def aclose(self) -> None:
        await self.api.client.aclose()
        await self.cdn.aclose()

    async def generate_images(self, model: str, prompt: str, n: int, width: int, height: int,
                              report: Report) -> list[Output]:
        w, h = nearest_size(model, width, height, IMAGE_SIZES)
        report(Progress(0.0, f"asking openai {model} for {n} image(s) of {w}x{h}"))
        body, response = await self.api.json("POST", "images/generations", "images.generate",
                                              json={"model": model, "prompt": prompt, "n": n, "size": f"{w}x{h}"})
        rid = response.headers.get("x-request-id", "")
        items = body.get("data")
        if not isinstance(items, list) or not items:
            raise ProviderError(Kind.BAD_OUTPUT, "openai", "answered no images (empty `data`)", rid)
        tokens = int((body.get("usage") or {}).get("total_tokens") or 0)
        report(Progress(80.0, f"openai made {len(items)} image(s); fetching them", request_id=rid))
        outputs = []
        for item in items[:n]:
            if isinstance(item, dict) and item.get("b64_json"):
                data, kind = decode_base64(item["b64_json"], "openai", self.settings.max_output_bytes), ""
            elif isinstance(item, dict) and item.get("url"):
                data, kind = await self.api.download(item["url"], "images.download", self.settings.max_output_bytes,
                                                     client=self.cdn)
            else:
                raise ProviderError(Kind.BAD_OUTPUT, "openai", "answered an image with neither b64_json nor url", rid)
            outputs.append(Output(data, kind, rid, tokens=tokens // len(items)))
        return outputs

    async def generate_video(self, model: str, prompt: str, seconds: float, width: int, height: int,
                             image: bytes, report: Report, scratch: Scratch) -> Output:
        w, h = nearest_size(model, width, height, VIDEO_SIZES)
        allowed = next((s for prefix, s in VIDEO_SECONDS.items() if model.startswith(prefix)), None)
        secs = min(allowed, key=lambda s: abs(s - seconds)) if allowed else max(1, round(seconds))
        form = {"model": model, "prompt": prompt, "seconds": str(secs), "size": f"{w}x{h}"}
        files = None
        if image:
            reference = await asyncio.to_thread(fitted_png, image, w, h)
            files = {"input_reference": ("reference.png", reference, "image/png")}
        report(Progress(0.0, f"asking openai {model} for a {secs}s video of {w}x{h}"))
        video, _ = await self.api.json("POST", "videos", "videos.create", data=form, files=files)
        video_id = str(video.get("id", ""))
        if not video_id:
            raise ProviderError(Kind.UNAVAILABLE, "openai", "answered a video without an id")
        try:
            await self._until_done(video, video_id, report)
            path, kind = await self.api.download_file(f"videos/{video_id}/content", "videos.content",
                                                      self.settings.max_output_bytes, scratch, ".mp4",
                                                      headers={"Accept": "application/binary"})
            return Output(content_type=kind, request_id=video_id, path=path)
        except asyncio.CancelledError:
            await self._delete(video_id)
            raise

    async def _until_done(self, video: dict[str, Any], video_id: str, report: Report) -> None:
        while True:
            status = video.get("status")
            if status == "completed":
                return
            if status == "failed":
                error = video.get("error") or {}
                code = str(error.get("code", "")) if isinstance(error, dict) else ""
                text = redact(str(error.get("message", "no reason given") if isinstance(error, dict) else error))
                kind = Kind.CONTENT_POLICY if code in POLICY_CODES else Kind.FAILED
                raise ProviderError(kind, "openai", f"the video failed: {code or 'error'}: {text}", video_id)
            percent = float(video.get("progress") or 0)
            message = "queued at openai" if status == "queued" else f"openai rendering: {percent:.0f}%"
            report(Progress(min(percent, 99.0) * 0.9, message, request_id=video_id))
            await asyncio.sleep(self.settings.poll_interval)
            try:
                video, _ = await self.api.json("GET", f"videos/{video_id}", "videos.retrieve")
            except ProviderError as error:
                raise error.with_request_id(video_id) from None

    async def _delete(self, video_id: str) -> None:
        """Stops (and removes) a video whose job was cancelled or ran out of time; best effort, bounded."""
        try:
            await asyncio.wait_for(asyncio.shield(self.api.request("DELETE", f"videos/{video_id}", "videos.delete")),
                                   self.settings.cancel_timeout)
            log.info("deleted openai video %s of a cancelled call", video_id)
        except (ProviderError, TimeoutError) as error:
            log.warning("could not delete openai video %s: %s", video_id, error)
