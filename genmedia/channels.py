"""Client channels: keepalive, and retries of UNAVAILABLE declared in the service config."""

from __future__ import annotations

import json

import grpc

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


def aio_channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address, options=OPTIONS)
