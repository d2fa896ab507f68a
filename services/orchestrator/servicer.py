"""JobService: proto in, JobManager, proto out."""

from __future__ import annotations

import grpc

from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2, job_service_pb2_grpc
from services.orchestrator.jobs import JobManager

ANONYMOUS = "anonymous"


def caller(context: grpc.aio.ServicerContext) -> str:
    """The authenticated caller; `anonymous` while authentication is off."""
    return ANONYMOUS


class JobServicer(job_service_pb2_grpc.JobServiceServicer):
    def __init__(self, jobs: JobManager) -> None:
        self.jobs = jobs

    async def CreateJob(self, request: job_service_pb2.CreateJobRequest, context) -> pb.Job:
        return await self.jobs.create(request, owner=caller(context))

    async def GetJob(self, request: job_service_pb2.GetJobRequest, context) -> job_service_pb2.GetJobResponse:
        return await self.jobs.get(request.job_id)

    async def CancelJob(self, request: job_service_pb2.CancelJobRequest, context) -> pb.Job:
        return await self.jobs.cancel(request)

    async def PauseJob(self, request: job_service_pb2.PauseJobRequest, context) -> pb.Job:
        return await self.jobs.pause(request.job_id)

    async def ResumeJob(self, request: job_service_pb2.ResumeJobRequest, context) -> pb.Job:
        return await self.jobs.resume(request.job_id)

    async def ReviewJob(self, request: job_service_pb2.ReviewJobRequest, context) -> pb.Job:
        return await self.jobs.review(request, reviewer=caller(context))
