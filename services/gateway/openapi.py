"""The OpenAPI 3.1 document of the JSON API (`/v1/openapi.json`), its schemas made from the proto messages
so they cannot drift from what json_format reads and writes."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from google.protobuf.descriptor import Descriptor, FieldDescriptor

import genmedia
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import progress_service_pb2 as ps
from services.gateway.keys import OPENAPI

routes = web.RouteTableDef()
F = FieldDescriptor
SCALARS = {F.TYPE_DOUBLE: {"type": "number"}, F.TYPE_FLOAT: {"type": "number"}, F.TYPE_BOOL: {"type": "boolean"},
           F.TYPE_STRING: {"type": "string"}, F.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
           F.TYPE_INT32: {"type": "integer"}, F.TYPE_UINT32: {"type": "integer"}, F.TYPE_SINT32: {"type": "integer"},
           F.TYPE_INT64: {"type": "string", "format": "int64"}, F.TYPE_UINT64: {"type": "string", "format": "uint64"},
           F.TYPE_SINT64: {"type": "string", "format": "int64"}}
WELL_KNOWN = {"google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
              "google.protobuf.Duration": {"type": "string", "pattern": r"^-?\d+(\.\d+)?s$"},
              "google.protobuf.Any": {"type": "object"}}
FILTER = ["state", "kind", "label", "batch", "owner", "topLevel", "createdAfter", "createdBefore"]
PAGE = ["pageSize", "pageToken", "order"]
# method, path, summary, request body, answer, query parameters
OPERATIONS = [
    ("get", "/v1/session", "Who is logged in, and the session's CSRF token", None, None, []),
    ("post", "/v1/session", "Log in with an API key or JWT ({\"apiKey\": ...}): sets the session cookie", None,
     None, []),
    ("delete", "/v1/session", "Log out", None, None, []),
    ("get", "/v1/jobs", "List jobs (ListJobs)", None, ps.ListJobsResponse, FILTER + PAGE),
    ("post", "/v1/jobs", "Submit a job (CreateJob)", js.CreateJobRequest, pb.Job, []),
    ("get", "/v1/jobs/{id}", "One job, live (GetJob)", None, js.GetJobResponse, []),
    ("get", "/v1/jobs/{id}/events", "The job's timeline (ListJobEvents); with Accept: text/event-stream, SSE "
     "(snapshot, then every event; id = sequence; resumes after Last-Event-ID)", None, ps.ListJobEventsResponse,
     ["pageSize", "pageToken", "lastEventId"]),
    ("post", "/v1/jobs/{id}/cancel", "Cancel a job (CancelJob)", js.CancelJobRequest, pb.Job, []),
    ("post", "/v1/jobs/{id}/pause", "Pause a job (PauseJob)", None, pb.Job, []),
    ("post", "/v1/jobs/{id}/resume", "Resume a job (ResumeJob)", None, pb.Job, []),
    ("post", "/v1/jobs/{id}/review", "Approve or reject with corrections (ReviewJob)", js.ReviewJobRequest, pb.Job, []),
    ("get", "/v1/jobs/{id}/assets/{index}", "An asset's bytes (DownloadAsset); honours Range", None, None, []),
    ("post", "/v1/jobs/{id}/assets/{index}/link", "A time-limited link (CreateAssetLink)", js.CreateAssetLinkRequest,
     js.CreateAssetLinkResponse, []),
    ("post", "/v1/batches", "Submit a batch (CreateBatch)", js.CreateBatchRequest, pb.Job, []),
    ("get", "/v1/batches/{id}", "A batch with its aggregate progress (GetJob)", None, js.GetJobResponse, []),
    ("get", "/v1/batches/{id}/jobs", "A batch's jobs (ListJobs)", None, ps.ListJobsResponse, FILTER + PAGE),
    ("post", "/v1/batches/{id}/retry", "Rerun the failed jobs (RetryBatch)", js.RetryBatchRequest, pb.Job, []),
    ("post", "/v1/batches/{id}/cancel", "Cancel every job of a batch (CancelJob)", js.CancelJobRequest, pb.Job, []),
    ("get", "/v1/events", "SSE: every event of the caller's jobs (WatchJobs); id = cursor, resumes after "
     "Last-Event-ID", None, pb.JobEvent, FILTER + ["lastEventId"]),
    ("get", "/v1/stats", "Success rate, durations, backlog (GetStats)", None, ps.GetStatsResponse,
     FILTER + ["since", "until"]),
]


def message_schema(descriptor: Descriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    full = descriptor.full_name
    if full in WELL_KNOWN:
        return WELL_KNOWN[full]
    name = full.removeprefix("genmedia.v1.").replace(".", "_")
    if name not in schemas:
        schemas[name] = {}  # placed first: a message that contains itself refers to itself
        properties = {field.json_name: field_schema(field, schemas) for field in descriptor.fields}
        schemas[name] = {"type": "object", "properties": properties}
    return {"$ref": f"#/components/schemas/{name}"}


def field_schema(field: FieldDescriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value = field.message_type.fields_by_name["value"]
        return {"type": "object", "additionalProperties": field_schema(value, schemas)}
    if field.type == F.TYPE_MESSAGE:
        one = message_schema(field.message_type, schemas)
    elif field.type == F.TYPE_ENUM:
        one = {"type": "string", "enum": [v.name for v in field.enum_type.values]}
    else:
        one = dict(SCALARS[field.type])
    return {"type": "array", "items": one} if field.is_repeated else one


def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    error = {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "reason": {"type": "string"},
        "field_violations": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "description": {"type": "string"}}}}}}
    paths: dict[str, Any] = {}
    for method, path, summary, body, answer, query in OPERATIONS:
        operation: dict[str, Any] = {"summary": summary, "responses": {
            "default": {"description": "an error", "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/Error"}}}}}}
        ok = {"description": "OK"}
        if answer is not None:
            ok["content"] = {"application/json": {"schema": message_schema(answer.DESCRIPTOR, schemas)}}
        operation["responses"]["201" if path in ("/v1/jobs", "/v1/batches") and method == "post" else "200"] = ok
        if body is not None:
            operation["requestBody"] = {"content": {"application/json": {
                "schema": message_schema(body.DESCRIPTOR, schemas)}}}
        parameters = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                      for p in ("id", "index") if "{" + p + "}" in path]
        parameters += [{"name": q, "in": "query", "schema": {"type": "string"}} for q in query]
        if parameters:
            operation["parameters"] = parameters
        paths.setdefault(path, {})[method] = operation
    schemas["Error"] = error
    return {"openapi": "3.1.0",
            "info": {"title": "genmedia gateway", "version": genmedia.__version__,
                     "description": "JobService and ProgressService over HTTP/JSON (proto JSON names)."},
            "components": {"schemas": schemas, "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "genmedia_session"}}},
            "security": [{"bearer": []}, {"session": []}], "paths": paths}


@routes.get("/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])
