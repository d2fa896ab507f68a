"""Notification building blocks: Standard Webhooks signatures (the spec's published test vector), per-owner
secrets, checks of notify settings, redaction, private address ranges, and the messages' formats."""

from __future__ import annotations

import ipaddress
import json
import os
import threading
from pathlib import Path

import pytest

from genmedia.domain import notify
from genmedia.v1 import common_pb2 as pb
from services.orchestrator import messages, senders
from tests.integration.receivers import verify_standard_webhook


def test_signatures_match_the_standard_webhooks_test_vector() -> None:
    signature = notify.sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                            b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_headers_verify_with_an_independent_check_and_owners_have_their_own_secrets() -> None:
    alice, bob = notify.owner_secret(b"master", "alice"), notify.owner_secret(b"master", "bob")
    assert alice != bob and alice == notify.owner_secret(b"master", "alice") != notify.owner_secret(b"other", "alice")
    assert alice.startswith("whsec_") and len(alice) == 6 + 44
    body = b'{"type":"job.completed"}'
    headers = senders.webhook_headers("msg_1", alice, body)
    assert verify_standard_webhook(alice, headers, body)
    assert not verify_standard_webhook(bob, headers, body)
    assert not verify_standard_webhook(alice, headers, body + b" ")
    assert not verify_standard_webhook(alice, senders.webhook_headers("msg_1", alice, body, now=1_000), body)


def test_the_master_secret_is_made_once_and_shared(tmp_path: Path) -> None:
    assert notify.master_secret("from-env", tmp_path) == b"from-env"
    assert not (tmp_path / "webhook-secret").exists()
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(notify.master_secret("", tmp_path / "var")))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and len(results[0]) >= 48
    assert os.stat(tmp_path / "var" / "webhook-secret").st_mode & 0o777 == 0o600
    assert sorted(p.name for p in (tmp_path / "var").iterdir()) == ["webhook-secret"]


@pytest.mark.parametrize("url, problem", [
    ("https://hooks.example.com/a?b=c", ""),
    ("http://10.0.0.5:8080/hook", ""),  # allowed: private addresses are not refused here
    ("ftp://example.com/", "http:// or https://"),
    ("https:///path", "must name a host"),
    ("http://exa mple.com/", "spaces"),
    ("http://example.com:99999/", "not a valid URL"),
    ("http://example.com/#frag", "fragment"),
    ("http://bad_host!.com/", "not a valid host name"),
    ("http://example.com/" + "x" * 2048, "at most 2048"),
])
def test_urls_are_checked(url: str, problem: str) -> None:
    violations = notify.url_violations("notify.webhook_url", url, refuse_private=False)
    if problem:
        assert len(violations) == 1 and problem in violations[0][1], violations
    else:
        assert violations == []


@pytest.mark.parametrize("address, reason", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"), ("192.168.0.1", "private"),
    ("172.16.0.1", "private"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("::ffff:127.0.0.1", "loopback"), ("100.64.0.1", "not a public"), ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"), ("fd00::1", "private"), ("8.8.8.8", ""), ("2606:4700::1111", ""),
])
def test_private_ranges_are_recognised(address: str, reason: str) -> None:
    found = notify.private_reason(ipaddress.ip_address(address))
    if reason:
        assert reason in found, found
    else:
        assert found == ""


def test_private_literals_are_refused_only_when_the_setting_is_on() -> None:
    assert notify.url_violations("f", "http://[::1]:8080/x", refuse_private=False) == []
    assert "loopback" in notify.url_violations("f", "http://[::1]:8080/x", refuse_private=True)[0][1]


