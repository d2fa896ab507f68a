"""A fake ComfyUI server (https://docs.comfy.org/development/comfyui-server/comms_routes, comms_messages): one
worker runs the queue in order, node by node, sending the documented /ws messages; sampler nodes report
steps; Save nodes produce real PNG or MP4 files served by /view. Faults: `execution_error` (the next prompt
fails in its sampler), `drop_ws` (every socket is closed mid-run, once)."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from tests.integration.fakes.common import FakeServer, mp4_bytes, png_bytes

STEPS = 4


class FakeComfy(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.pending: list[list[Any]] = []
        self.running: list[list[Any]] = []
        self.history: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.uploads: dict[str, bytes] = {}
        self.sockets: list[web.WebSocketResponse] = []
        self.interrupted: list[tuple[str, float]] = []
        self.deleted: list[tuple[str, float]] = []
        self.numbers = itertools.count(1)
        self.execution_error = self.drop_ws = False
        self.interrupt = asyncio.Event()
        self.work = asyncio.Event()
        self.worker: asyncio.Task | None = None
        r = self.app.router
        r.add_post("/prompt", self.prompt)
        r.add_get("/ws", self.ws)
        r.add_get("/view", self.view)
        r.add_post("/upload/image", self.upload)
        r.add_post("/interrupt", self.on_interrupt)
        r.add_get("/queue", self.queue)
        r.add_post("/queue", self.edit_queue)
        r.add_get("/history/{id}", self.get_history)

    async def start(self) -> FakeComfy:
        await super().start()
        self.worker = asyncio.create_task(self.run_queue())
        return self

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
        for socket in list(self.sockets):
            await socket.close()
        await super().stop()

    async def send(self, kind: str, data: dict[str, Any]) -> None:
        for socket in list(self.sockets):
            if not socket.closed:
                await socket.send_json({"type": kind, "data": data})

    async def status(self) -> None:
        await self.send("status", {"status": {"exec_info": {"queue_remaining": len(self.pending) + len(self.running)}}})

    async def prompt(self, request: web.Request) -> web.StreamResponse:
        await self.log(request)
        if (fault := await self.fault("prompt")) is not None:
            return fault
        body = self.calls[-1].body or {}
        workflow = body.get("prompt")
        nodes = workflow.values() if isinstance(workflow, dict) else [None]
        if not all(isinstance(n, dict) and n.get("class_type") for n in nodes):
            return web.json_response({"error": {"type": "invalid_prompt", "message": "Cannot execute because a node "
                                                "is missing the class_type property.", "details": "", "extra_info": {}},
                                      "node_errors": {}}, status=400)
        prompt_id, number = str(uuid.uuid4()), next(self.numbers)
        self.pending.append([number, prompt_id, workflow, {"client_id": body.get("client_id")}, []])
        self.work.set()
        await self.status()
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": {}})

    async def run_queue(self) -> None:
        while True:
            await self.work.wait()
            if not self.pending:
                self.work.clear()
                continue
            item = self.pending.pop(0)
            self.running = [item]
            try:
                await self.execute(item[1], item[2])
            finally:
                self.running = []
                await self.status()

    async def execute(self, prompt_id: str, workflow: dict[str, Any]) -> None:
        self.interrupt.clear()
        await self.send("execution_start", {"prompt_id": prompt_id, "timestamp": int(time.time() * 1000)})
        outputs: dict[str, Any] = {}
        for node_id, node in workflow.items():
            await self.send("executing", {"node": node_id, "display_node": node_id, "prompt_id": prompt_id})
            kind = node["class_type"]
            if "Sampler" in kind:
                for step in range(1, STEPS + 1):
                    try:
                        await asyncio.wait_for(self.interrupt.wait(), self.delay / STEPS)
                    except TimeoutError:
                        pass
                    if self.interrupt.is_set():
                        await self.send("execution_interrupted", {"prompt_id": prompt_id, "node_id": node_id,
                                                                  "node_type": kind, "executed": []})
                        self.history[prompt_id] = {"outputs": {}, "status": {"status_str": "error", "completed": False}}
                        return
                    if self.drop_ws and step == 2:
                        self.drop_ws = False
                        for socket in list(self.sockets):
                            await socket.close()
                    await self.send("progress", {"value": step, "max": STEPS, "prompt_id": prompt_id, "node": node_id})
                    if self.execution_error and step == 2:
                        self.execution_error = False
                        await self.send("execution_error", {
                            "prompt_id": prompt_id, "node_id": node_id, "node_type": kind, "executed": [],
                            "exception_message": "CUDA out of memory. Tried to allocate 2.00 GiB",
                            "exception_type": "torch.OutOfMemoryError", "traceback": ["..."]})
                        self.history[prompt_id] = {"outputs": {}, "status": {"status_str": "error", "completed": False}}
                        return
            elif kind.startswith("Save") or "VideoCombine" in kind:
                video = "Video" in kind
                name = f"genmedia_{len(self.files):05d}_.{'mp4' if video else 'png'}"
                self.files[name] = mp4_bytes() if video else png_bytes(shade=len(self.files) * 13)
                ref = {"filename": name, "subfolder": "", "type": "output"}
                outputs[node_id] = {"gifs": [ref]} if video else {"images": [ref]}
                await self.send("executed", {"node": node_id, "display_node": node_id, "output": outputs[node_id],
                                             "prompt_id": prompt_id})
        self.history[prompt_id] = {"prompt": [0, prompt_id, workflow, {}, list(outputs)], "outputs": outputs,
                                   "status": {"status_str": "success", "completed": True, "messages": []}}
        await self.send("executing", {"node": None, "prompt_id": prompt_id})
        await self.send("execution_success", {"prompt_id": prompt_id, "timestamp": int(time.time() * 1000)})

    async def ws(self, request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.sockets.append(socket)
        await socket.send_json({"type": "status", "data": {"status": {"exec_info": {
            "queue_remaining": len(self.pending)}}, "sid": request.query.get("clientId", "")}})
        async for message in socket:
            if message.type == WSMsgType.ERROR:
                break
        self.sockets.remove(socket)
        return socket

    async def view(self, request: web.Request) -> web.StreamResponse:
        await self.log(request)
        name = request.query.get("filename", "")
        if name not in self.files:
            return web.Response(status=404)
        return self.media("view", self.files[name], "video/mp4" if name.endswith(".mp4") else "image/png")

    async def upload(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        await self.log(request)
        image = form["image"]
        self.uploads[image.filename] = image.file.read()
        return web.json_response({"name": image.filename, "subfolder": "", "type": "input"})

    async def on_interrupt(self, request: web.Request) -> web.StreamResponse:
        await self.log(request)
        body = self.calls[-1].body or {}
        if self.running and body.get("prompt_id", self.running[0][1]) == self.running[0][1]:
            self.interrupted.append((self.running[0][1], time.monotonic()))
            self.interrupt.set()
        return web.Response(status=200)

    async def queue(self, request: web.Request) -> web.StreamResponse:
        await self.log(request)
        return web.json_response({"queue_running": self.running, "queue_pending": self.pending})

    async def edit_queue(self, request: web.Request) -> web.StreamResponse:
        await self.log(request)
        body = self.calls[-1].body or {}
        for prompt_id in body.get("delete", []):
            if any(item[1] == prompt_id for item in self.pending):
                self.deleted.append((prompt_id, time.monotonic()))
            self.pending = [item for item in self.pending if item[1] != prompt_id]
        return web.Response(status=200)

    async def get_history(self, request: web.Request) -> web.StreamResponse:
        await self.log(request)
        prompt_id = request.match_info["id"]
        return web.json_response({prompt_id: self.history[prompt_id]} if prompt_id in self.history else {})


def workflow(video: bool = False) -> dict[str, Any]:
    """A text-to-image (or image-to-video) workflow in API format, its inputs titled for genmedia."""
    nodes: dict[str, Any] = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]},
              "_meta": {"title": "genmedia.prompt"}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]},
              "_meta": {"title": "genmedia.negative_prompt"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1},
              "_meta": {"title": "genmedia.size"}},
        "3": {"class_type": "KSampler", "inputs": {"seed": 0, "steps": 20, "cfg": 7, "model": ["4", 0]},
              "_meta": {"title": "genmedia.seed"}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    }
    if video:
        nodes["10"] = {"class_type": "LoadImage", "inputs": {"image": "example.png"},
                       "_meta": {"title": "genmedia.image"}}
        nodes["11"] = {"class_type": "VHS_VideoCombine", "inputs": {"frame_rate": 8, "images": ["8", 0]},
                       "_meta": {"title": "genmedia.video"}}
    else:
        nodes["9"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "genmedia", "images": ["8", 0]}}
    return nodes
