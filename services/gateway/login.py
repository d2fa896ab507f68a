"""The console's login: POST /v1/session checks an API key (or JWT) with JobService and seals it in the
session cookie; GET tells who is logged in and the CSRF token; DELETE logs out."""

from __future__ import annotations

from aiohttp import web
from google.protobuf import struct_pb2

from genmedia.v1 import job_service_pb2 as js
from services.gateway.backend import JOBS
from services.gateway.errors import ApiError, bad_request
from services.gateway.jobs import backend
from services.gateway.keys import AUTHORIZATION, SESSION, SESSIONS
from services.gateway.messages import read_body
from services.gateway.sessions import COOKIE, MAX_TOKEN, Sessions

routes = web.RouteTableDef()


async def whoami(request: web.Request) -> str:
    """The caller's user id; GetWebhookSecret is the cheapest call that names it (its secret stays here)."""
    answer = await backend(request).call(request, JOBS, "GetWebhookSecret", js.GetWebhookSecretRequest())
    return answer.owner


def sessions(request: web.Request) -> Sessions:
    return request.app[SESSIONS]


@routes.post("/v1/session")
async def login(request: web.Request) -> web.Response:
    body = await read_body(request, struct_pb2.Struct())
    key = body.fields["apiKey"].string_value.strip() if "apiKey" in body.fields else ""
    if not key:
        raise bad_request("apiKey", "is required: the API key (or JWT) to log in with")
    if len(key) > MAX_TOKEN or any(c.isspace() for c in key):
        raise bad_request("apiKey", "is not an API key or JWT")
    request[AUTHORIZATION] = f"Bearer {key}"
    user = await whoami(request)
    cookie = sessions(request).seal(key)
    response = web.json_response({"user": user, "csrfToken": sessions(request).csrf_token(cookie)})
    sessions(request).set_cookie(request, response, cookie)
    return response


@routes.get("/v1/session")
async def session(request: web.Request) -> web.Response:
    cookie = request.get(SESSION)
    if request[AUTHORIZATION] == "" and cookie is None:
        # Nobody logged in: with authentication off in the services every caller is anonymous and may go on.
        try:
            return web.json_response({"user": await whoami(request), "csrfToken": "", "login": False})
        except ApiError as err:
            if err.status == 401:
                raise ApiError(401, "UNAUTHENTICATED", "log in with an API key", reason="LOGIN_REQUIRED") from None
            raise
    csrf = sessions(request).csrf_token(cookie) if cookie else ""
    return web.json_response({"user": await whoami(request), "csrfToken": csrf, "login": cookie is not None})


@routes.delete("/v1/session")
async def logout(request: web.Request) -> web.Response:
    response = web.json_response({})
    response.del_cookie(COOKIE, path="/")
    return response
