"""The orchestrator as real processes: `--role all` serves jobs alone, and a job survives its worker
being killed mid-step (another worker finishes it)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from temporalio.testing import WorkflowEnvironment

from genmedia.client import GenmediaClient
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2
from tests.conftest import free_port
from tests.integration.jobstack import (
    EventLog,
    Stack,
    add_api,
    add_api_on_stopped_temporal,
    add_workers,
    configure_env,
    job_services,
    start_progress_server,
    watch_to_end,
)

pytestmark = pytest.mark.timeout(240)


@contextmanager
def orchestrator(stack: Stack, temporal: WorkflowEnvironment, role: str, port: int = 0) -> Iterator[subprocess.Popen]:
    env = stack.process_env(temporal) | {"GENMEDIA_ORCHESTRATOR_PORT": str(port)}
    with service_process(stack, env, "services.orchestrator", "--role", role) as proc:
        yield proc


@contextmanager
def service_process(stack: Stack, env: dict[str, str], module: str, *args: str) -> Iterator[subprocess.Popen]:
    """A service as its own process (killed at the end if still running), logging under the stack's var."""
    log = (stack.var / f"{module.rsplit('.', 1)[-1]}-{free_port()}.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", module, *args], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        log.close()


async def wait_serving(port: int) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = health_pb2.HealthCheckRequest(service="genmedia.v1.JobService")
        reply = await health_pb2_grpc.HealthStub(channel).Check(request, wait_for_ready=True, timeout=60)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.fixture
