"""Provider failures, classified once, and the gRPC status each becomes in the image and video services.

A ProviderError names its provider and the provider's request id; the status carries them in ErrorInfo
metadata (with the backend the next attempt goes to) and, for a 429, the provider's Retry-After as RetryInfo,
which the worker's activity turns into the next attempt's delay."""

from __future__ import annotations

import enum
import re

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from genmedia.domain.errors import ServiceError


class Kind(enum.Enum):
    """What went wrong, as the job's error code (the ErrorInfo reason) and whether a retry may help."""

    UNAVAILABLE = "PROVIDER_UNAVAILABLE"  # 5xx, timeouts, resets, dropped WebSockets
    RATE_LIMITED = "PROVIDER_RATE_LIMITED"  # 429, with the delay the provider asked for
    INVALID = "INVALID_ARGUMENT"  # 400/404/422: the provider refused the request as made
    CONTENT_POLICY = "CONTENT_POLICY"  # the provider's safety system refused the prompt or the output
    AUTH = "PROVIDER_AUTH"  # 401/403: the configured credential is wrong or lacks access
    BAD_OUTPUT = "PROVIDER_BAD_OUTPUT"  # what it served is not the image or video it should be
    FAILED = "PROVIDER_FAILED"  # it ran the request and reported failure (prediction failed, execution_error)


CODES = {
    Kind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    Kind.RATE_LIMITED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Kind.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    Kind.CONTENT_POLICY: grpc.StatusCode.INVALID_ARGUMENT,
    Kind.AUTH: grpc.StatusCode.FAILED_PRECONDITION,
    Kind.BAD_OUTPUT: grpc.StatusCode.ABORTED,
    Kind.FAILED: grpc.StatusCode.ABORTED,
}
RETRYABLE = frozenset({Kind.UNAVAILABLE, Kind.RATE_LIMITED, Kind.BAD_OUTPUT, Kind.FAILED})
# Credentials as providers echo them in errors (OpenAI masks all but a few characters; still not ours to show).
TOKEN_LIKE = re.compile(r"\b(?:sk-[A-Za-z0-9_*.\-]{6,}|r8_[A-Za-z0-9_*]{6,})")


class ProviderError(Exception):
    def __init__(self, kind: Kind, provider: str, message: str, request_id: str = "",
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind, self.provider, self.message = kind, provider, message
        self.request_id, self.retry_after = request_id, retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    def with_request_id(self, request_id: str) -> ProviderError:
        if not self.request_id:
            self.request_id = request_id
        return self


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """text without any of `secrets` and without anything shaped like an API key."""
    for value in secrets:
        if value:
            text = text.replace(value, "[redacted]")
    return TOKEN_LIKE.sub("[redacted]", text)


def to_service_error(error: ProviderError, next_provider: str) -> ServiceError:
    """The gRPC status of a failed provider call. RetryInfo goes only with a 429 whose next attempt returns to
    the same provider: another provider need not wait for this one's limit."""
    text = f"{error.provider}: {error.message}" + (f" (request {error.request_id})" if error.request_id else "")
    metadata = {"provider": error.provider, "provider_request_id": error.request_id,
                "next_provider": next_provider if error.retryable else ""}
    details = []
    if error.retry_after is not None and next_provider == error.provider:
        seconds = max(0.0, error.retry_after)
        details.append(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(
            seconds=int(seconds), nanos=int((seconds % 1) * 1e9))))
    return ServiceError(CODES[error.kind], text, error.kind.value, metadata=metadata, details=details)
