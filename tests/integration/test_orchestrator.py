"""Jobs end to end inside one process: JobService and the worker against the real Temporal dev server,
with the real progress, image and video servicers on port-0 servers."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import av
import grpc
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from genmedia.domain.errors import details_of
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2, progress_service_pb2
from services.orchestrator.worker.workflows import GenerationJobWorkflow
from tests.integration.jobstack import (
    Stack,
    full_stack,
    start_image_server,
    watch_to_end,
)

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
async def stack(temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    async with full_stack(temporal, tmp_path, monkeypatch) as stack:
        yield stack


async def test_video_job_runs_image_then_video_and_completes_with_an_mp4(stack: Stack) -> None:
    spec = pb.JobSpec(video=pb.VideoSpec(prompt="a lighthouse at dusk", width=128, height=96,
                                         duration_seconds=1, fps=12))
    job = await stack.client.create_job(spec)
    assert job.state == pb.JOB_STATE_PENDING and job.owner == "anonymous" and job.kind == pb.JOB_KIND_VIDEO
    events = await watch_to_end(stack.client, job.id)
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED and events[-1].percent == 100
    steps = [e.step for e in events if e.type == pb.EVENT_TYPE_STEP_STARTED]
    assert steps == [pb.JOB_STEP_IMAGE_GENERATION, pb.JOB_STEP_VIDEO_GENERATION]
    percents = [e.percent for e in events]
    assert percents == sorted(percents)
    assert any(e.type == pb.EVENT_TYPE_PROGRESS for e in events)
    mimes = [a.mime_type for a in events[-1].assets]
    assert mimes == ["image/png", "video/mp4"]
    mp4 = Path(events[-1].assets[1].uri.removeprefix("file://"))
    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert sum(1 for _ in container.decode(stream)) == 12

    live = await stack.client.get_job(job.id)
    assert live.source == job_service_pb2.GetJobResponse.SOURCE_WORKFLOW
    assert live.job.state == pb.JOB_STATE_COMPLETED and len(live.job.assets) == 2
    assert live.job.spec.video.prompt == "a lighthouse at dusk"


async def test_image_job_completes_with_every_image(stack: Stack) -> None:
    job = await stack.client.create_job(pb.JobSpec(image=pb.ImageSpec(prompt="two foxes", width=64, height=64,
                                                                      num_images=2)))
    events = await watch_to_end(stack.client, job.id)
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED
    assert [a.mime_type for a in events[-1].assets] == ["image/png", "image/png"]
    stored = await stack.client.progress.GetJob(job_service_pb2.GetJobRequest(job_id=job.id))
    assert stored.state == pb.JOB_STATE_COMPLETED and stored.percent == 100


async def test_a_repeated_request_id_returns_the_same_job_and_never_reruns_it(stack: Stack, temporal) -> None:
    spec = pb.JobSpec(image=pb.ImageSpec(prompt="once", width=64, height=64))
    request_id = str(uuid.uuid4())
    first = await stack.client.create_job(spec, request_id=request_id)
    events = await watch_to_end(stack.client, first.id)
    again = await stack.client.create_job(spec, request_id=request_id)
    assert again.id == first.id
    stored = await stack.client.progress.GetJob(job_service_pb2.GetJobRequest(job_id=first.id))
    assert stored.state == pb.JOB_STATE_COMPLETED and stored.last_sequence == events[-1].sequence
    runs = [w async for w in temporal.client.list_workflows(f"WorkflowId = '{first.id}'")]
    assert len(runs) == 1


@pytest.mark.parametrize("spec, field", [
    (pb.JobSpec(video=pb.VideoSpec(prompt="")), "spec.video.prompt"),
    (pb.JobSpec(video=pb.VideoSpec(prompt="x", width=0)), "spec.video.width"),
    (pb.JobSpec(video=pb.VideoSpec(prompt="x", width=3000)), "spec.video.width"),
    (pb.JobSpec(video=pb.VideoSpec(prompt="x", duration_seconds=999)), "spec.video.duration_seconds"),
    (pb.JobSpec(video=pb.VideoSpec(prompt="x", fps=0)), "spec.video.fps"),
    (pb.JobSpec(kind=42, video=pb.VideoSpec(prompt="x")), "spec.kind"),
    (None, "spec"),
])
async def test_create_job_refuses_bad_input_naming_the_field(stack: Stack, spec, field) -> None:
    request = job_service_pb2.CreateJobRequest(spec=spec) if spec else job_service_pb2.CreateJobRequest()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stack.client.jobs.CreateJob(request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in [f for f, _ in details_of(info.value)[1]]


async def test_bad_request_id_and_labels_are_refused(stack: Stack) -> None:
    request = job_service_pb2.CreateJobRequest(spec=pb.JobSpec(image=pb.ImageSpec(prompt="x")),
                                               request_id="not-a-uuid", labels={"Bad Key": "v"})
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stack.client.jobs.CreateJob(request)
    fields = [f for f, _ in details_of(info.value)[1]]
    assert fields == ["request_id", "labels[Bad Key]"]


async def test_unknown_job_is_not_found(stack: Stack) -> None:
    for call in (stack.client.get_job(str(uuid.uuid4())),
                 _drain(stack.client.progress.WatchJob(_watch_request(str(uuid.uuid4()))))):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stack.client.get_job("")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _watch_request(job_id: str) -> progress_service_pb2.WatchJobRequest:
    return progress_service_pb2.WatchJobRequest(job_id=job_id)


async def _drain(call) -> None:
    async for _ in call:
        pass


async def test_job_keeps_retrying_while_the_image_service_is_down_then_completes(stack: Stack) -> None:
    port = stack.servers["image"].port
    await stack.servers["image"].stop(0)
    job = await stack.client.create_job(pb.JobSpec(image=pb.ImageSpec(prompt="patience", width=64, height=64)))
    seen: list[pb.JobEvent] = []
    revived = None
    async for message in stack.client.watch(job.id):
        if message.WhichOneof("payload") != "event":
            continue
        seen.append(message.event)
        retries = [e for e in seen if e.type == pb.EVENT_TYPE_RETRYING]
        if len(retries) >= 2 and revived is None:
            live = await stack.client.get_job(job.id)
            assert live.job.state in (pb.JOB_STATE_RETRYING, pb.JOB_STATE_RUNNING)
            revived = await start_image_server(f"127.0.0.1:{port}")
    try:
        retries = [e for e in seen if e.type == pb.EVENT_TYPE_RETRYING]
        assert retries[0].error.code == "UNAVAILABLE" and retries[0].error.retryable
        assert [e.attempt for e in retries[:2]] == [1, 2]
        assert seen[-1].type == pb.EVENT_TYPE_COMPLETED
    finally:
        if revived is not None:
            stack.servers["image"] = revived


async def test_a_permanent_service_error_fails_the_job_at_once(stack: Stack, temporal) -> None:
    """A spec the image service refuses (here: one that skipped the API's validation) is not retried."""
    job = await stack.client.create_job(pb.JobSpec(image=pb.ImageSpec(prompt="ok", width=64, height=64)))
    await watch_to_end(stack.client, job.id)
    handle = temporal.client.get_workflow_handle(job.id)
    status = await handle.query(GenerationJobWorkflow.get_status)
    bad_input = replace(status.job, job_id=f"bad-{uuid.uuid4().hex[:8]}",
                        spec={"kind": "JOB_KIND_IMAGE", "image": {"prompt": "", "width": 64, "height": 64}})
    await stack.client.progress.ReportProgress(_created(bad_input.job_id))
    with pytest.raises(WorkflowFailureError):
        await temporal.client.execute_workflow(GenerationJobWorkflow.run, bad_input, id=bad_input.job_id,
                                               task_queue=stack.settings.task_queue)
    events = await watch_to_end(stack.client, bad_input.job_id)
    assert events[-1].type == pb.EVENT_TYPE_FAILED
    assert events[-1].error.code == "INVALID_ARGUMENT" and not events[-1].error.retryable
    assert not [e for e in events if e.type == pb.EVENT_TYPE_RETRYING]


def _created(job_id: str) -> progress_service_pb2.ReportProgressRequest:
    job = pb.Job(id=job_id, kind=pb.JOB_KIND_IMAGE, owner="anonymous", state=pb.JOB_STATE_PENDING)
    event = pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_CREATED, state=pb.JOB_STATE_PENDING)
    return progress_service_pb2.ReportProgressRequest(event=event, idempotency_key="created", job=job)




