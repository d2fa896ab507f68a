"""The providers' HTTP plumbing: well-kept httpx clients with explicit timeouts, one request with metrics
and error classification, and bounded streamed downloads of outputs.

Status mapping (each provider's API reference documents these codes): 2xx ok; 429 RATE_LIMITED with its
Retry-After; 401/403 AUTH, naming the setting to fix; 400/404/409/422 INVALID (or CONTENT_POLICY when the
provider says so); anything else, timeouts and broken connections UNAVAILABLE."""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from genmedia.providers.backend import Scratch
from genmedia.providers.errors import Kind, ProviderError, redact
from genmedia.providers.metrics import Outcome, track

INVALID_STATUSES = frozenset({400, 404, 409, 413, 415, 422})
MAX_ERROR_TEXT = 300
PIECE = 1 << 20  # what a download hands on at a time


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    read: float = 60.0  # between two reads of a response: a hung provider is given up after this

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.read, pool=self.connect)


def make_client(base_url: str, headers: dict[str, str], timeouts: Timeouts, connections: int) -> httpx.AsyncClient:
    """A client for one provider's API: keep-alive pool sized to the backend's concurrency, no proxies from the
    environment, no redirects (a redirect would carry the credential elsewhere)."""
    limits = httpx.Limits(max_connections=connections * 2, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base_url.rstrip("/") + "/", headers=headers, timeout=timeouts.httpx(),
                             limits=limits, follow_redirects=False, trust_env=False)


