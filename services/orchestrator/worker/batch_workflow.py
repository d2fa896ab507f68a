"""BatchJobWorkflow: runs a batch's children as GenerationJob child workflows, at most `max_concurrent` at
once (one at a time, in order, when SEQUENTIAL), stopping the rest at the first failure with fail_fast.

The children's specs are read from the progress store a page at a time, and after `run_limit` children a run
lets its last children finish and continues as new, so neither the input nor the history grows with the
batch's size. Progress does not pass through here: the store aggregates the children's own events. The
workflow reports the batch's STARTED, PAUSED/RESUMED and terminal events (the store adds the counts)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import Priority, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ApplicationError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
    is_cancelled_exception,
)
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from google.protobuf import json_format

    from genmedia.v1 import common_pb2 as pb
    from services.orchestrator.model import (
        JOB_VERSION,
        BatchInput,
        ChildPageInput,
        EventInput,
        JobInput,
        JobStatus,
        NotifyInput,
    )
    from services.orchestrator.snapshot import status_to_job
    from services.orchestrator.worker.activities import JobActivities
    from services.orchestrator.worker.batch_activities import BatchActivities
    from services.orchestrator.worker.notify_workflows import notify_event
    from services.orchestrator.worker.workflows import EVENT_RETRY, PAUSABLE, GenerationJobWorkflow, name_of, refuse

WORKFLOW_NAME = "BatchJob"
STORE_CALL = dict(start_to_close_timeout=timedelta(minutes=5), retry_policy=EVENT_RETRY)
COUNTED = ("completed", "failed", "cancelled")


@workflow.defn(name=WORKFLOW_NAME)
class BatchJobWorkflow:
    @workflow.init
    def __init__(self, batch: BatchInput) -> None:
        self.batch = batch
        job = JobInput(job_id=batch.batch_id, kind=pb.JOB_KIND_BATCH, spec={"kind": "JOB_KIND_BATCH"},
                       owner=batch.owner, create_time=batch.create_time, labels=batch.labels,
                       request_id=batch.request_id, priority=batch.priority, notify=batch.notify,
                       notify_policy=batch.notify_policy)
        continued = bool(batch.started or batch.cursor or batch.loaded_all)
        state = pb.JOB_STATE_PAUSED if batch.paused else pb.JOB_STATE_RUNNING if continued else pb.JOB_STATE_PENDING
        self.status = JobStatus(job=job, state=state, step=pb.JOB_STEP_UNSPECIFIED, percent=0.0, message="queued",
                                attempt=batch.attempt, pause_requested=batch.paused)
        self.continued = continued
        self.queue: list[dict[str, Any]] = []
        self.running: dict[str, asyncio.Task] = {}
        self.started_here = 0
        self.changes = 0  # bumped whenever the main loop may have something to do

    @workflow.query(name="status")
    def get_status(self) -> JobStatus:
        self.status.running_children = sorted(self.running)
        return self.status

    @workflow.update(name="pause")
    def pause(self) -> JobStatus:
        """No new child starts; JobService pauses the running ones."""
        self.status.pause_requested = True
        if self.status.state != pb.JOB_STATE_PAUSED:
            self.status.message = "pausing: no new job starts, running jobs pause after their step"
        self.changes += 1
        return self.get_status()

    @pause.validator
    def _check_pause(self) -> None:
        if self.status.state not in PAUSABLE:
            raise refuse(f"batch is {name_of(self.status.state)}; only a pending or running batch can be paused",
                         "JOB_NOT_PAUSABLE")

    @workflow.update(name="resume")
    def resume(self) -> JobStatus:
        self.status.pause_requested = False
        self.status.message = "resuming"
        self.changes += 1
        return self.get_status()

    @resume.validator
    def _check_resume(self) -> None:
        if self.status.state != pb.JOB_STATE_PAUSED and not self.status.pause_requested:
            raise refuse(f"batch is {name_of(self.status.state)}, not PAUSED", "JOB_NOT_PAUSED")

    @workflow.run
    async def run(self, batch: BatchInput) -> JobStatus:
        batch = self.batch  # the copy the loop updates (cursor, counts) and continue-as-new carries on
        n = batch.attempt
        try:
            if not self.continued:
                await self._report(pb.EVENT_TYPE_STARTED, f"attempt.{n}:started", pb.JOB_STATE_RUNNING,
                                   f"attempt {n} started" if n > 1 else "started")
                await self._notify(pb.EVENT_TYPE_STARTED, f"attempt.{n}:started")
            more = await self._run_children()
        except GeneratorExit:  # the run's coroutine is being closed (a worker dropped it): nothing ended
            raise
        except BaseException as exc:
            if not (is_cancelled_exception(exc) or workflow.cancellation_reason() is not None):
                raise
            await self._stop_children()
            await self._cancel_unstarted()
            await self._end(pb.EVENT_TYPE_CANCELLED, "cancelled", pb.JOB_STATE_CANCELLED, "cancelled")
            raise asyncio.CancelledError("the batch was cancelled") from None
        if more:
            workflow.continue_as_new(replace(batch, started=batch.started + self.started_here,
                                             paused=self.status.pause_requested))
        if batch.stopping:
            await self._cancel_unstarted()
        summary = await workflow.execute_activity_method(BatchActivities.summary, batch.batch_id, **STORE_CALL)
        counts = {name: summary.get(name, 0) for name in (*COUNTED, "total")}
        if counts["completed"] == counts["total"]:
            await self._end(pb.EVENT_TYPE_COMPLETED, "completed", pb.JOB_STATE_COMPLETED, "completed")
            return self.status
        text = (f"{counts['failed']} failed and {counts['cancelled']} cancelled of {counts['total']} children"
                + (" (fail_fast cancelled the rest)" if batch.stopping else ""))
        self.status.error = {"code": "CHILDREN_FAILED", "message": text, "retryable": True}
        await self._end(pb.EVENT_TYPE_FAILED, "failed", pb.JOB_STATE_FAILED, f"failed: {text}",
                        error=self.status.error)
        raise ApplicationError(text, type="CHILDREN_FAILED", non_retryable=True)

    async def _run_children(self) -> bool:
        """Starts children as slots free up; returns True when this run started its share and more remain
        (after its children ended), False when every child of the attempt has run (or fail_fast stopped)."""
        b = self.batch
        window = 1 if b.strategy == pb.BATCH_STRATEGY_SEQUENTIAL else b.max_concurrent
        while True:
            await self._pause_transitions()
            if b.stopping:
                await self._stop_children()
                return False
            share_done = self.started_here >= b.run_limit or (
                self.started_here > 0 and not self.queue and workflow.info().is_continue_as_new_suggested())
            if not self.status.pause_requested and len(self.running) < window and not share_done:
                if not self.queue and not b.loaded_all:
                    await self._load()
                    continue
                if self.queue:
                    self._start(self.queue.pop(0))
                    continue
            if not self.running and not self.queue and not self.status.pause_requested and (b.loaded_all or share_done):
                return not b.loaded_all
            await workflow.wait_condition(lambda seen=self.changes: self.changes != seen)

    async def _load(self) -> None:
        page = await workflow.execute_activity_method(
            BatchActivities.load_children, ChildPageInput(self.batch.batch_id, self.batch.cursor, self.batch.page_size),
            **STORE_CALL)
        self.queue.extend(page.children)
        self.batch.cursor, self.batch.loaded_all = page.next_cursor, not page.next_cursor

    def _start(self, child: dict[str, Any]) -> None:
        b = self.batch
        job = JobInput(
            job_id=child["id"], kind=pb.JobKind.Value(child["kind"]), spec=child["spec"], owner=child["owner"],
            create_time=child["create_time"], labels=child.get("labels", {}), image_policy=b.image_policy,
            video_policy=b.video_policy, priority=child.get("priority", 3), deadline=child.get("deadline", ""),
            review=child.get("review", False),
            review_timeout_s=float(child.get("review_timeout", "86400s").removesuffix("s")), version=JOB_VERSION,
        )
        self.running[job.job_id] = asyncio.create_task(self._child(job))
        self.started_here += 1

    async def _child(self, job: JobInput) -> None:
        outcome = "failed"
        try:
            await workflow.execute_child_workflow(
                GenerationJobWorkflow.run, job, id=job.job_id, task_queue=workflow.info().task_queue,
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE, priority=Priority(priority_key=job.priority))
            outcome = "completed"
        except ChildWorkflowError as err:
            outcome = "cancelled" if is_cancelled_exception(err) else "failed"
        except asyncio.CancelledError:
            outcome = "cancelled"  # the batch stopped it: counted, not re-raised
        except WorkflowAlreadyStartedError:
            workflow.logger.warning("child %s had been started before; not counted", job.job_id)
            outcome = ""
        finally:
            del self.running[job.job_id]
            if outcome:
                self.batch.ended[outcome] = self.batch.ended.get(outcome, 0) + 1
            if outcome == "failed" and self.batch.fail_fast:
                self.batch.stopping = "FAIL_FAST"
            self.changes += 1

    async def _stop_children(self) -> None:
        """Cancels the running children and waits until each has ended (and reported its end)."""
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await workflow.wait(tasks)

    async def _cancel_unstarted(self) -> None:
        while True:
            try:
                await workflow.execute_activity_method(BatchActivities.cancel_children, self.batch.batch_id,
                                                       **STORE_CALL)
                return
            except asyncio.CancelledError:
                continue  # the batch is ending anyway: the children it never started must not stay PENDING

    async def _pause_transitions(self) -> None:
        status, n = self.status, self.batch.attempt
        if status.pause_requested and status.state != pb.JOB_STATE_PAUSED:
            self.batch.pauses += 1
            await self._report(pb.EVENT_TYPE_PAUSED, f"attempt.{n}:paused.{self.batch.pauses}", pb.JOB_STATE_PAUSED,
                               "paused: no new child starts")
        elif not status.pause_requested and status.state == pb.JOB_STATE_PAUSED:
            await self._report(pb.EVENT_TYPE_RESUMED, f"attempt.{n}:resumed.{self.batch.pauses}",
                               pb.JOB_STATE_RUNNING, "resumed")

    async def _end(self, type_: int, name: str, state: int, message: str, error: dict | None = None) -> None:
        self.status.end_time = workflow.now().isoformat()
        self.status.pause_requested = False
        while True:  # the terminal event must be recorded, even if a cancel arrives now
            try:
                await self._report(type_, f"attempt.{self.batch.attempt}:{name}", state, message, error)
                break
            except asyncio.CancelledError:
                continue
        await self._notify(type_, f"attempt.{self.batch.attempt}:{name}", final=True)

    async def _notify(self, event: int, key: str, final: bool = False) -> None:
        """Tells the batch's notify targets (a child workflow of its own: it never delays or fails the batch)."""
        job = self.status.job
        if job.notify and job.notify_policy is not None:
            snapshot = json_format.MessageToDict(status_to_job(self.status), preserving_proto_field_name=True)
            await notify_event(NotifyInput(job_id=job.job_id, owner=job.owner, notify=job.notify, event=event,
                                           time=workflow.now().isoformat().replace("+00:00", "Z"), job=snapshot,
                                           key=key, policy=job.notify_policy), final)

    async def _report(self, type_: int, key: str, state: int, message: str, error: dict | None = None) -> None:
        status = self.status
        status.state, status.message = state, message
        if state == pb.JOB_STATE_RUNNING and not status.start_time:
            status.start_time = workflow.now().isoformat()
        await workflow.execute_local_activity_method(
            JobActivities.report_event,
            EventInput(job_id=self.batch.batch_id, key=key, type=type_, state=state, step=pb.JOB_STEP_UNSPECIFIED,
                       percent=0.0, message=message, attempt=self.batch.attempt, error=error),
            schedule_to_close_timeout=timedelta(hours=1), start_to_close_timeout=timedelta(seconds=10),
            retry_policy=EVENT_RETRY,
        )
