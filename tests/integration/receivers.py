"""Real receivers for notification tests: an HTTP server on 127.0.0.1, port 0 (in a thread, answering from a
script), a real SMTP server (aiosmtpd) on port 0, and an independent Standard Webhooks verifier."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import ssl
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.time() when it arrived
    status: int  # what the receiver answered


# (status, extra headers, seconds to wait before answering)
Answer = tuple[int, dict[str, str], float]


class Receiver:
    """Records every request; `answer(n, path)` (n = 0 for the first request) decides the reply."""

    def __init__(self, answer: Callable[[int, str], Answer] = lambda n, path: (200, {}, 0.0),
                 tls: ssl.SSLContext | None = None) -> None:
        self.answer, self.requests, self.scheme = answer, [], "https" if tls else "http"
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver._lock:
                    n = len(receiver.requests)
                    status, headers, delay = receiver.answer(n, self.path)
                    receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                      body, time.time(), status))
                    receiver._lock.notify_all()
                time.sleep(delay)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender gave up waiting (a timeout test)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """The requests once there are at least `count` of them."""
        def wait() -> bool:
            with self._lock:
                return self._lock.wait_for(lambda: len(self.requests) >= count, timeout)

        assert await asyncio.to_thread(wait), f"{len(self.requests)} requests of {count} within {timeout} s"
        return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


@contextlib.contextmanager
def receiver(answer: Callable[[int, str], Answer] = lambda n, path: (200, {}, 0.0), tls: ssl.SSLContext | None = None):
    r = Receiver(answer, tls)
    try:
        yield r
    finally:
        r.close()


class Mailbox:
    """aiosmtpd handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage]] = []
        self._arrived = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.messages.append((envelope, message_from_bytes(envelope.content, policy=policy.default)))
        self._arrived.set()
        return "250 Message accepted for delivery"

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[tuple[Envelope, EmailMessage]]:
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return list(self.messages)


@contextlib.asynccontextmanager
async def smtp_server(username: str = "", password: str = "") -> AsyncIterator[tuple[Mailbox, int]]:
    """A real SMTP server on 127.0.0.1, port 0, in this event loop; with a username it requires AUTH."""
    mailbox = Mailbox()

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = auth_data.login.decode() == username and auth_data.password.decode() == password
        return AuthResult(success=ok)

    def factory() -> SMTP:
        if not username:
            return SMTP(mailbox)
        with warnings.catch_warnings():  # AUTH without TLS, on loopback, on purpose
            warnings.simplefilter("ignore", UserWarning)
            return SMTP(mailbox, authenticator=authenticate, auth_required=True, auth_require_tls=False)

    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
    try:
        yield mailbox, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes, tolerance: float = 300) -> bool:
    """The receiver's check, written from the Standard Webhooks spec (not genmedia's code): HMAC-SHA256 with
    the base64-decoded secret over "id.timestamp.body", any of the space-separated v1 signatures, and a
    timestamp within the tolerance."""
    message_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = base64.b64encode(hmac.new(key, f"{message_id}.{timestamp}.".encode() + body,
                                         hashlib.sha256).digest())
    for signature in headers["webhook-signature"].split(" "):
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return True
    return False


def certificates(folder: Path, host: str) -> dict[str, Path]:
    """A CA and a server certificate (signed by it) for one host name only, as PEM files in folder."""
    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key, key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))

    def issue(subject: str, public_key, extension, ca: x509.Certificate | None = None) -> x509.Certificate:
        return (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(ca.subject if ca else name(subject))
                .public_key(public_key).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
                .add_extension(extension, critical=False).sign(ca_key, hashes.SHA256()))

    ca = issue("notify test CA", ca_key.public_key(), x509.BasicConstraints(ca=True, path_length=None))
    server = issue(host, key.public_key(), x509.SubjectAlternativeName([x509.DNSName(host)]), ca)
    files = {"ca": folder / "ca.pem", "server": folder / "server.pem", "server-key": folder / "server-key.pem"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["server"].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files["server-key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    return files


def server_tls(files: dict[str, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files["server"], files["server-key"])
    return context
