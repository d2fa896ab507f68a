"""The notification RPCs of ProgressService (RecordDelivery, ListDeliveries, GetDelivery) and the notify
settings shown, redacted, on the jobs it returns."""

from __future__ import annotations

import math
import re

import grpc

from genmedia.domain import notify
from genmedia.domain.errors import NotFound, check
from genmedia.domain.jobrules import MAX_JOB_ID, job_id_violations
from genmedia.serving import metrics
from genmedia.serving.auth import caller
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from services.progress.delivery_log import Deliveries
from services.progress.models import UTC
from services.progress.queries import EPOCH, MICROSECOND, decode_token, encode_token
from services.progress.store import Store
from services.progress.validation import MAX_ID, valid_time

Context = grpc.aio.ServicerContext
DELIVERY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_TARGET, MAX_PAYLOAD, MAX_ERROR = 2048, 1024 * 1024, 2000
DEFAULT_PAGE, MAX_PAGE = 50, 100


def shown(delivery: pb.Delivery) -> pb.Delivery:
    """A delivery as users see it: URLs redacted (their path is often the secret)."""
    if delivery.channel in (pb.NOTIFY_CHANNEL_WEBHOOK, pb.NOTIFY_CHANNEL_SLACK):
        delivery.target = notify.redact_url(delivery.target)
    return delivery


def record_violations(request: ps.RecordDeliveryRequest) -> list[tuple[str, str]]:
    d, v = request.delivery, []
    if not DELIVERY_ID.match(d.id):
        v.append(("delivery.id", "must be 1-64 of A-Z, a-z, 0-9, '_', '.', '-'"))
    if len(d.job_id) > MAX_JOB_ID:
        v.append(("delivery.job_id", f"must be at most {MAX_JOB_ID} characters"))
    if d.channel not in pb.NotifyChannel.values():
        v.append(("delivery.channel", f"is not a known channel: {d.channel}"))
    if d.event not in pb.EventType.values():
        v.append(("delivery.event", f"is not a known event type: {d.event}"))
    if d.state not in pb.DeliveryState.values():
        v.append(("delivery.state", f"is not a known delivery state: {d.state}"))
    if len(d.target) > MAX_TARGET:
        v.append(("delivery.target", f"must be at most {MAX_TARGET} characters"))
    if len(request.payload) > MAX_PAYLOAD:
        v.append(("payload", f"must be at most {MAX_PAYLOAD} bytes"))
    if (request.HasField("attempt") or request.redeliver) and not request.key:
        v.append(("key", "is required with an attempt or a redelivery"))
    if len(request.key) > MAX_ID:
        v.append(("key", f"must be at most {MAX_ID} characters"))
    if request.HasField("attempt"):
        a = request.attempt
        if not 0 <= a.status_code <= 999:
            v.append(("attempt.status_code", f"must be 0-999, got {a.status_code}"))
        latency = a.latency.seconds + a.latency.nanos / 1e9
        if not (0 <= a.latency.seconds <= 10**6 and 0 <= a.latency.nanos < 10**9) or math.isnan(latency):
            v.append(("attempt.latency", "must be between 0 and 1,000,000 seconds"))
        if a.HasField("time") and not valid_time(a.time):
            v.append(("attempt.time", "must be a valid timestamp (years 1-9999)"))
        if len(a.error) > MAX_ERROR:
            v.append(("attempt.error", f"must be at most {MAX_ERROR} characters"))
        if a.redelivery < 0:
            v.append(("attempt.redelivery", "must not be negative"))
    return v


class DeliveryRpcs:
    """Mixed into ProgressServicer."""

    _deliveries: Deliveries
    _store: Store

    async def with_notify(self, jobs: list[pb.Job]) -> list[pb.Job]:
        """The jobs with their notify settings, redacted."""
        settings = await self._deliveries.notify_of([job.id for job in jobs])
        for job in jobs:
            if job.id in settings:
                job.notify.CopyFrom(notify.redacted(settings[job.id]))
        return jobs

    async def RecordDelivery(self, request: ps.RecordDeliveryRequest, context: Context) -> ps.RecordDeliveryResponse:
        check(record_violations(request))
        recorded = await self._deliveries.record(request)
        channel = pb.NotifyChannel.Name(recorded.delivery.channel).removeprefix("NOTIFY_CHANNEL_").lower()
        if recorded.new_attempt:
            a = request.attempt
            metrics.NOTIFY_ATTEMPTS.labels(channel, "succeeded" if a.succeeded else "failed").inc()
            metrics.NOTIFY_LATENCY.labels(channel).observe(a.latency.ToTimedelta().total_seconds())
        if recorded.finished:
            state = pb.DeliveryState.Name(recorded.delivery.state).removeprefix("DELIVERY_STATE_").lower()
            metrics.NOTIFY_DELIVERIES.labels(channel, state).inc()
        return ps.RecordDeliveryResponse(delivery=recorded.delivery, payload=recorded.payload,
                                         redelivery=recorded.redelivery)

    async def ListDeliveries(self, request: ps.ListDeliveriesRequest, context: Context) -> ps.ListDeliveriesResponse:
        violations = job_id_violations(request.job_id)
        if request.page_size < 0:
            violations.append(("page_size", "must not be negative"))
        after = None
        if request.page_token:
            job_id, micros, delivery_id = decode_token(request.page_token, "page_token", (str, int, str))
            if job_id != request.job_id:
                violations.append(("page_token", "was returned for another job"))
            try:
                after = (EPOCH + micros * MICROSECOND, delivery_id)
            except OverflowError:
                violations.append(("page_token", "is not a token returned by this call"))
        check(violations)
        size = min(request.page_size or DEFAULT_PAGE, MAX_PAGE)
        job, principal = await self._store.get_job(request.job_id), caller()
        if not principal.admin and job.owner != principal.user:
            raise NotFound("job", request.job_id)  # exactly like an unknown id
        deliveries, more = await self._deliveries.page(request.job_id, after, size)
        token = ""
        if more:
            last = deliveries[-1]
            micros = (last.create_time.ToDatetime(tzinfo=UTC) - EPOCH) // MICROSECOND
            token = encode_token(request.job_id, micros, last.id)
        return ps.ListDeliveriesResponse(deliveries=[shown(d) for d in deliveries], next_page_token=token)

    async def GetDelivery(self, request: ps.GetDeliveryRequest, context: Context) -> pb.Delivery:
        check([] if DELIVERY_ID.match(request.delivery_id) else
              [("delivery_id", "must be 1-64 of A-Z, a-z, 0-9, '_', '.', '-'")])
        delivery = await self._deliveries.get(request.delivery_id)
        principal = caller()
        if not principal.admin and delivery.owner != principal.user:
            raise NotFound("delivery", request.delivery_id)  # exactly like an unknown id
        return shown(delivery)
