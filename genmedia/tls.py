"""TLS for servers and clients, from files named in the environment.

Server: GENMEDIA_TLS_CERT_FILE + GENMEDIA_TLS_KEY_FILE serve TLS; GENMEDIA_TLS_CLIENT_CA_FILE also
requires a client certificate signed by that CA (mTLS between services).
Client: GENMEDIA_TLS_CA_FILE (the CA to trust; GENMEDIA_TLS=on uses the system's roots instead) and,
for mTLS, GENMEDIA_TLS_CLIENT_CERT_FILE + GENMEDIA_TLS_CLIENT_KEY_FILE."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from genmedia.config import ConfigError, Section, Var, env_str


def _read(name: str) -> bytes | None:
    path = env_str(name, "")
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"{name}: cannot read {path}: {err.strerror}") from None


@dataclass(frozen=True)
class ServerTls:
    cert: bytes
    key: bytes
    client_ca: bytes | None = None  # set: clients must present a certificate it signed

    @classmethod
    def from_env(cls) -> ServerTls | None:
        cert, key = _read("GENMEDIA_TLS_CERT_FILE"), _read("GENMEDIA_TLS_KEY_FILE")
        client_ca = _read("GENMEDIA_TLS_CLIENT_CA_FILE")
        if cert is None and key is None:
            if client_ca is not None:
                raise ConfigError("GENMEDIA_TLS_CLIENT_CA_FILE needs GENMEDIA_TLS_CERT_FILE and GENMEDIA_TLS_KEY_FILE")
            return None
        if cert is None or key is None:
            raise ConfigError("GENMEDIA_TLS_CERT_FILE and GENMEDIA_TLS_KEY_FILE go together")
        return cls(cert, key, client_ca)

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials([(self.key, self.cert)], root_certificates=self.client_ca,
                                           require_client_auth=self.client_ca is not None)


@dataclass(frozen=True)
class ClientTls:
    ca: bytes | None = None  # None: the system's roots
    cert: bytes | None = None
    key: bytes | None = None

    @classmethod
    def from_env(cls) -> ClientTls | None:
        ca = _read("GENMEDIA_TLS_CA_FILE")
        cert, key = _read("GENMEDIA_TLS_CLIENT_CERT_FILE"), _read("GENMEDIA_TLS_CLIENT_KEY_FILE")
        if (cert is None) != (key is None):
            raise ConfigError("GENMEDIA_TLS_CLIENT_CERT_FILE and GENMEDIA_TLS_CLIENT_KEY_FILE go together")
        mode = env_str("GENMEDIA_TLS", "auto").lower()
        if mode not in ("auto", "on", "off"):
            raise ConfigError(f"GENMEDIA_TLS must be auto, on or off, got {mode!r}")
        if mode == "off" or (mode == "auto" and ca is None and cert is None):
            return None
        return cls(ca, cert, key)

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=self.ca, private_key=self.key,
                                            certificate_chain=self.cert)


ENV = Section("TLS (docs/security.md)", (
    Var("GENMEDIA_TLS_CERT_FILE", "unset", "a server's certificate chain (PEM); with the key, the server serves TLS"),
    Var("GENMEDIA_TLS_KEY_FILE", "unset", "a server's private key (PEM)"),
    Var("GENMEDIA_TLS_CLIENT_CA_FILE", "unset", "servers require client certificates signed by this CA (mTLS)"),
    Var("GENMEDIA_TLS", "auto", "clients: `on` (TLS with the system's roots), `off`, or `auto` (TLS when a CA or a "
        "client certificate is set)"),
    Var("GENMEDIA_TLS_CA_FILE", "unset", "clients: the CA to trust (implies TLS)"),
    Var("GENMEDIA_TLS_CLIENT_CERT_FILE", "unset", "clients: a certificate to present (mTLS)"),
    Var("GENMEDIA_TLS_CLIENT_KEY_FILE", "unset", "clients: its private key"),
))
