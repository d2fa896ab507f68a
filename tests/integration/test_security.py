"""Security of the running services: credentials on every RPC, per-user isolation, rate limits, the
content policy, TLS and mTLS, and secrets kept out of logs."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import uuid
from dataclasses import replace
from pathlib import Path

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from temporalio.testing import WorkflowEnvironment

from genmedia.channels import aio_channel
from genmedia.client import GenmediaClient
from genmedia.domain.errors import details_of
from genmedia.domain.policy import ContentPolicy
from genmedia.serving.auth import Authenticator, JwtSettings, Principal
from genmedia.serving.ratelimit import RateLimit, RateLimiter, RoleLimits
from genmedia.serving.reporting import BatchingProgressStub
from genmedia.serving.server import create_server
from genmedia.tls import ClientTls, ServerTls
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import (
    image_service_pb2,
    image_service_pb2_grpc,
    job_service_pb2,
    job_service_pb2_grpc,
    progress_service_pb2,
    progress_service_pb2_grpc,
    video_service_pb2,
    video_service_pb2_grpc,
)
from services.progress import config as progress_config
from services.progress import server as progress_server
from services.progress.bus import Bus
from services.progress.store import Store
from tests.conftest import venv_bin
from tests.integration.certs import certificates
from tests.integration.jobstack import EventLog, Stack, add_api, add_workers, configure_env, job_services

pytestmark = pytest.mark.timeout(240)

INTERNAL = "internal-7f3b9c"
KEYS = {"alice-key-1": Principal("alice", "user"), "bob-key-1": Principal("bob", "user"),
        "root-key-1": Principal("root", "admin")}
ALICE, BOB, ROOT = "alice-key-1", "bob-key-1", "root-key-1"
HS_SECRET, AUDIENCE, ISSUER = "hs256-secret-for-tests-0123456789", "genmedia", "https://auth.example"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PUBLIC = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
IMAGE = pb.JobSpec(image=pb.ImageSpec(prompt="a quiet harbour", width=64, height=64))


def token(sub: str = "carol", role: str = "user", *, secret: str = HS_SECRET, algorithm: str = "HS256",
          aud: str = AUDIENCE, iss: str = ISSUER, exp: float = 300, nbf: float = -10) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": sub, "role": role, "aud": aud, "iss": iss, "exp": now + dt.timedelta(seconds=exp),
              "nbf": now + dt.timedelta(seconds=nbf), "iat": now}
    key = RSA_KEY if algorithm == "RS256" else secret
    return jwt.encode(claims, key, algorithm=algorithm)


def guard(limits: dict[str, RoleLimits] | None = None) -> Authenticator:
    keys = {hashlib.sha256(k.encode()).hexdigest(): p for k, p in KEYS.items()}
    keys[hashlib.sha256(INTERNAL.encode()).hexdigest()] = Principal("genmedia-internal", "internal")
    jwt_settings = JwtSettings(AUDIENCE, ISSUER, HS_SECRET, RSA_PUBLIC)
    generous = {"user": RoleLimits(RateLimit(1000, 1000), RateLimit(1000, 1000)), "admin": RoleLimits()}
    return Authenticator(True, keys, jwt_settings, RateLimiter(limits or generous))


@pytest.fixture
async def secure(temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    configure_env(monkeypatch, tmp_path)
    checker = guard()
    async with job_services(tmp_path, guard=checker) as stack:
        stack.settings = replace(stack.settings, internal_token=INTERNAL)
        await add_api(stack, temporal, guard=checker, token=ALICE)
        await add_workers(stack, temporal)
        yield stack


def _stubs(stack: Stack, channel_for) -> dict[str, tuple]:
    """Every RPC of every service with a request for it: name -> (callable, request, streaming)."""
    api, progress = channel_for(stack.servers["api"].port), channel_for(stack.servers["progress"].port)
    image, video = channel_for(stack.servers["image"].port), channel_for(stack.servers["video"].port)
    jobs = job_service_pb2_grpc.JobServiceStub(api)
    prog = progress_service_pb2_grpc.ProgressServiceStub(progress)
    job_id = str(uuid.uuid4())
    return {
        "JobService/CreateJob": (jobs.CreateJob, job_service_pb2.CreateJobRequest(spec=IMAGE), False),
        "JobService/GetJob": (jobs.GetJob, job_service_pb2.GetJobRequest(job_id=job_id), False),
        "JobService/CancelJob": (jobs.CancelJob, job_service_pb2.CancelJobRequest(job_id=job_id), False),
        "JobService/PauseJob": (jobs.PauseJob, job_service_pb2.PauseJobRequest(job_id=job_id), False),
        "JobService/ResumeJob": (jobs.ResumeJob, job_service_pb2.ResumeJobRequest(job_id=job_id), False),
        "JobService/ReviewJob": (jobs.ReviewJob, job_service_pb2.ReviewJobRequest(
            job_id=job_id, decision=pb.REVIEW_DECISION_APPROVE), False),
        "JobService/CreateBatch": (jobs.CreateBatch, job_service_pb2.CreateBatchRequest(
            jobs=[job_service_pb2.CreateJobRequest(spec=IMAGE)]), False),
        "JobService/RetryBatch": (jobs.RetryBatch, job_service_pb2.RetryBatchRequest(batch_id=job_id), False),
        "ProgressService/GetJob": (prog.GetJob, job_service_pb2.GetJobRequest(job_id=job_id), False),
        "ProgressService/ListJobs": (prog.ListJobs, progress_service_pb2.ListJobsRequest(), False),
        "ProgressService/WatchJob": (prog.WatchJob, progress_service_pb2.WatchJobRequest(job_id=job_id), True),
        "ProgressService/ReportProgress": (prog.ReportProgress, progress_service_pb2.ReportProgressRequest(
            event=pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_PROGRESS), idempotency_key="k"), False),
        "ProgressService/ReportProgressBatch": (
            prog.ReportProgressBatch,
            progress_service_pb2.ReportProgressBatchRequest(reports=[progress_service_pb2.ReportProgressRequest(event=pb.JobEvent(
                job_id=job_id, type=pb.EVENT_TYPE_PROGRESS), idempotency_key="k")]), False),
        "ProgressService/ReportProgressStream": (  # a stream of requests: given as a list
            prog.ReportProgressStream,
            [progress_service_pb2.ReportProgressBatchRequest(reports=[progress_service_pb2.ReportProgressRequest(
                event=pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_PROGRESS), idempotency_key="k")])], True),
        "ProgressService/ListJobEvents": (prog.ListJobEvents,
                                          progress_service_pb2.ListJobEventsRequest(job_id=job_id), False),
        "ProgressService/WatchJobs": (prog.WatchJobs, progress_service_pb2.WatchJobsRequest(), True),
        "ProgressService/GetStats": (prog.GetStats, progress_service_pb2.GetStatsRequest(), False),
        "ProgressService/PurgeJobs": (prog.PurgeJobs, progress_service_pb2.PurgeJobsRequest(limit=1), False),
        "JobService/RedeliverNotification": (jobs.RedeliverNotification,
                                             job_service_pb2.RedeliverNotificationRequest(delivery_id="msg_x"), False),
        "JobService/GetWebhookSecret": (jobs.GetWebhookSecret, job_service_pb2.GetWebhookSecretRequest(), False),
        "JobService/DownloadAsset": (jobs.DownloadAsset, job_service_pb2.DownloadAssetRequest(job_id=job_id), True),
        "JobService/CreateAssetLink": (jobs.CreateAssetLink, job_service_pb2.CreateAssetLinkRequest(job_id=job_id),
                                       False),
        "ProgressService/RecordDelivery": (prog.RecordDelivery, progress_service_pb2.RecordDeliveryRequest(
            delivery=pb.Delivery(id="msg_x", state=pb.DELIVERY_STATE_FAILED)), False),
        "ProgressService/ListDeliveries": (prog.ListDeliveries,
                                           progress_service_pb2.ListDeliveriesRequest(job_id=job_id), False),
        "ProgressService/GetDelivery": (prog.GetDelivery, progress_service_pb2.GetDeliveryRequest(delivery_id="msg_x"),
                                        False),
        "ImageService/GenerateImages": (image_service_pb2_grpc.ImageServiceStub(image).GenerateImages,
                                        image_service_pb2.GenerateImagesRequest(job_id="x", spec=IMAGE.image), True),
        "VideoService/RenderVideo": (video_service_pb2_grpc.VideoServiceStub(video).RenderVideo,
                                     video_service_pb2.RenderVideoRequest(job_id="x"), True),
        "ImageService/DescribeBackends": (image_service_pb2_grpc.ImageServiceStub(image).DescribeBackends,
                                          image_service_pb2.DescribeBackendsRequest(), False),
        "VideoService/DescribeBackends": (video_service_pb2_grpc.VideoServiceStub(video).DescribeBackends,
                                          image_service_pb2.DescribeBackendsRequest(), False),
    }


INTERNAL_RPCS = {"ProgressService/ReportProgress", "ProgressService/ReportProgressBatch",
                 "ProgressService/ReportProgressStream", "ProgressService/PurgeJobs",
                 "ProgressService/RecordDelivery",
                 "ImageService/GenerateImages", "VideoService/RenderVideo", "ImageService/DescribeBackends",
                 "VideoService/DescribeBackends"}


async def _code(call, request, streaming: bool, metadata) -> grpc.StatusCode:
    try:
        if streaming:
            stream = call(iter(request) if isinstance(request, list) else request, metadata=metadata, timeout=10)
            await stream.read()  # the first message (an accepted stream) or the refusal
            stream.cancel()
        else:
            await call(request, metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def bad_credentials() -> dict[str, str | None]:
    """Made when the test runs: the time-bound tokens are relative to now."""
    return {
        "none": None,
        "not bearer": "Basic YWxpY2U6c2VjcmV0",
        "unknown key": "Bearer not-a-key",
        "malformed token": "Bearer eyJhbGciOi.broken.token",
        "expired token": "Bearer " + token(exp=-60),
        "not yet valid token": "Bearer " + token(nbf=120),
        "wrong audience": "Bearer " + token(aud="someone-else"),
        "wrong issuer": "Bearer " + token(iss="https://evil.example"),
        "wrong key": "Bearer " + token(secret="another-secret-another-secret-0123"),
        "alg none": "Bearer " + jwt.encode({"sub": "x", "aud": AUDIENCE, "iss": ISSUER, "exp": 4102444800},
                                           None, algorithm="none"),
    }


async def test_every_rpc_refuses_missing_and_invalid_credentials(secure: Stack) -> None:
    channels: list[grpc.aio.Channel] = []

    def channel_for(port: int) -> grpc.aio.Channel:
        channels.append(grpc.aio.insecure_channel(f"127.0.0.1:{port}"))
        return channels[-1]

    try:
        rpcs = _stubs(secure, channel_for)
        every = {f"{service.name}/{method.name}"
                 for module in (job_service_pb2, progress_service_pb2, image_service_pb2, video_service_pb2)
                 for service in module.DESCRIPTOR.services_by_name.values() for method in service.methods}
        assert set(rpcs) == every, "the table must cover every RPC"
        results = {}
        for rpc, (call, request, streaming) in rpcs.items():
            for name, header in bad_credentials().items():
                metadata = (("authorization", header),) if header else ()
                results[(rpc, name)] = await _code(call, request, streaming, metadata)
            for who in (ALICE, ROOT, token("carol", "admin")):
                code = await _code(call, request, streaming, (("authorization", f"Bearer {who}"),))
                results[(rpc, f"user {who[:8]}")] = code
        unauthenticated = {k: c for k, c in results.items() if not k[1].startswith("user ")}
        assert set(unauthenticated.values()) == {grpc.StatusCode.UNAUTHENTICATED}, unauthenticated
        for rpc in rpcs:
            user_codes = {c for (r, n), c in results.items() if r == rpc and n.startswith("user ")}
            if rpc in INTERNAL_RPCS:
                assert user_codes == {grpc.StatusCode.PERMISSION_DENIED}, (rpc, user_codes)
            else:
                assert grpc.StatusCode.UNAUTHENTICATED not in user_codes and \
                    grpc.StatusCode.PERMISSION_DENIED not in user_codes, (rpc, user_codes)
        # Health and reflection stay open.
        health = health_pb2_grpc.HealthStub(channel_for(secure.servers["api"].port))
        reply = await health.Check(health_pb2.HealthCheckRequest(service="genmedia.v1.JobService"), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        for channel in channels:
            await channel.close()


async def test_the_workers_report_stream_carries_their_credential_and_a_users_is_refused(secure: Stack) -> None:
    """The batching stub's ReportProgressStream through an authenticated channel, as a worker makes it."""
    job_id = str(uuid.uuid4())
    created = progress_service_pb2.ReportProgressRequest(
        event=pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_CREATED), idempotency_key="c",
        job=pb.Job(id=job_id, kind=pb.JOB_KIND_IMAGE, owner="alice", spec=IMAGE))
    for who, expected in ((ALICE, grpc.StatusCode.PERMISSION_DENIED), (INTERNAL, None)):
        channel = aio_channel(secure.settings.progress_addr, token=who)
        reporting = BatchingProgressStub(progress_service_pb2_grpc.ProgressServiceStub(channel), 10, stream=True)
        try:
            if expected is None:
                assert (await reporting.ReportProgress(created)).sequence == 1
            else:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await reporting.ReportProgress(created)
                assert refused.value.code() == expected and details_of(refused.value)[0] == "INTERNAL_ONLY"
        finally:
            await reporting.close()
            await channel.close()


