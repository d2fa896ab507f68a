"""The `replicate` image backend: one prediction of GENMEDIA_REPLICATE_IMAGE_MODEL per image (seed + index), with
the inputs most text-to-image models take (https://replicate.com/docs/reference/http#models.predictions.create;
the client is genmedia.providers.replicate). Models ignore inputs they do not declare."""

from __future__ import annotations

from genmedia.providers.backend import Output, Report, Request, described, one_by_one
from genmedia.providers.replicate import ReplicateClient, aspect_ratio
from genmedia.providers.settings import ProviderSettings


def image_inputs(request: Request, index: int) -> dict:
    inputs = {"prompt": described(request), "seed": request.seed + index, "width": request.width,
              "height": request.height, "aspect_ratio": aspect_ratio(request.width, request.height),
              "num_outputs": 1, "output_format": "png"}
    if request.negative_prompt:
        inputs["negative_prompt"] = request.negative_prompt
    return inputs


class ReplicateImages:
    name = "replicate"
    placeholder = False

    def __init__(self, settings: ProviderSettings) -> None:
        self.model = settings.replicate_image_model
        self.max_concurrency = settings.concurrency["replicate"]
        self.client = ReplicateClient(settings, self.max_concurrency)

    async def generate(self, request: Request, report: Report) -> list[Output]:
        return await one_by_one(request, report, lambda i, scaled: self.client.predict(
            self.model, image_inputs(request, i), scaled, request.deadline))

    async def aclose(self) -> None:
        await self.client.aclose()
