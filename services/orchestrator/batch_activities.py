"""Activities of the batch workflow: read a page of a batch's PENDING children from the progress store,
mark the children that never started CANCELLED, and read the batch's counts at its end."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from temporalio import activity

from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2, progress_service_pb2_grpc
from genmedia.v1 import progress_service_pb2 as ps
from services.orchestrator.activities import classify, to_dict
from services.orchestrator.model import ChildPage, ChildPageInput

PAGE = 100  # children per page (ListJobs' largest page)
PARALLEL_REPORTS = 8


async def cancel_pending(progress: progress_service_pb2_grpc.ProgressServiceStub, batch_id: str, timeout: float,
                         message: str) -> int:
    """Reports CANCELLED for every child of the batch that is still PENDING (never started); returns how many.
    The same key as any cancel of an unstarted job, so a repeat or a race records each once."""
    cancelled = 0
    gate = asyncio.Semaphore(PARALLEL_REPORTS)

    async def cancel(job_id: str) -> None:
        event = pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_CANCELLED, message=message)
        async with gate:
            try:
                await progress.ReportProgress(ps.ReportProgressRequest(event=event, idempotency_key="cancelled"),
                                              timeout=timeout)
            except grpc.aio.AioRpcError as err:
                if err.code() != grpc.StatusCode.FAILED_PRECONDITION:  # it ended meanwhile
                    raise

    while True:
        query = ps.JobFilter(batch_id=batch_id, states=[pb.JOB_STATE_PENDING])
        page = await progress.ListJobs(ps.ListJobsRequest(filter=query, page_size=PAGE), timeout=timeout)
        if not page.jobs:
            return cancelled
        await asyncio.gather(*(cancel(job.id) for job in page.jobs))
        cancelled += len(page.jobs)


class BatchActivities:
    def __init__(self, progress: progress_service_pb2_grpc.ProgressServiceStub, rpc_timeout: float = 5.0) -> None:
        self.progress, self.rpc_timeout = progress, rpc_timeout

    @activity.defn(name="load_batch_children")
    async def load_children(self, page: ChildPageInput) -> ChildPage:
        """The next page of the batch's PENDING children in batch order (they were created a microsecond
        apart), from the cursor on."""
        query = ps.JobFilter(batch_id=page.batch_id, states=[pb.JOB_STATE_PENDING])
        request = ps.ListJobsRequest(filter=query, page_size=page.size, page_token=page.cursor,
                                     order=ps.LIST_ORDER_OLDEST_FIRST)
        try:
            answer = await self.progress.ListJobs(request, timeout=self.rpc_timeout)
        except grpc.aio.AioRpcError as err:
            raise classify(err) from None
        return ChildPage(children=[to_dict(job) for job in answer.jobs], next_cursor=answer.next_page_token)

    @activity.defn(name="cancel_batch_children")
    async def cancel_children(self, batch_id: str) -> int:
        try:
            return await cancel_pending(self.progress, batch_id, self.rpc_timeout, "cancelled before it started")
        except grpc.aio.AioRpcError as err:
            raise classify(err) from None

    @activity.defn(name="batch_summary")
    async def summary(self, batch_id: str) -> dict[str, Any]:
        """The batch's counts as the store has them (every child's terminal event is recorded by then)."""
        try:
            job = await self.progress.GetJob(job_service_pb2.GetJobRequest(job_id=batch_id), timeout=self.rpc_timeout)
        except grpc.aio.AioRpcError as err:
            raise classify(err) from None
        return to_dict(job.batch)
