"""The job workflow's reports: several events recorded in order by one local activity, with the steps'
duration estimate when the workflow asks for it. Each local activity costs the workflow a round of its
own (an activation, a marker in the history), so a job sends a few of these instead of one per event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf import json_format
from temporalio import activity

from genmedia.v1 import common_pb2 as pb
from services.orchestrator.model import EventInput, EventsInput
from services.orchestrator.progress import created_request
from services.orchestrator.worker.activities import JobActivities, classify, event_request

STEPS = (pb.JOB_STEP_IMAGE_GENERATION, pb.JOB_STEP_VIDEO_GENERATION)


class JobReports:
    def __init__(self, acts: JobActivities) -> None:
        self.acts = acts

    @activity.defn(name="report_events")
    async def report_events(self, batch: EventsInput) -> list[float]:
        """Records the events in order (the store dedupes by key, so a retry is harmless); returns the
        estimates asked for (else [])."""
        estimates: list[float] = []
        if batch.specs is not None:
            durations = self.acts.durations
            estimates = [durations.estimate(step, spec) if spec else 0.0
                         for step, spec in zip(STEPS, batch.specs, strict=True)]
            left = sum(estimates[i] for i in batch.eta_steps)
            batch.events[-1].eta = (datetime.now(UTC) + timedelta(seconds=left)).isoformat()
        try:
            answers = await self._send(batch.events)
            if batch.record and _not_found(answers[0]):
                await self._record_created(batch.record)  # the API's record is late, or was lost
                answers = await self._send(batch.events)
            for answer in answers:
                if isinstance(answer, BaseException):
                    raise answer
        except grpc.aio.AioRpcError as err:
            raise classify(err) from None
        return estimates

    async def _send(self, events: list[EventInput]) -> list:
        """Each event's answer or error, in order."""
        return await self.acts.progress.report_together([event_request(event) for event in events])

    async def _record_created(self, record: dict) -> None:
        """The job's CREATED record, as the API sends it: whichever of the two comes second is a duplicate."""
        await self.acts.progress.report(created_request(json_format.ParseDict(record, pb.Job())))


def _not_found(answer: object) -> bool:
    return isinstance(answer, grpc.aio.AioRpcError) and answer.code() == grpc.StatusCode.NOT_FOUND
