"""Protobuf messages to and from JSON (the proto's JSON names, google.protobuf.json_format), and query
parameters to the filters the services take; bad input is a 400 naming the field."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from google.protobuf import json_format, timestamp_pb2
from google.protobuf.message import Message

from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from services.gateway.errors import ApiError, bad_request

M = TypeVar("M", bound=Message)
MAX_BODY = 1024 * 1024


def to_json(message: Message) -> dict[str, Any]:
    # Fields at their default are printed too: a client reads job.state even when it is 0.
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def reply(message: Message, status: int = 200) -> web.Response:
    return web.json_response(to_json(message), status=status)


async def read_body(request: web.Request, message: M) -> M:
    """The request's JSON body parsed into `message` (unknown fields refused, as a typo would be lost)."""
    if request.content_length and request.content_length > MAX_BODY:
        raise ApiError(413, "INVALID_ARGUMENT", f"the body is larger than {MAX_BODY} bytes")
    text = await request.text()
    if not text.strip():
        return message
    # JSON only: a cross-site HTML form cannot send it without a CORS preflight, which this API never allows.
    if request.content_type != "application/json":
        raise ApiError(415, "INVALID_ARGUMENT", "the body must be JSON (Content-Type: application/json)")
    try:
        json_format.ParseDict(json.loads(text), message)
    except json.JSONDecodeError as err:
        raise bad_request("body", f"is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except (json_format.ParseError, TypeError, ValueError) as err:
        field = _field_of(str(err))
        raise bad_request(field, str(err)[:300]) from None
    return message


def _field_of(text: str) -> str:
    """json_format names the field in its message ('... field "x" ...' or 'Failed to parse x field')."""
    for marker in ('field "', "parse "):
        if marker in text:
            rest = text.split(marker, 1)[1]
            return rest.split('"', 1)[0].split(" ", 1)[0] or "body"
    return "body"


def int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(name, f"must be an integer, got {raw[:40]!r}") from None
    if not lo <= value <= hi:
        raise bad_request(name, f"must be {lo}-{hi}, got {value}")
    return value


def enum_param(name: str, raw: str, enum: Any, prefix: str) -> int:
    """RUNNING or JOB_STATE_RUNNING (case-insensitive) -> its number."""
    key = raw.strip().upper()
    key = key if key.startswith(prefix) else prefix + key
    if key not in enum.keys() or key.endswith("_UNSPECIFIED"):
        names = ", ".join(n.removeprefix(prefix) for n in enum.keys() if not n.endswith("_UNSPECIFIED"))
        raise bad_request(name, f"{raw[:40]!r} is not one of {names}")
    return enum.Value(key)


def time_param(request: web.Request, name: str) -> timestamp_pb2.Timestamp | None:
    raw = request.query.get(name, "")
    if not raw:
        return None
    stamp = timestamp_pb2.Timestamp()
    try:
        stamp.FromJsonString(raw)
    except ValueError:
        raise bad_request(name, f"must be an RFC 3339 time such as 2026-01-15T10:30:00Z, got {raw[:40]!r}") from None
    return stamp


def job_filter(request: web.Request) -> ps.JobFilter:
    """?state=RUNNING&state=PAUSED&kind=IMAGE&label=team=a&batch=ID&owner=U&topLevel=true."""
    query = request.query
    result = ps.JobFilter(batch_id=query.get("batch", ""), owner=query.get("owner", ""))
    for raw in query.getall("state", []):
        for part in filter(None, raw.split(",")):
            result.states.append(enum_param("state", part, pb.JobState, "JOB_STATE_"))
    if query.get("kind"):
        result.kind = enum_param("kind", query["kind"], pb.JobKind, "JOB_KIND_")
    for raw in query.getall("label", []):
        key, sep, value = raw.partition("=")
        if not sep or not key:
            raise bad_request("label", f"must be key=value, got {raw[:60]!r}")
        result.labels[key] = value
    top = query.get("topLevel", "").lower()
    if top not in ("", "true", "false", "1", "0"):
        raise bad_request("topLevel", f"must be true or false, got {top[:20]!r}")
    result.top_level = top in ("true", "1")
    for name, target in (("createdAfter", result.created_after), ("createdBefore", result.created_before)):
        stamp = time_param(request, name)
        if stamp is not None:
            target.CopyFrom(stamp)
    return result
