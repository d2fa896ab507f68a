"""Security settings from the environment: what turns authentication on, and clear refusals of bad values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genmedia.config import ConfigError
from genmedia.domain.policy import ContentPolicy
from genmedia.serving.auth import Authenticator, Principal
from genmedia.tls import ClientTls, ServerTls

AUTH_VARS = ("GENMEDIA_AUTH", "GENMEDIA_API_KEYS_FILE", "GENMEDIA_INTERNAL_TOKEN", "GENMEDIA_INTERNAL_TOKEN_FILE",
             "GENMEDIA_JWT_HS256_SECRET", "GENMEDIA_JWT_RS256_PUBLIC_KEY_FILE", "GENMEDIA_JWT_AUDIENCE",
             "GENMEDIA_JWT_ISSUER", "GENMEDIA_LIMITS")


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AUTH_VARS:
        monkeypatch.delenv(name, raising=False)


def keys_file(tmp_path: Path, entries) -> str:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(entries))
    return str(path)


def test_authentication_is_off_until_a_credential_is_configured(caplog) -> None:
    auth = Authenticator.from_env()
    assert not auth.enabled
    auth.warn_if_off("progress")
    assert "AUTHENTICATION IS OFF" in caplog.text


def test_api_keys_and_the_internal_token_turn_it_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENMEDIA_API_KEYS_FILE", keys_file(tmp_path, [
        {"key": "k-alice", "user": "alice", "role": "user"},
        {"key_sha256": "A" * 64, "user": "ops", "role": "admin"}]))
    monkeypatch.setenv("GENMEDIA_INTERNAL_TOKEN", "internal-1")
    auth = Authenticator.from_env()
    assert auth.enabled
    assert auth.authenticate("Bearer k-alice") == Principal("alice", "user")
    assert auth.authenticate("Bearer internal-1").role == "internal"
    assert "k-alice" not in repr(auth.keys)  # only digests are kept


@pytest.mark.parametrize("env, message", [
    ({"GENMEDIA_AUTH": "maybe"}, "GENMEDIA_AUTH must be auto, on or off"),
    ({"GENMEDIA_AUTH": "on"}, "GENMEDIA_INTERNAL_TOKEN"),
    ({"GENMEDIA_AUTH": "on", "GENMEDIA_INTERNAL_TOKEN": "x"}, "no user credential"),
    ({"GENMEDIA_JWT_HS256_SECRET": "s", "GENMEDIA_INTERNAL_TOKEN": "x"}, "GENMEDIA_JWT_AUDIENCE"),
    ({"GENMEDIA_API_KEYS_FILE": "/nonexistent/keys.json"}, "cannot read"),
    ({"GENMEDIA_INTERNAL_TOKEN_FILE": "/nonexistent/token"}, "GENMEDIA_INTERNAL_TOKEN_FILE"),
    ({"GENMEDIA_LIMITS": '{"user": {"create": "fast"}}', "GENMEDIA_JWT_HS256_SECRET": "s",
      "GENMEDIA_JWT_AUDIENCE": "a", "GENMEDIA_JWT_ISSUER": "i", "GENMEDIA_INTERNAL_TOKEN": "x"}, "GENMEDIA_LIMITS"),
])
def test_bad_settings_are_refused_naming_the_variable(env, message, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        Authenticator.from_env()


def test_a_malformed_keys_file_names_the_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENMEDIA_API_KEYS_FILE", keys_file(tmp_path, [{"key": "k", "user": "u", "role": "root"}]))
    with pytest.raises(ConfigError, match="entry 0"):
        Authenticator.from_env()


def test_content_policy_rules(tmp_path: Path) -> None:
    policy = ContentPolicy.parse(["# comment", "", "gore", r"re:\bbad\s+words?\b"])
    policy.check([("p", "a peaceful garden"), ("q", "goreham village")])  # whole words only
    for text in ("GORE everywhere", "some bad  word here"):
        with pytest.raises(Exception, match="refused by the content policy"):
            policy.check([("spec.image.prompt", text)])
    with pytest.raises(ConfigError, match="line 1"):
        ContentPolicy.parse(["re:(unclosed"])


def test_tls_settings_go_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    monkeypatch.setenv("GENMEDIA_TLS_CERT_FILE", str(cert))
    with pytest.raises(ConfigError, match="go together"):
        ServerTls.from_env()
    monkeypatch.delenv("GENMEDIA_TLS_CERT_FILE")
    assert ServerTls.from_env() is None and ClientTls.from_env() is None
    monkeypatch.setenv("GENMEDIA_TLS", "on")
    assert ClientTls.from_env() == ClientTls(None, None, None)  # the system's roots
