"""ProgressService ReportProgress, GetJob and ListJobs over real gRPC, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import grpc
import pytest

from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import progress_service_pb2 as ps
from tests.integration.progress import Stub, created, failure, progress_stub, report

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
async def stub(database) -> AsyncIterator[Stub]:
    async with progress_stub(database) as stub:
        yield stub


async def test_created_job_is_pending_with_what_was_sent(stub):
    response = await stub.ReportProgress(created("j1", at=T0))
    job = await stub.GetJob(js.GetJobRequest(job_id="j1"))
    assert (response.sequence, response.duplicate) == (1, False)
    assert (job.state, job.kind, job.last_sequence, job.owner) == (pb.JOB_STATE_PENDING, pb.JOB_KIND_IMAGE, 1, "ann")
    assert job.spec.image.prompt == "a red fox" and dict(job.labels) == {"team": "a"}
    assert job.create_time.ToDatetime(tzinfo=dt.UTC) == T0 and job.request_id == "req-j1"


async def test_fifty_concurrent_reports_get_sequences_one_to_n_without_gaps(stub):
    await stub.ReportProgress(created("j1"))
    requests = [report("j1", f"p{i}", pb.EVENT_TYPE_PROGRESS, percent=i) for i in range(50)]
    responses = await asyncio.gather(*(stub.ReportProgress(r) for r in requests))
    assert sorted(r.sequence for r in responses) == list(range(2, 52))
    job = await stub.GetJob(js.GetJobRequest(job_id="j1"))
    assert job.last_sequence == 51 and job.percent == 49


async def test_concurrent_repeats_of_one_key_record_it_once(stub):
    creations = await asyncio.gather(*(stub.ReportProgress(created("j1")) for _ in range(10)))
    same = report("j1", "started", pb.EVENT_TYPE_STARTED)
    starts = await asyncio.gather(*(stub.ReportProgress(same) for _ in range(10)))
    assert {r.sequence for r in creations} == {1} and {r.sequence for r in starts} == {2}
    for responses in (creations, starts):
        assert sorted(r.duplicate for r in responses) == [False] + [True] * 9


async def test_repeated_key_returns_the_original_sequence(stub):
    await stub.ReportProgress(created("j1"))
    first = await stub.ReportProgress(report("j1", "k1", pb.EVENT_TYPE_STARTED))
    await stub.ReportProgress(report("j1", "k2", pb.EVENT_TYPE_PROGRESS, percent=10))
    again = await stub.ReportProgress(report("j1", "k1", pb.EVENT_TYPE_STARTED))
    created_again = await stub.ReportProgress(created("j1"))
    assert (first.sequence, again.sequence, again.duplicate) == (2, 2, True)
    assert (created_again.sequence, created_again.duplicate) == (1, True)
    assert (await stub.GetJob(js.GetJobRequest(job_id="j1"))).last_sequence == 3


async def test_percent_never_goes_backwards(stub):
    await stub.ReportProgress(created("j1"))
    await stub.ReportProgress(report("j1", "a", pb.EVENT_TYPE_PROGRESS, percent=40))
    await stub.ReportProgress(report("j1", "b", pb.EVENT_TYPE_PROGRESS, percent=30, message="late"))
    job = await stub.GetJob(js.GetJobRequest(job_id="j1"))
    assert (job.percent, job.message) == (40, "late")


async def test_events_shape_the_job(stub):
    await stub.ReportProgress(created("j1"))
    await stub.ReportProgress(report("j1", "s", pb.EVENT_TYPE_STARTED))
    step = pb.JOB_STEP_IMAGE_GENERATION
    await stub.ReportProgress(report("j1", "st", pb.EVENT_TYPE_STEP_STARTED, step=step, attempt=1))
    error = pb.JobError(code="UNAVAILABLE", message="backend down", retryable=True)
    await stub.ReportProgress(report("j1", "r", pb.EVENT_TYPE_RETRYING, error=error, attempt=2))
    retrying = await stub.GetJob(js.GetJobRequest(job_id="j1"))
    asset = pb.Asset(uri="file:///a.png", mime_type="image/png", size_bytes=10)
    await stub.ReportProgress(report("j1", "c", pb.EVENT_TYPE_COMPLETED, percent=100, assets=[asset]))
    job = await stub.GetJob(js.GetJobRequest(job_id="j1"))
    assert (retrying.state, retrying.step, retrying.attempt) == (pb.JOB_STATE_RETRYING, step, 2)
    assert retrying.error == error and retrying.HasField("start_time") and not retrying.HasField("end_time")
    assert (job.state, job.percent, list(job.assets), job.last_sequence) == (pb.JOB_STATE_COMPLETED, 100, [asset], 5)
    assert job.end_time.ToDatetime() >= job.start_time.ToDatetime() and job.update_time == job.end_time
    assert not job.HasField("error"), "an error the job recovered from is not shown on the completed job"


async def test_terminal_job_refuses_new_events_but_accepts_repeats(stub):
    await stub.ReportProgress(created("j1"))
    await stub.ReportProgress(report("j1", "done", pb.EVENT_TYPE_FAILED, error=pb.JobError(code="X")))
    code, reason, _ = await failure(stub.ReportProgress(report("j1", "late", pb.EVENT_TYPE_PROGRESS, percent=5)))
    repeat = await stub.ReportProgress(report("j1", "done", pb.EVENT_TYPE_FAILED))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "JOB_TERMINAL")
    assert (repeat.sequence, repeat.duplicate) == (2, True)


async def test_created_again_with_a_new_key_is_a_failed_precondition(stub):
    await stub.ReportProgress(created("j1"))
    code, reason, _ = await failure(stub.ReportProgress(created("j1", key="other")))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "JOB_ALREADY_EXISTS")


async def test_unknown_jobs_are_not_found(stub):
    reported = await failure(stub.ReportProgress(report("nope", "k", pb.EVENT_TYPE_STARTED)))
    read = await failure(stub.GetJob(js.GetJobRequest(job_id="nope")))
    assert reported[:2] == read[:2] == (grpc.StatusCode.NOT_FOUND, "JOB_NOT_FOUND")


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (ps.ReportProgressRequest(), {"event.job_id", "idempotency_key", "event.type"}),
        (report("j", "k", 99, percent=101), {"event.type", "event.percent"}),
        (report("j", "k" * 201, pb.EVENT_TYPE_PROGRESS, percent=-1), {"idempotency_key", "event.percent"}),
        (report("j", "k", pb.EVENT_TYPE_PROGRESS, state=pb.JOB_STATE_COMPLETED), {"event.state"}),
        (report("j", "k", pb.EVENT_TYPE_CREATED), {"job"}),
        (ps.ReportProgressRequest(event=created("j").event, idempotency_key="k", job=pb.Job(id="x")),
         {"job.id", "job.kind"}),
        (report("j", "k", pb.EVENT_TYPE_PROGRESS, message="a\x00b"), {"event.message"}),
        (report("j", "k", pb.EVENT_TYPE_PROGRESS, message="m" * 4001), {"event.message"}),
        (ps.ReportProgressRequest(event=created("j").event, idempotency_key="k",
                                  job=pb.Job(id="j", kind=pb.JOB_KIND_IMAGE, labels={"a": "\x00"})),
         {"job.labels[a]"}),
    ],
)
async def test_invalid_reports_name_every_bad_field(stub, request_, fields):
    code, reason, violations = await failure(stub.ReportProgress(request_))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert {field for field, _ in violations} == fields


async def test_get_job_without_id_is_invalid(stub):
    code, _, violations = await failure(stub.GetJob(js.GetJobRequest()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and [f for f, _ in violations] == ["job_id"]


async def test_list_jobs_pages_newest_first_to_the_end(stub):
    # Two jobs share a create_time: the id breaks the tie, so no page repeats or skips one.
    times = [T0 + dt.timedelta(seconds=s) for s in (0, 1, 1, 2, 3, 4, 5)]
    for i, at in enumerate(times):
        await stub.ReportProgress(created(f"j{i}", at=at))
    seen, token, pages = [], "", 0
    while True:
        page = await stub.ListJobs(ps.ListJobsRequest(page_size=3, page_token=token))
        seen += [job.id for job in page.jobs]
        pages, token = pages + 1, page.next_page_token
        assert page.total_size == 7
        if not token:
            break
    assert (seen, pages) == (["j6", "j5", "j4", "j3", "j2", "j1", "j0"], 3)


async def test_list_jobs_page_size_defaults_to_50_and_is_clamped_to_100(stub):
    await asyncio.gather(*(stub.ReportProgress(created(f"j{i:03}")) for i in range(105)))
    default = await stub.ListJobs(ps.ListJobsRequest())
    clamped = await stub.ListJobs(ps.ListJobsRequest(page_size=1000))
    rest = await stub.ListJobs(ps.ListJobsRequest(page_size=1000, page_token=clamped.next_page_token))
    assert (len(default.jobs), len(clamped.jobs), len(rest.jobs), rest.next_page_token) == (50, 100, 5, "")
    assert len({job.id for job in [*clamped.jobs, *rest.jobs]}) == 105 == clamped.total_size


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (ps.ListJobsRequest(page_size=-1), "page_size"),
        (ps.ListJobsRequest(page_token="not a token"), "page_token"),
        (ps.ListJobsRequest(page_token="WyJ4IiwgMV0"), "page_token"),  # valid base64 of ["x", 1]
    ],
)
async def test_list_jobs_rejects_bad_arguments(stub, request_, field):
    code, _, violations = await failure(stub.ListJobs(request_))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and [f for f, _ in violations] == [field]
