"""Typed keys of what the gateway keeps on its application (shared objects) and on each request (who
the caller is), so that aiohttp's storage is checked by name and type."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

SETTINGS: web.AppKey[Any] = web.AppKey("settings")  # services.gateway.config.Settings
BACKEND: web.AppKey[Any] = web.AppKey("backend")  # services.gateway.backend.Backend
SESSIONS: web.AppKey[Any] = web.AppKey("sessions")  # services.gateway.sessions.Sessions
OPENAPI: web.AppKey[dict] = web.AppKey("openapi", dict)
SERVING: web.AppKey[asyncio.Event] = web.AppKey("serving", asyncio.Event)  # cleared at SIGTERM
DRAINING: web.AppKey[asyncio.Event] = web.AppKey("draining", asyncio.Event)  # set when open streams must end
AUTHORIZATION: web.RequestKey[str] = web.RequestKey("authorization", str)  # sent to the services ("": none)
FIRST_BYTE: web.RequestKey[float] = web.RequestKey("first_byte", float)  # perf_counter() when headers went out
SESSION: web.RequestKey[Any] = web.RequestKey("session")  # the session cookie that authenticated it, or None
