"""Who the HTTP caller is: a bearer token (API key or JWT, forwarded as is), or a console login, an
HttpOnly SameSite=Strict cookie sealing the caller's token. A state-changing call authenticated by the
cookie must echo the session's CSRF token in X-CSRF-Token (a signed double submit)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from aiohttp import web
from cryptography.fernet import Fernet, InvalidToken

from services.gateway.errors import ApiError
from services.gateway.keys import AUTHORIZATION, SESSION

COOKIE = "genmedia_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MAX_TOKEN = 8192


class Sessions:
    def __init__(self, secret: bytes, hours: float, secure: str) -> None:
        digest = hashlib.sha256(b"genmedia-gateway-session:" + secret).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))
        self._csrf_key = hashlib.sha256(b"genmedia-gateway-csrf:" + secret).digest()
        self.ttl = int(hours * 3600)
        self.secure = secure

    def seal(self, token: str) -> str:
        return self._fernet.encrypt(json.dumps({"t": token}).encode()).decode()

    def open(self, cookie: str, now: float | None = None) -> str | None:
        """The token a session cookie seals, or None when it is forged, damaged or expired (at `now`)."""
        try:
            sealed = self._fernet.decrypt_at_time(cookie.encode(), self.ttl, int(now or time.time()))
            return json.loads(sealed)["t"]
        except (InvalidToken, ValueError, KeyError, TypeError):
            return None

    def csrf_token(self, cookie: str) -> str:
        """Bound to the session: another session's (or a guessed) value does not pass."""
        return hmac.new(self._csrf_key, cookie.encode(), hashlib.sha256).hexdigest()

    def set_cookie(self, request: web.Request, response: web.StreamResponse, cookie: str) -> None:
        secure = self.secure == "on" or (self.secure == "auto" and (
            request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"))
        response.set_cookie(COOKIE, cookie, max_age=self.ttl, path="/", httponly=True, samesite="Strict",
                            secure=secure)

    def authenticate(self, request: web.Request) -> None:
        """Sets request[AUTHORIZATION] (what the services get) and request[SESSION] (cookie or None)."""
        header = request.headers.get("Authorization", "").strip()
        request[SESSION] = None
        if header:
            if len(header) > MAX_TOKEN:
                raise ApiError(401, "UNAUTHENTICATED", "the Authorization header is too long")
            request[AUTHORIZATION] = header
            return
        cookie = request.cookies.get(COOKIE, "")
        if not cookie:
            request[AUTHORIZATION] = ""
            return
        token = self.open(cookie)
        if token is None:
            raise ApiError(401, "UNAUTHENTICATED", "the session has expired or is not valid: log in again",
                           reason="SESSION_INVALID")
        request[AUTHORIZATION], request[SESSION] = f"Bearer {token}", cookie
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), self.csrf_token(cookie).encode()):
                raise ApiError(403, "PERMISSION_DENIED", f"a request authenticated by the session cookie must "
                               f"send the session's CSRF token in {CSRF_HEADER} (GET /v1/session gives it)",
                               reason="CSRF_TOKEN_MISSING" if not sent else "CSRF_TOKEN_INVALID")
