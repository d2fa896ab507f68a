"""Notification workflows: every delivery of one event (NotificationWorkflow) and one redelivery
(RedeliveryWorkflow), each attempt a Temporal activity retried with exponential backoff until it is
accepted or the give-up time has passed, so a worker restart loses nothing.

`notify_event` is the trigger a job (or batch) workflow calls: it starts the notification as a child
workflow that outlives its parent (ParentClosePolicy.ABANDON) and never fails it; the child's id follows
from the job and the event, so a replayed or repeated trigger notifies once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from google.protobuf import json_format

    from genmedia.domain import notify
    from genmedia.v1 import common_pb2 as pb
    from services.orchestrator.model import (
        DeliveryInput,
        DeliveryOutcome,
        NotifyInput,
        NotifyPolicyInput,
        RedeliverInput,
    )
    from services.orchestrator.worker.notify_activities import PERMANENT, NotifyActivities

# Recording in the progress service: retried until it works (the service may be down for a while).
RECORD_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
RECORD_TIMEOUTS = dict(start_to_close_timeout=timedelta(seconds=30), schedule_to_close_timeout=timedelta(days=7))


def notification_id(job_id: str, key: str) -> str:
    return f"notify-{job_id}-{key}"


def redelivery_id(delivery_id: str, key: str) -> str:
    return f"redeliver-{delivery_id}-{key}"


async def notify_event(n: NotifyInput, final: bool = False) -> None:
    """Starts the notification of one event, if the job's settings ask for it. A cancellation arriving
    meanwhile waits until the start is settled; it is then raised again, unless `final` (the job is
    already ending, and the cancellation is too late to matter)."""
    if not notify.wanted(json_format.ParseDict(n.notify, pb.Notify()), n.event):
        return
    start = asyncio.ensure_future(workflow.start_child_workflow(
        NotificationWorkflow.run, n, id=notification_id(n.job_id, n.key), task_queue=workflow.info().task_queue,
        parent_close_policy=ParentClosePolicy.ABANDON, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    ))
    cancelled = False
    while not start.done():
        try:
            await asyncio.shield(start)
        except asyncio.CancelledError:
            cancelled = True
    try:
        start.result()
    except WorkflowAlreadyStartedError:
        pass  # notified before (this trigger ran again)
    except Exception as err:  # noqa: BLE001 - a notification must never fail its job
        workflow.logger.warning("notification %s not started: %s", n.key, err)
    if cancelled and not final:
        raise asyncio.CancelledError("the job is stopping")


async def deliver(d: DeliveryInput, policy: NotifyPolicyInput) -> int:
    """Sends one delivery until it is accepted or given up, then records how it ended; its state."""
    try:
        outcome = await workflow.execute_activity_method(
            NotifyActivities.deliver, d,
            start_to_close_timeout=timedelta(seconds=policy.timeout_s + 10),
            schedule_to_close_timeout=timedelta(seconds=policy.give_up_s),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=policy.initial_interval_s),
                                     backoff_coefficient=policy.backoff,
                                     maximum_interval=timedelta(seconds=policy.max_interval_s),
                                     non_retryable_error_types=[PERMANENT]),
        )
    except ActivityError as err:
        workflow.logger.info("delivery %s failed: %s", d.delivery_id, err.cause or err)
        outcome = DeliveryOutcome(d.delivery_id, pb.DELIVERY_STATE_FAILED)
    await workflow.execute_activity_method(NotifyActivities.finish_delivery, outcome, retry_policy=RECORD_RETRY,
                                           **RECORD_TIMEOUTS)
    return outcome.state


@workflow.defn(name="Notification")
class NotificationWorkflow:
    @workflow.run
    async def run(self, n: NotifyInput) -> list[int]:
        deliveries = await workflow.execute_activity_method(NotifyActivities.prepare_deliveries, n,
                                                            retry_policy=RECORD_RETRY, **RECORD_TIMEOUTS)
        return list(await asyncio.gather(*(deliver(d, n.policy) for d in deliveries)))


@workflow.defn(name="Redelivery")
class RedeliveryWorkflow:
    @workflow.run
    async def run(self, r: RedeliverInput) -> int:
        d = await workflow.execute_activity_method(NotifyActivities.begin_redelivery, r, retry_policy=RECORD_RETRY,
                                                   **RECORD_TIMEOUTS)
        return await deliver(d, r.policy)
