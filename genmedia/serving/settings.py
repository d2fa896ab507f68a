"""How one gRPC server listens, exports metrics, logs, authenticates and shuts down: ServingSettings, read
from GENMEDIA_* variables (docs/configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass

from genmedia.config import METRICS_PORTS, PORTS, ConfigError, Section, Var, env_float, env_int, env_str
from genmedia.serving.auth import Authenticator
from genmedia.tls import ServerTls


@dataclass(frozen=True)
class ServingSettings:
    """How one gRPC server listens, exports metrics, logs and shuts down."""

    service: str
    host: str
    port: int
    metrics_port: int  # -1 disables the /metrics endpoint; 0 picks a free port
    grace_seconds: float
    log_format: str
    log_level: str
    max_message_bytes: int = 4 * 1024 * 1024
    auth: Authenticator | None = None  # None: authentication off
    tls: ServerTls | None = None  # None: plaintext
    shutdown_delay: float = 0.0  # seconds NOT_SERVING before draining: endpoints and clients move away first
    connection_age: tuple[float, float] | None = None  # max connection age and its grace, seconds (None: forever)

    @classmethod
    def from_env(cls, service: str, metrics_name: str | None = None) -> ServingSettings:
        prefix = f"GENMEDIA_{service.upper()}"
        metrics_name = metrics_name or service
        log_format = env_str("GENMEDIA_LOG_FORMAT", "text")
        if log_format not in ("text", "json"):
            raise ConfigError(f"GENMEDIA_LOG_FORMAT={log_format!r} must be text or json")
        return cls(
            service=service,
            host=env_str("GENMEDIA_BIND_HOST", "127.0.0.1"),
            port=env_int(f"{prefix}_PORT", PORTS.get(service, 0), 0, 65535),
            metrics_port=env_int(
                f"GENMEDIA_{metrics_name.upper()}_METRICS_PORT", METRICS_PORTS[metrics_name], -1, 65535
            ),
            grace_seconds=env_float("GENMEDIA_SHUTDOWN_GRACE_SECONDS", 10.0, lo=0.0),
            log_format=log_format,
            log_level=env_str("GENMEDIA_LOG_LEVEL", "INFO").upper(),
            max_message_bytes=env_int("GENMEDIA_MAX_MESSAGE_BYTES", 4 * 1024 * 1024, 1024, 64 * 1024 * 1024),
            auth=Authenticator.from_env(),
            tls=ServerTls.from_env(),
            shutdown_delay=env_float("GENMEDIA_SHUTDOWN_DELAY_SECONDS", 0.0, lo=0.0),
            connection_age=_connection_age(),
        )

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"


def _connection_age() -> tuple[float, float] | None:
    """GENMEDIA_MAX_CONNECTION_AGE_SECONDS (300; 0: forever) and its _GRACE_SECONDS (1800: the longest step)."""
    age = env_float("GENMEDIA_MAX_CONNECTION_AGE_SECONDS", 300.0, lo=0.0)
    return (age, env_float("GENMEDIA_MAX_CONNECTION_AGE_GRACE_SECONDS", 1800.0, lo=0.0)) if age > 0 else None


ENV = Section("Every server", (
    Var("GENMEDIA_BIND_HOST", "127.0.0.1", "where the gRPC servers and /metrics listen (`0.0.0.0` in containers)"),
    Var("GENMEDIA_<SERVICE>_PORT",
        "orchestrator 50051, progress 50052, image 50053, video 50054, worker 50055, gateway 8080",
        "a service's gRPC port (the worker's serves health only; -1: none); 0 picks a free port"),
    Var("GENMEDIA_<SERVICE>_METRICS_PORT",
        "orchestrator 9101, worker 9102, progress 9103, image 9104, video 9105, gateway 9106",
        "a process's Prometheus /metrics port; -1 disables it, 0 picks a free port"),
    Var("GENMEDIA_SHUTDOWN_GRACE_SECONDS", "10", "how long SIGTERM waits for calls in flight"),
    Var("GENMEDIA_SHUTDOWN_DELAY_SECONDS", "0",
        "how long a server stays NOT_SERVING, still answering, before it drains (5 in Kubernetes)"),
    Var("GENMEDIA_MAX_CONNECTION_AGE_SECONDS", "300",
        "servers close older connections so clients reach new replicas; 0: never"),
    Var("GENMEDIA_MAX_CONNECTION_AGE_GRACE_SECONDS", "1800", "how long calls in flight on such a connection get"),
    Var("GENMEDIA_MAX_MESSAGE_BYTES", "4194304", "the largest gRPC message a server takes (1 KiB-64 MiB)"),
    Var("GENMEDIA_LOG_FORMAT", "text", "`text` or `json` (one object per line, with `job_id`)"),
    Var("GENMEDIA_LOG_LEVEL", "INFO", "the log level of every logger"),
))