NASTY_TEXT = ["\x00", "é🦊" * 500, "x" * 100_000, "../../etc/passwd", "\n\t"]


def nasty_requests() -> list[tuple[str, object]]:
    """Requests a careless or hostile client might send to the public RPCs."""
    out: list[tuple[str, object]] = []
    for text in NASTY_TEXT:
        out += [
            ("CreateJob", job_service_pb2.CreateJobRequest(spec=pb.JobSpec(image=pb.ImageSpec(prompt=text, width=64,
                                                                                              height=64)))),
            ("CreateJob", job_service_pb2.CreateJobRequest(spec=pb.JobSpec(video=pb.VideoSpec(prompt="x", style=text)),
                                                           labels={"k": text})),
            ("CreateJob", job_service_pb2.CreateJobRequest(spec=pb.JobSpec(image=pb.ImageSpec(prompt="x")),
                                                           request_id=text)),
            ("GetJob", job_service_pb2.GetJobRequest(job_id=text)),
            ("ProgressGetJob", job_service_pb2.GetJobRequest(job_id=text)),
            ("WatchJob", progress_service_pb2.WatchJobRequest(job_id=text, after_sequence=2**62)),
            ("ListJobs", progress_service_pb2.ListJobsRequest(page_token=text, page_size=-(2**31))),
            ("CancelJob", job_service_pb2.CancelJobRequest(job_id=text, reason=text)),
            ("PauseJob", job_service_pb2.PauseJobRequest(job_id=text)),
            ("ResumeJob", job_service_pb2.ResumeJobRequest(job_id=text)),
            ("ReviewJob", job_service_pb2.ReviewJobRequest(job_id=text, decision=pb.REVIEW_DECISION_REJECT,
                                                           feedback=text, corrections=pb.ReviewCorrections(
                                                               prompt=text, style=text, width=-1))),
        ]
    big = pb.VideoSpec(prompt="x", width=2**31 - 1, height=-(2**31), fps=2**31 - 1, seed=-(2**63),
                       duration_seconds=float("inf"), motion=2**31 - 1)
    out += [("CreateJob", job_service_pb2.CreateJobRequest(spec=pb.JobSpec(kind=-5, video=big))),
            ("CreateJob", job_service_pb2.CreateJobRequest(spec=pb.JobSpec(video=big))),
            ("ListJobs", progress_service_pb2.ListJobsRequest(page_size=2**31 - 1)),
            ("ReviewJob", job_service_pb2.ReviewJobRequest(job_id="x", decision=2**31 - 1, round=-(2**31)))]
    odd = job_service_pb2.CreateJobRequest(spec=pb.JobSpec(image=pb.ImageSpec(prompt="x")), priority=-(2**31),
                                           review=True)
    odd.deadline.seconds, odd.deadline.nanos = 2**62, -5
    odd.review_timeout.seconds, odd.review_timeout.nanos = -(2**62), 2**31 - 1
    far = job_service_pb2.CreateJobRequest(spec=pb.JobSpec(image=pb.ImageSpec(prompt="x")))
    far.deadline.seconds = 2**62
    out += [("CreateJob", odd), ("CreateJob", far)]
    return out


