"""Notification activities: record the deliveries of an event, send one attempt (logging it), record how a
delivery ended, and begin a redelivery. The log lives in the progress service (RecordDelivery)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import json_format
from temporalio import activity
from temporalio.exceptions import ApplicationError

from genmedia.domain import notify
from genmedia.serving import logs
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from genmedia.v1 import progress_service_pb2_grpc
from services.orchestrator import messages, senders
from services.orchestrator.activities import classify as classify_rpc_error
from services.orchestrator.config import NotifySettings
from services.orchestrator.model import DeliveryInput, DeliveryOutcome, NotifyInput, RedeliverInput

log = logging.getLogger(__name__)
PERMANENT = "PERMANENT_DELIVERY_FAILURE"  # the ApplicationError type retry policies stop at


def delivery_id(workflow_id: str, index: int) -> str:
    """The webhook-id of a workflow's index-th delivery: the same however often its activity runs."""
    return "msg_" + uuid.uuid5(uuid.NAMESPACE_URL, f"genmedia:{workflow_id}:{index}").hex


def targets(settings: pb.Notify) -> list[tuple[int, str]]:
    out = [(pb.NOTIFY_CHANNEL_WEBHOOK, settings.webhook_url)] if settings.webhook_url else []
    out += [(pb.NOTIFY_CHANNEL_SLACK, settings.slack_url)] if settings.slack_url else []
    return out + [(pb.NOTIFY_CHANNEL_EMAIL, address) for address in settings.emails]


