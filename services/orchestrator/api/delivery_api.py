"""JobService's notification commands: redeliver a notification, and tell a user their webhook secret."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import timedelta

import grpc
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from genmedia.domain import notify
from genmedia.domain.errors import NotFound, ServiceError, check, shorten
from genmedia.domain.jobrequests import idempotent_id
from genmedia.serving import logs
from genmedia.serving.auth import Principal
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2
from services.orchestrator.api.jobs import notify_policy, unavailable
from services.orchestrator.config import Settings
from services.orchestrator.model import RedeliverInput
from services.orchestrator.progress import ProgressCalls
from services.orchestrator.worker.notify_workflows import RedeliveryWorkflow, redelivery_id

log = logging.getLogger(__name__)
DELIVERY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class DeliveryCommands:
    def __init__(self, client: Client, progress: ProgressCalls,
                 settings: Settings) -> None:
        self.client, self.progress, self.settings = client, progress, settings

    def webhook_secret(self, principal: Principal) -> job_service_pb2.GetWebhookSecretResponse:
        secret = notify.owner_secret(self.settings.notify.master_secret, principal.user)
        return job_service_pb2.GetWebhookSecretResponse(secret=secret, owner=principal.user)

    async def redeliver(self, request: job_service_pb2.RedeliverNotificationRequest,
                        principal: Principal) -> pb.Delivery:
        """Starts a RedeliveryWorkflow: the same payload and webhook-id, a fresh timestamp and signature.
        A delivery still being sent is FAILED_PRECONDITION; a repeated request_id starts nothing new."""
        violations = [] if DELIVERY_ID.match(request.delivery_id) else [
            ("delivery_id", "must be a delivery id (1-64 of A-Z, a-z, 0-9, '_', '.', '-')")]
        if request.request_id:
            try:
                uuid.UUID(request.request_id)
            except ValueError:
                violations.append(("request_id", f"must be a UUID, got {shorten(request.request_id, 60)!r}"))
        check(violations)
        delivery = await self._delivery(request.delivery_id, principal)
        key = idempotent_id(principal.user, request.request_id)
        workflow_id = redelivery_id(delivery.id, key)
        if delivery.state == pb.DELIVERY_STATE_PENDING and not await self._started(workflow_id):
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"delivery {delivery.id} is still being sent; redeliver it once it is DELIVERED or "
                               "FAILED", "DELIVERY_PENDING", metadata={"delivery_id": delivery.id})
        s = self.settings
        try:
            await self.client.start_workflow(RedeliveryWorkflow.run,
                                             RedeliverInput(delivery.id, key, notify_policy(s)), id=workflow_id,
                                             task_queue=s.task_queue,
                                             id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                                             rpc_timeout=timedelta(seconds=s.rpc_timeout))
            log.info("redelivery of %s started", delivery.id, **logs.job(delivery.job_id))
        except WorkflowAlreadyStartedError:
            log.info("redelivery of %s already started (repeated request_id)", delivery.id, **logs.job(delivery.job_id))
        except RPCError as err:
            raise unavailable("temporal", err) from err
        delivery.state = pb.DELIVERY_STATE_PENDING
        return delivery

    async def _delivery(self, delivery_id: str, principal: Principal) -> pb.Delivery:
        """The delivery (redacted) if the caller may see it: another user's is NOT_FOUND like an unknown id."""
        try:
            delivery = await self.progress.get_delivery(delivery_id)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound("delivery", delivery_id) from None
            raise unavailable("progress service", err.details()) from err
        if not principal.admin and delivery.owner != principal.user:
            raise NotFound("delivery", delivery_id)
        return delivery

    async def _started(self, workflow_id: str) -> bool:
        try:
            await self.client.get_workflow_handle(workflow_id).describe(rpc_timeout=timedelta(seconds=3))
            return True
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise unavailable("temporal", err) from err
