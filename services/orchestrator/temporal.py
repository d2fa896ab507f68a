"""The Temporal connection, configured through temporalio's own settings (temporalio.envconfig): TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_* and a TEMPORAL_CONFIG_FILE profile, so mTLS clusters and
Temporal Cloud work. GENMEDIA_TEMPORAL_ADDR and GENMEDIA_TEMPORAL_NAMESPACE stay as aliases."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client
from temporalio.envconfig import ClientConfigProfile
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from genmedia.config import ConfigError, Section, Var

log = logging.getLogger(__name__)

DEFAULT_ADDRESS = "127.0.0.1:7233"
DEFAULT_NAMESPACE = "default"
ALIASES = {"GENMEDIA_TEMPORAL_ADDR": "TEMPORAL_ADDRESS", "GENMEDIA_TEMPORAL_NAMESPACE": "TEMPORAL_NAMESPACE"}
TLS_FILES = ("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH")


@dataclass(frozen=True)
class TemporalSettings:
    """Where Temporal is and how to reach it; `describe()` names it without secrets."""

    address: str = DEFAULT_ADDRESS
    namespace: str = DEFAULT_NAMESPACE
    api_key: str | None = field(default=None, repr=False)
    tls: bool | TLSConfig = field(default=False, repr=False)
    rpc_metadata: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TemporalSettings:
        env = {k: v for k, v in (os.environ if environ is None else environ).items()}
        for ours, theirs in ALIASES.items():
            mine, its = env.get(ours, "").strip(), env.get(theirs, "").strip()
            if mine and its and mine != its:
                raise ConfigError(f"{ours}={mine!r} and {theirs}={its!r} disagree: set one of them")
            if mine:
                env[theirs] = mine
        for name in TLS_FILES:  # read below by temporalio, whose error would not name the variable
            if (path := env.get(name, "").strip()) and not os.path.isfile(path):
                raise ConfigError(f"{name}: {path} is not a readable file")
        try:
            connect = ClientConfigProfile.load(override_env_vars=env).to_client_connect_config()
        except (OSError, ValueError, RuntimeError) as err:  # the bridge's ConfigError is a RuntimeError
            raise ConfigError(f"Temporal client settings (TEMPORAL_*): {err}") from None
        tls = connect.get("tls", False)
        return cls(address=connect.get("target_host") or DEFAULT_ADDRESS,
                   namespace=connect.get("namespace") or DEFAULT_NAMESPACE,
                   api_key=connect.get("api_key") or None, tls=tls,
                   rpc_metadata=dict(connect.get("rpc_metadata") or {}))

    def connect_args(self) -> dict[str, Any]:
        """Keyword arguments of temporalio's Client.connect."""
        return dict(target_host=self.address, namespace=self.namespace, api_key=self.api_key, tls=self.tls,
                    rpc_metadata=dict(self.rpc_metadata))

    def describe(self) -> str:
        extras = [f"namespace {self.namespace}"]
        if self.tls is not False:
            client_cert = isinstance(self.tls, TLSConfig) and self.tls.client_cert is not None
            extras.append("mTLS" if client_cert else "TLS")
        if self.api_key:
            extras.append("API key")
        return f"{self.address} ({', '.join(extras)})"


async def connect(settings: TemporalSettings, runtime: Runtime | None = None, patience: float = 60.0) -> Client:
    """Connects to Temporal, retrying for `patience` seconds so start-up order does not matter."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while True:
        try:
            return await Client.connect(**settings.connect_args(), runtime=runtime)
        except RuntimeError as err:
            if loop.time() > deadline:
                raise
            log.warning("temporal at %s not reachable yet (%s); retrying", settings.describe(), err)
            await asyncio.sleep(1.0)


ENV = Section("Temporal (the orchestrator's API and worker)", (
    Var("GENMEDIA_TEMPORAL_ADDR", "127.0.0.1:7233", "Temporal's frontend; an alias of TEMPORAL_ADDRESS"),
    Var("GENMEDIA_TEMPORAL_NAMESPACE", "default", "the namespace; an alias of TEMPORAL_NAMESPACE"),
), note="Everything else about the connection (Temporal Cloud's API key, TLS files, a profile file) is Temporal's "
        "own TEMPORAL_* environment configuration (temporalio.envconfig).")
