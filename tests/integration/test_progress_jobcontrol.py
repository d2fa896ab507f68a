"""What job control (priority, deadline, review, pause, batches, ETA) needs from the progress store,
over real gRPC on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import progress_service_pb2 as ps
from tests.integration.progress import Stub, created, failure, progress_stub, report

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
async def stub(database) -> AsyncIterator[Stub]:
    async with progress_stub(database) as stub:
        yield stub


def ts(at: dt.datetime):
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


async def get(stub: Stub, job_id: str = "j1") -> pb.Job:
    return await stub.GetJob(js.GetJobRequest(job_id=job_id))


async def test_created_job_keeps_priority_deadline_review_and_batch(stub):
    await stub.ReportProgress(created("j1", priority=1, deadline=ts(T0), review=True,
                                      review_timeout=Duration(seconds=3600), batch_id="b1"))
    await stub.ReportProgress(created("j2"))
    job, plain = await get(stub), await get(stub, "j2")
    listed = {j.id: j for j in (await stub.ListJobs(ps.ListJobsRequest())).jobs}
    assert (job.priority, job.deadline, job.review, job.review_timeout.seconds, job.batch_id) == (
        1, ts(T0), True, 3600, "b1")
    assert listed["j1"] == job
    assert (plain.priority, plain.review, plain.batch_id) == (3, False, "")  # 3 when not given
    assert not plain.HasField("deadline") and not plain.HasField("review_timeout")


async def test_reviews_append_and_rounds_follow_events(stub):
    await stub.ReportProgress(created("j1", review=True))
    await stub.ReportProgress(report("j1", "s", pb.EVENT_TYPE_STARTED))
    await stub.ReportProgress(report("j1", "a1", pb.EVENT_TYPE_AWAITING_REVIEW, review_round=1))
    awaiting = await get(stub)
    corrections = pb.ReviewCorrections(prompt="a blue fox")
    reject = pb.Review(round=1, decision=pb.REVIEW_DECISION_REJECT, reviewer="bo", corrections=corrections)
    new_spec = pb.JobSpec(kind=pb.JOB_KIND_IMAGE, image=pb.ImageSpec(prompt="a blue fox"))
    await stub.ReportProgress(report("j1", "r1", pb.EVENT_TYPE_REVIEWED, review=reject, review_round=1,
                                     state=pb.JOB_STATE_RUNNING, spec=new_spec))
    await stub.ReportProgress(report("j1", "a2", pb.EVENT_TYPE_AWAITING_REVIEW, review_round=2))
    approve = pb.Review(round=2, decision=pb.REVIEW_DECISION_APPROVE, reviewer="bo", time=ts(T0))
    await stub.ReportProgress(report("j1", "r2", pb.EVENT_TYPE_REVIEWED, review=approve, review_round=2))
    job = await get(stub)
    events = (await stub.ListJobEvents(ps.ListJobEventsRequest(job_id="j1"))).events
    assert (awaiting.state, awaiting.review_round, list(awaiting.reviews)) == (pb.JOB_STATE_AWAITING_REVIEW, 1, [])
    assert (list(job.reviews), job.review_round) == ([reject, approve], 2)
    assert job.spec == new_spec, "review corrections replace the spec"
    assert (events[3].review, events[3].spec, events[5].review) == (reject, new_spec, approve)


async def test_eta_follows_events_and_is_cleared_at_the_end(stub):
    await stub.ReportProgress(created("j1"))
    eta = ts(T0 + dt.timedelta(minutes=5))
    await stub.ReportProgress(report("j1", "p", pb.EVENT_TYPE_PROGRESS, percent=10, estimated_completion_time=eta))
    await stub.ReportProgress(report("j1", "q", pb.EVENT_TYPE_PROGRESS, percent=20))
    running = await get(stub)
    await stub.ReportProgress(report("j1", "c", pb.EVENT_TYPE_COMPLETED))
    done = await get(stub)
    assert running.estimated_completion_time == eta and not done.HasField("estimated_completion_time")


@pytest.mark.parametrize("waiting", [pb.EVENT_TYPE_PAUSED, pb.EVENT_TYPE_AWAITING_REVIEW])
async def test_a_paused_or_waiting_job_can_be_cancelled(stub, waiting):
    await stub.ReportProgress(created("j1"))
    await stub.ReportProgress(report("j1", "s", pb.EVENT_TYPE_STARTED))
    await stub.ReportProgress(report("j1", "w", waiting))
    paused = await get(stub)
    await stub.ReportProgress(report("j1", "x", pb.EVENT_TYPE_CANCELLED, message="cancelled by ann"))
    job = await get(stub)
    assert paused.state in (pb.JOB_STATE_PAUSED, pb.JOB_STATE_AWAITING_REVIEW)
    assert (job.state, job.message, job.HasField("end_time")) == (pb.JOB_STATE_CANCELLED, "cancelled by ann", True)


async def test_pause_and_resume_shape_the_state(stub):
    await stub.ReportProgress(created("j1"))
    await stub.ReportProgress(report("j1", "s", pb.EVENT_TYPE_STARTED))
    await stub.ReportProgress(report("j1", "p", pb.EVENT_TYPE_PAUSED))
    paused = await get(stub)
    await stub.ReportProgress(report("j1", "r", pb.EVENT_TYPE_RESUMED))
    assert (paused.state, (await get(stub)).state) == (pb.JOB_STATE_PAUSED, pb.JOB_STATE_RUNNING)


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"priority": 6}, "job.priority"),
        ({"batch_id": "b" * 201}, "job.batch_id"),
        ({"labels": {"k" * 64: "v"}}, f"job.labels[{'k' * 64}]"),
        ({"labels": {"k": "v" * 257}}, "job.labels[k]"),
        ({"deadline": pb.Job(deadline={"seconds": 2**62}).deadline}, "job.deadline"),
        ({"review_timeout": Duration(seconds=-1)}, "job.review_timeout"),
    ],
)
async def test_job_fields_out_of_bounds_are_invalid(stub, fields, bad):
    code, _, violations = await failure(stub.ReportProgress(created("j1", **fields)))
    assert (code, [f for f, _ in violations]) == (grpc.StatusCode.INVALID_ARGUMENT, [bad])


async def test_an_eta_that_is_no_time_is_invalid(stub):
    await stub.ReportProgress(created("j1"))
    request = report("j1", "p", pb.EVENT_TYPE_PROGRESS, estimated_completion_time={"seconds": -2**62})
    code, _, violations = await failure(stub.ReportProgress(request))
    assert (code, [f for f, _ in violations]) == (grpc.StatusCode.INVALID_ARGUMENT, ["event.estimated_completion_time"])
