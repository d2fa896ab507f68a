"""Client channels: round-robin across every address of a name with client-side health checking, keepalive,
retries of UNAVAILABLE declared in the service config, TLS, and the credential sent with every call."""

from __future__ import annotations

import json

import grpc

from genmedia.tls import ClientTls


def retry_config(names: list[dict[str, str]]) -> str:
    """A service config that retries UNAVAILABLE on these methods ({"service": ..., "method": ...}).

    Every address the name resolves to (dns:/// and a headless Service: each replica) takes calls in turn,
    and a replica whose health is NOT_SERVING (shutting down) gets none."""
    policy = {"maxAttempts": 4, "initialBackoff": "0.1s", "maxBackoff": "2s", "backoffMultiplier": 2,
              "retryableStatusCodes": ["UNAVAILABLE"]}
    return json.dumps({"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""},
                       "methodConfig": [{"name": names, "retryPolicy": policy}]})


# Reads and idempotent writes (ReportProgress is idempotent per event key).
_RETRY_CONFIG = retry_config([{"service": "genmedia.v1.ProgressService"},
                              {"service": "genmedia.v1.JobService", "method": "GetJob"}])

OPTIONS = [
    ("grpc.enable_retries", 1),
    ("grpc.service_config", _RETRY_CONFIG),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),  # long quiet streams keep pinging (the servers allow one per 10 s)
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
    # Each channel connects for itself: in grpc's shared pool, a new channel to an address that refused an
    # older one inherits that connection's reconnect backoff and fails at once, though a server now listens.
    ("grpc.use_local_subchannel_pool", 1),
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


def aio_channel(address: str, token: str = "", tls: ClientTls | None = None,
                service_config: str | None = None) -> grpc.aio.Channel:
    """A channel to `address`, over TLS when `tls` is given, sending `token` as the credential;
    `service_config` replaces the default retry policy."""
    interceptors = [_UnaryCredential(token), _StreamCredential(token), _BidiCredential(token)] if token else None
    options = OPTIONS if service_config is None else [
        *(o for o in OPTIONS if o[0] != "grpc.service_config"), ("grpc.service_config", service_config)]
    if tls is not None:
        return grpc.aio.secure_channel(address, tls.credentials(), options=options, interceptors=interceptors)
    return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)

