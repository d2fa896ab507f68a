"""Client channels: keepalive, retries of UNAVAILABLE declared in the service config, TLS, and the
credential sent with every call."""

from __future__ import annotations

import json

import grpc

from genmedia.tls import ClientTls

_RETRY_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                # Reads and idempotent writes (ReportProgress is idempotent per event key).
                "name": [
                    {"service": "genmedia.v1.ProgressService"},
                    {"service": "genmedia.v1.JobService", "method": "GetJob"},
                ],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "2s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)

OPTIONS = [
    ("grpc.enable_retries", 1),
    ("grpc.service_config", _RETRY_CONFIG),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
]


class _Credential(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` to every call."""

    def __init__(self, token: str) -> None:
        self.header = ("authorization", f"Bearer {token}")

    def _with(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata.add(*self.header)
        return details._replace(metadata=metadata)

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await continuation(self._with(client_call_details), request)

    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await continuation(self._with(client_call_details), request)


def aio_channel(address: str, token: str = "", tls: ClientTls | None = None) -> grpc.aio.Channel:
    """A channel to `address`, over TLS when `tls` is given, sending `token` as the credential."""
    interceptors = [_Credential(token)] if token else None
    if tls is not None:
        return grpc.aio.secure_channel(address, tls.credentials(), options=OPTIONS, interceptors=interceptors)
    return grpc.aio.insecure_channel(address, options=OPTIONS, interceptors=interceptors)