def test_every_bad_field_of_a_notify_is_named() -> None:
    settings = pb.Notify(webhook_url="gopher://x", emails=["ok@example.com", "no", "ok@example.com", "a@b"],
                         events=[pb.EVENT_TYPE_PROGRESS, pb.EVENT_TYPE_FAILED, pb.EVENT_TYPE_FAILED])
    fields = [f for f, _ in notify.notify_violations(settings, refuse_private=True)]
    assert fields == ["notify.webhook_url", "notify.events[0]", "notify.events", "notify.emails[1]",
                      "notify.emails[3]", "notify.emails"]
    assert notify.notify_violations(pb.Notify(emails=["x@example.com"] * 11), True)[0] == (
        "notify.emails", "at most 10 addresses, got 11")
    header_injection = pb.Notify(emails=["a@example.com\r\nBcc: all@example.com"])
    assert [f for f, _ in notify.notify_violations(header_injection, True)] == ["notify.emails[0]"]


def test_empty_events_mean_the_end_of_the_job() -> None:
    hook = pb.Notify(webhook_url="https://x.example/")
    assert [e for e in notify.EVENTS if notify.wanted(hook, e)] == list(notify.DEFAULT_EVENTS)
    started = pb.Notify(webhook_url="https://x.example/", events=[pb.EVENT_TYPE_STARTED])
    assert notify.wanted(started, pb.EVENT_TYPE_STARTED) and not notify.wanted(started, pb.EVENT_TYPE_COMPLETED)
    assert not notify.wanted(pb.Notify(), pb.EVENT_TYPE_COMPLETED)


def test_redaction_keeps_scheme_host_and_port_and_fingerprints_tell_settings_apart() -> None:
    assert notify.redact_url("https://hooks.slack.com/services/T0/B0/abc") == "https://hooks.slack.com/…"
    assert notify.redact_url("http://user:pw@example.com:8080") == "http://example.com:8080/…"
    assert notify.redact_url("https://example.com/") == "https://example.com/"
    assert notify.redact_url("http://[::1]:9/x?y") == "http://[::1]:9/…"
    one, two = pb.Notify(webhook_url="https://x.example/a"), pb.Notify(webhook_url="https://x.example/b")
    assert notify.redacted(one).webhook_url == notify.redacted(two).webhook_url
    assert notify.fingerprint(one, b"k") != notify.fingerprint(two, b"k")
    assert notify.fingerprint(one, b"k") == notify.fingerprint(pb.Notify(webhook_url="https://x.example/a"), b"k")


JOB = {"id": "j1", "kind": "JOB_KIND_VIDEO", "state": "JOB_STATE_FAILED", "message": "failed: <boom> & more",
       "spec": {"video": {"prompt": "a <b>fox</b> & a hound"}},
       "error": {"code": "CONTENT_POLICY", "message": "no <script>"},
       "assets": [{"uri": "file:///a.png", "mime_type": "image/png", "width": 64, "height": 64, "size_bytes": 9}]}


def test_slack_messages_use_the_incoming_webhook_format_and_escape_text() -> None:
    body = messages.webhook_body(pb.EVENT_TYPE_FAILED, "2026-11-30T12:00:00Z", JOB)
    assert json.loads(body) == {"type": "job.failed", "timestamp": "2026-11-30T12:00:00Z", "data": JOB}
    slack = json.loads(messages.slack_message(body))
    assert slack["text"] == "genmedia video job failed: j1"
    assert [b["type"] for b in slack["blocks"]] == ["header", "section", "section", "context"]
    section = slack["blocks"][1]["text"]["text"]
    assert "a &lt;b&gt;fox&lt;/b&gt; &amp; a hound" in section and "CONTENT_POLICY: no &lt;script&gt;" in section
    assert slack["blocks"][3]["elements"][0]["text"] == "job.failed at 2026-11-30T12:00:00Z"


def test_emails_carry_the_result_and_the_delivery_id() -> None:
    body = messages.webhook_body(pb.EVENT_TYPE_FAILED, "2026-11-30T12:00:00Z", JOB)
    email = messages.email_message(body, "ann@example.com", "msg_42")
    assert email["Subject"] == "genmedia: video job j1 failed" and email["Message-ID"] == "<msg_42@genmedia>"
    text = email.get_content()
    assert "Job j1 (video) is FAILED." in text and "Error:   CONTENT_POLICY: no <script>" in text
    assert "image/png  file:///a.png  (64x64, 9 bytes)" in text
