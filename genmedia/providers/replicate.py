"""Replicate's predictions API, at GENMEDIA_REPLICATE_BASE_URL.

Protocol, from the HTTP API reference (https://replicate.com/docs/reference/http):
- models.predictions.create: POST /models/{owner}/{name}/predictions {input}; predictions.create (a model
  pinned as owner/name:version): POST /predictions {version, input}. Both answer a prediction {id, status:
  starting | processing | succeeded | failed | canceled | aborted, logs, output, error, metrics:
  {predict_time, total_time}}.
- Sync mode (https://replicate.com/docs/topics/predictions/create-a-prediction): `Prefer: wait=N` holds the
  create request open up to N seconds and answers the prediction with its output when it finished in time.
- Deadlines (https://replicate.com/changelog/2025-10-16-prediction-deadlines): `Cancel-After: <duration>`
  cancels the prediction at Replicate when it runs past the call's deadline, even if genmedia is gone.
- predictions.get: GET /predictions/{id}; predictions.cancel: POST /predictions/{id}/cancel.
- Errors are problem+json {title, detail, status}: 401/403 bad token, 422 invalid input, 429 with
  Retry-After, 5xx. A model's safety checker fails the prediction with an error that says so (NSFW)."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from typing import Any

from genmedia.providers.backend import Output, Progress, Report, Scratch, discard_files
from genmedia.providers.errors import Kind, ProviderError, redact
from genmedia.providers.http import Api, make_client
from genmedia.providers.settings import ProviderSettings

log = logging.getLogger(__name__)
POLICY = re.compile(r"nsfw|safety|sensitive|content polic|flagged", re.IGNORECASE)
PERCENT = re.compile(r"(\d{1,3})%")
DONE = frozenset({"succeeded", "failed", "canceled", "aborted"})
FIRST_POLL = 0.1  # seconds before the first poll; doubles up to the poll interval
RATIOS = ("1:1", "16:9", "9:16", "21:9", "9:21", "3:2", "2:3", "4:3", "3:4", "5:4", "4:5")


def aspect_ratio(width: int, height: int) -> str:
    """The aspect ratio most Replicate image and video models take, nearest to width:height."""
    def value(ratio: str) -> float:
        w, h = ratio.split(":")
        return int(w) / int(h)

    return min(RATIOS, key=lambda r: abs(value(r) - width / height))


def as_data_url(data: bytes, mime: str) -> str:
    return f"data:{mime or 'image/png'};base64,{base64.b64encode(data).decode()}"


def output_urls(output: Any) -> list[str]:
    """Every file URL in a prediction's output (a URL, a list of them, or an object holding them)."""
    if isinstance(output, str):
        return [output] if output.startswith(("http://", "https://", "data:")) else []
    if isinstance(output, list):
        return [url for item in output for url in output_urls(item)]
    if isinstance(output, dict):
        return [url for item in output.values() for url in output_urls(item)]
    return []


def log_progress(logs: str) -> tuple[float, str]:
    """The last percent a model printed (tqdm bars print `NN%`) and its last log line."""
    lines = [line.strip() for line in (logs or "").splitlines() if line.strip()]
    percents = PERCENT.findall(logs or "")
    return (min(float(percents[-1]), 100.0) if percents else 0.0), (lines[-1][:120] if lines else "")


