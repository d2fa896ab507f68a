"""A self-hosted ComfyUI server at GENMEDIA_COMFYUI_URL, driven by workflow files in its API format.

Protocol, from ComfyUI's server documentation (https://docs.comfy.org/development/comfyui-server/comms_routes
and https://docs.comfy.org/development/comfyui-server/comms_messages):
- POST /prompt {prompt, client_id} queues a workflow: {prompt_id, number, node_errors}, or 400 {error,
  node_errors} when it does not validate.
- /ws?clientId=… streams JSON messages {type, data}: status (queue_remaining), execution_start,
  execution_cached, executing (node; null when done), progress (value, max), executed (the node's output
  files), execution_error, execution_interrupted, execution_success. Binary messages are previews (ignored).
- GET /view?filename&subfolder&type serves an output file; POST /upload/image (multipart `image`) stores an
  input image; GET /queue lists queue_running and queue_pending; POST /queue {delete: [id]} removes a pending
  prompt; POST /interrupt stops the running one; GET /history/{prompt_id} has a finished prompt's outputs.

A dropped WebSocket is reconnected and the prompt's fate read from /history, so a restart of the socket (or a
proxy in between) costs nothing; a socket that stays down fails the attempt UNAVAILABLE."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import websockets

from genmedia.providers.backend import Output, Progress, Report, Scratch, discard_files
from genmedia.providers.errors import Kind, ProviderError
from genmedia.providers.http import Api, make_client
from genmedia.providers.metrics import track
from genmedia.providers.settings import ProviderSettings

log = logging.getLogger(__name__)
EXTENSIONS = {"image": (".png", ".jpg", ".jpeg", ".webp"), "video": (".mp4", ".webm", ".mov")}
RECONNECTS = 3


def output_files(output: Any) -> list[dict[str, str]]:
    """The file references ({filename, subfolder, type}) in an `executed` message's or history's output."""
    if isinstance(output, dict) and isinstance(output.get("filename"), str):
        return [output]
    if isinstance(output, dict):
        return [ref for value in output.values() for ref in output_files(value)]
    if isinstance(output, list):
        return [ref for value in output for ref in output_files(value)]
    return []


class _Run:
    """What the messages of one prompt told so far."""

    def __init__(self, prompt_id: str, nodes: int) -> None:
        self.prompt_id, self.nodes = prompt_id, max(nodes, 1)
        self.done: set[str] = set()
        self.files: list[dict[str, str]] = []
        self.started = self.finished = False

    def percent(self, fraction: float = 0.0) -> float:
        return min(90.0 * (len(self.done) + fraction) / self.nodes, 90.0)


class ComfyClient:
    def __init__(self, settings: ProviderSettings, connections: int) -> None:
        self.settings = settings
        self.base = settings.comfyui_url.rstrip("/")
        self.api = Api("comfyui", make_client(self.base, {}, settings.timeouts, connections), "GENMEDIA_COMFYUI_URL")
        self.ws_url = "ws" + self.base.removeprefix("http") + "/ws"

    async def aclose(self) -> None:
        await self.api.client.aclose()

    async def upload(self, data: bytes, mime: str) -> str:
        """Stores an input image at the server; the name a LoadImage node takes."""
        name = f"genmedia-{uuid.uuid4().hex}.{'jpg' if 'jpeg' in mime else mime.rpartition('/')[2] or 'png'}"
        body, _ = await self.api.json("POST", "upload/image", "upload",
                                      files={"image": (name, data, mime or "image/png")},
                                      data={"overwrite": "true", "type": "input"})
        return f"{body['subfolder']}/{body['name']}" if body.get("subfolder") else str(body.get("name", name))

    async def run(self, workflow: dict[str, Any], kind: str, report: Report,
                  scratch: Scratch | None = None) -> list[Output]:
        """Queues the workflow, follows it on /ws and fetches its output files of `kind` (image or video), into
        scratch files when `scratch` is given."""
        client_id = uuid.uuid4().hex
        socket = await self._connect(client_id)  # before queuing: no message of the prompt is missed
        try:
            body, _ = await self.api.json("POST", "prompt", "prompt", json={"prompt": workflow, "client_id": client_id})
            run = _Run(str(body.get("prompt_id", "")), len(workflow))
            if not run.prompt_id:
                raise ProviderError(Kind.UNAVAILABLE, "comfyui", "answered /prompt without a prompt_id")
            try:
                await self._position(run, report)
                socket = await self._follow(socket, client_id, run, report)
            except (asyncio.CancelledError, ProviderError):
                await self._cancel(run.prompt_id)  # nothing keeps running at the server for a call that ended
                raise
        finally:
            await socket.close()
        return await self._fetch(run, kind, report, scratch)

    async def _connect(self, client_id: str) -> Any:
        with track("comfyui", "ws") as outcome:
            try:
                return await websockets.connect(f"{self.ws_url}?clientId={client_id}", max_size=None,
                                                open_timeout=self.settings.timeouts.connect)
            except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
                outcome.value = "connection_error"
                raise ProviderError(Kind.UNAVAILABLE, "comfyui", f"cannot open its WebSocket: {exc}") from None

    async def _follow(self, socket: Any, client_id: str, run: _Run, report: Report) -> Any:
        """Reads messages until the prompt ends; reconnects a dropped socket and reads /history meanwhile. A
        quiet socket is checked against /history too, so a missed message never hangs the call."""
        drops = 0
        while not run.finished:
            try:
                raw = await asyncio.wait_for(socket.recv(), self.settings.timeouts.read)
            except TimeoutError:
                await self._from_history(run)
                continue
            except websockets.ConnectionClosed:
                drops += 1
                if drops > RECONNECTS:
                    raise ProviderError(Kind.UNAVAILABLE, "comfyui", "its WebSocket kept dropping",
                                        run.prompt_id) from None
                log.warning("comfyui WebSocket dropped during prompt %s; reconnecting", run.prompt_id)
                await asyncio.sleep(0.2 * drops)
                socket = await self._connect(client_id)
                await self._from_history(run)
                continue
            if isinstance(raw, str):
                await self._on_message(json.loads(raw), run, report)
        return socket

    async def _on_message(self, message: dict[str, Any], run: _Run, report: Report) -> None:
        kind, data = message.get("type"), message.get("data") or {}
        if data.get("prompt_id") not in (None, run.prompt_id):
            return  # another client's prompt (the socket carries every status change)
        pid = run.prompt_id
        if kind == "status" and not run.started:
            await self._position(run, report)
        elif kind == "execution_start":
            run.started = True
            report(Progress(0.0, "running at comfyui", request_id=pid))
        elif kind == "execution_cached":
            run.done.update(str(n) for n in data.get("nodes") or [])
        elif kind == "executing":
            run.started = True
            if data.get("node") is None:
                run.finished = True
            else:
                report(Progress(run.percent(), f"comfyui running node {data['node']}", request_id=pid))
        elif kind == "progress":
            value, most = float(data.get("value") or 0), float(data.get("max") or 1)
            report(Progress(run.percent(value / most), f"comfyui node {data.get('node')}: step {value:.0f}/{most:.0f}",
                            request_id=pid))
        elif kind == "executed":
            run.done.add(str(data.get("node")))
            run.files += output_files(data.get("output"))
        elif kind == "execution_error":
            raise ProviderError(Kind.FAILED, "comfyui", f"execution_error in node {data.get('node_id')} "
                                f"({data.get('node_type')}): {data.get('exception_type', '')}: "
                                f"{str(data.get('exception_message', '')).strip()[:300]}", pid)
        elif kind == "execution_interrupted":
            raise ProviderError(Kind.FAILED, "comfyui", "the prompt was interrupted at the server", pid)
        elif kind == "execution_success":
            run.finished = True

    async def _position(self, run: _Run, report: Report) -> None:
        """Reports the prompt's place in the server's queue while it waits (1 = next to run)."""
        queue, _ = await self.api.json("GET", "queue", "queue")
        if any(len(item) > 1 and item[1] == run.prompt_id for item in queue.get("queue_running") or []):
            run.started = True
            return
        pending = sorted((item for item in queue.get("queue_pending") or [] if len(item) > 1), key=lambda i: i[0])
        ids = [item[1] for item in pending]
        if run.prompt_id in ids:
            position = ids.index(run.prompt_id) + 1
            report(Progress(0.0, f"queued at comfyui, position {position}", position, run.prompt_id))

    async def _from_history(self, run: _Run) -> None:
        """What /history says of the prompt: finished (with its outputs) or failed; nothing while it runs."""
        history, _ = await self.api.json("GET", f"history/{run.prompt_id}", "history")
        entry = history.get(run.prompt_id)
        if not isinstance(entry, dict):
            return
        status = entry.get("status") or {}
        if status.get("status_str") == "error":
            raise ProviderError(Kind.FAILED, "comfyui", "the prompt failed (execution_error, read from /history)",
                                run.prompt_id)
        if status.get("completed", True):
            run.files = output_files(entry.get("outputs"))
            run.finished = True

    async def _fetch(self, run: _Run, kind: str, report: Report, scratch: Scratch | None) -> list[Output]:
        files = [ref for ref in run.files if ref["filename"].lower().endswith(EXTENSIONS[kind])]
        if not files:
            raise ProviderError(Kind.BAD_OUTPUT, "comfyui", f"the workflow finished without a {kind} output "
                                "(does it end in a Save node?)", run.prompt_id)
        report(Progress(92.0, f"comfyui finished; fetching {len(files)} file(s)", request_id=run.prompt_id))
        outputs: list[Output] = []
        try:
            for ref in files:
                params = {"filename": ref["filename"], "subfolder": ref.get("subfolder", ""),
                          "type": ref.get("type", "output")}
                outputs.append(await self._download(params, run.prompt_id, scratch))
        except BaseException:
            discard_files(outputs)
            raise
        return outputs

    async def _download(self, params: dict[str, str], prompt_id: str, scratch: Scratch | None) -> Output:
        max_bytes = self.settings.max_output_bytes
        try:
            if scratch is None:
                data, content_type = await self.api.download("view", "view", max_bytes, params=params)
                return Output(data, content_type, prompt_id)
            path, content_type = await self.api.download_file("view", "view", max_bytes, scratch, "", params=params)
            return Output(content_type=content_type, request_id=prompt_id, path=path)
        except ProviderError as error:
            raise error.with_request_id(prompt_id) from None

    async def _cancel(self, prompt_id: str) -> None:
        """Removes the prompt from the queue, or interrupts it if it is the one running; bounded."""
        async def cancel() -> None:
            await self.api.request("POST", "queue", "queue.delete", json={"delete": [prompt_id]})
            queue, _ = await self.api.json("GET", "queue", "queue")
            if any(len(item) > 1 and item[1] == prompt_id for item in queue.get("queue_running") or []):
                await self.api.request("POST", "interrupt", "interrupt", json={"prompt_id": prompt_id})

        try:
            await asyncio.wait_for(asyncio.shield(cancel()), self.settings.cancel_timeout)
            log.info("cancelled comfyui prompt %s", prompt_id)
        except (ProviderError, TimeoutError) as error:
            log.warning("could not cancel comfyui prompt %s: %s", prompt_id, error)
