"""The `comfyui` video backend: GENMEDIA_COMFYUI_VIDEO_WORKFLOW with the job's image uploaded (/upload/image) into
its `genmedia.image` node (https://docs.comfy.org/development/comfyui-server/comms_routes; the client is
genmedia.providers.comfyui, the workflow's named inputs genmedia.providers.workflows)."""

from __future__ import annotations

from genmedia.providers.backend import Output, Report, Request, described, discard_files
from genmedia.providers.comfyui import ComfyClient
from genmedia.providers.settings import ProviderSettings, load_workflow
from genmedia.providers.workflows import filled


class ComfyVideo:
    name = "comfyui"
    placeholder = False

    def __init__(self, settings: ProviderSettings) -> None:
        self.workflow = load_workflow("GENMEDIA_COMFYUI_VIDEO_WORKFLOW", settings.comfyui_video_workflow)
        self.model = settings.comfyui_video_workflow.rpartition("/")[2]
        self.max_concurrency = settings.concurrency["comfyui"]
        self.client = ComfyClient(settings, self.max_concurrency)

    async def generate(self, request: Request, report: Report) -> list[Output]:
        image = await self.client.upload(request.image, request.image_mime) if request.image else ""
        workflow = filled(self.workflow, {"prompt": described(request), "negative_prompt": request.negative_prompt,
                                          "seed": request.seed, "width": request.width, "height": request.height,
                                          "image": image, "fps": request.fps,
                                          "frames": round(request.duration_seconds * request.fps)})
        outputs = await self.client.run(workflow, "video", report, request.scratch)
        discard_files(outputs[1:])
        return outputs[:1]

    async def aclose(self) -> None:
        await self.client.aclose()
