"""Sending one notification attempt: an HTTP POST (a signed webhook, or a Slack message) or an email.

POSTs go to an address resolved and checked here (every address of the host, when private ones are
refused), and the connection is made to that very address, so a second DNS answer cannot point it
elsewhere. Redirects are never followed; each attempt has one time limit."""

from __future__ import annotations

import asyncio
import ipaddress
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import urlsplit, urlunsplit

import certifi
import httpx

from genmedia.domain import notify
from services.orchestrator.config import SmtpSettings

USER_AGENT = "genmedia-notifications/1"
PERMANENT_HTTP = {410}  # Gone: the receiver asks for no more deliveries


class SendFailed(Exception):
    """An attempt failed; `permanent` ones are not tried again."""

    def __init__(self, message: str, status: int = 0, permanent: bool = False) -> None:
        super().__init__(message)
        self.message, self.status, self.permanent = message, status, permanent


@dataclass(frozen=True)
class Sent:
    status: int  # HTTP status, or SMTP reply code


async def resolve(host: str, port: int, refuse_private: bool) -> str:
    """The address to connect to; with refuse_private, every address the host has must be public."""
    literal = notify.ip_literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as err:
            raise SendFailed(f"cannot resolve {host}: {err.strerror}") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
    if refuse_private:
        for address in addresses:
            if reason := notify.private_reason(address):
                raise SendFailed(f"refused: {host} resolves to {reason} (private addresses are refused)",
                                 permanent=True)
    return str(addresses[0])


def trust(ca_file: str = "") -> ssl.SSLContext:
    """What https receivers' certificates are checked against: the public roots, and ca_file when given."""
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_file:
        context.load_verify_locations(ca_file)
    return context


async def post(url: str, body: bytes, headers: dict[str, str], timeout: float, refuse_private: bool,
               verify: ssl.SSLContext | None = None) -> Sent:
    """POSTs body to url once; any answer but 2xx raises SendFailed."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        async with asyncio.timeout(timeout):
            address = await resolve(host, port, refuse_private)
            pinned = f"[{address}]" if ":" in address else address
            netloc = pinned + (f":{parts.port}" if parts.port else "")
            target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
            host_header = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
            auth = httpx.BasicAuth(parts.username, parts.password or "") if parts.username else None
            extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
            # A client per attempt: a pooled connection made for one host name must never serve another.
            async with httpx.AsyncClient(follow_redirects=False, timeout=timeout, trust_env=False,
                                         verify=verify or trust()) as client:
                request = client.build_request("POST", target, content=body, extensions=extensions,
                                               headers={**headers, "host": host_header, "user-agent": USER_AGENT,
                                                        "content-type": "application/json"})
                response = await client.send(request, stream=True, auth=auth)
                try:
                    snippet = await _snippet(response)
                finally:
                    await response.aclose()
    except TimeoutError:
        raise SendFailed(f"no answer within {timeout:g} s (timed out)") from None
    except httpx.HTTPError as err:
        raise SendFailed(f"{type(err).__name__}: {err or 'connection failed'}") from None
    return _judged(response, snippet)


async def _snippet(response: httpx.Response, limit: int = 300) -> str:
    """The start of the answer's body, for the log (a receiver's own error message)."""
    if 200 <= response.status_code < 300:
        return ""
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return data[:limit].decode(errors="replace").strip()


def _judged(response: httpx.Response, snippet: str) -> Sent:
    status = response.status_code
    if 200 <= status < 300:
        return Sent(status)
    text = f"HTTP {status}"
    if 300 <= status < 400:
        text += f": redirect to {response.headers.get('location', '?')[:200]!r} not followed"
    elif status in PERMANENT_HTTP:
        text += ": the receiver asked for no more deliveries"
    if snippet:
        text += f": {snippet}"
    raise SendFailed(text, status, permanent=status in PERMANENT_HTTP)


def webhook_headers(message_id: str, secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """Standard Webhooks headers: a fresh timestamp and signature for every attempt, the same id."""
    timestamp = int(time.time() if now is None else now)
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": notify.sign(secret, message_id, timestamp, body)}


def send_mail(smtp: SmtpSettings, message: EmailMessage, timeout: float) -> Sent:
    """Sends one email (blocking: run it in a thread). SMTP 5xx answers are permanent, 4xx are not."""
    if not smtp.host:
        raise SendFailed("email is not configured on this server (GENMEDIA_SMTP_HOST)", permanent=True)
    message["From"] = smtp.sender
    message["Date"] = formatdate(localtime=False)
    client_class = smtplib.SMTP_SSL if smtp.tls == "implicit" else smtplib.SMTP
    try:
        with client_class(smtp.host, smtp.port, timeout=timeout) as client:
            if smtp.tls == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                client.login(smtp.username, smtp.password)
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as err:
        code, text = next(iter(err.recipients.values()))
        raise SendFailed(f"SMTP {code}: {text.decode(errors='replace')}", code, permanent=code >= 500) from None
    except smtplib.SMTPResponseException as err:
        text = err.smtp_error.decode(errors="replace") if isinstance(err.smtp_error, bytes) else str(err.smtp_error)
        raise SendFailed(f"SMTP {err.smtp_code}: {text}", err.smtp_code, permanent=err.smtp_code >= 500) from None
    except (OSError, smtplib.SMTPException) as err:
        raise SendFailed(f"SMTP server {smtp.host}:{smtp.port}: {err}") from None
    return Sent(250)
