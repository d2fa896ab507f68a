"""Errors as JSON `{code, message, field_violations}` with the HTTP status of their gRPC code (the mapping
google.api's HTTP rules use), whether the gateway or a service behind it refused the request."""

from __future__ import annotations

import grpc
from aiohttp import web

from genmedia.client.errors import call_details

HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400, grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409, grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501, grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
# FAILED_PRECONDITION is 400 in google.api's table; 409 tells a browser "the job's state refused it" better,
# and is what a client checking for a conflict expects from cancel-after-end.
HTTP_STATUS[grpc.StatusCode.FAILED_PRECONDITION] = 409


class ApiError(Exception):
    """An error answer: raise it from a handler; the middleware answers it as JSON."""

    def __init__(self, status: int, code: str, message: str, field_violations: list[tuple[str, str]] = (),
                 reason: str = "", headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers
        self.body = {"code": code, "message": message,
                     "field_violations": [{"field": f, "description": d} for f, d in field_violations]}
        if reason:
            self.body["reason"] = reason

    def response(self) -> web.Response:
        return web.json_response(self.body, status=self.status, headers=self.headers)


def bad_request(field: str, description: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", f"{field}: {description}", [(field, description)])


def from_rpc_error(error: grpc.aio.AioRpcError, service: str) -> ApiError:
    """The answer for a call a service refused; INTERNAL/UNKNOWN from behind are 502 (the gateway is fine)."""
    code = error.code()
    reason, violations, retry_after = call_details(error)
    headers = {"Retry-After": str(max(1, round(retry_after.total_seconds())))} if retry_after else None
    status = HTTP_STATUS.get(code)
    message = error.details() or code.name
    if code == grpc.StatusCode.UNAVAILABLE and not reason:
        message = f"{service} is unavailable: try again shortly"
    if status is None:
        return ApiError(502, "UNAVAILABLE", f"{service} failed to answer ({code.name})", reason=reason)
    return ApiError(status, code.name, message, violations, reason, headers)
