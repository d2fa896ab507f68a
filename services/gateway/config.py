"""Gateway settings from GENMEDIA_* environment variables (see the README's service table)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from genmedia.config import ConfigError, Section, Var, env_float, env_str, secret, service_addr
from genmedia.serving.settings import ServingSettings
from genmedia.tls import ClientTls


@dataclass(frozen=True)
class Settings:
    serving: ServingSettings  # host, GENMEDIA_GATEWAY_PORT (8080), GENMEDIA_GATEWAY_METRICS_PORT (9106), logs
    orchestrator_addr: str  # GENMEDIA_ORCHESTRATOR_ADDR: JobService
    progress_addr: str  # GENMEDIA_PROGRESS_ADDR: ProgressService
    session_secret: bytes  # GENMEDIA_GATEWAY_SESSION_SECRET(_FILE): seals session cookies and CSRF tokens
    session_hours: float  # GENMEDIA_GATEWAY_SESSION_HOURS (12): how long a console login lasts
    secure_cookies: str  # GENMEDIA_GATEWAY_SECURE_COOKIES: on, off or auto (on when the request came over HTTPS)
    timeout: float  # GENMEDIA_GATEWAY_TIMEOUT_SECONDS (30): each unary call's deadline
    task_queue: str  # GENMEDIA_TASK_QUEUE (genmedia-jobs), as the orchestrator: seed 000's status shows it
    tls: ClientTls | None = None  # how the gateway reaches the services (GENMEDIA_TLS_*)

    @classmethod
    def from_env(cls) -> Settings:
        raw = secret("GENMEDIA_GATEWAY_SESSION_SECRET")
        if raw and len(raw) < 16:
            raise ConfigError("GENMEDIA_GATEWAY_SESSION_SECRET must be at least 16 characters")
        # Unset: a new secret per process, so logins end with it (set one for several replicas).
        session_secret = raw.encode() if raw else secrets.token_bytes(32)
        secure = env_str("GENMEDIA_GATEWAY_SECURE_COOKIES", "auto").lower()
        if secure not in ("auto", "on", "off"):
            raise ConfigError(f"GENMEDIA_GATEWAY_SECURE_COOKIES must be auto, on or off, got {secure!r}")
        serving = ServingSettings.from_env("gateway")
        return cls(
            serving=serving,
            orchestrator_addr=service_addr("orchestrator"),
            progress_addr=service_addr("progress"),
            session_secret=session_secret,
            session_hours=env_float("GENMEDIA_GATEWAY_SESSION_HOURS", 12.0, lo=0.01),
            secure_cookies=secure,
            timeout=env_float("GENMEDIA_GATEWAY_TIMEOUT_SECONDS", 30.0, lo=0.1),
            task_queue=env_str("GENMEDIA_TASK_QUEUE", "genmedia-jobs"),
            tls=ClientTls.from_env(),
        )


ENV = Section("Gateway (HTTP/JSON and the web console)", (
    Var("GENMEDIA_GATEWAY_SESSION_SECRET", "a new one per process",
        "seals console session cookies and CSRF tokens (16 characters or more); set one for several replicas"),
    Var("GENMEDIA_GATEWAY_SESSION_SECRET_FILE", "unset", "a file holding the session secret (wins over it)"),
    Var("GENMEDIA_GATEWAY_SESSION_HOURS", "12", "how long a console login lasts"),
    Var("GENMEDIA_GATEWAY_SECURE_COOKIES", "auto", "`on`, `off`, or `auto` (Secure cookies when the request came "
        "over HTTPS)"),
    Var("GENMEDIA_GATEWAY_TIMEOUT_SECONDS", "30", "each unary call's deadline"),
), note="The gateway also reads GENMEDIA_ORCHESTRATOR_ADDR, GENMEDIA_PROGRESS_ADDR, GENMEDIA_TASK_QUEUE, the client "
        "GENMEDIA_TLS_* variables and every server's; its ports are GENMEDIA_GATEWAY_PORT (8080) and "
        "GENMEDIA_GATEWAY_METRICS_PORT (9106).")
