"""Typed settings from GENMEDIA_* environment variables, shared by every process; bad values fail fast."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A GENMEDIA_* variable has a value that cannot be used."""


def load_or_exit(prog: str, factory: Callable[[], T]) -> T:
    """Builds a process's settings; a bad GENMEDIA_* value ends it with one line naming the variable."""
    try:
        return factory()
    except ConfigError as exc:
        raise SystemExit(f"{prog}: {exc}") from None


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def env_int(name: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{name}={value} is outside {lo}..{hi}")
    return value


def env_float(name: str, default: float, lo: float | None = None) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if lo is not None and value < lo:
        raise ConfigError(f"{name}={value} is below {lo}")
    return value


def var_dir() -> Path:
    """GENMEDIA_VAR_DIR (default ./var): where databases, assets and logs go."""
    return Path(env_str("GENMEDIA_VAR_DIR", "var")).resolve()


# Default ports of the stack (ARCHITECTURE.md, "Processes and ports").
PORTS = {"orchestrator": 50051, "progress": 50052, "image": 50053, "video": 50054, "worker": 50055,
         "gateway": 8080}
METRICS_PORTS = {"orchestrator": 9101, "worker": 9102, "progress": 9103, "image": 9104, "video": 9105,
                 "gateway": 9106}


def service_addr(service: str) -> str:
    """Where clients reach a service: GENMEDIA_<SERVICE>_ADDR, default 127.0.0.1:<its default port>."""
    return env_str(f"GENMEDIA_{service.upper()}_ADDR", f"127.0.0.1:{PORTS[service]}")


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
    auth: Any = None  # genmedia.auth.Authenticator; None: authentication off
    tls: Any = None  # genmedia.tls.ServerTls; None: plaintext
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
            auth=_auth_from_env(),
            tls=_tls_from_env(),
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


def _auth_from_env():
    from genmedia.auth import Authenticator  # here: genmedia.auth imports this module

    return Authenticator.from_env()


def _tls_from_env():
    from genmedia.tls import ServerTls

    return ServerTls.from_env()
