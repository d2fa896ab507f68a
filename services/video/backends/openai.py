"""The `openai` video backend: the Videos API with the configured model, the job's image as input reference
(https://platform.openai.com/docs/api-reference/videos; the client is genmedia.providers.openai)."""

from __future__ import annotations

from genmedia.providers.backend import Output, Report, Request, described
from genmedia.providers.openai import OpenAIClient
from genmedia.providers.settings import ProviderSettings


class OpenAIVideo:
    name = "openai"
    placeholder = False

    def __init__(self, settings: ProviderSettings) -> None:
        self.model = settings.openai_video_model
        self.max_concurrency = settings.concurrency["openai"]
        self.client = OpenAIClient(settings, self.max_concurrency)

    async def generate(self, request: Request, report: Report) -> list[Output]:
        return [await self.client.generate_video(self.model, described(request, negative_inline=True),
                                                 request.duration_seconds, request.width, request.height,
                                                 request.image, report, request.scratch)]

    async def aclose(self) -> None:
        await self.client.aclose()
