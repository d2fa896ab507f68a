"""Real receivers for notification tests: an HTTP server on 127.0.0.1, port 0 (in a thread, answering from a
script), a real SMTP server (aiosmtpd) on port 0, and an independent Standard Webhooks verifier."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session


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

    def __init__(self, answer: Callable[[int, str], Answer] = lambda n, path: (200, {}, 0.0)) -> None:
        self.answer, self.requests = answer, []
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
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

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
def receiver(answer: Callable[[int, str], Answer] = lambda n, path: (200, {}, 0.0)):
    r = Receiver(answer)
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
