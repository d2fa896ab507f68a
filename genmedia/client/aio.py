"""`AsyncClient`: genmedia from asyncio code. Keyword arguments in, typed objects out, typed exceptions.

Every unary call has a deadline (`timeout`); UNAVAILABLE is retried by the channels' service config
(reads, and the submits, which always carry a request id so that a retry is the same submit); watches
resume by themselves after a disconnect."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, Unpack

import grpc

from genmedia.channels import retry_config
from genmedia.client import requests as rq
from genmedia.client import transfer
from genmedia.client.enums import JobState
from genmedia.client.errors import JobCancelled, JobFailed, from_rpc_error
from genmedia.client.models import Delivery, Job, JobEvent, Page, Stats, WebhookSecret
from genmedia.client.rpc import GenmediaClient
from genmedia.tls import ClientTls
from genmedia.v1 import job_service_pb2 as js

T = TypeVar("T")
# What the channels retry after UNAVAILABLE: every read, and the writes that are safe to repeat (submits
# and redeliveries carry a request id; a repeated cancel is harmless).
RETRIED = retry_config([{"service": "genmedia.v1.ProgressService"}] + [
    {"service": "genmedia.v1.JobService", "method": m}
    for m in ("GetJob", "CreateJob", "CreateBatch", "RedeliverNotification", "GetWebhookSecret", "CancelJob")])


def client_tls(tls: bool | None, ca: str | Path | None, cert: str | Path | None,
               key: str | Path | None) -> ClientTls | None:
    """TLS from the arguments, else from GENMEDIA_TLS_* (None: plaintext). Files are read now."""
    if tls is False:
        return None
    if not (tls or ca or cert or key):
        return ClientTls.from_env()
    if bool(cert) != bool(key):
        raise ValueError("cert and key go together")
    read = {}
    for name, path in (("ca", ca), ("cert", cert), ("key", key)):
        try:
            read[name] = Path(path).read_bytes() if path else None
        except OSError as err:
            raise ValueError(f"cannot read the {name} file {path}: {err.strerror}") from None
    return ClientTls(read["ca"], read["cert"], read["key"])


class AsyncClient:
    """`server` is JobService's address (default GENMEDIA_ORCHESTRATOR_ADDR, else 127.0.0.1:50051),
    `progress_server` ProgressService's (GENMEDIA_PROGRESS_ADDR, 127.0.0.1:50052). `token` is an API key or
    JWT (GENMEDIA_TOKEN). TLS: `tls=True` (the system's roots), `ca`, `cert` + `key` (mTLS), or by default
    GENMEDIA_TLS, GENMEDIA_TLS_CA_FILE, GENMEDIA_TLS_CLIENT_CERT_FILE and GENMEDIA_TLS_CLIENT_KEY_FILE.
    `timeout` is every call's deadline in seconds."""

    def __init__(self, server: str | None = None, progress_server: str | None = None, *, token: str | None = None,
                 tls: bool | None = None, ca: str | Path | None = None, cert: str | Path | None = None,
                 key: str | Path | None = None, timeout: float = 30.0) -> None:
        self.raw = GenmediaClient(server, progress_server, timeout=timeout, token=token,
                                  tls=client_tls(tls, ca, cert, key) or False, service_config=RETRIED)
        self.server, self.progress_server = self.raw.orchestrator_addr, self.raw.progress_addr

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.raw.close()

    async def _jobs(self, call: Any) -> Any:
        """Awaits a JobService call, raising the typed error."""
        try:
            return await call
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err, f"JobService at {self.server}") from None

    async def _progress(self, call: Any) -> Any:
        try:
            return await call
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err, f"ProgressService at {self.progress_server}") from None

    async def _stream(self, messages: AsyncIterator[T]) -> AsyncIterator[T]:
        """A ProgressService stream, raising the typed error."""
        async with contextlib.aclosing(messages):  # type: ignore[type-var]
            try:
                async for message in messages:
                    yield message
            except grpc.aio.AioRpcError as err:
                raise from_rpc_error(err, f"ProgressService at {self.progress_server}") from None

    # -- submitting --

    async def _create(self, request: js.CreateJobRequest) -> Job:
        request.request_id = rq.with_request_id(request.request_id)
        return Job.from_proto(await self._jobs(self.raw.jobs.CreateJob(request, timeout=self.raw.timeout)))

    async def create_image(self, prompt: str, **options: Unpack[rq.ImageOptions]) -> Job:
        """Submits an image job; returns it PENDING (see `wait`)."""
        return await self._create(rq.image_job(prompt, **options).raw)

    async def create_video(self, prompt: str, **options: Unpack[rq.VideoOptions]) -> Job:
        """Submits a video job (text → image → MP4); returns it PENDING."""
        return await self._create(rq.video_job(prompt, **options).raw)

    async def create_batch(self, jobs: Iterable[rq.JobRequest | Mapping[str, Any]], *, sequential: bool = False,
                           max_concurrent: int = 0, fail_fast: bool = False, request_id: str | None = None,
                           labels: Mapping[str, str] | None = None, priority: int = 0, webhook: str = "",
                           slack: str = "", emails: Iterable[str] = (), notify_events: Iterable[str] = ()) -> Job:
        """Submits jobs (`image_job(...)`, `video_job(...)` or dicts as in a batch file) as one batch, run in
        parallel (at most `max_concurrent` at once, 0: 10) or in order."""
        strategy = 2 if sequential else 1
        request = js.CreateBatchRequest(
            jobs=rq.batch_jobs(jobs), strategy=strategy, max_concurrent=max_concurrent, fail_fast=fail_fast,
            request_id=rq.with_request_id(request_id), labels=dict(labels or {}), priority=priority,
            notify=rq.notify_settings(webhook, slack, emails, notify_events))
        return Job.from_proto(await self._jobs(self.raw.jobs.CreateBatch(request, timeout=self.raw.timeout)))

    async def retry_batch(self, batch_id: str, attempt: int = 0) -> Job:
        """Reruns the failed and cancelled jobs of an ended batch (attempt 0: the newest)."""
        return Job.from_proto(await self._jobs(self.raw.retry_batch(batch_id, attempt)))

    # -- reading --

    async def get(self, job_id: str, *, live: bool = True) -> Job:
        """The job as its workflow sees it now (`source` "workflow"), else as the progress store has it;
        `live=False` asks the progress store alone (no JobService needed)."""
        if not live:
            request = js.GetJobRequest(job_id=job_id)
            return Job.from_proto(await self._progress(self.raw.progress.GetJob(request, timeout=self.raw.timeout)),
                                  "store")
        answer = await self._jobs(self.raw.get_job(job_id))
        return Job.from_proto(answer.job, "workflow" if answer.source == answer.SOURCE_WORKFLOW else "store")

    async def list_page(self, page_size: int = 20, page_token: str = "", *, oldest_first: bool = False,
                        **filter: Unpack[rq.FilterOptions]) -> Page:
        """One page of the jobs matching the filter, newest first (or oldest)."""
        answer = await self._progress(self.raw.list_jobs(page_size, page_token, rq.job_filter(**filter),
                                                         oldest_first))
        return Page(tuple(Job.from_proto(j) for j in answer.jobs), answer.next_page_token, answer.total_size)

    async def list(self, *, oldest_first: bool = False, limit: int | None = None, page_size: int = 100,
                   **filter: Unpack[rq.FilterOptions]) -> AsyncIterator[Job]:
        """Every job matching the filter (at most `limit`), fetched `page_size` at a time."""
        token, count = "", 0
        while True:
            page = await self.list_page(page_size, token, oldest_first=oldest_first, **filter)
            for job in page.jobs:
                if limit is not None and count >= limit:
                    return
                count += 1
                yield job
            if not (token := page.next_page_token):
                return

    async def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        """The job's whole timeline, oldest first."""
        async for event in self._stream(self.raw.job_events(job_id)):
            yield JobEvent.from_proto(event)

    async def stats(self, *, since: dt.datetime | dt.timedelta | None = None,
                    until: dt.datetime | dt.timedelta | None = None, **filter: Unpack[rq.FilterOptions]) -> Stats:
        """Success rate, durations, reviews and backlog of the jobs created in [since, until) (datetimes, or
        spans back from now; default the last 24 h)."""
        request = rq.stats_request(since, until, **filter)
        return Stats.from_proto(await self._progress(self.raw.get_stats(request)))

    # -- following --

    async def watch(self, job_id: str, after_sequence: int = 0) -> AsyncIterator[Job | JobEvent]:
        """The job as it is now (a Job; not when resuming after a sequence), then every event as it
        happens, ending after the terminal one. Resumes by itself after a disconnect: nothing is missed,
        nothing repeated."""
        async for message in self._stream(self.raw.watch(job_id, after_sequence)):
            kind = message.WhichOneof("payload")
            if kind == "snapshot":
                yield Job.from_proto(message.snapshot, "store")
            elif kind == "event":
                yield JobEvent.from_proto(message.event)

    async def watch_jobs(self, *, cursor: str = "", **filter: Unpack[rq.FilterOptions]) -> AsyncIterator[JobEvent]:
        """Every event of every job matching the filter, from now on (or after `cursor`, an event's
        `.cursor`), for as long as it is iterated; resumes by itself across restarts of the service."""
        async for message in self._stream(self.raw.watch_jobs(rq.job_filter(**filter), cursor)):
            if message.WhichOneof("payload") == "event":
                yield JobEvent.from_proto(message.event, message.cursor)

    async def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Blocks until the job ends; returns it COMPLETED, or raises JobFailed / JobCancelled carrying it.
        TimeoutError after `timeout` seconds (the job goes on)."""
        async with asyncio.timeout(timeout):
            async for item in self.watch(job_id):
                if item.state.terminal:
                    break
            job = await self.get(job_id, live=False)
        if job.state == JobState.FAILED:
            raise JobFailed(job)
        if job.state == JobState.CANCELLED:
            raise JobCancelled(job)
        return job

    # -- steering --

    async def cancel(self, job_id: str, reason: str = "") -> Job:
        """Stops a job (or every job of a batch); it ends CANCELLED."""
        return Job.from_proto(await self._jobs(self.raw.cancel_job(job_id, reason)))

    async def pause(self, job_id: str) -> Job:
        """The job finishes its current step, then waits in PAUSED."""
        return Job.from_proto(await self._jobs(self.raw.pause_job(job_id)))

    async def resume(self, job_id: str) -> Job:
        return Job.from_proto(await self._jobs(self.raw.resume_job(job_id)))

    async def review(self, job_id: str, *, approve: bool, feedback: str = "", round: int = 0,
                     prompt: str | None = None, negative_prompt: str | None = None, seed: int | None = None,
                     style: str | None = None, width: int | None = None, height: int | None = None) -> Job:
        """Decides on a job AWAITING_REVIEW. Rejecting with corrections (prompt, seed, ...) regenerates and
        asks again; rejecting without fails the job REJECTED."""
        corrections = {"prompt": prompt, "negative_prompt": negative_prompt, "seed": seed, "style": style,
                       "width": width, "height": height}
        request = rq.review_request(job_id, approve, feedback, round, corrections)
        return Job.from_proto(await self._jobs(self.raw.jobs.ReviewJob(request, timeout=self.raw.timeout)))

    # -- assets --

    async def download(self, job_id: str, dest: str | Path = ".", asset: int | None = None, *,
                       on_progress: transfer.OnProgress | None = None) -> list[transfer.DownloadedAsset]:
        """Writes the job's assets (or asset number `asset`: a video job's 0 is the image, 1 the video) into
        the folder `dest` under their own names, resuming a cut stream and checking each sha256; returns them.
        `ChecksumMismatch` when the bytes are not the recorded ones (no file is kept)."""
        return await transfer.download(self.raw, job_id, dest, asset, on_progress)

    async def link(self, job_id: str, asset: int = 0, expires: dt.timedelta = dt.timedelta(hours=1)
                   ) -> transfer.AssetLink:
        """A time-limited HTTPS link to one asset (an S3 store's presigned GET), for `expires` (at most 7 days).
        `FailedPrecondition` when the server's store is a folder, which has no HTTP face."""
        return await transfer.link(self.raw, job_id, asset, expires)

    # -- notifications --

    async def deliveries(self, job_id: str) -> AsyncIterator[Delivery]:
        """Every notification of the job, with every attempt at sending it."""
        async for delivery in self._stream(self.raw.deliveries(job_id)):
            yield Delivery.from_proto(delivery)

    async def redeliver(self, delivery_id: str, request_id: str | None = None) -> Delivery:
        """Sends a notification again: the same id and body, a fresh timestamp and signature."""
        request = js.RedeliverNotificationRequest(delivery_id=delivery_id, request_id=rq.with_request_id(request_id))
        return Delivery.from_proto(await self._jobs(self.raw.jobs.RedeliverNotification(
            request, timeout=self.raw.timeout)))

    async def webhook_secret(self) -> WebhookSecret:
        """The caller's webhook signing secret (whsec_...)."""
        answer = await self._jobs(self.raw.webhook_secret())
        return WebhookSecret(answer.secret, answer.owner, answer)

