"""The client's exceptions: one class per kind of refusal, each with the server's message, its ErrorInfo
reason and its BadRequest field violations; `JobFailed` and `JobCancelled` carry the job `wait()` saw end."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import grpc
from google.rpc import error_details_pb2, status_pb2

if TYPE_CHECKING:
    from genmedia.client.models import Job


class GenmediaError(Exception):
    """Base of every error the client raises."""


class RpcError(GenmediaError):
    """A call the server refused or could not answer. `code` is the gRPC status name (`NOT_FOUND`...)."""

    code = "UNKNOWN"

    def __init__(self, message: str, *, reason: str = "", field_violations: list[tuple[str, str]] | None = None,
                 retry_after: dt.timedelta | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason  # ErrorInfo.reason: a stable UPPER_SNAKE cause, e.g. RATE_LIMITED
        self.field_violations = field_violations or []  # (field, description) for each bad field
        self.retry_after = retry_after
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def to_dict(self) -> dict:
        """The error as the CLI prints it with -o json."""
        return {"code": self.code, "message": self.message, "reason": self.reason,
                "field_violations": [{"field": f, "description": d} for f, d in self.field_violations]}


class NotFound(RpcError):
    code = "NOT_FOUND"


class InvalidArgument(RpcError):
    """The request was refused; `field_violations` names every bad field."""

    code = "INVALID_ARGUMENT"


class FailedPrecondition(RpcError):
    """The job's state refuses the command (e.g. cancelling a job that already ended)."""

    code = "FAILED_PRECONDITION"


class AlreadyExists(RpcError):
    """A request id was reused with a different request."""

    code = "ALREADY_EXISTS"


class Unauthenticated(RpcError):
    code = "UNAUTHENTICATED"


class PermissionDenied(RpcError):
    code = "PERMISSION_DENIED"


class ResourceExhausted(RpcError):
    """A rate limit or quota; `retry_after` is when to try again, if the server said."""

    code = "RESOURCE_EXHAUSTED"


class Unavailable(RpcError):
    """The service could not be reached (after the channel's retries); `address` is where it was tried."""

    code = "UNAVAILABLE"

    def __init__(self, message: str, *, address: str = "", **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.address = address


class DeadlineExceeded(RpcError):
    code = "DEADLINE_EXCEEDED"


class JobEnded(GenmediaError):
    """`wait()` saw the job end other than COMPLETED; `job` is the job as it ended."""

    def __init__(self, job: Job) -> None:
        error = f": {job.error.code}: {job.error.message}" if job.error else ""
        super().__init__(f"job {job.id} {job.state.name}{error}")
        self.job = job


class JobFailed(JobEnded):
    pass


class JobCancelled(JobEnded):
    pass


BY_CODE: dict[grpc.StatusCode, type[RpcError]] = {
    grpc.StatusCode.NOT_FOUND: NotFound, grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument, grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists, grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied, grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable, grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}


def _status_details(error: grpc.RpcError) -> list:
    """The google.rpc details of a failed call (from its grpc-status-details-bin trailer)."""
    for key, value in getattr(error, "trailing_metadata", lambda: None)() or ():
        if key == "grpc-status-details-bin":
            return list(status_pb2.Status.FromString(value).details)
    return []


def call_details(error: grpc.RpcError) -> tuple[str, list[tuple[str, str]], dt.timedelta | None]:
    """What a failed call carries: the ErrorInfo reason, the BadRequest violations and the RetryInfo delay."""
    reason, violations, retry_after = "", [], None
    for detail in _status_details(error):
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = [(v.field, v.description) for v in bad.field_violations]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_after = retry.retry_delay.ToTimedelta()
    return reason, violations, retry_after


def from_rpc_error(error: grpc.RpcError, address: str = "") -> RpcError:
    """The typed error for a failed call to `address`."""
    code: grpc.StatusCode = error.code()
    reason, violations, retry_after = call_details(error)
    message = error.details() or code.name
    kwargs = {"reason": reason, "field_violations": violations, "retry_after": retry_after}
    cls = BY_CODE.get(code)
    if cls is Unavailable:
        if reason:  # the server answered (e.g. a service behind it is down): its message says what
            return Unavailable(message, address=address, **kwargs)
        why = "connection refused" if "Connection refused" in message else message
        return Unavailable(f"cannot reach {address}: {why}" if address else message, address=address, **kwargs)
    if cls is None:
        return RpcError(message, code=code.name, **kwargs)
    return cls(message, **kwargs)


class DownloadError(GenmediaError):
    """A download could not be completed (the stream kept breaking off); no file was left under its name."""


class ChecksumMismatch(DownloadError):
    """The bytes received do not hash to the sha256 recorded when the asset was made; the file was not kept."""
