"""Prometheus metrics for gRPC servers (the standard grpc_server_* names), notification deliveries (counted
where they are logged, in the progress service) and the /metrics endpoint."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import Counter, Histogram, start_http_server

from genmedia.domain.errors import ServiceError

log = logging.getLogger(__name__)

LABELS = ("grpc_type", "grpc_service", "grpc_method")
STARTED = Counter("grpc_server_started_total", "RPCs started on the server.", LABELS)
HANDLED = Counter("grpc_server_handled_total", "RPCs completed on the server.", (*LABELS, "grpc_code"))
HANDLING = Histogram(
    "grpc_server_handling_seconds",
    "Time from the start of an RPC to its end.",
    LABELS,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)
NOTIFY_ATTEMPTS = Counter("genmedia_notification_attempts_total",
                          "Attempts at sending a notification, by channel and outcome (succeeded, failed).",
                          ("channel", "outcome"))
NOTIFY_LATENCY = Histogram("genmedia_notification_attempt_seconds", "Time one attempt at a notification took.",
                           ("channel",), buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
NOTIFY_DELIVERIES = Counter("genmedia_notifications_total",
                            "Notifications that ended, by channel and state (delivered, failed).",
                            ("channel", "state"))


def start_metrics_server(port: int, host: str = "127.0.0.1") -> int | None:
    """Serves /metrics on port (0 = any free port; -1 = off). Returns the port it listens on."""
    if port < 0:
        return None
    server, _thread = start_http_server(port, addr=host)
    return server.server_port


def _rpc_type(handler: grpc.RpcMethodHandler) -> str:
    if handler.request_streaming and handler.response_streaming:
        return "bidi_stream"
    if handler.request_streaming:
        return "client_stream"
    return "server_stream" if handler.response_streaming else "unary"


class _Method:
    """One method's metric series, looked up once (prometheus' labels() costs a lock and a dict per call)."""

    def __init__(self, labels: tuple[str, str, str], method: str) -> None:
        self.labels, self.method = labels, method
        self.started, self.handling = STARTED.labels(*labels), HANDLING.labels(*labels)
        self._handled: dict[grpc.StatusCode, Any] = {}

    def handled(self, code: grpc.StatusCode) -> Any:
        series = self._handled.get(code)
        if series is None:
            series = self._handled[code] = HANDLED.labels(*self.labels, code.name)
        return series


class _Booked:
    """Books one RPC (started, then handled with its final code) and maps what escapes the servicer."""

    def __init__(self, method: _Method, context: grpc.aio.ServicerContext):
        self.series, self.context, self.method = method, context, method.method

    async def __aenter__(self) -> None:
        self.start = time.perf_counter()
        self.series.started.inc()

    async def __aexit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self._finish(_code_of(self.context))
        elif isinstance(exc, ServiceError):
            status = exc.to_status()
            self._finish(status.code)
            await self.context.abort(status.code, status.details, status.trailing_metadata)
        elif isinstance(exc, grpc.aio.AbortError):
            self._finish(_code_of(self.context))
        elif isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
            self._finish(grpc.StatusCode.CANCELLED)
        elif isinstance(exc, grpc.aio.InternalError):
            # A write to a call that ended under its servicer (the client left, the server stopped) fails
            # with grpc's ExecuteBatchError: the peer is gone, which is no bug to log with a traceback.
            log.info("%s ended before its answer was sent: %s", self.method, exc)
            self._finish(grpc.StatusCode.CANCELLED)
        else:
            log.error("unhandled error in %s", self.method, exc_info=exc)
            self._finish(grpc.StatusCode.UNKNOWN)

    def _finish(self, code: grpc.StatusCode) -> None:
        self.series.handled(code).inc()
        self.series.handling.observe(time.perf_counter() - self.start)


def _code_of(context: grpc.aio.ServicerContext) -> grpc.StatusCode:
    code = context.code()
    if isinstance(code, int):  # grpc.aio may return the raw int
        code = next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
    return code or grpc.StatusCode.OK


Guard = Callable[[str, grpc.aio.ServicerContext], Awaitable[None]]
REFLECTION_METHODS = ("/grpc.reflection.v1alpha.ServerReflection/", "/grpc.reflection.v1.ServerReflection/")


class ServerInterceptor(grpc.aio.ServerInterceptor):
    """Counts every RPC, runs the guard (authentication, rate limits) before the servicer, and turns
    ServiceError into its rich gRPC status."""

    def __init__(self, guard: Guard | None = None) -> None:
        self.guard = guard
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or details.method.startswith(REFLECTION_METHODS):
            return handler  # reflection (grpcurl's describe) needs neither credentials nor counting
        known = self._wrapped.get(details.method)
        if known is not None and known[0] is handler:
            return known[1]  # wrapped once per method, not per call
        _, service, name = details.method.split("/")
        method = _Method((_rpc_type(handler), service, name), details.method)
        if handler.request_streaming and handler.response_streaming:
            wrapped = grpc.stream_stream_rpc_method_handler(
                self._wrap_stream(handler.stream_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        elif handler.request_streaming:
            wrapped = grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(handler.stream_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        elif handler.response_streaming:
            wrapped = grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        else:
            wrapped = grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        self._wrapped[details.method] = (handler, wrapped)
        return wrapped

    def _wrap_unary(self, behavior, method: _Method):
        async def wrapper(request, context):
            async with _Booked(method, context):
                if self.guard is not None:
                    await self.guard(method.method, context)
                return await behavior(request, context)

        return wrapper

    def _wrap_stream(self, behavior, method: _Method):
        """A server-streaming or bidi handler: `request` is the request, or the requests' iterator."""
        async def wrapper(request, context):
            async with _Booked(method, context):
                if self.guard is not None:
                    await self.guard(method.method, context)
                if inspect.isasyncgenfunction(behavior):
                    async for response in behavior(request, context):
                        yield response
                else:
                    await behavior(request, context)

        return wrapper