async def test_refusals_say_what_to_fix_and_never_log_the_secret(secure: Stack, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    expired = token(exp=-60)
    async with GenmediaClient(f"127.0.0.1:{secure.servers['api'].port}", secure.settings.progress_addr,
                              token=expired) as client:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.create_job(IMAGE)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert details_of(info.value)[0] == "TOKEN_EXPIRED" and "expired" in info.value.details()
    async with GenmediaClient(f"127.0.0.1:{secure.servers['api'].port}", secure.settings.progress_addr,
                              token="") as client:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.get_job(str(uuid.uuid4()))
    assert details_of(info.value)[0] == "CREDENTIALS_MISSING" and "authorization" in info.value.details()
    assert expired not in caplog.text and INTERNAL not in caplog.text and ALICE not in caplog.text


async def test_a_second_user_cannot_see_touch_or_detect_the_first_users_job(secure: Stack) -> None:
    alice = secure.client
    job = await alice.create_job(IMAGE, review=True)
    assert job.owner == "alice"
    log = EventLog(alice, job.id)
    await log.wait_for(lambda e: e.type == pb.EVENT_TYPE_AWAITING_REVIEW)
    api = f"127.0.0.1:{secure.servers['api'].port}"
    async with GenmediaClient(api, secure.settings.progress_addr, token=BOB) as bob:
        unknown = str(uuid.uuid4())
        for action in ("get_job", "cancel_job", "pause_job", "resume_job"):
            theirs = await _error(getattr(bob, action)(job.id))
            nothing = await _error(getattr(bob, action)(unknown))
            assert theirs.code() == nothing.code() == grpc.StatusCode.NOT_FOUND, action
            assert theirs.details().replace(job.id, "ID") == nothing.details().replace(unknown, "ID"), action
            assert details_of(theirs) == details_of(nothing)
        theirs = await _error(bob.review_job(job.id, approve=True))
        assert theirs.code() == grpc.StatusCode.NOT_FOUND
        mine = await bob.create_job(IMAGE, request_id=str(uuid.UUID(int=7)))
        assert mine.owner == "bob"
    cli = await asyncio.create_subprocess_exec(
        str(venv_bin("genmedia")), "--server", api, "--progress-server", secure.settings.progress_addr,
        "--token", BOB, "get", job.id, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await cli.communicate()
    assert cli.returncode == 3 and b"NOT_FOUND" in err, (out, err)
    async with GenmediaClient(api, secure.settings.progress_addr, token=ROOT) as admin:
        assert (await admin.get_job(job.id)).job.owner == "alice"  # the admin role sees every job
    # The same request_id from another user makes another job.
    alices = await alice.create_job(IMAGE, request_id=str(uuid.UUID(int=7)))
    assert alices.id != mine.id and alices.owner == "alice"
    reviewed = await alice.review_job(job.id, approve=True)
    assert reviewed.reviews[0].reviewer == "alice"
    assert (await log.end())[-1].type == pb.EVENT_TYPE_COMPLETED


async def test_progress_reads_show_a_user_only_their_own_jobs(secure: Stack) -> None:
    alice = secure.client
    job = await alice.create_job(IMAGE, labels={"team": "a"})
    await EventLog(alice, job.id).end()
    api, progress = f"127.0.0.1:{secure.servers['api'].port}", secure.settings.progress_addr
    async with GenmediaClient(api, progress, token=BOB) as bob, \
            GenmediaClient(api, progress, token=ROOT) as admin:
        feed = bob.progress.WatchJobs(progress_service_pb2.WatchJobsRequest(), timeout=30)
        first = await feed.read()  # the stream is open (a heartbeat or bob's own event)
        bobs = await bob.create_job(IMAGE, labels={"team": "a"})
        await alice.create_job(IMAGE, labels={"team": "a"})
        unknown = str(uuid.uuid4())
        for call in (lambda i: bob.progress.GetJob(job_service_pb2.GetJobRequest(job_id=i)),
                     lambda i: bob.progress.ListJobEvents(progress_service_pb2.ListJobEventsRequest(job_id=i)),
                     lambda i: _drain(bob.progress.WatchJob(progress_service_pb2.WatchJobRequest(job_id=i)))):
            theirs, nothing = await _error(call(job.id)), await _error(call(unknown))
            assert theirs.code() == nothing.code() == grpc.StatusCode.NOT_FOUND
            assert details_of(theirs) == details_of(nothing)
        listed = await bob.progress.ListJobs(progress_service_pb2.ListJobsRequest(
            filter=progress_service_pb2.JobFilter(labels={"team": "a"})))
        assert [j.owner for j in listed.jobs] == ["bob"] and listed.total_size == 1
        stats = await bob.progress.GetStats(progress_service_pb2.GetStatsRequest())
        assert stats.total_jobs == 1
        refused = await _error(bob.progress.ListJobs(progress_service_pb2.ListJobsRequest(
            filter=progress_service_pb2.JobFilter(owner="alice"))))
        assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
        everyone = await admin.progress.ListJobs(progress_service_pb2.ListJobsRequest())
        assert {j.owner for j in everyone.jobs} == {"alice", "bob"}
        alices = await admin.progress.ListJobs(progress_service_pb2.ListJobsRequest(
            filter=progress_service_pb2.JobFilter(owner="alice")))
        assert {j.owner for j in alices.jobs} == {"alice"} and alices.total_size == 2
        seen = [first]
        async with asyncio.timeout(20):
            while not any(m.HasField("event") and m.event.type == pb.EVENT_TYPE_COMPLETED for m in seen):
                seen.append(await feed.read())
        assert {m.event.job_id for m in seen if m.HasField("event")} == {bobs.id}  # never alice's events
        feed.cancel()


async def _drain(call) -> None:
    async for _ in call:
        pass


async def test_active_jobs_quota_answers_quota_failure_then_resets(temporal, tmp_path: Path, monkeypatch) -> None:
    configure_env(monkeypatch, tmp_path)
    limits = {"user": RoleLimits(RateLimit(1000, 1000), RateLimit(1000, 1000), max_active_jobs=2),
              "admin": RoleLimits()}
    checker = guard(limits)
    async with job_services(tmp_path, guard=checker) as stack:
        stack.settings = replace(stack.settings, internal_token=INTERNAL)
        await add_api(stack, temporal, guard=checker, token=ALICE)
        await add_workers(stack, temporal)
        waiting = [await stack.client.create_job(IMAGE, review=True) for _ in range(2)]  # both stay active
        refused = await _error(stack.client.create_job(IMAGE))
        assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and details_of(refused)[0] == "ACTIVE_JOBS_QUOTA"
        quota = [d for d in rpc_status.from_call(refused).details
                 if d.Is(error_details_pb2.QuotaFailure.DESCRIPTOR)]
        failure = error_details_pb2.QuotaFailure()
        quota[0].Unpack(failure)
        assert failure.violations[0].subject == "user:alice" and "2 of 2" in failure.violations[0].description
        async with GenmediaClient(f"127.0.0.1:{stack.servers['api'].port}", stack.settings.progress_addr,
                                  token=BOB) as bob:
            await bob.create_job(IMAGE)  # quotas are per user
        log = EventLog(stack.client, waiting[0].id)
        await stack.client.cancel_job(waiting[0].id)
        await log.end()
        await stack.client.create_job(IMAGE)  # one ended: room again
        await stack.client.cancel_job(waiting[1].id)


def _nulls(count: int, seconds: int) -> list[job_service_pb2.CreateJobRequest]:
    spec = pb.JobSpec(null=pb.NullSpec(duration=Duration(seconds=seconds)))
    return [job_service_pb2.CreateJobRequest(spec=spec) for _ in range(count)]


async def test_a_batch_and_its_children_are_hidden_from_other_users(secure: Stack) -> None:
    alice = secure.client
    batch = await alice.create_batch(_nulls(2, 5), max_concurrent=1)
    api = f"127.0.0.1:{secure.servers['api'].port}"
    async with GenmediaClient(api, secure.settings.progress_addr, token=BOB) as bob:
        for call in (bob.get_job(batch.id), bob.get_job(f"{batch.id}_1"), bob.cancel_job(batch.id),
                     bob.pause_job(batch.id), bob.resume_job(batch.id), bob.retry_batch(batch.id)):
            assert (await _error(call)).code() == grpc.StatusCode.NOT_FOUND
        assert (await bob.list_jobs(filter=progress_service_pb2.JobFilter(batch_id=batch.id))).total_size == 0
    listed = await alice.list_jobs(filter=progress_service_pb2.JobFilter(batch_id=batch.id))
    assert listed.total_size == 2 and {j.owner for j in listed.jobs} == {"alice"}
    log = EventLog(alice, batch.id)
    await alice.cancel_job(batch.id)
    assert (await log.end())[-1].type == pb.EVENT_TYPE_CANCELLED


async def test_a_batch_counts_once_in_the_active_jobs_quota(temporal, tmp_path: Path, monkeypatch) -> None:
    configure_env(monkeypatch, tmp_path)
    limits = {"user": RoleLimits(RateLimit(1000, 1000), RateLimit(1000, 1000), max_active_jobs=2),
              "admin": RoleLimits()}
    checker = guard(limits)
    async with job_services(tmp_path, guard=checker) as stack:
        stack.settings = replace(stack.settings, internal_token=INTERNAL)
        await add_api(stack, temporal, guard=checker, token=ALICE)
        batch = await stack.client.create_batch(_nulls(5, 60))  # five children, no worker: all stay active
        await stack.client.create_job(IMAGE)
        refused = await _error(stack.client.create_batch(_nulls(1, 0)))
        assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and details_of(refused)[0] == "ACTIVE_JOBS_QUOTA"
        assert "you have 2 unfinished jobs" in refused.details() and batch.batch.total == 5


async def _error(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def test_jwt_users_own_their_jobs_with_hs256_and_rs256(secure: Stack) -> None:
    api = f"127.0.0.1:{secure.servers['api'].port}"
    for algorithm in ("HS256", "RS256"):
        async with GenmediaClient(api, secure.settings.progress_addr, token=token("carol", algorithm=algorithm)) as c:
            job = await c.create_job(IMAGE)
            assert job.owner == "carol"
            assert (await c.get_job(job.id)).job.id == job.id


async def test_rate_limit_answers_retry_info_then_resets(temporal, tmp_path: Path, monkeypatch) -> None:
    configure_env(monkeypatch, tmp_path)
    limits = {"user": RoleLimits(RateLimit(2, 2), RateLimit(1000, 1000)), "admin": RoleLimits()}
    checker = guard(limits)
    async with job_services(tmp_path, guard=checker) as stack:
        stack.settings = replace(stack.settings, internal_token=INTERNAL)
        await add_api(stack, temporal, guard=checker, token=ALICE)
        await stack.client.create_job(IMAGE)
        await stack.client.create_job(IMAGE)
        refused = await _error(stack.client.create_job(IMAGE))
        assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        status = rpc_status.from_call(refused)
        retry = [d for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
        assert retry, status.details
        info = error_details_pb2.RetryInfo()
        retry[0].Unpack(info)
        delay = info.retry_delay.ToTimedelta().total_seconds()
        assert 0 < delay <= 0.5
        async with GenmediaClient(f"127.0.0.1:{stack.servers['api'].port}", stack.settings.progress_addr,
                                  token=BOB) as bob:
            await bob.create_job(IMAGE)  # buckets are per user
        await asyncio.sleep(delay + 0.05)
        await stack.client.create_job(IMAGE)  # the bucket refilled


async def test_the_content_policy_refuses_prompts_and_corrections(temporal, tmp_path: Path, monkeypatch) -> None:
    configure_env(monkeypatch, tmp_path)
    async with job_services(tmp_path) as stack:
        policy = ContentPolicy.parse(["# no castles", "castle", r"re:dr[a4]gons?"])
        stack.settings = replace(stack.settings, content_policy=policy)
        await add_api(stack, temporal)
        await add_workers(stack, temporal)
        for prompt in ("a CASTLE at night", "two dr4gons"):
            refused = await _error(stack.client.create_job(pb.JobSpec(image=pb.ImageSpec(prompt=prompt))))
            assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert details_of(refused) == ("CONTENT_POLICY",
                                           [("spec.image.prompt", "is refused by the content policy")])
        await stack.client.create_job(pb.JobSpec(image=pb.ImageSpec(prompt="a castleton street", width=64,
                                                                    height=64)))  # whole words only
        job = await stack.client.create_job(IMAGE, review=True)
        log = EventLog(stack.client, job.id)
        await log.wait_for(lambda e: e.type == pb.EVENT_TYPE_AWAITING_REVIEW)
        refused = await _error(stack.client.review_job(job.id, approve=False,
                                                       corrections=pb.ReviewCorrections(prompt="a dragon")))
        assert details_of(refused)[0] == "CONTENT_POLICY" and "corrections.prompt" in refused.details()
        await stack.client.cancel_job(job.id)
        await log.end()


async def _list_jobs(channel: grpc.aio.Channel) -> grpc.StatusCode:
    stub = progress_service_pb2_grpc.ProgressServiceStub(channel)
    try:
        await stub.ListJobs(progress_service_pb2.ListJobsRequest(), timeout=5)
        return grpc.StatusCode.OK
    except grpc.aio.AioRpcError as err:
        return err.code()
    finally:
        await channel.close()


async def test_tls_and_mtls_connections_work_and_plaintext_is_refused(tmp_path: Path, monkeypatch) -> None:
    configure_env(monkeypatch, tmp_path)
    files = certificates(tmp_path)
    read = {k: v.read_bytes() for k, v in files.items()}
    (tmp_path / "other").mkdir()
    other_ca = certificates(tmp_path / "other")["ca"].read_bytes()
    engine = await progress_server.open_database(progress_config.Settings.from_env())
    store = Store.for_engine(engine)
    for mutual in (False, True):
        tls = ServerTls(read["server"], read["server-key"], read["ca"] if mutual else None)
        server = await create_server(progress_server.build_registrations(store, Bus(10), 15), tls=tls)
        addr = f"127.0.0.1:{server.port}"
        try:
            with_cert = ClientTls(read["ca"], read["client"], read["client-key"])
            assert await _list_jobs(aio_channel(addr, tls=with_cert)) == grpc.StatusCode.OK
            assert await _list_jobs(aio_channel(addr)) == grpc.StatusCode.UNAVAILABLE  # plaintext
            without_cert = await _list_jobs(aio_channel(addr, tls=ClientTls(read["ca"])))
            assert without_cert == (grpc.StatusCode.UNAVAILABLE if mutual else grpc.StatusCode.OK)
            untrusted = await _list_jobs(aio_channel(addr, tls=ClientTls(other_ca)))  # another CA
            assert untrusted == grpc.StatusCode.UNAVAILABLE
            for flags, code in ((["--ca", files["ca"], "--cert", files["client"], "--key", files["client-key"]], 0),
                                (["--ca", files["ca"]], 7 if mutual else 0), ([], 7)):  # 7: unavailable
                cli = await asyncio.create_subprocess_exec(
                    str(venv_bin("genmedia")), "--progress-server", addr, *map(str, flags), "list",
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                out, err = await cli.communicate()
                assert cli.returncode == code, (flags, out, err)
        finally:
            await server.stop(0)
    await engine.dispose()


async def test_a_request_over_the_size_cap_is_refused_and_the_server_keeps_serving(tmp_path: Path,
                                                                                    monkeypatch) -> None:
    configure_env(monkeypatch, tmp_path)
    engine = await progress_server.open_database(progress_config.Settings.from_env())
    server = await create_server(progress_server.build_registrations(Store.for_engine(engine), Bus(10), 15),
                                 max_message_bytes=4096)
    channel = aio_channel(f"127.0.0.1:{server.port}")
    try:
        stub = progress_service_pb2_grpc.ProgressServiceStub(channel)
        big = job_service_pb2.GetJobRequest(job_id="x" * 10_000)
        refused = await _error(stub.GetJob(big, timeout=5))
        assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        await stub.ListJobs(progress_service_pb2.ListJobsRequest(), timeout=5)  # still serving
    finally:
        await channel.close()
        await server.stop(0)
        await engine.dispose()
