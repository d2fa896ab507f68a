"""Builds the gateway's aiohttp application (API, SSE, seed 000's endpoints, console) and runs it with
/healthz, /readyz, Prometheus metrics on their own port and a graceful stop like the gRPC services."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from aiohttp import web
from prometheus_client import Counter, Histogram

from genmedia.serving.metrics import start_metrics_server
from genmedia.serving.server import wait_for_signal
from services.gateway import assets, jobs, login, openapi, seed, streams
from services.gateway.backend import Backend
from services.gateway.config import Settings
from services.gateway.errors import ApiError
from services.gateway.keys import (
    AUTHORIZATION,
    BACKEND,
    DRAINING,
    FIRST_BYTE,
    OPENAPI,
    SERVING,
    SESSION,
    SESSIONS,
    SETTINGS,
)
from services.gateway.sessions import Sessions

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
REQUESTS = Counter("genmedia_gateway_requests_total", "HTTP requests answered, by route and status.",
                   ("method", "route", "status"))
LATENCY = Histogram("genmedia_gateway_request_seconds", "Time to answer an HTTP request (to the first byte "
                    "of a stream).", ("method", "route"),
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; media-src 'self'; "
                               "object-src 'none'; frame-ancestors 'none'; base-uri 'none'",
}
AUTHENTICATED = ("/v1/", "/workflows/")
LOGIN_PATH = "/v1/session"


def route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def middleware(request: web.Request, handler) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        if request.path.startswith(AUTHENTICATED):
            if request.path == LOGIN_PATH and request.method in ("POST", "DELETE"):
                request[AUTHORIZATION], request[SESSION] = "", None  # login replaces, logout clears
            else:
                request.app[SESSIONS].authenticate(request)
        response = await handler(request)
    except ApiError as err:
        response = err.response()
    except web.HTTPException as err:
        if not request.path.startswith(AUTHENTICATED) or err.status < 400:
            raise
        code = {404: "NOT_FOUND", 405: "UNIMPLEMENTED"}.get(err.status, "INVALID_ARGUMENT")
        response = ApiError(err.status, code, f"{request.method} {request.path}: {err.reason}").response()
    except (asyncio.CancelledError, ConnectionError):
        raise  # the client went away: nobody to answer
    except Exception:  # a bug here: logged once with its traceback, answered as JSON like any error
        log.exception("%s %s failed", request.method, request.path)
        response = ApiError(500, "INTERNAL", "the gateway failed to answer; the error is in its log").response()
    route = route_name(request)
    REQUESTS.labels(request.method, route, str(response.status)).inc()
    # A stream (SSE, a download) was prepared in its handler: its latency is to its headers, not to its end.
    LATENCY.labels(request.method, route).observe(request.get(FIRST_BYTE, time.perf_counter()) - started)
    return response


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Just before the headers go out, for every answer, streams included."""
    request[FIRST_BYTE] = time.perf_counter()
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


async def healthz(request: web.Request) -> web.Response:
    serving = request.app[SERVING].is_set()
    return web.json_response({"status": "SERVING" if serving else "NOT_SERVING"}, status=200 if serving else 503)


async def readyz(request: web.Request) -> web.Response:
    """Ready when both services behind answer their health check SERVING."""
    states = await request.app[BACKEND].health()
    ready = request.app[SERVING].is_set() and all(s == "SERVING" for s in states.values())
    return web.json_response({"status": "SERVING" if ready else "NOT_SERVING", "services": states},
                             status=200 if ready else 503)


async def console(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


def build_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[middleware], client_max_size=2 * 1024 * 1024)
    app[SETTINGS], app[BACKEND] = settings, Backend(settings)
    app[SESSIONS] = Sessions(settings.session_secret, settings.session_hours, settings.secure_cookies)
    app[OPENAPI], app[SERVING], app[DRAINING] = openapi.document(), asyncio.Event(), asyncio.Event()
    app[SERVING].set()
    for module in (login, jobs, streams, assets, seed, openapi):
        app.add_routes(module.routes)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/", console)
    app.router.add_static("/static/", STATIC, append_version=True)
    app.on_response_prepare.append(on_prepare)

    async def close_backend(app: web.Application) -> None:
        await app[BACKEND].close()

    app.on_cleanup.append(close_backend)
    return app


async def start(settings: Settings) -> tuple[web.AppRunner, int]:
    """Starts serving; returns the runner and the port it got (the settings may ask for port 0)."""
    runner = web.AppRunner(build_app(settings), access_log=None, shutdown_timeout=settings.serving.grace_seconds)
    await runner.setup()
    site = web.TCPSite(runner, settings.serving.host, settings.serving.port)
    await site.start()
    return runner, runner.addresses[0][1]


async def serve_forever(settings: Settings | None = None) -> None:
    """Serves until SIGTERM/SIGINT: /healthz NOT_SERVING, the shutdown delay, then drain within the grace."""
    settings = settings or Settings.from_env()
    metrics_port = start_metrics_server(settings.serving.metrics_port, settings.serving.host)
    runner, port = await start(settings)
    log.info("gateway serving the API and console on http://%s:%d/ (metrics on %s)", settings.serving.host, port,
             f":{metrics_port}/metrics" if metrics_port else "off")
    await wait_for_signal()
    runner.app[SERVING].clear()
    if settings.serving.shutdown_delay > 0:
        await asyncio.sleep(settings.serving.shutdown_delay)
    runner.app[DRAINING].set()
    await runner.cleanup()
    log.info("gateway stopped")
