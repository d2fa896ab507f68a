"""The `replicate` video backend: a prediction of GENMEDIA_REPLICATE_VIDEO_MODEL with the job's image as a data URL
(https://replicate.com/docs/reference/http#models.predictions.create; the client is genmedia.providers.replicate)."""

from __future__ import annotations

from genmedia.providers.backend import Output, Report, Request, described, discard_files
from genmedia.providers.replicate import ReplicateClient, as_data_url, aspect_ratio
from genmedia.providers.settings import ProviderSettings


class ReplicateVideo:
    name = "replicate"
    placeholder = False

    def __init__(self, settings: ProviderSettings) -> None:
        self.model = settings.replicate_video_model
        self.max_concurrency = settings.concurrency["replicate"]
        self.client = ReplicateClient(settings, self.max_concurrency)

    async def generate(self, request: Request, report: Report) -> list[Output]:
        inputs = {"prompt": described(request), "seed": request.seed,
                  "duration": max(1, round(request.duration_seconds)), "fps": request.fps,
                  "aspect_ratio": aspect_ratio(request.width, request.height),
                  "resolution": "720p" if max(request.width, request.height) > 854 else "480p"}
        if request.negative_prompt:
            inputs["negative_prompt"] = request.negative_prompt
        if request.image:
            inputs["image"] = as_data_url(request.image, request.image_mime)
        outputs = await self.client.predict(self.model, inputs, report, request.deadline, request.scratch)
        discard_files(outputs[1:])
        return outputs[:1]

    async def aclose(self) -> None:
        await self.client.aclose()