async def services(temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    configure_env(monkeypatch, tmp_path)
    monkeypatch.setenv("GENMEDIA_IMAGE_STEP_DELAY_SECONDS", "0.25")
    async with job_services(tmp_path) as stack:
        yield stack


async def test_role_all_runs_api_and_worker_in_one_process(services: Stack, temporal) -> None:
    port = free_port()
    with orchestrator(services, temporal, "all", port) as proc:
        await wait_serving(port)
        async with GenmediaClient(f"127.0.0.1:{port}", services.settings.progress_addr) as client:
            job = await client.create_job(pb.JobSpec(video=pb.VideoSpec(
                prompt="one process", width=96, height=64, duration_seconds=1, fps=12)))
            events = await watch_to_end(client, job.id)
            assert events[-1].type == pb.EVENT_TYPE_COMPLETED
            live = await client.get_job(job.id)
            assert live.source == job_service_pb2.GetJobResponse.SOURCE_WORKFLOW
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0


async def test_a_job_survives_its_worker_being_killed_mid_step(services: Stack, temporal) -> None:
    await add_api(services, temporal)
    client = services.client
    with orchestrator(services, temporal, "worker") as first:
        job = await client.create_job(pb.JobSpec(image=pb.ImageSpec(prompt="stubborn", width=256, height=256)))
        async for message in client.watch(job.id):
            if message.WhichOneof("payload") == "event" and message.event.type == pb.EVENT_TYPE_PROGRESS:
                break
        first.kill()  # SIGKILL: no cleanup, no goodbye to Temporal
        first.wait()
        # No worker can answer the workflow query now: GetJob answers from the progress store instead.
        fallback = await client.get_job(job.id)
        assert fallback.source == job_service_pb2.GetJobResponse.SOURCE_STORE
        assert fallback.job.state == pb.JOB_STATE_RUNNING
    with orchestrator(services, temporal, "worker"):
        events = await watch_to_end(client, job.id)
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED
    assert [a.mime_type for a in events[-1].assets] == ["image/png"]
    assert max(e.attempt for e in events) >= 2, "the step ran again on the second worker"
    assert len([e for e in events if e.type == pb.EVENT_TYPE_COMPLETED]) == 1
    sequences = [e.sequence for e in events]
    assert sequences == list(range(2, 2 + len(sequences)))


@contextmanager
def image_process(stack: Stack, port: int) -> Iterator[subprocess.Popen]:
    with service_process(stack, dict(os.environ, GENMEDIA_IMAGE_PORT=str(port)), "services.image") as proc:
        yield proc


async def test_a_job_shows_retrying_while_its_image_service_is_killed_then_completes(services: Stack,
                                                                                    temporal) -> None:
    port = free_port()
    services.settings = replace(services.settings, image_addr=f"127.0.0.1:{port}")
    await add_api(services, temporal)
    await add_workers(services, temporal)
    client = services.client
    with image_process(services, port) as image:
        job = await client.create_job(pb.JobSpec(image=pb.ImageSpec(prompt="resilient", width=256, height=256)))
        log = EventLog(client, job.id)
        await log.wait_for(lambda e: e.type == pb.EVENT_TYPE_PROGRESS)
        image.kill()  # SIGKILL mid-step
        image.wait()
        retrying = await log.wait_for(lambda e: e.type == pb.EVENT_TYPE_RETRYING)
        assert retrying.state == pb.JOB_STATE_RETRYING and retrying.attempt >= 1
        assert retrying.error.code == "UNAVAILABLE" and retrying.error.retryable
        live = []
        async with asyncio.timeout(10):
            while not live or live[-1].state != pb.JOB_STATE_RETRYING:
                response = await client.get_job(job.id)
                assert response.source == job_service_pb2.GetJobResponse.SOURCE_WORKFLOW
                live.append(response.job)
                await asyncio.sleep(0.05)
        assert live[-1].attempt >= 2 and live[-1].error.retryable and live[-1].error.message
        await asyncio.sleep(3)  # down for a few seconds
    with image_process(services, port):
        events = await log.end(timeout=60)
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED
    retries = [e for e in events if e.type == pb.EVENT_TYPE_RETRYING]
    assert len(retries) >= 2 and [e.attempt for e in retries] == sorted({e.attempt for e in retries})
    after = [e for e in events if e.type == pb.EVENT_TYPE_PROGRESS and e.sequence > retries[-1].sequence]
    assert after and after[0].attempt == retries[-1].attempt + 1, "the attempt after the last failure finished"
    assert after[0].state == pb.JOB_STATE_RUNNING and not after[0].HasField("error")


async def test_a_watch_resumes_across_a_progress_service_restart(services: Stack, temporal) -> None:
    await add_api(services, temporal)
    await add_workers(services, temporal)
    client = services.client
    job = await client.create_job(pb.JobSpec(image=pb.ImageSpec(prompt="restart me", width=256, height=256)))
    progress = services.servers["progress"]
    events: list[pb.JobEvent] = []
    async for message in client.watch(job.id, after_sequence=1):
        if message.WhichOneof("payload") != "event":
            continue
        events.append(message.event)
        if message.event.type == pb.EVENT_TYPE_PROGRESS and progress is not None:
            port = progress.port
            await progress.stop(0)  # the watch breaks; the client retries with its last sequence
            await asyncio.sleep(0.5)
            services.servers["progress"] = await start_progress_server(services, f"127.0.0.1:{port}")
            progress = None
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED
    sequences = [e.sequence for e in events]
    assert sequences == list(range(2, 2 + len(sequences))), "no event lost or repeated across the restart"


async def test_get_job_shows_the_running_steps_percent_live_from_the_workflow(services: Stack, temporal) -> None:
    # With the default 30 s heartbeat timeout the SDK would hold heartbeats back for 24 s.
    policy = replace(services.settings.image_policy, heartbeat=timedelta(seconds=30))
    services.settings = replace(services.settings, image_policy=policy)
    await add_api(services, temporal)
    await add_workers(services, temporal)
    client = services.client
    job = await client.create_job(pb.JobSpec(image=pb.ImageSpec(prompt="live", width=128, height=128, num_images=3)))
    seen = []
    async with asyncio.timeout(30):
        while not seen or seen[-1].state == pb.JOB_STATE_PENDING or seen[-1].percent == 0:
            live = await client.get_job(job.id)
            assert live.source == job_service_pb2.GetJobResponse.SOURCE_WORKFLOW
            seen.append(live.job)
            await asyncio.sleep(0.2)
    assert seen[-1].state == pb.JOB_STATE_RUNNING and 0 < seen[-1].percent < 95, seen[-1]
    assert seen[-1].message.startswith("image"), seen[-1].message
    assert (await watch_to_end(client, job.id))[-1].type == pb.EVENT_TYPE_COMPLETED


async def test_create_job_is_unavailable_while_temporal_is_down_and_leaves_no_pending_job(services: Stack) -> None:
    await add_api_on_stopped_temporal(services)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await services.client.create_job(pb.JobSpec(image=pb.ImageSpec(prompt="no temporal")))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE and "temporal" in info.value.details()
    (job,) = (await services.client.list_jobs()).jobs
    assert job.state == pb.JOB_STATE_FAILED and job.error.code == "START_FAILED", job


async def test_create_job_is_unavailable_while_the_progress_service_is_down(services: Stack, temporal) -> None:
    await add_api(services, temporal)
    await services.servers["progress"].stop(0)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await services.client.create_job(pb.JobSpec(image=pb.ImageSpec(prompt="nobody listens")))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "progress service" in info.value.details()


async def test_without_the_progress_service_a_job_with_a_request_id_runs_and_records_itself(
        services: Stack, temporal) -> None:
    await add_api(services, temporal)
    await add_workers(services, temporal)
    port = services.servers["progress"].port
    await services.servers["progress"].stop(0)
    spec, request_id = pb.JobSpec(null=pb.NullSpec()), "5b4ad3c3-2bb6-4a38-9e83-4ae3c0e1e0a7"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await services.client.create_job(spec, request_id=request_id)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE and "progress service" in info.value.details()
    query = f"TaskQueue = '{services.settings.task_queue}'"
    async with asyncio.timeout(10):  # its workflow started anyway, and waits for the store
        for _ in range(100):
            if started := [w async for w in temporal.client.list_workflows(query)]:
                break
            await asyncio.sleep(0.1)
    services.servers["progress"] = await start_progress_server(services, f"127.0.0.1:{port}")
    async with asyncio.timeout(20):
        while True:  # as a client repeats after UNAVAILABLE, while the API's channel reconnects
            try:
                job = await services.client.create_job(spec, request_id=request_id)  # the same job
                break
            except grpc.aio.AioRpcError as err:
                assert err.code() == grpc.StatusCode.UNAVAILABLE, err
                await asyncio.sleep(0.2)
    events = await watch_to_end(services.client, job.id)
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED
    assert [job.id] == [w.id for w in started] == [j.id for j in (await services.client.list_jobs()).jobs]


async def test_without_the_progress_service_a_job_without_a_request_id_leaves_nothing_running(
        services: Stack, temporal) -> None:
    await add_api(services, temporal)
    await services.servers["progress"].stop(0)
    with pytest.raises(grpc.aio.AioRpcError):
        await services.client.create_job(pb.JobSpec(null=pb.NullSpec()))
    query = f"TaskQueue = '{services.settings.task_queue}'"
    workflows = [w async for w in temporal.client.list_workflows(query)]
    assert workflows and all(w.status.name == "TERMINATED" for w in workflows), workflows


async def test_a_bad_setting_stops_the_orchestrator_naming_the_variable() -> None:
    env = dict(os.environ, GENMEDIA_IMAGE_SLOTS="0")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "services.orchestrator", env=env,
                                                stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert stderr.decode().strip() == "genmedia-orchestrator: GENMEDIA_IMAGE_SLOTS=0 is outside 1..1000"
