"""Every call the orchestrator makes to the progress service, in one place. Data flows one way (clients →
JobService → Temporal → workers → progress service); the orchestrator reading and writing the store is the
one exception, and this module is where it shows: the API role records new jobs and cancels, reads a job
for access checks and quotas; the worker role records events, reads batch pages and delivery logs, and
purges. Errors are the stub's own (grpc.aio.AioRpcError): each caller maps them for its role."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from genmedia.serving.reporting import BatchingProgressStub
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2
from genmedia.v1 import progress_service_pb2 as ps

PAGE = 100  # jobs per page (ListJobs' largest page)
PARALLEL_REPORTS = 8


def created_request(job: pb.Job) -> ps.ReportProgressRequest:
    """The report that records a new job (PENDING), keyed "created": the API's and the workflow's are one."""
    event = pb.JobEvent(job_id=job.id, type=pb.EVENT_TYPE_CREATED, state=pb.JOB_STATE_PENDING, message="queued")
    return ps.ReportProgressRequest(event=event, idempotency_key="created", job=job)


class ProgressCalls:
    """The progress service's stub (plain, or batching as the workers make it) and the deadline of a call."""

    def __init__(self, stub: Any, timeout: float) -> None:
        self.stub, self.timeout = stub, timeout

    async def report(self, request: ps.ReportProgressRequest) -> ps.ReportProgressResponse:
        return await self.stub.ReportProgress(request, timeout=self.timeout)

    async def report_together(self, requests: list[ps.ReportProgressRequest]) -> list:
        """Each report's answer or error, in order: in one batch when the stub batches (genmedia.serving.reporting),
        else one call after another until one fails."""
        if isinstance(self.stub, BatchingProgressStub):
            return await self.stub.report_together(requests, timeout=self.timeout)
        answers: list = []
        for request in requests:
            try:
                answers.append(await self.report(request))
            except grpc.aio.AioRpcError as err:
                return [*answers, err]
        return answers

    async def get_job(self, job_id: str) -> pb.Job:
        return await self.stub.GetJob(job_service_pb2.GetJobRequest(job_id=job_id), timeout=self.timeout)

    async def list_jobs(self, request: ps.ListJobsRequest) -> ps.ListJobsResponse:
        return await self.stub.ListJobs(request, timeout=self.timeout)

    async def purge_jobs(self, request: ps.PurgeJobsRequest) -> ps.PurgeJobsResponse:
        return await self.stub.PurgeJobs(request, timeout=self.timeout)

    async def get_delivery(self, delivery_id: str) -> pb.Delivery:
        return await self.stub.GetDelivery(ps.GetDeliveryRequest(delivery_id=delivery_id), timeout=self.timeout)

    async def record_delivery(self, request: ps.RecordDeliveryRequest) -> ps.RecordDeliveryResponse:
        return await self.stub.RecordDelivery(request, timeout=self.timeout)

    async def cancel_pending(self, batch_id: str, message: str) -> int:
        """Reports CANCELLED for every child of the batch that is still PENDING (never started); returns how
        many. The same key as any cancel of an unstarted job, so a repeat or a race records each once."""
        cancelled = 0
        gate = asyncio.Semaphore(PARALLEL_REPORTS)

        async def cancel(job_id: str) -> None:
            event = pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_CANCELLED, message=message)
            async with gate:
                try:
                    await self.report(ps.ReportProgressRequest(event=event, idempotency_key="cancelled"))
                except grpc.aio.AioRpcError as err:
                    if err.code() != grpc.StatusCode.FAILED_PRECONDITION:  # it ended meanwhile
                        raise

        while True:
            query = ps.JobFilter(batch_id=batch_id, states=[pb.JOB_STATE_PENDING])
            page = await self.list_jobs(ps.ListJobsRequest(filter=query, page_size=PAGE))
            if not page.jobs:
                return cancelled
            await asyncio.gather(*(cancel(job.id) for job in page.jobs))
            cancelled += len(page.jobs)
