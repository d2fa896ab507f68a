"""Domain errors and their gRPC form: a status code, a clear message, BadRequest and ErrorInfo details."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from genmedia.client.errors import call_details

DOMAIN = "genmedia.v1"


class ServiceError(Exception):
    """Raised by domain code; the serving kit turns it into the gRPC status it names."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        reason: str,
        violations: list[tuple[str, str]] | None = None,
        metadata: dict[str, str] | None = None,
        details: list | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.violations = violations or []
        self.metadata = metadata or {}
        self.details = details or []  # more google.rpc details, e.g. RetryInfo, QuotaFailure

    def to_status(self) -> grpc.Status:
        """The status as sent: every text is bounded, since messages may echo what the client sent and
        gRPC refuses trailers over 8 KiB (the client would see RESOURCE_EXHAUSTED instead)."""
        details = []
        if self.violations:
            shown = self.violations[:MAX_VIOLATIONS]
            bad = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=shorten(f, 100), description=shorten(d, 150))
                    for f, d in shown
                ]
            )
            details.append(_pack(bad))
        metadata = {shorten(k, 40): shorten(v, 100) for k, v in self.metadata.items()}
        details.append(_pack(error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN, metadata=metadata)))
        details.extend(_pack(detail) for detail in self.details)
        proto = status_pb2.Status(code=self.code.value[0], message=shorten(self.message, 512), details=details)
        return rpc_status.to_status(proto)


MAX_VIOLATIONS = 10


def shorten(text: str, limit: int) -> str:
    """text cut to at most `limit` UTF-8 bytes (on a character boundary), marked with an ellipsis."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode(errors="ignore") + "…"


def _pack(message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


class InvalidArgument(ServiceError):
    def __init__(self, violations: list[tuple[str, str]]) -> None:
        message = "; ".join(f"{f}: {d}" for f, d in violations)
        super().__init__(grpc.StatusCode.INVALID_ARGUMENT, message, "INVALID_ARGUMENT", violations)


class NotFound(ServiceError):
    def __init__(self, what: str, ident: str) -> None:
        super().__init__(
            grpc.StatusCode.NOT_FOUND, f"{what} {shorten(ident, 100)!r} not found", f"{what.upper()}_NOT_FOUND",
            metadata={what: ident},
        )


def check(violations: list[tuple[str, str]]) -> None:
    """Raises InvalidArgument listing every violation, if there are any."""
    if violations:
        raise InvalidArgument(violations)


def details_of(error: grpc.aio.AioRpcError | grpc.RpcError) -> tuple[str, list[tuple[str, str]]]:
    """The ErrorInfo reason and BadRequest violations carried by a failed call (client side)."""
    reason, violations, _ = call_details(error)
    return reason, violations




def error_info(error: grpc.aio.AioRpcError | grpc.RpcError) -> tuple[str, dict[str, str], float | None]:
    """The ErrorInfo reason and metadata and the RetryInfo delay (seconds) of a failed call (client side)."""
    status = rpc_status.from_call(error) if hasattr(error, "trailing_metadata") else None
    reason, metadata, delay = "", {}, None
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            delay = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
    return reason, metadata, delay
