"""Request bodies that are not valid protobuf (a corrupt wire format, bad UTF-8 in a string field, groups
nested too deep) get INVALID_ARGUMENT naming the message and, where it can be told, the field, on every
RPC of a server built by the serving kit, unary and streaming alike.

grpc.aio deserializes a request before any servicer or interceptor code runs, and a deserializer's exception
becomes UNKNOWN with an ERROR and a traceback in the log: anyone could flood the logs. So each handler's
deserializer is wrapped to return an `Undecodable` marker instead of raising, and its behaviour to refuse
the marker (a request stream refuses it when it is read). Refusals are logged as a warning at most once per
WARN_EVERY seconds, with the count of those not logged."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from genmedia.domain.errors import ServiceError, shorten
from genmedia.serving.wire import find_fault

log = logging.getLogger(__name__)
WARN_EVERY = 10.0  # seconds between two warnings about undecodable requests


@dataclass(frozen=True)
class Undecodable:
    """What a request's deserializer returns for bytes that are not a valid message."""

    type_name: str
    field: str
    problem: str

    def error(self) -> ServiceError:
        where = f"field {self.field}" if self.field else "the body"
        return ServiceError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"the request is not a valid protobuf {self.type_name}: {where} {self.problem}",
            "MALFORMED_REQUEST", violations=[(self.field, self.problem)] if self.field else None,
            metadata={"message": self.type_name},
        )


class _Warnings:
    """At most one warning per WARN_EVERY seconds; the next one counts those left out."""

    def __init__(self) -> None:
        self.last, self.skipped = float("-inf"), 0

    def warn(self, method: str, bad: Undecodable) -> None:
        now = time.monotonic()
        if now - self.last < WARN_EVERY:
            self.skipped += 1
            return
        more = f" (and {self.skipped} more since the last warning)" if self.skipped else ""
        log.warning("refused an undecodable request to %s: %s%s", method, shorten(bad.error().message, 300), more)
        self.last, self.skipped = now, 0


def tolerant(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """The deserializer, returning an Undecodable instead of raising on bytes it cannot parse."""
    message_class = getattr(deserializer, "__self__", None)
    descriptor = getattr(message_class, "DESCRIPTOR", None)
    type_name = descriptor.full_name if descriptor is not None else "message"

    def decode(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as err:  # DecodeError as a rule; whatever a parser raises, the body is at fault
            fault = find_fault(descriptor, data)
            if fault is not None:
                return Undecodable(type_name, fault.field, fault.problem)
            return Undecodable(type_name, "", f"is corrupt ({str(err).rpartition(': ')[2] or type(err).__name__})")

    return decode


def _behavior(handler: grpc.RpcMethodHandler) -> Callable[..., Any]:
    return {(False, False): handler.unary_unary, (False, True): handler.unary_stream,
            (True, False): handler.stream_unary, (True, True): handler.stream_stream}[
        (handler.request_streaming, handler.response_streaming)]


def _is_async(handler: grpc.RpcMethodHandler) -> bool:
    behavior = _behavior(handler)
    return inspect.iscoroutinefunction(behavior) or inspect.isasyncgenfunction(behavior)


class DecodeInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every handler (once per method) so an undecodable request is refused with INVALID_ARGUMENT."""

    def __init__(self) -> None:
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}
        self._warnings = _Warnings()

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or handler.request_deserializer is None or not _is_async(handler):
            return handler  # (grpc's own reflection servicer is synchronous: left as it is)
        known = self._wrapped.get(details.method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = self._wrap(handler, details.method)
        self._wrapped[details.method] = (handler, wrapped)
        return wrapped

    async def _refuse(self, bad: Undecodable, method: str, context: grpc.aio.ServicerContext) -> None:
        self._warnings.warn(method, bad)
        status = bad.error().to_status()
        await context.abort(status.code, status.details, status.trailing_metadata)

    async def _checked(self, request: Any, method: str, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Undecodable):
            await self._refuse(request, method, context)
        return request

    async def _checked_stream(self, requests: AsyncIterator[Any], method: str,
                              context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for request in requests:
            yield await self._checked(request, method, context)

    def _wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        streaming_in, streaming_out = handler.request_streaming, handler.response_streaming
        behavior = _behavior(handler)

        async def requests(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if streaming_in:
                return self._checked_stream(request, method, context)
            return await self._checked(request, method, context)

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            return await behavior(await requests(request, context), context)

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            if inspect.isasyncgenfunction(behavior):
                async for response in behavior(await requests(request, context), context):
                    yield response
            else:  # a servicer that writes with context.write()
                await behavior(await requests(request, context), context)

        make = {(False, False): grpc.unary_unary_rpc_method_handler,
                (False, True): grpc.unary_stream_rpc_method_handler,
                (True, False): grpc.stream_unary_rpc_method_handler,
                (True, True): grpc.stream_stream_rpc_method_handler}[(streaming_in, streaming_out)]
        return make(stream if streaming_out else unary, request_deserializer=tolerant(handler.request_deserializer),
                    response_serializer=handler.response_serializer)
