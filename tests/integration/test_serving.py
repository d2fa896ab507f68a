"""The shared serving kit: health (Check and Watch), reflection v1 and v1alpha, metrics, rich errors,
and SIGTERM -> NOT_SERVING -> drain -> exit 0 on a real service process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from prometheus_client import REGISTRY

from genmedia.domain.errors import InvalidArgument, details_of
from genmedia.serving.server import Registration, create_server
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import image_service_pb2 as ipb
from genmedia.v1 import image_service_pb2_grpc as ig
from tests.conftest import free_port

SERVICE = "genmedia.v1.ImageService"


class Refusing(ig.ImageServiceServicer):
    """A servicer that streams one message and then refuses (or outlives its client), to exercise the kit's
    error path."""

    async def GenerateImages(self, request, context):
        yield ipb.GenerateImagesResponse(progress=ipb.GenerationProgress(percent=1))
        if request.spec.prompt == "outlive the client":
            try:
                await asyncio.sleep(30)  # the client cancels meanwhile
            except asyncio.CancelledError:
                # As a write to a call that has just ended fails: grpc's ExecuteBatchError, not a cancel.
                raise grpc.aio.InternalError('Failed "execute_batch"') from None
        if request.spec.prompt:  # echoes what the client sent, as error messages often do
            raise InvalidArgument([(f"labels[{request.spec.prompt}{i}]", request.spec.prompt) for i in range(50)])
        raise InvalidArgument([("spec.prompt", "must not be empty")])


@pytest.fixture
async def server():
    running = await create_server([Registration(SERVICE, ig.add_ImageServiceServicer_to_server, Refusing())])
    yield running
    await running.stop(0)


async def list_services(port: int, method: str) -> list[str]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.stream_stream(
            method, request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        response = await call.read()
        call.cancel()
    return [s.name for s in response.list_services_response.service]


async def test_reflection_is_served_under_v1_and_v1alpha(server) -> None:
    for package in ("grpc.reflection.v1", "grpc.reflection.v1alpha"):
        names = await list_services(server.port, f"/{package}.ServerReflection/ServerReflectionInfo")
        assert SERVICE in names and "grpc.health.v1.Health" in names, (package, names)
        assert "grpc.reflection.v1.ServerReflection" in names


async def test_health_check_and_watch_follow_shutdown(server) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await health.Check(health_pb2.HealthCheckRequest(service="genmedia.v1.Nope"))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        watch = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        await server.health.enter_graceful_shutdown()
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()


def _handled(code: str) -> float:
    labels = {"grpc_type": "server_stream", "grpc_service": SERVICE, "grpc_method": "GenerateImages",
              "grpc_code": code}
    return REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0


async def test_service_errors_become_rich_statuses_and_are_counted(server) -> None:
    before = _handled("INVALID_ARGUMENT")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = ig.ImageServiceStub(channel).GenerateImages(ipb.GenerateImagesRequest(spec=pb.ImageSpec()))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in call:
                pass
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details_of(info.value) == ("INVALID_ARGUMENT", [("spec.prompt", "must not be empty")])
    assert _handled("INVALID_ARGUMENT") == before + 1
    started = REGISTRY.get_sample_value("grpc_server_started_total", {
        "grpc_type": "server_stream", "grpc_service": SERVICE, "grpc_method": "GenerateImages"})
    assert started and started >= 1


async def test_an_error_after_the_client_left_is_counted_cancelled_not_logged(server, caplog) -> None:
    before = _handled("CANCELLED")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = ig.ImageServiceStub(channel).GenerateImages(
            ipb.GenerateImagesRequest(spec=pb.ImageSpec(prompt="outlive the client")))
        await call.read()
        call.cancel()
    for _ in range(200):
        if _handled("CANCELLED") > before:
            break
        await asyncio.sleep(0.01)
    assert _handled("CANCELLED") == before + 1
    assert "unhandled error" not in caplog.text


async def test_huge_errors_are_bounded_so_the_client_still_gets_its_status(server) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        request = ipb.GenerateImagesRequest(spec=pb.ImageSpec(prompt="é🦊" * 20_000))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in ig.ImageServiceStub(channel).GenerateImages(request):
                pass
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()[:200]
    reason, violations = details_of(info.value)
    assert reason == "INVALID_ARGUMENT" and len(violations) == 10
    assert len(info.value.details().encode()) <= 512


async def test_sigterm_drains_an_in_flight_call_then_exits_zero(tmp_path) -> None:
    port = free_port()
    env = dict(os.environ, GENMEDIA_IMAGE_PORT=str(port), GENMEDIA_IMAGE_METRICS_PORT="-1",
               GENMEDIA_VAR_DIR=str(tmp_path), GENMEDIA_IMAGE_STEP_DELAY_SECONDS="0.1",
               GENMEDIA_SHUTDOWN_GRACE_SECONDS="20")
    proc = subprocess.Popen([sys.executable, "-m", "services.image"], env=env, stderr=subprocess.PIPE)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            await health.Check(health_pb2.HealthCheckRequest(service=SERVICE), wait_for_ready=True, timeout=30)
            spec = pb.ImageSpec(prompt="a slow picture", width=256, height=256)
            call = ig.ImageServiceStub(channel).GenerateImages(ipb.GenerateImagesRequest(job_id="drain", spec=spec))
            first = await call.read()
            assert first.WhichOneof("payload") == "progress"
            proc.send_signal(signal.SIGTERM)
            messages = []
            while (message := await call.read()) is not grpc.aio.EOF:
                messages.append(message)
            assert messages[-1].WhichOneof("payload") == "result"
            assert await call.code() == grpc.StatusCode.OK
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stderr.close()
