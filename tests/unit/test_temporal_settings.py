"""The Temporal connection's settings: temporalio's own TEMPORAL_* variables, GENMEDIA_TEMPORAL_ADDR as an alias."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from genmedia.config import ConfigError
from services.orchestrator.temporal import TemporalSettings


def test_defaults_are_the_local_dev_server() -> None:
    settings = TemporalSettings.from_env({})
    assert (settings.address, settings.namespace, settings.api_key, settings.tls) == (
        "127.0.0.1:7233", "default", None, False)
    assert settings.describe() == "127.0.0.1:7233 (namespace default)"


def test_temporal_variables_and_the_genmedia_aliases_agree() -> None:
    theirs = TemporalSettings.from_env({"TEMPORAL_ADDRESS": "t:7233", "TEMPORAL_NAMESPACE": "jobs"})
    ours = TemporalSettings.from_env({"GENMEDIA_TEMPORAL_ADDR": "t:7233", "GENMEDIA_TEMPORAL_NAMESPACE": "jobs"})
    both = TemporalSettings.from_env({"GENMEDIA_TEMPORAL_ADDR": "t:7233", "TEMPORAL_ADDRESS": "t:7233",
                                      "TEMPORAL_NAMESPACE": "jobs"})
    assert (theirs.address, theirs.namespace) == (ours.address, ours.namespace) == (both.address, both.namespace) \
        == ("t:7233", "jobs")


def test_an_alias_that_disagrees_is_refused_naming_both() -> None:
    with pytest.raises(ConfigError, match="GENMEDIA_TEMPORAL_ADDR='a:1' and TEMPORAL_ADDRESS='b:2' disagree"):
        TemporalSettings.from_env({"GENMEDIA_TEMPORAL_ADDR": "a:1", "TEMPORAL_ADDRESS": "b:2"})


def test_an_api_key_turns_tls_on_as_temporal_cloud_needs() -> None:
    settings = TemporalSettings.from_env({"TEMPORAL_ADDRESS": "ns.acct.tmprl.cloud:7233",
                                          "TEMPORAL_NAMESPACE": "ns.acct", "TEMPORAL_API_KEY": "secret-key"})
    args = settings.connect_args()
    assert args["api_key"] == "secret-key" and args["tls"] is True
    assert "secret-key" not in repr(settings) and "secret-key" not in settings.describe()
    assert settings.describe() == "ns.acct.tmprl.cloud:7233 (namespace ns.acct, TLS, API key)"


def test_mtls_files_are_read_into_the_tls_config(tmp_path: Path) -> None:
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    for name, path in files.items():
        path.write_bytes(f"-----{name}-----".encode())
    settings = TemporalSettings.from_env({
        "TEMPORAL_ADDRESS": "temporal-frontend:7233", "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(files["ca"]),
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(files["cert"]), "TEMPORAL_TLS_CLIENT_KEY_PATH": str(files["key"]),
        "TEMPORAL_TLS_SERVER_NAME": "temporal.internal"})
    assert isinstance(settings.tls, TLSConfig)
    assert (settings.tls.server_root_ca_cert, settings.tls.client_cert, settings.tls.client_private_key) == (
        b"-----ca-----", b"-----cert-----", b"-----key-----")
    assert settings.tls.domain == "temporal.internal"
    assert settings.describe().endswith("(namespace default, mTLS)")


def test_a_missing_certificate_file_names_its_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TEMPORAL_TLS_CLIENT_CERT_PATH: .*missing.pem is not a readable file"):
        TemporalSettings.from_env({"TEMPORAL_TLS_CLIENT_CERT_PATH": str(tmp_path / "missing.pem")})


def test_a_profile_from_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text('[profile.prod]\naddress = "prod:7233"\nnamespace = "genmedia"\n')
    settings = TemporalSettings.from_env({"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "prod"})
    assert (settings.address, settings.namespace) == ("prod:7233", "genmedia")
    with pytest.raises(ConfigError, match="Profile 'nope' not found"):
        TemporalSettings.from_env({"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "nope"})
