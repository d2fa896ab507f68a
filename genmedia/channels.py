"""Client channels: round-robin across every address of a name with client-side health checking, keepalive,
retries of UNAVAILABLE declared in the service config, TLS, and the credential sent with every call."""

from __future__ import annotations

import json

import grpc

from genmedia.tls import ClientTls

_RETRY_CONFIG = json.dumps(
    {
        # Every address the name resolves to (dns:/// and a headless Service: each replica) takes calls in
        # turn, and a replica whose health is NOT_SERVING (shutting down) gets none.
        "loadBalancingConfig": [{"round_robin": {}}],
        "healthCheckConfig": {"serviceName": ""},
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
    ("grpc.http2.max_pings_without_data", 0),  # long quiet streams keep pinging (the servers allow one per 10 s)
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
]


def _with_credential(details: grpc.aio.ClientCallDetails, token: str) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    metadata.add("authorization", f"Bearer {token}")
    return details._replace(metadata=metadata)


# One class per kind of call: a channel files an interceptor under one kind only.
class _UnaryCredential(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, token: str) -> None:
        self.token = token

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await continuation(_with_credential(client_call_details, self.token), request)


class _StreamCredential(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, token: str) -> None:
        self.token = token

    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await continuation(_with_credential(client_call_details, self.token), request)


class _BidiCredential(grpc.aio.StreamStreamClientInterceptor):
    def __init__(self, token: str) -> None:
        self.token = token

    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return await continuation(_with_credential(client_call_details, self.token), request_iterator)


def aio_channel(address: str, token: str = "", tls: ClientTls | None = None) -> grpc.aio.Channel:
    """A channel to `address`, over TLS when `tls` is given, sending `token` as the credential."""
    interceptors = [_UnaryCredential(token), _StreamCredential(token), _BidiCredential(token)] if token else None
    if tls is not None:
        return grpc.aio.secure_channel(address, tls.credentials(), options=OPTIONS, interceptors=interceptors)
    return grpc.aio.insecure_channel(address, options=OPTIONS, interceptors=interceptors)

