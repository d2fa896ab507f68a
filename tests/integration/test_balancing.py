"""gRPC across replicas: the channels spread calls over every address of a name and skip a replica that is
NOT_SERVING; servers close connections past their max age (calls in flight finish within the grace) and stay
NOT_SERVING, still answering, for the shutdown delay before they drain."""

from __future__ import annotations

import asyncio
import collections

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from genmedia.channels import aio_channel
from genmedia.serving.server import RunningServer, create_server

CHECK = "/grpc.health.v1.Health/Check"


class Recorder(grpc.aio.ServerInterceptor):
    """Which server took each Check, and from which client port (its connection)."""

    def __init__(self, name: str, calls: list[tuple[str, str]]) -> None:
        self.name, self.calls = name, calls

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if details.method != CHECK:
            return handler
        inner = handler.unary_unary

        async def check(request, context):
            self.calls.append((self.name, context.peer()))
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(check, handler.request_deserializer, handler.response_serializer)


async def replicas(count: int, calls: list, **options) -> list[RunningServer]:
    return [await create_server([], interceptors=[Recorder(f"r{i}", calls)], **options) for i in range(count)]


async def checks(channel: grpc.aio.Channel, n: int) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for _ in range(n):
        await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)


def target(servers: list[RunningServer]) -> str:
    """One name resolving to every replica, as a headless Service's does."""
    return "ipv4:" + ",".join(f"127.0.0.1:{s.port}" for s in servers)


async def test_calls_go_round_robin_over_every_replica_and_skip_one_that_is_not_serving() -> None:
    calls: list[tuple[str, str]] = []
    servers = await replicas(3, calls)
    try:
        async with aio_channel(target(servers)) as channel:
            for _ in range(50):  # until every replica's connection is up
                await checks(channel, 1)
                if len({name for name, _ in calls}) == 3:
                    break
            calls.clear()
            await checks(channel, 30)
            assert collections.Counter(name for name, _ in calls) == {"r0": 10, "r1": 10, "r2": 10}
            calls.clear()
            await servers[1].health.enter_graceful_shutdown()  # r1 is going away: clients watching health see it
            for _ in range(50):
                await asyncio.sleep(0.05)
                calls.clear()
                await checks(channel, 10)
                if "r1" not in {name for name, _ in calls}:
                    break
            await checks(channel, 20)
            assert collections.Counter(name for name, _ in calls) == {"r0": 15, "r2": 15}
    finally:
        for server in servers:
            await server.stop(0)


async def test_a_connection_past_its_max_age_is_replaced_and_a_stream_on_it_finishes_in_the_grace() -> None:
    calls: list[tuple[str, str]] = []
    (server,) = await replicas(1, calls, connection_age=(0.5, 10.0))
    try:
        async with aio_channel(f"127.0.0.1:{server.port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            watch = stub.Watch(health_pb2.HealthCheckRequest(service="probe"))
            await server.health.set("probe", health_pb2.HealthCheckResponse.SERVING)
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
            await checks(channel, 1)
            await asyncio.sleep(1.5)  # past the max age: the server has sent GOAWAY
            await server.health.set("probe", health_pb2.HealthCheckResponse.NOT_SERVING)
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING, "within the grace"
            watch.cancel()
            await checks(channel, 1)
        first, second = (peer for _, peer in calls)
        assert first != second, "the second call came on a new connection"
    finally:
        await server.stop(0)


async def test_a_stopping_server_answers_not_serving_for_its_delay_then_drains() -> None:
    calls: list[tuple[str, str]] = []
    (server,) = await replicas(1, calls)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        loop = asyncio.get_running_loop()
        began = loop.time()
        stopping = asyncio.create_task(server.stop(grace=1.0, delay=1.0))
        await asyncio.sleep(0.3)
        reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING, "told, but still answering"
        await stopping
        assert loop.time() - began >= 1.0
        try:
            await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
            raise AssertionError("the server still answers after draining")
        except grpc.aio.AioRpcError as err:
            assert err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def test_a_dns_target_reaches_the_replicas_its_name_resolves_to() -> None:
    """The manifests' form of address (dns:///<headless Service>:<port>), here with a name on this machine."""
    calls: list[tuple[str, str]] = []
    (server,) = await replicas(1, calls)
    try:
        async with aio_channel(f"dns:///localhost:{server.port}") as channel:
            await checks(channel, 3)
        assert [name for name, _ in calls] == ["r0"] * 3
    finally:
        await server.stop(0)


async def test_a_new_channel_reaches_a_server_on_an_address_that_refused_an_older_channel() -> None:
    probe = await create_server([])
    address = f"127.0.0.1:{probe.port}"
    await probe.server.stop(0)  # the address now refuses connections
    async with aio_channel(address) as old:  # still open, backing off, while the server returns
        with pytest.raises(grpc.aio.AioRpcError):
            await health_pb2_grpc.HealthStub(old).Check(health_pb2.HealthCheckRequest(), timeout=0.5)
        await asyncio.sleep(1.5)  # the old channel tries again and backs off for longer than the new one retries
        server = await create_server([], address)
        try:
            async with aio_channel(address) as channel:
                await checks(channel, 1)
        finally:
            await server.server.stop(0)