class NotifyActivities:
    def __init__(self, progress: progress_service_pb2_grpc.ProgressServiceStub, settings: NotifySettings,
                 rpc_timeout: float = 5.0) -> None:
        self.progress, self.settings, self.rpc_timeout = progress, settings, rpc_timeout
        self.trust = senders.trust(settings.ca_file)

    async def _record(self, request: ps.RecordDeliveryRequest) -> ps.RecordDeliveryResponse:
        try:
            return await self.progress.RecordDelivery(request, timeout=self.rpc_timeout)
        except grpc.aio.AioRpcError as err:
            raise classify_rpc_error(err) from None

    @activity.defn(name="prepare_deliveries")
    async def prepare_deliveries(self, n: NotifyInput) -> list[DeliveryInput]:
        """Records one delivery per target (idempotent: the ids follow from the workflow id)."""
        body = messages.webhook_body(n.event, n.time, n.job)
        workflow_id = activity.info().workflow_id
        out = []
        for i, (channel, target) in enumerate(targets(json_format.ParseDict(n.notify, pb.Notify()))):
            delivery = pb.Delivery(id=delivery_id(workflow_id, i), job_id=n.job_id, channel=channel, target=target,
                                   event=n.event, state=pb.DELIVERY_STATE_PENDING)
            await self._record(ps.RecordDeliveryRequest(delivery=delivery, payload=body.encode()))
            out.append(DeliveryInput(delivery_id=delivery.id, job_id=n.job_id, owner=n.owner, channel=channel,
                                     target=target, payload=body, timeout_s=n.policy.timeout_s))
        log.info("%d deliveries of %s", len(out), notify.event_name(n.event), **logs.job(n.job_id))
        return out

    @activity.defn(name="deliver_notification")
    async def deliver(self, d: DeliveryInput) -> DeliveryOutcome:
        """One attempt. A failed one is logged here and raised (Temporal retries it); a successful one is
        returned for the workflow to record durably."""
        attempt_no = activity.info().attempt
        key = f"{d.redelivery}.{attempt_no}"
        began, clock = datetime.now(UTC), time.monotonic()
        try:
            sent = await self._send(d)
        except senders.SendFailed as failure:
            attempt = _attempt(began, time.monotonic() - clock, failure.status, failure.message, d.redelivery)
            state = pb.DELIVERY_STATE_FAILED if failure.permanent else pb.DELIVERY_STATE_PENDING
            await self._log_failure(d, attempt, key, state)
            log.info("delivery %s attempt %d failed: %s", d.delivery_id, attempt_no, failure.message,
                     **logs.job(d.job_id))
            raise ApplicationError(failure.message, type=PERMANENT if failure.permanent else "DELIVERY_FAILED",
                                   non_retryable=failure.permanent) from None
        attempt = _attempt(began, time.monotonic() - clock, sent.status, "", d.redelivery)
        log.info("delivery %s delivered (attempt %d)", d.delivery_id, attempt_no, **logs.job(d.job_id))
        return DeliveryOutcome(d.delivery_id, pb.DELIVERY_STATE_DELIVERED, key, _dict(attempt))

    async def _send(self, d: DeliveryInput) -> senders.Sent:
        refuse = self.settings.refuse_private
        if d.channel == pb.NOTIFY_CHANNEL_WEBHOOK:
            body = d.payload.encode()
            secret = notify.owner_secret(self.settings.master_secret, d.owner)
            headers = senders.webhook_headers(d.delivery_id, secret, body)
            return await senders.post(d.target, body, headers, d.timeout_s, refuse, self.trust)
        if d.channel == pb.NOTIFY_CHANNEL_SLACK:
            return await senders.post(d.target, messages.slack_message(d.payload), {}, d.timeout_s, refuse,
                                      self.trust)
        message = messages.email_message(d.payload, d.target, d.delivery_id)
        try:
            async with asyncio.timeout(d.timeout_s + 1):
                return await asyncio.to_thread(senders.send_mail, self.settings.smtp, message, d.timeout_s)
        except TimeoutError:
            raise senders.SendFailed(f"no answer within {d.timeout_s:g} s (timed out)") from None

    async def _log_failure(self, d: DeliveryInput, attempt: pb.DeliveryAttempt, key: str, state: int) -> None:
        """Best effort: a progress service that is down costs this attempt's log line, not the delivery."""
        request = ps.RecordDeliveryRequest(delivery=pb.Delivery(id=d.delivery_id, state=state), attempt=attempt,
                                           key=key)
        try:
            await self.progress.RecordDelivery(request, timeout=self.rpc_timeout)
        except grpc.aio.AioRpcError as err:
            log.warning("attempt of delivery %s not logged: %s", d.delivery_id, err.details(), **logs.job(d.job_id))

    @activity.defn(name="finish_delivery")
    async def finish_delivery(self, outcome: DeliveryOutcome) -> None:
        request = ps.RecordDeliveryRequest(delivery=pb.Delivery(id=outcome.delivery_id, state=outcome.state),
                                           key=outcome.key)
        if outcome.attempt is not None:
            request.attempt.CopyFrom(json_format.ParseDict(outcome.attempt, pb.DeliveryAttempt()))
        await self._record(request)

    @activity.defn(name="begin_redelivery")
    async def begin_redelivery(self, r: RedeliverInput) -> DeliveryInput:
        """Counts the redelivery (once per key) and returns what to send: the stored payload and target."""
        response = await self._record(ps.RecordDeliveryRequest(delivery=pb.Delivery(id=r.delivery_id),
                                                               redeliver=True, key=r.key))
        d = response.delivery
        return DeliveryInput(delivery_id=d.id, job_id=d.job_id, owner=d.owner, channel=d.channel, target=d.target,
                             payload=response.payload.decode(), timeout_s=r.policy.timeout_s,
                             redelivery=response.redelivery)


def _attempt(began: datetime, seconds: float, status: int, error: str, redelivery: int) -> pb.DeliveryAttempt:
    attempt = pb.DeliveryAttempt(status_code=status, error=error[:2000], succeeded=not error, redelivery=redelivery)
    attempt.time.FromDatetime(began)
    attempt.latency.FromMicroseconds(int(seconds * 1e6))
    return attempt


def _dict(message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)
