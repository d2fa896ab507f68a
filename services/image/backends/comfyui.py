"""The `comfyui` image backend: GENMEDIA_COMFYUI_IMAGE_WORKFLOW run once per image (seed + index) on the server
at GENMEDIA_COMFYUI_URL (https://docs.comfy.org/development/comfyui-server/comms_routes; the client is
genmedia.providers.comfyui, the workflow's named inputs genmedia.providers.workflows)."""

from __future__ import annotations

from genmedia.providers.backend import Output, Report, Request, described, one_by_one
from genmedia.providers.comfyui import ComfyClient
from genmedia.providers.settings import ProviderSettings, load_workflow
from genmedia.providers.workflows import filled


class ComfyImages:
    name = "comfyui"
    placeholder = False

    def __init__(self, settings: ProviderSettings) -> None:
        self.workflow = load_workflow("GENMEDIA_COMFYUI_IMAGE_WORKFLOW", settings.comfyui_image_workflow)
        self.model = settings.comfyui_image_workflow.rpartition("/")[2]
        self.max_concurrency = settings.concurrency["comfyui"]
        self.client = ComfyClient(settings, self.max_concurrency)

    async def generate(self, request: Request, report: Report) -> list[Output]:
        def workflow(i: int) -> dict:
            return filled(self.workflow, {"prompt": described(request), "negative_prompt": request.negative_prompt,
                                          "seed": request.seed + i, "width": request.width, "height": request.height})

        return await one_by_one(request, report, lambda i, scaled: self.client.run(workflow(i), "image", scaled))

    async def aclose(self) -> None:
        await self.client.aclose()
