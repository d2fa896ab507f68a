"""A TLS front for the Temporal dev server, standing in for Temporal Cloud or an mTLS cluster: it serves TLS
(requiring a client certificate when given a client CA), checks an API key sent as `authorization: Bearer`
when given one, and forwards every call, unchanged, to the dev server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc

HOP_HEADERS = ("authorization", "user-agent")  # this front's own: not forwarded


class _Forward(grpc.GenericRpcHandler):
    def __init__(self, upstream: grpc.aio.Channel, api_key: str | None, seen: list[str]) -> None:
        self.upstream, self.api_key, self.seen = upstream, api_key, seen

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        call = self.upstream.unary_unary(details.method)  # bytes in, bytes out: every WorkflowService RPC is unary

        async def forward(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            metadata = [(k, v) for k, v in context.invocation_metadata() if not k.startswith(":")]
            authorization = dict(metadata).get("authorization", "")
            self.seen.append(authorization)
            if self.api_key is not None and authorization != f"Bearer {self.api_key}":
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid API key")
            try:
                return await call(request, metadata=[(k, v) for k, v in metadata if k not in HOP_HEADERS],
                                  timeout=context.time_remaining())
            except grpc.aio.AioRpcError as err:
                await context.abort(err.code(), err.details() or "")

        return grpc.unary_unary_rpc_method_handler(forward)


@asynccontextmanager
async def temporal_front(upstream: str, files: dict[str, Path], *, client_ca: bool = False,
                         api_key: str | None = None) -> AsyncIterator[tuple[str, list[str]]]:
    """Serves the front on a free port: yields its address and the authorization header of every call."""
    seen: list[str] = []
    async with grpc.aio.insecure_channel(upstream) as channel:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])  # port 0 never shared (grpc#10755)
        server.add_generic_rpc_handlers([_Forward(channel, api_key, seen)])
        credentials = grpc.ssl_server_credentials(
            [(files["server-key"].read_bytes(), files["server"].read_bytes())],
            root_certificates=files["ca"].read_bytes() if client_ca else None, require_client_auth=client_ca)
        port = server.add_secure_port("127.0.0.1:0", credentials)
        await server.start()
        try:
            yield f"127.0.0.1:{port}", seen
        finally:
            await server.stop(0)
