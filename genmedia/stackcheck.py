"""Readiness checks of the stack's processes and the endpoint table `make run` prints."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.table import Table
from temporalio.client import Client

from genmedia.config import env_str


async def wait_grpc_healthy(addr: str, service: str) -> None:
    """Returns once grpc.health.v1 reports the service SERVING."""
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.2)


async def _connect(addr: str) -> Client:
    while True:
        try:
            return await Client.connect(addr, namespace=env_str("GENMEDIA_TEMPORAL_NAMESPACE", "default"))
        except RuntimeError:
            await asyncio.sleep(0.3)


async def wait_temporal(addr: str) -> None:
    await _connect(addr)


def endpoints_table(layout, children) -> Table:
    table = Table(title="genmedia", title_justify="left")
    for column in ("process", "gRPC", "metrics", "log"):
        table.add_column(column)
    for child in children:
        grpc_addr = f"127.0.0.1:{child.port}" if child.port else "—"
        metrics = f"http://127.0.0.1:{child.metrics_port}/metrics" if child.metrics_port > 0 else "—"
        if child.name == "temporal" and layout.temporal_ui_port > 0:
            metrics = f"UI http://127.0.0.1:{layout.temporal_ui_port}"
        table.add_row(child.name, grpc_addr, metrics, str(layout.var / "logs" / f"{child.name}.log"))
    return table
