"""The Job proto of a GenerationJob workflow's status: the live view JobService.GetJob answers, and the job
snapshot notifications carry. Pure (no I/O), so workflows may call it too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf import json_format

from genmedia.domain import notify
from genmedia.v1 import common_pb2 as pb
from services.orchestrator.model import JobStatus


def _timestamp(job: pb.Job, name: str, value: str) -> None:
    if value:
        getattr(job, name).FromDatetime(datetime.fromisoformat(value).astimezone(UTC))


def status_to_job(status: JobStatus) -> pb.Job:
    source = status.job
    job = pb.Job(
        id=source.job_id, kind=source.kind, state=status.state, step=status.step, percent=status.percent,
        message=status.message, attempt=status.attempt, owner=source.owner, labels=source.labels,
        request_id=source.request_id, spec=json_format.ParseDict(source.spec, pb.JobSpec()),
        assets=[json_format.ParseDict(a, pb.Asset()) for a in status.assets],
    )
    if status.error:
        job.error.CopyFrom(json_format.ParseDict(status.error, pb.JobError()))
    if status.spec:
        job.spec.CopyFrom(json_format.ParseDict(status.spec, pb.JobSpec()))
    job.priority, job.review, job.review_round = source.priority, source.review, status.review_round
    job.reviews.extend(json_format.ParseDict(r, pb.Review()) for r in status.reviews)
    if source.review:
        job.review_timeout.FromTimedelta(timedelta(seconds=source.review_timeout_s))
    job.create_time.FromJsonString(source.create_time)
    _timestamp(job, "start_time", status.start_time)
    _timestamp(job, "end_time", status.end_time)
    _timestamp(job, "deadline", source.deadline)
    _timestamp(job, "estimated_completion_time", status.eta)
    if source.notify:
        job.notify.CopyFrom(notify.redacted(json_format.ParseDict(source.notify, pb.Notify())))
    return job
