"""Job notifications, shared by the API, the worker and the progress service: checking a `Notify`, showing
it redacted, the events it asks for, and Standard Webhooks signing with per-owner secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from genmedia.v1 import common_pb2 as pb

MAX_URL, MAX_EMAILS, MAX_EMAIL = 2048, 10, 254
# Events a notification can be sent for, and their names in payloads ("job.completed"...).
EVENTS = {
    pb.EVENT_TYPE_STARTED: "started", pb.EVENT_TYPE_AWAITING_REVIEW: "awaiting_review",
    pb.EVENT_TYPE_COMPLETED: "completed", pb.EVENT_TYPE_FAILED: "failed", pb.EVENT_TYPE_CANCELLED: "cancelled",
}
DEFAULT_EVENTS = (pb.EVENT_TYPE_COMPLETED, pb.EVENT_TYPE_FAILED, pb.EVENT_TYPE_CANCELLED)
# A practical address syntax (RFC 5321 sizes; no quoted local parts, no comments, no line breaks).
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?=.{1,253}$)[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")
HOST_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")


def wanted(notify: pb.Notify, event: int) -> bool:
    """Whether a job with these settings tells anybody about this event."""
    has_channel = bool(notify.webhook_url or notify.slack_url or notify.emails)
    return has_channel and event in (notify.events or DEFAULT_EVENTS)


def event_name(event: int) -> str:
    return "job." + EVENTS.get(event, pb.EventType.Name(event).removeprefix("EVENT_TYPE_").lower())


# -- checking --


def url_violations(field: str, url: str, refuse_private: bool) -> list[tuple[str, str]]:
    """Problems of a webhook or Slack URL; a literal private address is refused here when the server
    refuses private addresses (host names are resolved and checked when sending)."""
    if len(url) > MAX_URL:
        return [(field, f"must be at most {MAX_URL} characters")]
    if not url.isprintable() or any(c.isspace() for c in url):
        return [(field, "must not contain spaces or control characters")]
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as err:
        return [(field, f"is not a valid URL: {err}")]
    if parts.scheme not in ("http", "https"):
        return [(field, "must be an http:// or https:// URL")]
    host = parts.hostname or ""
    if not host:
        return [(field, "must name a host")]
    if parts.fragment:
        return [(field, "must not have a #fragment (it is never sent)")]
    address = ip_literal(host)
    if address is None and not all(HOST_LABEL.match(label) for label in host.rstrip(".").split(".")):
        return [(field, f"host {host[:60]!r} is not a valid host name or IP address")]
    if address is not None and refuse_private and (reason := private_reason(address)):
        return [(field, f"{reason}: this server refuses private addresses")]
    return []


def notify_violations(notify: pb.Notify, refuse_private: bool, prefix: str = "notify") -> list[tuple[str, str]]:
    """Every problem of a Notify, each named by its field."""
    v: list[tuple[str, str]] = []
    if notify.webhook_url:
        v += url_violations(f"{prefix}.webhook_url", notify.webhook_url, refuse_private)
    if notify.slack_url:
        v += url_violations(f"{prefix}.slack_url", notify.slack_url, refuse_private)
    for i, event in enumerate(notify.events):
        if event not in EVENTS:
            v.append((f"{prefix}.events[{i}]", "must be STARTED, AWAITING_REVIEW, COMPLETED, FAILED or CANCELLED"))
    if len(notify.events) > len(set(notify.events)):
        v.append((f"{prefix}.events", "must not repeat an event"))
    if len(notify.emails) > MAX_EMAILS:
        v.append((f"{prefix}.emails", f"at most {MAX_EMAILS} addresses, got {len(notify.emails)}"))
    for i, address in enumerate(notify.emails[:MAX_EMAILS]):
        if len(address) > MAX_EMAIL or not EMAIL.match(address):
            v.append((f"{prefix}.emails[{i}]", "must be an email address like name@example.com"))
    if len({a.lower() for a in notify.emails}) < len(notify.emails):
        v.append((f"{prefix}.emails", "must not repeat an address"))
    if notify.events and not (notify.webhook_url or notify.slack_url or notify.emails):
        v.append((f"{prefix}.events", "need a webhook_url, a slack_url or emails to send them to"))
    return v


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def private_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Why an address is not a public one ('' when it is): loopback, private, link-local, reserved..."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for name in ("loopback", "link_local", "unspecified", "private", "multicast", "reserved"):
        if getattr(address, f"is_{name}"):
            return f"{address} is a {name.replace('_', '-')} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return ""


# -- showing --


def redact_url(url: str) -> str:
    """scheme://host[:port]/… : the path, query and credentials of a webhook URL are often its secret."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "…"
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    rest = "/…" if (parts.path not in ("", "/") or parts.query or parts.username) else "/"
    return f"{parts.scheme}://{host}{port}{rest}"


def redacted(notify: pb.Notify) -> pb.Notify:
    shown = pb.Notify()
    shown.CopyFrom(notify)
    shown.webhook_url, shown.slack_url = redact_url(notify.webhook_url), redact_url(notify.slack_url)
    return shown


def fingerprint(notify: pb.Notify, key: bytes) -> str:
    """A keyed digest of the settings (fingerprint excluded): equal settings, equal fingerprints."""
    text = "\n".join([notify.webhook_url, ",".join(map(str, notify.events)), notify.slack_url,
                      ",".join(notify.emails)])
    return hmac.new(key, b"notify-fingerprint\n" + text.encode(), hashlib.sha256).hexdigest()[:32]


# -- signing (https://www.standardwebhooks.com) --


def owner_secret(master: bytes, owner: str) -> str:
    """The owner's signing secret, whsec_<base64 of 32 bytes>, derived from the master secret."""
    key = hmac.new(master, b"genmedia-webhook-secret\n" + owner.encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(key).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header: v1,<base64 HMAC-SHA256 of "id.timestamp.body">."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def master_secret(value: str, var: Path) -> bytes:
    """The master secret: `value` (GENMEDIA_WEBHOOK_SECRET) when set, else var/webhook-secret, which is
    made (random, mode 0600) the first time; every process of one stack reads the same file."""
    if value:
        return value.encode()
    path = var / "webhook-secret"
    if not path.exists():
        var.mkdir(parents=True, exist_ok=True)
        temporary = var / f".webhook-secret.{os.getpid()}.{secrets.token_hex(8)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(temporary, path)  # atomic, and never replaces a file another process made first
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip().encode()