def provider_message(response: httpx.Response) -> str:
    """The provider's own words from an error body: OpenAI and ComfyUI `error.message`, Replicate `detail`."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return " ".join(response.text.split())[:MAX_ERROR_TEXT] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:MAX_ERROR_TEXT]
        for key in ("detail", "error", "message", "title"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key][:MAX_ERROR_TEXT]
    return json.dumps(body)[:MAX_ERROR_TEXT]


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


PolicyCheck = Callable[[int, Any], bool]


@dataclass(frozen=True)
class Api:
    """One provider's API as the backends call it: its client, the setting that holds its credential (named in
    AUTH errors), how it says "content policy", and the secrets no message may show."""

    provider: str
    client: httpx.AsyncClient
    credential_setting: str
    secrets: tuple[str, ...] = ()
    is_policy: PolicyCheck = lambda status, body: False
    request_id_header: str = "x-request-id"

    def failure(self, response: httpx.Response) -> ProviderError:
        status, text = response.status_code, redact(provider_message(response), self.secrets)
        rid = response.headers.get(self.request_id_header, "")
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if status == 429:
            return ProviderError(Kind.RATE_LIMITED, self.provider, f"rate limited (HTTP 429): {text}", rid,
                                 retry_after(response))
        if status in (401, 403):
            return ProviderError(Kind.AUTH, self.provider, f"refused the credential (HTTP {status}: {text}); "
                                 f"check {self.credential_setting}", rid)
        if self.is_policy(status, body):
            return ProviderError(Kind.CONTENT_POLICY, self.provider, f"refused by its content policy: {text}", rid)
        if status in INVALID_STATUSES:
            return ProviderError(Kind.INVALID, self.provider, f"refused the request (HTTP {status}): {text}", rid)
        return ProviderError(Kind.UNAVAILABLE, self.provider, f"answered HTTP {status}: {text}", rid)

    def transport_error(self, exc: httpx.HTTPError, operation: str, outcome: Outcome) -> ProviderError:
        """A timeout, a refused or broken connection: UNAVAILABLE, retried."""
        if isinstance(exc, httpx.TimeoutException):
            outcome.value = "timeout"
            return ProviderError(Kind.UNAVAILABLE, self.provider, f"{operation} timed out ({type(exc).__name__})")
        outcome.value = "connection_error"
        return ProviderError(Kind.UNAVAILABLE, self.provider,
                             f"{operation} failed: {redact(str(exc) or type(exc).__name__, self.secrets)}")

    async def request(self, method: str, url: str, operation: str, **kwargs: Any) -> httpx.Response:
        """One request; a response that is not 2xx, a timeout or a broken connection raises ProviderError."""
        with track(self.provider, operation) as outcome:
            try:
                response = await self.client.request(method, url, **kwargs)
            except httpx.HTTPError as exc:
                raise self.transport_error(exc, operation, outcome) from None
            if response.is_success:
                return response
            error = self.failure(response)
            outcome.value = error.kind.name.lower()
            raise error

    async def json(self, method: str, url: str, operation: str, **kwargs: Any) -> tuple[dict[str, Any], httpx.Response]:
        response = await self.request(method, url, operation, **kwargs)
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            raise ProviderError(Kind.UNAVAILABLE, self.provider, f"{operation} answered something that is not a "
                                f"JSON object ({response.headers.get('content-type', 'no content type')})",
                                response.headers.get(self.request_id_header, ""))
        return body, response

    async def download(self, url: str, operation: str, max_bytes: int, client: httpx.AsyncClient | None = None,
                       **kwargs: Any) -> tuple[bytes, str]:
        """The body at url (streamed, at most max_bytes) and its content type. A data: URL is decoded. `client`
        fetches URLs outside the API (a CDN) without the API's credential."""
        if url.startswith("data:"):
            return decode_data_url(url, self.provider, max_bytes)
        chunks: list[bytes] = []

        async def keep(chunk: bytes) -> None:
            chunks.append(chunk)

        kind = await self._stream(url, operation, max_bytes, client, keep, **kwargs)
        return b"".join(chunks), kind

    async def download_file(self, url: str, operation: str, max_bytes: int, scratch: Scratch, suffix: str,
                            client: httpx.AsyncClient | None = None, **kwargs: Any) -> tuple[Path, str]:
        """As download, into a new scratch file as it arrives (a video is never whole in memory): the file and
        the content type. On any failure the file is removed."""
        dest = scratch(suffix)
        try:
            if url.startswith("data:"):
                data, kind = decode_data_url(url, self.provider, max_bytes)
                await asyncio.to_thread(dest.write_bytes, data)
                return dest, kind
            with dest.open("wb") as f:  # noqa: ASYNC230 - each write goes to a thread below
                kind = await self._stream(url, operation, max_bytes, client,
                                          lambda chunk: asyncio.to_thread(f.write, chunk), **kwargs)
            return dest, kind
        except BaseException:
            dest.unlink(missing_ok=True)
            raise

    async def _stream(self, url: str, operation: str, max_bytes: int, client: httpx.AsyncClient | None,
                      sink: Callable[[bytes], Awaitable[Any]], **kwargs: Any) -> str:
        """GETs url, handing the body to `sink` in pieces of about 1 MiB; the content type."""
        with track(self.provider, operation) as outcome:
            try:
                async with (client or self.client).stream("GET", url, **kwargs) as response:
                    if not response.is_success:
                        await response.aread()
                        error = self.failure(response)
                        outcome.value = error.kind.name.lower()
                        raise error
                    declared = int(response.headers.get("content-length") or 0)
                    if declared > max_bytes:
                        outcome.value = "bad_output"
                        raise _too_big(self.provider, max_bytes)
                    size = 0
                    async for chunk in response.aiter_bytes(PIECE):
                        size += len(chunk)
                        if size > max_bytes:
                            outcome.value = "bad_output"
                            raise _too_big(self.provider, max_bytes)
                        await sink(chunk)
                    return response.headers.get("content-type", "")
            except httpx.HTTPError as exc:
                raise self.transport_error(exc, operation, outcome) from None


def _too_big(provider: str, max_bytes: int) -> ProviderError:
    return ProviderError(Kind.BAD_OUTPUT, provider, f"served an output larger than {max_bytes} bytes "
                         "(GENMEDIA_PROVIDER_MAX_OUTPUT_BYTES)")


def decode_data_url(url: str, provider: str, max_bytes: int) -> tuple[bytes, str]:
    header, _, payload = url.partition(",")
    if len(payload) * 3 // 4 > max_bytes:
        raise _too_big(provider, max_bytes)
    try:
        return base64.b64decode(payload, validate=True), header.removeprefix("data:").split(";")[0]
    except (binascii.Error, ValueError):
        raise ProviderError(Kind.BAD_OUTPUT, provider, "served a data: URL that is not valid base64") from None


def decode_base64(text: str, provider: str, max_bytes: int) -> bytes:
    if len(text) * 3 // 4 > max_bytes:
        raise _too_big(provider, max_bytes)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProviderError(Kind.BAD_OUTPUT, provider, "served b64_json that is not valid base64") from None
