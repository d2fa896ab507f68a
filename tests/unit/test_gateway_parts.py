"""The gateway's pure parts: Range arithmetic, sealed session cookies and CSRF tokens, query parsing, the
gRPC-to-HTTP error mapping and the OpenAPI document."""

from __future__ import annotations

import time

import grpc
import pytest
from aiohttp.test_utils import make_mocked_request

from genmedia.v1 import common_pb2 as pb
from services.gateway.assets import parse_range, resolve
from services.gateway.errors import HTTP_STATUS, ApiError
from services.gateway.messages import enum_param, job_filter
from services.gateway.openapi import document
from services.gateway.sessions import Sessions


def test_ranges_resolve_within_the_asset() -> None:
    assert resolve(parse_range("bytes=0-9"), 100) == (0, 9)
    assert resolve(parse_range("bytes=90-"), 100) == (90, 99)
    assert resolve(parse_range("bytes=-10"), 100) == (90, 99)
    assert resolve(parse_range("bytes=-1000"), 100) == (0, 99)
    assert resolve(parse_range("bytes=50-5000"), 100) == (50, 99)
    assert parse_range("") is None and parse_range("bytes=0-1,5-6") is None
    for bad in ("bytes=9-1", "items=0-1", "bytes=-", "bytes=a-b"):
        with pytest.raises(ApiError) as err:
            parse_range(bad)
        assert err.value.status == 416
    with pytest.raises(ApiError) as err:
        resolve(parse_range("bytes=100-"), 100)
    assert err.value.headers == {"Content-Range": "bytes */100"}


def test_session_cookies_are_sealed_and_expire() -> None:
    sessions = Sessions(b"s" * 32, 1.0, "auto")
    cookie = sessions.seal("my-api-key")
    assert "my-api-key" not in cookie and sessions.open(cookie) == "my-api-key"
    assert sessions.open(cookie[:-2] + "xx") is None and sessions.open("garbage") is None
    assert Sessions(b"t" * 32, 1.0, "auto").open(cookie) is None  # another secret
    assert sessions.open(cookie, time.time() + 3500) == "my-api-key"
    assert sessions.open(cookie, time.time() + 3700) is None  # after the hour
    other = sessions.seal("my-api-key")
    assert sessions.csrf_token(cookie) != sessions.csrf_token(other)  # bound to its session


def test_query_filters_name_the_bad_parameter() -> None:
    assert enum_param("state", "running", pb.JobState, "JOB_STATE_") == pb.JOB_STATE_RUNNING
    assert enum_param("kind", "JOB_KIND_VIDEO", pb.JobKind, "JOB_KIND_") == pb.JOB_KIND_VIDEO
    with pytest.raises(ApiError) as err:
        enum_param("state", "UNSPECIFIED", pb.JobState, "JOB_STATE_")
    assert err.value.body["field_violations"][0]["field"] == "state"
    request = make_mocked_request("GET", "/v1/jobs?state=RUNNING,PAUSED&label=team=a&batch=b1&topLevel=true"
                                         "&createdAfter=2026-01-01T00:00:00Z")
    found = job_filter(request)
    assert list(found.states) == [pb.JOB_STATE_RUNNING, pb.JOB_STATE_PAUSED] and dict(found.labels) == {"team": "a"}
    assert found.batch_id == "b1" and found.top_level and found.created_after.seconds > 0
    for query, field in (("label=nolabel", "label"), ("topLevel=maybe", "topLevel"),
                         ("createdBefore=x", "createdBefore")):
        with pytest.raises(ApiError) as err:
            job_filter(make_mocked_request("GET", f"/v1/jobs?{query}"))
        assert err.value.body["field_violations"][0]["field"] == field


def test_every_client_error_code_has_a_4xx_and_the_rest_5xx() -> None:
    for code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAUTHENTICATED,
                 grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION,
                 grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ALREADY_EXISTS):
        assert 400 <= HTTP_STATUS[code] < 500
    assert HTTP_STATUS[grpc.StatusCode.UNAVAILABLE] == 503 and HTTP_STATUS[grpc.StatusCode.DEADLINE_EXCEEDED] == 504


def test_openapi_schemas_resolve() -> None:
    doc = document()
    schemas = doc["components"]["schemas"]

    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"].rsplit("/", 1)[1]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    assert set(refs(doc)) <= set(schemas)
    job = schemas["Job"]["properties"]
    assert job["state"]["enum"][1] == "JOB_STATE_PENDING" and job["createTime"]["format"] == "date-time"
    assert job["labels"]["additionalProperties"] == {"type": "string"} and job["lastSequence"]["type"] == "string"
