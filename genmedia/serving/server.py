"""The one serving kit: a grpc.aio server with health, reflection (v1 and v1alpha), metrics and
graceful shutdown (SIGTERM -> health NOT_SERVING -> drain within the grace period -> exit 0)."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection, reflection_pb2

from genmedia.serving import logs
from genmedia.serving.decoding import DecodeInterceptor
from genmedia.serving.metrics import Guard, ServerInterceptor, start_metrics_server
from genmedia.serving.settings import ServingSettings
from genmedia.tls import ServerTls

log = logging.getLogger(__name__)

REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"
SERVER_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # Off, so a second server on a taken port fails to bind instead of silently sharing it, and port-0
    # binds never land on a port another server holds (grpc/grpc#10755).
    ("grpc.so_reuseport", 0),
]


@dataclass(frozen=True)
class Registration:
    """One service to serve: its full name, the generated add_*_to_server function and the servicer."""

    name: str
    add: Callable[[Any, grpc.aio.Server], None]
    servicer: Any


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: HealthServicer
    names: list[str]

    async def stop(self, grace: float, on_drain: Callable[[], None] | None = None, delay: float = 0.0) -> None:
        """Health NOT_SERVING for every service; after `delay` seconds, still serving, so that load balancers and
        clients watching health move away first, drain in-flight calls for up to `grace` seconds."""
        await self.health.enter_graceful_shutdown()
        if delay > 0:
            await asyncio.sleep(delay)
        if on_drain is not None:
            on_drain()
        await self.server.stop(grace)


def _register_reflection_v1() -> None:
    """grpcio-reflection only ships v1alpha; v1 has the same messages under another package, so the
    v1alpha descriptor is re-published as grpc.reflection.v1 and served by the same servicer."""
    pool = descriptor_pool.Default()
    try:
        pool.FindServiceByName(REFLECTION_V1)
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name = "grpc/reflection/v1/reflection.proto"
    proto.package = "grpc.reflection.v1"
    for message in proto.message_type:
        for field in message.field:
            if field.HasField("type_name"):
                field.type_name = field.type_name.replace(".v1alpha.", ".v1.")
    for method in proto.service[0].method:
        method.input_type = method.input_type.replace(".v1alpha.", ".v1.")
        method.output_type = method.output_type.replace(".v1alpha.", ".v1.")
    pool.Add(proto)


def _enable_reflection(names: Sequence[str], server: grpc.aio.Server) -> None:
    _register_reflection_v1()
    all_names = (*names, reflection.SERVICE_NAME, REFLECTION_V1)
    servicer = reflection.ReflectionServicer(all_names)
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                service,
                {
                    "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                        servicer.ServerReflectionInfo,
                        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
                    )
                },
            )
            for service in (reflection.SERVICE_NAME, REFLECTION_V1)
        ]
    )


async def create_server(
    registrations: Sequence[Registration], address: str = "127.0.0.1:0", interceptors: Sequence = (),
    guard: Guard | None = None, tls: ServerTls | None = None, max_message_bytes: int = 4 * 1024 * 1024,
    connection_age: tuple[float, float] | None = None,
) -> RunningServer:
    """Builds, binds and starts a server; returns it with the port it got (address may use port 0).
    `guard` checks each call's credentials before its servicer runs; `tls` serves TLS (or mTLS).
    `connection_age` (max age, grace; seconds) closes connections that old, so clients balancing across
    replicas re-resolve and reach new ones; calls in flight get the grace to finish."""
    options = [*SERVER_OPTIONS, ("grpc.max_receive_message_length", max_message_bytes)]
    if connection_age is not None:
        options += [("grpc.max_connection_age_ms", int(connection_age[0] * 1000)),
                    ("grpc.max_connection_age_grace_ms", int(connection_age[1] * 1000))]
    # Metrics and the guard first, then bodies that are not valid protobuf are refused (INVALID_ARGUMENT).
    server = grpc.aio.server(interceptors=[ServerInterceptor(guard), DecodeInterceptor(), *interceptors],
                             options=options)
    for reg in registrations:
        reg.add(reg.servicer, server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names = [reg.name for reg in registrations]
    for name in ("", *names):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    _enable_reflection([*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name], server)
    port = server.add_secure_port(address, tls.credentials()) if tls else server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not bind {address}")
    await server.start()
    return RunningServer(server, port, health, names)


async def serve(
    settings: ServingSettings,
    registrations: Sequence[Registration],
    on_stop: Callable[[], Awaitable[None]] | None = None,
    on_drain: Callable[[], None] | None = None,
) -> None:
    """Runs a server until SIGTERM or SIGINT, then shuts it down gracefully: health NOT_SERVING,
    `on_drain` (e.g. end open watch streams so their clients resume elsewhere), drain, `on_stop`."""
    metrics_port = start_metrics_server(settings.metrics_port, settings.host)
    if settings.auth is not None:
        settings.auth.warn_if_off(settings.service)
    running = await create_server(registrations, settings.address, guard=settings.auth, tls=settings.tls,
                                  max_message_bytes=settings.max_message_bytes, connection_age=settings.connection_age)
    # What exists now (modules, protos, engines) lives as long as the process: keep it out of the cyclic
    # collector's full passes, which would otherwise walk it all and stall every call. (A service process's
    # entry only: a test process making many servers would keep its garbage of the moment.)
    gc.freeze()
    log.info(
        "%s serving %s on %s:%d%s (metrics on %s)",
        settings.service, ", ".join(running.names), settings.host, running.port,
        " with TLS" + (" (client certificates required)" if settings.tls.client_ca else "") if settings.tls else "",
        f":{metrics_port}/metrics" if metrics_port else "off",
    )
    await wait_for_signal()
    log.info("%s shutting down: NOT_SERVING, draining after %.0fs for up to %.0fs", settings.service,
             settings.shutdown_delay, settings.grace_seconds)
    await running.stop(settings.grace_seconds, on_drain, settings.shutdown_delay)
    if on_stop is not None:
        await on_stop()
    # Back to normal collection before the process ends: what is frozen is not collected, so gRPC's objects
    # would outlive the interpreter's teardown, and a gRPC thread calling into a finalizing interpreter
    # aborts the process (seen once: "PyGILState_Release ... finalizing", exit -6 after a clean stop).
    gc.unfreeze()
    gc.collect()
    log.info("%s stopped", settings.service)


async def wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def run_main(settings: ServingSettings, main: Callable[[], Awaitable[None]]) -> None:
    """Entry point of a service process: configure logging, run `main`, exit 0 after a clean shutdown."""
    logs.configure(settings.log_format, settings.log_level)
    asyncio.run(main())