class ReplicateClient:
    def __init__(self, settings: ProviderSettings, connections: int) -> None:
        self.settings = settings
        headers = {"Authorization": f"Bearer {settings.replicate_api_token}"}
        self.api = Api("replicate", make_client(settings.replicate_base_url, headers, settings.timeouts, connections),
                       "GENMEDIA_REPLICATE_API_TOKEN (or GENMEDIA_REPLICATE_API_TOKEN_FILE)", settings.secrets(),
                       lambda status, body: False)
        self.cdn = make_client("", {}, settings.timeouts, connections)

    async def aclose(self) -> None:
        await self.api.client.aclose()
        await self.cdn.aclose()

    async def predict(self, model: str, inputs: dict[str, Any], report: Report, deadline: float | None,
                      scratch: Scratch | None = None) -> list[Output]:
        """Runs one prediction to its end and downloads its output files (into scratch files when given)."""
        owner_name, _, version = model.partition(":")
        url, body = (("predictions", {"version": version, "input": inputs}) if version
                     else (f"models/{owner_name}/predictions", {"input": inputs}))
        headers, wait = {}, self.settings.replicate_wait
        if wait:
            headers["Prefer"] = f"wait={wait}"
        if deadline is not None:
            headers["Cancel-After"] = f"{max(1, int(deadline - time.time()))}s"
        report(Progress(0.0, f"creating a prediction of {model} at replicate"))
        prediction, _ = await self.api.json("POST", url, "predictions.create", json=body, headers=headers,
                                            timeout=self.settings.timeouts.read + wait)
        pid = str(prediction.get("id", ""))
        if not pid:
            raise ProviderError(Kind.UNAVAILABLE, "replicate", "answered a prediction without an id")
        try:
            prediction = await self._until_done(prediction, pid, report)
        except asyncio.CancelledError:
            await self._cancel(pid)
            raise
        return await self._outputs(prediction, pid, report, scratch)

    async def _until_done(self, prediction: dict[str, Any], pid: str, report: Report) -> dict[str, Any]:
        pause = FIRST_POLL
        while (status := prediction.get("status")) not in DONE:
            percent, line = log_progress(str(prediction.get("logs") or ""))
            if status == "starting":
                report(Progress(0.0, "queued at replicate (starting)", request_id=pid))
            else:
                report(Progress(percent * 0.9, f"replicate processing{': ' + line if line else ''}", request_id=pid))
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.settings.poll_interval)
            try:
                prediction, _ = await self.api.json("GET", f"predictions/{pid}", "predictions.get")
            except ProviderError as error:
                raise error.with_request_id(pid) from None
        return prediction

    async def _outputs(self, prediction: dict[str, Any], pid: str, report: Report,
                       scratch: Scratch | None) -> list[Output]:
        status = prediction.get("status")
        if status != "succeeded":
            error = redact(str(prediction.get("error") or f"the prediction ended {status}"), self.settings.secrets())
            kind = Kind.CONTENT_POLICY if POLICY.search(error) else Kind.FAILED
            raise ProviderError(kind, "replicate", f"the prediction {status}: {error}", pid)
        urls = output_urls(prediction.get("output"))
        if not urls:
            raise ProviderError(Kind.BAD_OUTPUT, "replicate", "the prediction succeeded with no output file", pid)
        seconds = float((prediction.get("metrics") or {}).get("predict_time") or 0.0)
        report(Progress(90.0, f"replicate finished in {seconds:.1f}s of compute; fetching {len(urls)} file(s)",
                        request_id=pid))
        outputs: list[Output] = []
        try:
            for url in urls:
                outputs.append(await self._fetch(url, pid, seconds / len(urls), scratch))
        except BaseException:
            discard_files(outputs)
            raise
        return outputs

    async def _fetch(self, url: str, pid: str, seconds: float, scratch: Scratch | None) -> Output:
        max_bytes = self.settings.max_output_bytes
        try:
            if scratch is None:
                data, kind = await self.api.download(url, "predictions.download", max_bytes, client=self.cdn)
                return Output(data, kind, pid, provider_seconds=seconds)
            path, kind = await self.api.download_file(url, "predictions.download", max_bytes, scratch, "",
                                                      client=self.cdn)
            return Output(content_type=kind, request_id=pid, provider_seconds=seconds, path=path)
        except ProviderError as error:
            raise error.with_request_id(pid) from None

    async def _cancel(self, pid: str) -> None:
        """Cancels a prediction whose call was cancelled or ran out of time; best effort, bounded."""
        try:
            await asyncio.wait_for(asyncio.shield(
                self.api.request("POST", f"predictions/{pid}/cancel", "predictions.cancel")),
                self.settings.cancel_timeout)
            log.info("cancelled replicate prediction %s", pid)
        except (ProviderError, TimeoutError) as error:
            log.warning("could not cancel replicate prediction %s: %s", pid, error)