async def test_nothing_a_client_sends_is_unknown_or_internal(stack: Stack) -> None:
    calls = {
        "CreateJob": stack.client.jobs.CreateJob, "GetJob": stack.client.jobs.GetJob,
        "ProgressGetJob": stack.client.progress.GetJob, "ListJobs": stack.client.progress.ListJobs,
        "WatchJob": lambda r, timeout: _drain(stack.client.progress.WatchJob(r, timeout=timeout)),
        "CancelJob": stack.client.jobs.CancelJob, "PauseJob": stack.client.jobs.PauseJob,
        "ResumeJob": stack.client.jobs.ResumeJob, "ReviewJob": stack.client.jobs.ReviewJob,
    }
    codes = []
    for name, request in nasty_requests():
        try:
            await calls[name](request, timeout=20)
            codes.append((name, grpc.StatusCode.OK, ""))
        except grpc.aio.AioRpcError as err:
            codes.append((name, err.code(), err.details()[:150]))
            assert err.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), (name, err.details())
    assert {code for _, code, _ in codes} <= {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT,
                                         grpc.StatusCode.NOT_FOUND}, codes
    # ...and every server still serves.
    job = await stack.client.create_job(pb.JobSpec(image=pb.ImageSpec(prompt="still here", width=64, height=64)))
    assert (await watch_to_end(stack.client, job.id))[-1].type == pb.EVENT_TYPE_COMPLETED


async def test_every_bad_field_of_a_create_is_reported_at_once(stack: Stack) -> None:
    request = job_service_pb2.CreateJobRequest(spec=pb.JobSpec(video=pb.VideoSpec(prompt="", width=3, fps=0)),
                                               request_id="not-a-uuid", priority=9, labels={"Bad Key": "v"})
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stack.client.jobs.CreateJob(request)
    fields = [field for field, _ in details_of(info.value)[1]]
    assert fields == ["spec.video.prompt", "spec.video.width", "spec.video.width", "spec.video.fps", "request_id",
                      "priority", "labels[Bad Key]"], fields
