"""The `openai` image backend: POST {GENMEDIA_OPENAI_BASE_URL}/images/generations with the configured model
(https://platform.openai.com/docs/api-reference/images/create; the client is genmedia.providers.openai)."""

from __future__ import annotations

from genmedia.providers.backend import Output, Report, Request, described
from genmedia.providers.openai import OpenAIClient
from genmedia.providers.settings import ProviderSettings


class OpenAIImages:
    name = "openai"
    placeholder = False

    def __init__(self, settings: ProviderSettings) -> None:
        self.model = settings.openai_image_model
        self.max_concurrency = settings.concurrency["openai"]
        self.client = OpenAIClient(settings, self.max_concurrency)

    async def generate(self, request: Request, report: Report) -> list[Output]:
        return await self.client.generate_images(self.model, described(request, negative_inline=True), request.count,
                                                 request.width, request.height, report)

    async def aclose(self) -> None:
        await self.client.aclose()
