"""The orchestrator reaches Temporal through temporalio's own settings: an mTLS cluster (TEMPORAL_TLS_*) and an
API-key front like Temporal Cloud's (TEMPORAL_API_KEY), both over real TLS in front of the dev server."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from temporalio.testing import WorkflowEnvironment

from genmedia.client import GenmediaClient
from genmedia.v1 import common_pb2 as pb
from services.orchestrator.temporal import TemporalSettings, connect
from tests.conftest import free_port
from tests.integration.certs import certificates
from tests.integration.jobstack import Stack, configure_env, job_services, watch_to_end
from tests.integration.temporal_front import temporal_front
from tests.integration.test_orchestrator_process import service_process, wait_serving

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
async def services(temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    configure_env(monkeypatch, tmp_path)
    async with job_services(tmp_path) as stack:
        yield stack


def tls_env(files: dict[str, Path], address: str, client_cert: bool) -> dict[str, str]:
    env = {"TEMPORAL_ADDRESS": address, "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(files["ca"]),
           "TEMPORAL_TLS_SERVER_NAME": "localhost"}
    if client_cert:
        env.update(TEMPORAL_TLS_CLIENT_CERT_PATH=str(files["client"]),
                   TEMPORAL_TLS_CLIENT_KEY_PATH=str(files["client-key"]))
    return env


async def test_an_orchestrator_runs_jobs_on_an_mtls_temporal(services: Stack, temporal: WorkflowEnvironment,
                                                           tmp_path: Path) -> None:
    files = certificates(tmp_path)
    async with temporal_front(temporal.client.service_client.config.target_host, files, client_ca=True) as (addr, _):
        port, health_port = free_port(), free_port()
        env = services.process_env(temporal) | tls_env(files, addr, client_cert=True) | {
            "GENMEDIA_ORCHESTRATOR_PORT": str(port), "GENMEDIA_WORKER_PORT": str(health_port),
            "GENMEDIA_WORKER_HEALTH_INTERVAL_SECONDS": "0.2"}
        del env["GENMEDIA_TEMPORAL_ADDR"]
        with service_process(services, env, "services.orchestrator", "--role", "all") as proc:
            await wait_serving(port)
            async with GenmediaClient(f"127.0.0.1:{port}", services.settings.progress_addr) as client:
                job = await client.create_job(pb.JobSpec(null=pb.NullSpec()))
                events = await watch_to_end(client, job.id)
            assert events[-1].type == pb.EVENT_TYPE_COMPLETED
            # Ready once Temporal lists this worker's pollers on all three queues: a job can end before that.
            async with grpc.aio.insecure_channel(f"127.0.0.1:{health_port}") as channel:
                watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=30)
                async for reply in watch:
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                watch.cancel()
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, "the worker polls through mTLS"
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 30) == 0
        log = next(services.var.glob("orchestrator-*.log")).read_text()
        assert f"on {addr} (namespace default, mTLS)" in log


async def test_without_a_client_certificate_an_mtls_temporal_refuses(temporal: WorkflowEnvironment,
                                                                    tmp_path: Path) -> None:
    files = certificates(tmp_path)
    async with temporal_front(temporal.client.service_client.config.target_host, files, client_ca=True) as (addr, _):
        with pytest.raises(RuntimeError):
            await connect(TemporalSettings.from_env(tls_env(files, addr, client_cert=False)), patience=0)
        client = await connect(TemporalSettings.from_env(tls_env(files, addr, client_cert=True)), patience=0)
        assert (await client.workflow_service.get_system_info(_system_info())).server_version


async def test_an_api_key_reaches_temporal_as_a_bearer_token(temporal: WorkflowEnvironment, tmp_path: Path) -> None:
    files = certificates(tmp_path)
    upstream = temporal.client.service_client.config.target_host
    async with temporal_front(upstream, files, api_key="the-right-key") as (addr, seen):
        env = tls_env(files, addr, client_cert=False) | {"TEMPORAL_API_KEY": "the-right-key"}
        client = await connect(TemporalSettings.from_env(env), patience=0)
        await client.workflow_service.get_system_info(_system_info())
        assert seen and set(seen) == {"Bearer the-right-key"}
        with pytest.raises(RuntimeError, match="invalid API key"):
            await connect(TemporalSettings.from_env(env | {"TEMPORAL_API_KEY": "a-wrong-key"}), patience=0)


def _system_info():
    from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

    return GetSystemInfoRequest()
