"""Seed 000's HTTP endpoints, for the users of that system: `GET /workflows/{id}/status`, `/progress` and
`/detailed-status` in its JSON shapes (snake_case, Temporal's status names), answered from the job."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from google.protobuf import json_format

from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import progress_service_pb2 as ps
from services.gateway.backend import JOBS, PROGRESS
from services.gateway.jobs import backend
from services.gateway.keys import SETTINGS
from services.orchestrator.batch_workflow import WORKFLOW_NAME as BATCH_WORKFLOW
from services.orchestrator.workflows import WORKFLOW_NAME as JOB_WORKFLOW

routes = web.RouteTableDef()
# Temporal's execution status names, which seed 000's clients compare against.
WORKFLOW_STATUS = {pb.JOB_STATE_COMPLETED: "COMPLETED", pb.JOB_STATE_FAILED: "FAILED",
                   pb.JOB_STATE_CANCELLED: "CANCELED"}
HISTORY_PAGE = 1000


def stamp(value, present: bool) -> str | None:
    return value.ToDatetime(tzinfo=UTC).isoformat().replace("+00:00", "Z") if present else None


def workflow_status(job: pb.Job) -> str:
    return WORKFLOW_STATUS.get(job.state, "RUNNING")


def name(enum: Any, number: int, prefix: str) -> str:
    return enum.Name(number).removeprefix(prefix).lower()


def asset_url(request: web.Request, job_id: str, count: int) -> str | None:
    return f"{request.url.origin()}/v1/jobs/{job_id}/assets/{count - 1}" if count else None


def progress_of(request: web.Request, job_id: str, item: pb.Job | pb.JobEvent, updated) -> dict[str, Any]:
    return {"step": name(pb.JobStep, item.step, "JOB_STEP_"), "status": name(pb.JobState, item.state, "JOB_STATE_"),
            "percent": round(item.percent), "message": item.message,
            "asset_url": asset_url(request, job_id, len(item.assets)), "updated_at": updated}


async def read_job(request: web.Request) -> pb.Job:
    answer = await backend(request).call(request, JOBS, "GetJob", js.GetJobRequest(job_id=request.match_info["id"]))
    return answer.job


def status_body(request: web.Request, job: pb.Job) -> dict[str, Any]:
    return {"workflow_id": job.id, "status": workflow_status(job),
            "start_time": stamp(job.start_time, job.HasField("start_time")) or stamp(job.create_time, True),
            "close_time": stamp(job.end_time, job.HasField("end_time")),
            "workflow_type": BATCH_WORKFLOW if job.kind == pb.JOB_KIND_BATCH else JOB_WORKFLOW,
            "task_queue": request.app[SETTINGS].task_queue}


def updated(job: pb.Job) -> str | None:
    """When the job last changed: the workflow's view may carry no update_time, its start or end does."""
    for name in ("update_time", "end_time", "start_time", "create_time"):
        if job.HasField(name):
            return stamp(getattr(job, name), True)
    return None


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@routes.get("/workflows/{id}/status")
async def status(request: web.Request) -> web.Response:
    return web.json_response(status_body(request, await read_job(request)))


@routes.get("/workflows/{id}/progress")
async def progress(request: web.Request) -> web.Response:
    job = await read_job(request)
    current = progress_of(request, job.id, job, updated(job))
    return web.json_response({"workflow_id": job.id, "workflow_status": workflow_status(job), "progress": current,
                              "timestamp": now()})


@routes.get("/workflows/{id}/detailed-status")
async def detailed_status(request: web.Request) -> web.Response:
    job = await read_job(request)
    history, token = [], ""
    while True:
        message = ps.ListJobEventsRequest(job_id=job.id, page_size=HISTORY_PAGE, page_token=token)
        page = await backend(request).call(request, PROGRESS, "ListJobEvents", message)
        history += [progress_of(request, job.id, e, stamp(e.time, True)) for e in page.events]
        if not (token := page.next_page_token):
            break
    current = progress_of(request, job.id, job, updated(job))
    body = status_body(request, job)
    body.pop("status")
    spec = json_format.MessageToDict(job.spec, preserving_proto_field_name=True)
    return web.json_response({
        "workflow_id": job.id, "workflow_status": workflow_status(job), **body, "progress": current,
        "detailed_status": {"workflow_id": job.id, "job_input": spec, "current_progress": current,
                            "started_at": body["start_time"], "progress_history": history},
        "timestamp": now()})
