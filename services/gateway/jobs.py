"""The JSON API's jobs, batches and stats: each route is one JobService or ProgressService call."""

from __future__ import annotations

from aiohttp import web

from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import progress_service_pb2 as ps
from services.gateway.backend import JOBS, PROGRESS, Backend
from services.gateway.errors import bad_request
from services.gateway.keys import BACKEND
from services.gateway.messages import int_param, job_filter, read_body, reply, time_param

routes = web.RouteTableDef()
ORDERS = {"": 0, "newest": ps.LIST_ORDER_NEWEST_FIRST, "oldest": ps.LIST_ORDER_OLDEST_FIRST}


def backend(request: web.Request) -> Backend:
    return request.app[BACKEND]


async def list_jobs(request: web.Request, filter: ps.JobFilter) -> web.Response:
    order = request.query.get("order", "")
    if order not in ORDERS:
        raise bad_request("order", f"must be newest or oldest, got {order[:20]!r}")
    message = ps.ListJobsRequest(page_size=int_param(request, "pageSize", 20, 1, 100),
                                 page_token=request.query.get("pageToken", ""), filter=filter, order=ORDERS[order])
    return reply(await backend(request).call(request, PROGRESS, "ListJobs", message))


@routes.get("/v1/jobs")
async def jobs_list(request: web.Request) -> web.Response:
    return await list_jobs(request, job_filter(request))


@routes.post("/v1/jobs")
async def jobs_create(request: web.Request) -> web.Response:
    message = await read_body(request, js.CreateJobRequest())
    return reply(await backend(request).call(request, JOBS, "CreateJob", message), 201)


@routes.get("/v1/jobs/{id}")
async def jobs_get(request: web.Request) -> web.Response:
    message = js.GetJobRequest(job_id=request.match_info["id"])
    return reply(await backend(request).call(request, JOBS, "GetJob", message))


@routes.post("/v1/jobs/{id}/cancel")
@routes.post("/v1/batches/{id}/cancel")
async def jobs_cancel(request: web.Request) -> web.Response:
    message = await read_body(request, js.CancelJobRequest())
    message.job_id = request.match_info["id"]
    return reply(await backend(request).call(request, JOBS, "CancelJob", message))


@routes.post("/v1/jobs/{id}/pause")
@routes.post("/v1/batches/{id}/pause")
async def jobs_pause(request: web.Request) -> web.Response:
    message = js.PauseJobRequest(job_id=request.match_info["id"])
    return reply(await backend(request).call(request, JOBS, "PauseJob", message))


@routes.post("/v1/jobs/{id}/resume")
@routes.post("/v1/batches/{id}/resume")
async def jobs_resume(request: web.Request) -> web.Response:
    message = js.ResumeJobRequest(job_id=request.match_info["id"])
    return reply(await backend(request).call(request, JOBS, "ResumeJob", message))


@routes.post("/v1/jobs/{id}/review")
async def jobs_review(request: web.Request) -> web.Response:
    message = await read_body(request, js.ReviewJobRequest())
    message.job_id = request.match_info["id"]
    return reply(await backend(request).call(request, JOBS, "ReviewJob", message))


@routes.post("/v1/batches")
async def batches_create(request: web.Request) -> web.Response:
    message = await read_body(request, js.CreateBatchRequest())
    return reply(await backend(request).call(request, JOBS, "CreateBatch", message), 201)


@routes.get("/v1/batches/{id}")
async def batches_get(request: web.Request) -> web.Response:
    message = js.GetJobRequest(job_id=request.match_info["id"])
    return reply(await backend(request).call(request, JOBS, "GetJob", message))


@routes.get("/v1/batches/{id}/jobs")
async def batches_jobs(request: web.Request) -> web.Response:
    filter = job_filter(request)
    filter.batch_id = request.match_info["id"]
    return await list_jobs(request, filter)


@routes.post("/v1/batches/{id}/retry")
async def batches_retry(request: web.Request) -> web.Response:
    message = await read_body(request, js.RetryBatchRequest())
    message.batch_id = request.match_info["id"]
    return reply(await backend(request).call(request, JOBS, "RetryBatch", message))


@routes.get("/v1/stats")
async def stats(request: web.Request) -> web.Response:
    filter = job_filter(request)
    message = ps.GetStatsRequest(filter=filter)
    for name, target in (("since", message.start_time), ("until", message.end_time)):
        stamp = time_param(request, name)
        if stamp is not None:
            target.CopyFrom(stamp)
    return reply(await backend(request).call(request, PROGRESS, "GetStats", message))
