"""The protobuf-level client under `AsyncClient`: submit jobs to JobService, read and watch them on
ProgressService, messages in and out (services' tests and benchmarks use it directly).

`watch()` resumes by itself after a disconnect, from the last sequence it saw, so a caller neither
misses an event nor sees one twice; `watch_jobs()` likewise from the last cursor."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Literal

import grpc

from genmedia.channels import aio_channel
from genmedia.config import Section, Var, service_addr
from genmedia.domain.jobrules import TERMINAL_STATES
from genmedia.tls import ClientTls
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2, job_service_pb2_grpc, progress_service_pb2, progress_service_pb2_grpc

RESUMABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL}
STREAM_TIMEOUT = 300.0  # a watch stream's deadline: then it resumes on a new one, so no call is unbounded


def backoff(failures: int) -> float:
    """Seconds before reconnect number `failures` (1, 2, ...): 0.1 s first (a resume is cheap), at most 5 s."""
    return min(0.05 * 2 ** failures, 5.0)


class GenmediaClient:
    def __init__(self, orchestrator_addr: str | None = None, progress_addr: str | None = None,
                 timeout: float = 10.0, token: str | None = None, tls: ClientTls | Literal[False] | None = None,
                 service_config: str | None = None) -> None:
        """`token` (default GENMEDIA_TOKEN) is an API key or JWT; `tls` (None: from GENMEDIA_TLS_*, False:
        plaintext); `service_config` replaces the channels' default retry policy."""
        token = os.environ.get("GENMEDIA_TOKEN", "") if token is None else token
        tls = ClientTls.from_env() if tls is None else tls or None
        self.orchestrator_addr = orchestrator_addr or service_addr("orchestrator")
        self.progress_addr = progress_addr or service_addr("progress")
        self._orchestrator = aio_channel(self.orchestrator_addr, token, tls, service_config)
        self._progress = aio_channel(self.progress_addr, token, tls, service_config)
        self.jobs = job_service_pb2_grpc.JobServiceStub(self._orchestrator)
        self.progress = progress_service_pb2_grpc.ProgressServiceStub(self._progress)
        self.timeout = timeout

    async def __aenter__(self) -> GenmediaClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        await asyncio.gather(self._orchestrator.close(), self._progress.close())

    async def create_job(self, spec: pb.JobSpec, request_id: str = "", labels: dict[str, str] | None = None,
                         *, review: bool = False, review_timeout: timedelta | None = None,
                         deadline: datetime | None = None, priority: int = 0,
                         notify: pb.Notify | None = None) -> pb.Job:
        request = job_service_pb2.CreateJobRequest(spec=spec, request_id=request_id, labels=labels or {},
                                                   review=review, priority=priority, notify=notify)
        if review_timeout is not None:
            request.review_timeout.FromTimedelta(review_timeout)
        if deadline is not None:
            request.deadline.FromDatetime(deadline)
        return await self.jobs.CreateJob(request, timeout=self.timeout)

    async def create_batch(self, jobs: list[job_service_pb2.CreateJobRequest], *, sequential: bool = False,
                           max_concurrent: int = 0, fail_fast: bool = False, request_id: str = "",
                           labels: dict[str, str] | None = None, priority: int = 0,
                           notify: pb.Notify | None = None) -> pb.Job:
        """A batch of jobs (CreateJob requests), run in parallel (at most max_concurrent at once) or in order."""
        strategy = pb.BATCH_STRATEGY_SEQUENTIAL if sequential else pb.BATCH_STRATEGY_PARALLEL
        request = job_service_pb2.CreateBatchRequest(jobs=jobs, strategy=strategy, max_concurrent=max_concurrent,
                                                     fail_fast=fail_fast, request_id=request_id, labels=labels or {},
                                                     priority=priority, notify=notify)
        return await self.jobs.CreateBatch(request, timeout=self.timeout)

    async def retry_batch(self, batch_id: str, attempt: int = 0) -> pb.Job:
        request = job_service_pb2.RetryBatchRequest(batch_id=batch_id, attempt=attempt)
        return await self.jobs.RetryBatch(request, timeout=self.timeout)

    async def cancel_job(self, job_id: str, reason: str = "") -> pb.Job:
        return await self.jobs.CancelJob(job_service_pb2.CancelJobRequest(job_id=job_id, reason=reason),
                                         timeout=self.timeout)

    async def pause_job(self, job_id: str) -> pb.Job:
        return await self.jobs.PauseJob(job_service_pb2.PauseJobRequest(job_id=job_id), timeout=self.timeout)

    async def resume_job(self, job_id: str) -> pb.Job:
        return await self.jobs.ResumeJob(job_service_pb2.ResumeJobRequest(job_id=job_id), timeout=self.timeout)

    async def review_job(self, job_id: str, approve: bool, feedback: str = "",
                         corrections: pb.ReviewCorrections | None = None, round: int = 0) -> pb.Job:
        decision = pb.REVIEW_DECISION_APPROVE if approve else pb.REVIEW_DECISION_REJECT
        request = job_service_pb2.ReviewJobRequest(job_id=job_id, decision=decision, feedback=feedback,
                                                   corrections=corrections, round=round)
        return await self.jobs.ReviewJob(request, timeout=self.timeout)

    async def get_job(self, job_id: str) -> job_service_pb2.GetJobResponse:
        return await self.jobs.GetJob(job_service_pb2.GetJobRequest(job_id=job_id), timeout=self.timeout)

    async def list_jobs(self, page_size: int = 0, page_token: str = "",
                        filter: progress_service_pb2.JobFilter | None = None,
                        oldest_first: bool = False) -> progress_service_pb2.ListJobsResponse:
        order = progress_service_pb2.LIST_ORDER_OLDEST_FIRST if oldest_first else 0
        request = progress_service_pb2.ListJobsRequest(page_size=page_size, page_token=page_token, filter=filter,
                                                       order=order)
        return await self.progress.ListJobs(request, timeout=self.timeout)

    async def job_events(self, job_id: str) -> AsyncIterator[pb.JobEvent]:
        """The whole timeline of a job, page after page."""
        token = ""
        while True:
            request = progress_service_pb2.ListJobEventsRequest(job_id=job_id, page_size=1000, page_token=token)
            page = await self.progress.ListJobEvents(request, timeout=self.timeout)
            for event in page.events:
                yield event
            if not (token := page.next_page_token):
                return

    async def list_deliveries(self, job_id: str, page_size: int = 0,
                              page_token: str = "") -> progress_service_pb2.ListDeliveriesResponse:
        request = progress_service_pb2.ListDeliveriesRequest(job_id=job_id, page_size=page_size,
                                                             page_token=page_token)
        return await self.progress.ListDeliveries(request, timeout=self.timeout)

    async def deliveries(self, job_id: str) -> AsyncIterator[pb.Delivery]:
        """Every notification of a job with its attempts, page after page."""
        token = ""
        while True:
            page = await self.list_deliveries(job_id, 100, token)
            for delivery in page.deliveries:
                yield delivery
            if not (token := page.next_page_token):
                return

    async def get_delivery(self, delivery_id: str) -> pb.Delivery:
        request = progress_service_pb2.GetDeliveryRequest(delivery_id=delivery_id)
        return await self.progress.GetDelivery(request, timeout=self.timeout)

    async def redeliver(self, delivery_id: str, request_id: str = "") -> pb.Delivery:
        request = job_service_pb2.RedeliverNotificationRequest(delivery_id=delivery_id, request_id=request_id)
        return await self.jobs.RedeliverNotification(request, timeout=self.timeout)

    async def webhook_secret(self) -> job_service_pb2.GetWebhookSecretResponse:
        return await self.jobs.GetWebhookSecret(job_service_pb2.GetWebhookSecretRequest(), timeout=self.timeout)

    async def get_stats(self, request: progress_service_pb2.GetStatsRequest) -> progress_service_pb2.GetStatsResponse:
        return await self.progress.GetStats(request, timeout=self.timeout)

    async def watch(self, job_id: str, after_sequence: int = 0, max_reconnects: int = 30,
                    stream_timeout: float = STREAM_TIMEOUT) -> AsyncIterator[progress_service_pb2.WatchJobResponse]:
        """Yields the snapshot (when starting from 0), every event and heartbeats until the job ends."""
        last, failures = after_sequence, 0
        while True:
            request = progress_service_pb2.WatchJobRequest(job_id=job_id, after_sequence=last)
            try:
                async for message in self.progress.WatchJob(request, timeout=stream_timeout):
                    failures = 0
                    kind = message.WhichOneof("payload")
                    if kind == "snapshot":
                        last = message.snapshot.last_sequence
                    elif kind == "event":
                        if message.event.sequence <= last:
                            continue
                        last = message.event.sequence
                    yield message
                    if (kind == "snapshot" and message.snapshot.state in TERMINAL_STATES) or (
                        kind == "event" and message.event.state in TERMINAL_STATES
                    ):
                        return
                return
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    continue  # the stream's own deadline: go on from `last` on a new one
                failures += 1
                if err.code() not in RESUMABLE or failures > max_reconnects:
                    raise
                await asyncio.sleep(backoff(failures))

    async def watch_jobs(self, filter: progress_service_pb2.JobFilter | None = None, cursor: str = "",
                         max_reconnects: int | None = None, stream_timeout: float = STREAM_TIMEOUT,
                         ) -> AsyncIterator[progress_service_pb2.WatchJobsResponse]:
        """Every message of WatchJobs (the first is a heartbeat: subscribed), resuming after the last
        cursor when the stream breaks; `max_reconnects` None: for as long as it takes."""
        failures = 0
        while True:
            request = progress_service_pb2.WatchJobsRequest(filter=filter, cursor=cursor)
            try:
                async for message in self.progress.WatchJobs(request, timeout=stream_timeout):
                    failures = 0
                    cursor = message.cursor or cursor
                    yield message
                await asyncio.sleep(backoff(1))  # ended without an error (not expected): go on after a pause
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    continue
                failures += 1
                if err.code() not in RESUMABLE or (max_reconnects is not None and failures > max_reconnects):
                    raise
                await asyncio.sleep(backoff(failures))


ENV = Section("Clients (the CLI, the Python client)", (
    Var("GENMEDIA_TOKEN", "unset", "the API key or JWT a client sends (`--token`)"),
), note="Clients also read GENMEDIA_ORCHESTRATOR_ADDR, GENMEDIA_PROGRESS_ADDR and the client GENMEDIA_TLS_* variables.")
