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


async def wait_http_healthy(addr: str, path: str = "/healthz") -> None:
    """Returns once GET `path` answers 200 (the gateway's health)."""
    host, _, port = addr.rpartition(":")
    while True:
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n".encode())
            status = await asyncio.wait_for(reader.readline(), 2)
            writer.close()
            if status.split(b" ")[1:2] == [b"200"]:
                return
        except (OSError, TimeoutError, ValueError):
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
    for column in ("process", "address", "metrics", "log"):
        table.add_column(column)
    for child in children:
        grpc_addr = f"127.0.0.1:{child.port}" if child.port else "—"
        if child.ready == "http":
            grpc_addr = f"console http://127.0.0.1:{child.port}/"
        metrics = f"http://127.0.0.1:{child.metrics_port}/metrics" if child.metrics_port > 0 else "—"
        if child.name == "temporal" and layout.temporal_ui_port > 0:
            metrics = f"UI http://127.0.0.1:{layout.temporal_ui_port}"
        table.add_row(child.name, grpc_addr, metrics, str(layout.var / "logs" / f"{child.name}.log"))
    return table
