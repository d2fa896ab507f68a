"""JobService: proto in, JobManager (with the authenticated caller), proto out."""

from __future__ import annotations

from collections.abc import AsyncIterator

from genmedia.assetstore import Store
from genmedia.serving.auth import caller
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2, job_service_pb2_grpc
from services.orchestrator.assets_api import AssetCommands
from services.orchestrator.batch_api import BatchCommands
from services.orchestrator.delivery_api import DeliveryCommands
from services.orchestrator.jobs import JobManager


class JobServicer(job_service_pb2_grpc.JobServiceServicer):
    def __init__(self, jobs: JobManager, store: Store) -> None:
        self.jobs = jobs
        self.batches = BatchCommands(jobs)
        self.deliveries = DeliveryCommands(jobs.client, jobs.progress, jobs.settings)
        self.assets = AssetCommands(jobs.progress, store, jobs.settings.rpc_timeout)

    async def CreateJob(self, request: job_service_pb2.CreateJobRequest, context) -> pb.Job:
        return await self.jobs.create(request, caller())

    async def GetJob(self, request: job_service_pb2.GetJobRequest, context) -> job_service_pb2.GetJobResponse:
        return await self.jobs.get(request.job_id, caller())

    async def CancelJob(self, request: job_service_pb2.CancelJobRequest, context) -> pb.Job:
        return await self.jobs.cancel(request, caller())

    async def PauseJob(self, request: job_service_pb2.PauseJobRequest, context) -> pb.Job:
        return await self.jobs.pause(request.job_id, caller())

    async def ResumeJob(self, request: job_service_pb2.ResumeJobRequest, context) -> pb.Job:
        return await self.jobs.resume(request.job_id, caller())

    async def ReviewJob(self, request: job_service_pb2.ReviewJobRequest, context) -> pb.Job:
        return await self.jobs.review(request, caller())

    async def CreateBatch(self, request: job_service_pb2.CreateBatchRequest, context) -> pb.Job:
        return await self.batches.create(request, caller())

    async def RetryBatch(self, request: job_service_pb2.RetryBatchRequest, context) -> pb.Job:
        return await self.batches.retry(request, caller())

    async def RedeliverNotification(self, request: job_service_pb2.RedeliverNotificationRequest,
                                    context) -> pb.Delivery:
        return await self.deliveries.redeliver(request, caller())

    async def GetWebhookSecret(self, request: job_service_pb2.GetWebhookSecretRequest,
                               context) -> job_service_pb2.GetWebhookSecretResponse:
        return self.deliveries.webhook_secret(caller())

    async def DownloadAsset(self, request: job_service_pb2.DownloadAssetRequest,
                            context) -> AsyncIterator[job_service_pb2.DownloadAssetResponse]:
        async for message in self.assets.download(request, caller()):
            yield message

    async def CreateAssetLink(self, request: job_service_pb2.CreateAssetLinkRequest,
                              context) -> job_service_pb2.CreateAssetLinkResponse:
        return await self.assets.link(request, caller())
