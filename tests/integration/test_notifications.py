"""Notifications against real parts: the Temporal dev server, real workers (one a process killed between
attempts), real HTTP receivers and a real SMTP server (aiosmtpd): signed webhooks retried until accepted,
redirects not followed, timeouts and refused private addresses logged, redelivery, Slack and email."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from prometheus_client import REGISTRY
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from genmedia.client import GenmediaClient
from genmedia.domain.errors import details_of
from genmedia.domain.jobrequests import idempotent_id
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2
from services.orchestrator.worker.notify_workflows import RedeliveryWorkflow, redelivery_id
from tests.integration.jobstack import Stack, add_api, add_workers, configure_env, job_services, watch_to_end
from tests.integration.receivers import certificates, receiver, server_tls, smtp_server, verify_standard_webhook
from tests.integration.test_orchestrator_process import orchestrator
from tests.integration.test_security import ALICE, BOB, INTERNAL, ROOT, guard

pytestmark = pytest.mark.timeout(240)

IMAGE = pb.JobSpec(image=pb.ImageSpec(prompt="a paper boat", width=64, height=64))
END = (pb.DELIVERY_STATE_DELIVERED, pb.DELIVERY_STATE_FAILED)


def fast_retries(monkeypatch: pytest.MonkeyPatch, initial: float = 0.2, give_up: float = 30,
                 timeout: float = 2, private: str = "allow") -> None:
    monkeypatch.setenv("GENMEDIA_NOTIFY_PRIVATE_ADDRESSES", private)  # the receivers are on loopback
    monkeypatch.setenv("GENMEDIA_NOTIFY_RETRY_INITIAL_SECONDS", str(initial))
    monkeypatch.setenv("GENMEDIA_NOTIFY_RETRY_BACKOFF", "1")
    monkeypatch.setenv("GENMEDIA_NOTIFY_GIVE_UP_SECONDS", str(give_up))
    monkeypatch.setenv("GENMEDIA_NOTIFY_TIMEOUT_SECONDS", str(timeout))


@pytest.fixture
async def stack(temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    configure_env(monkeypatch, tmp_path)
    fast_retries(monkeypatch)
    async with job_services(tmp_path) as stack:
        await add_api(stack, temporal)
        await add_workers(stack, temporal)
        yield stack


async def ended(stack: Stack, job_id: str, count: int, timeout: float = 60) -> list[pb.Delivery]:
    """The job's deliveries once `count` of them have ended (delivered or failed)."""
    async with asyncio.timeout(timeout):
        while True:
            deliveries = [d async for d in stack.client.deliveries(job_id)]
            if len(deliveries) >= count and all(d.state in END for d in deliveries):
                return deliveries
            await asyncio.sleep(0.1)


async def until(check, timeout: float = 30):
    """The first truthy result of `check()`, polled."""
    async with asyncio.timeout(timeout):
        while True:
            if result := await check():
                return result
            await asyncio.sleep(0.05)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_signed_webhook_is_retried_until_accepted(stack: Stack) -> None:
    before = metric("genmedia_notification_attempts_total", channel="webhook", outcome="failed")
    with receiver(lambda n, path: (503, {}, 0.0) if n < 3 else (200, {}, 0.0)) as hook:
        job = await stack.client.create_job(IMAGE, notify=pb.Notify(webhook_url=hook.url("/hooks/abc?token=s3cret")))
        assert job.notify.webhook_url == f"http://127.0.0.1:{hook.port}/…"  # redacted
        await watch_to_end(stack.client, job.id)
        (delivery,) = await ended(stack, job.id, 1)
        requests = await hook.wait_for(4)
    secret = (await stack.client.webhook_secret()).secret
    assert [r.status for r in requests] == [503, 503, 503, 200]
    assert {r.headers["webhook-id"] for r in requests} == {delivery.id}
    assert all(verify_standard_webhook(secret, r.headers, r.body) for r in requests)
    assert requests[0].path == "/hooks/abc?token=s3cret"
    body = json.loads(requests[-1].body)
    assert body["type"] == "job.completed" and body["data"]["id"] == job.id
    assert body["data"]["state"] == "JOB_STATE_COMPLETED" and body["data"]["assets"][0]["mime_type"] == "image/png"
    assert delivery.state == pb.DELIVERY_STATE_DELIVERED and delivery.event == pb.EVENT_TYPE_COMPLETED
    assert [a.status_code for a in delivery.attempts] == [503, 503, 503, 200]
    assert [a.attempt for a in delivery.attempts] == [1, 2, 3, 4]
    assert [a.succeeded for a in delivery.attempts] == [False, False, False, True]
    assert "HTTP 503" in delivery.attempts[0].error and not delivery.attempts[-1].error
    assert delivery.target == f"http://127.0.0.1:{hook.port}/…"
    assert metric("genmedia_notification_attempts_total", channel="webhook", outcome="failed") == before + 3


async def test_a_webhook_is_delivered_once_across_a_killed_worker(temporal: WorkflowEnvironment, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    configure_env(monkeypatch, tmp_path)
    fast_retries(monkeypatch, initial=1.5)  # a window between attempts to kill the worker in
    with receiver(lambda n, path: (503, {}, 0.0) if n < 3 else (200, {}, 0.0)) as hook:
        async with job_services(tmp_path) as stack:
            await add_api(stack, temporal)
            with orchestrator(stack, temporal, "worker") as first:
                job = await stack.client.create_job(IMAGE, notify=pb.Notify(webhook_url=hook.url()))
                await watch_to_end(stack.client, job.id)
                await hook.wait_for(1)
                message_id = hook.requests[0].headers["webhook-id"]

                async def logged() -> bool:  # the first attempt is logged: the worker is between attempts
                    return bool((await stack.client.get_delivery(message_id)).attempts)

                await until(logged)
                await asyncio.sleep(0.3)
                first.send_signal(signal.SIGKILL)
                await asyncio.to_thread(first.wait)
            await asyncio.sleep(2.0)  # the retry falls due while no worker runs: nothing is sent
            assert len(hook.requests) == 1
            with orchestrator(stack, temporal, "worker"):
                (delivery,) = await ended(stack, job.id, 1, timeout=90)
            secret = (await stack.client.webhook_secret()).secret
    requests = hook.requests
    assert [r.status for r in requests] == [503, 503, 503, 200]
    assert len({r.headers["webhook-id"] for r in requests}) == 1 == len([r for r in requests if r.status == 200])
    assert all(verify_standard_webhook(secret, r.headers, r.body) for r in requests)
    assert delivery.state == pb.DELIVERY_STATE_DELIVERED
    assert [a.status_code for a in delivery.attempts] == [503, 503, 503, 200]


async def test_redirects_are_not_followed_and_timeouts_are_logged(temporal: WorkflowEnvironment, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    configure_env(monkeypatch, tmp_path)
    fast_retries(monkeypatch, give_up=3, timeout=0.5)
    moved = receiver(lambda n, path: (302, {"location": "/elsewhere"}, 0.0))
    slow = receiver(lambda n, path: (200, {}, 2.0))
    with moved as hook, slow as slack:
        async with job_services(tmp_path) as stack:
            await add_api(stack, temporal)
            await add_workers(stack, temporal)
            job = await stack.client.create_job(IMAGE, notify=pb.Notify(webhook_url=hook.url(),
                                                                        slack_url=slack.url("/services/T1/B2/x")))
            deliveries = {d.channel: d for d in await ended(stack, job.id, 2)}
        webhook, slow_slack = deliveries[pb.NOTIFY_CHANNEL_WEBHOOK], deliveries[pb.NOTIFY_CHANNEL_SLACK]
        assert webhook.state == slow_slack.state == pb.DELIVERY_STATE_FAILED
        assert webhook.attempts and {a.status_code for a in webhook.attempts} == {302}
        assert all("redirect to '/elsewhere' not followed" in a.error for a in webhook.attempts)
        assert {r.path for r in hook.requests} == {"/hook"}  # /elsewhere was never asked for
        assert len(hook.requests) == len(webhook.attempts)
        assert slow_slack.attempts and all(a.status_code == 0 and "timed out" in a.error for a in slow_slack.attempts)
        assert all(0.5 <= a.latency.ToTimedelta().total_seconds() < 1.5 for a in slow_slack.attempts)
        assert slow_slack.target == f"http://127.0.0.1:{slack.port}/…"


async def test_private_addresses_are_refused_when_the_setting_is_on(temporal: WorkflowEnvironment, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    configure_env(monkeypatch, tmp_path)
    fast_retries(monkeypatch, private="refuse")
    with receiver() as hook:
        async with job_services(tmp_path) as stack:
            await add_api(stack, temporal)
            await add_workers(stack, temporal)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stack.client.create_job(IMAGE, notify=pb.Notify(
                    webhook_url=hook.url(), slack_url="http://169.254.169.254/latest/meta-data",
                    emails=["ann@example.com"]))
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            violations = dict(details_of(refused.value)[1])
            assert "127.0.0.1 is a loopback address" in violations["notify.webhook_url"]
            assert "169.254.169.254 is a link-local address" in violations["notify.slack_url"]
            # A host name is resolved when sending, and every address it has is checked.
            job = await stack.client.create_job(IMAGE, notify=pb.Notify(webhook_url=hook.url(host="localhost")))
            (delivery,) = await ended(stack, job.id, 1)
    assert delivery.state == pb.DELIVERY_STATE_FAILED and len(delivery.attempts) == 1  # permanent: not retried
    assert "refused: localhost resolves to" in delivery.attempts[0].error
    assert "loopback address" in delivery.attempts[0].error
    assert hook.requests == []


async def test_a_redelivery_sends_the_same_message_with_a_fresh_signature(stack: Stack,
                                                                          temporal: WorkflowEnvironment) -> None:
    with receiver() as hook:
        job = await stack.client.create_job(IMAGE, notify=pb.Notify(webhook_url=hook.url()))
        (first,) = await ended(stack, job.id, 1)
        await asyncio.sleep(1.1)  # the next second: a fresh webhook-timestamp
        request_id = str(uuid.uuid4())
        answer = await stack.client.redeliver(first.id, request_id=request_id)
        again = await stack.client.redeliver(first.id, request_id=request_id)  # the same request: no second one
        assert answer.id == again.id == first.id and answer.state == pb.DELIVERY_STATE_PENDING
        requests = await hook.wait_for(2)
        async def redelivered() -> pb.Delivery | None:
            delivery = await stack.client.get_delivery(first.id)
            return delivery if delivery.state == pb.DELIVERY_STATE_DELIVERED else None

        delivery = await until(redelivered)
        await asyncio.sleep(0.5)
        secret = (await stack.client.webhook_secret()).secret
        assert len(hook.requests) == 2
    original, resent = requests
    assert original.body == resent.body and original.headers["webhook-id"] == resent.headers["webhook-id"] == first.id
    assert int(resent.headers["webhook-timestamp"]) > int(original.headers["webhook-timestamp"])
    assert resent.headers["webhook-signature"] != original.headers["webhook-signature"]
    assert verify_standard_webhook(secret, resent.headers, resent.body)
    assert delivery.redeliveries == 1
    assert [(a.attempt, a.redelivery, a.succeeded) for a in delivery.attempts] == [(1, 0, True), (2, 1, True)]
    # The worker runs workflows unsandboxed: the redelivery replays in Temporal's strict sandbox instead.
    redelivery = temporal.client.get_workflow_handle(redelivery_id(first.id, idempotent_id("anonymous", request_id)))
    await redelivery.result()  # its whole history
    history = await redelivery.fetch_history()
    replay = await Replayer(workflows=[RedeliveryWorkflow], workflow_runner=SandboxedWorkflowRunner()).replay_workflow(
        history, raise_on_replay_failure=False)
    assert replay.replay_failure is None, replay.replay_failure
    for bad, code in (("msg_unknown", grpc.StatusCode.NOT_FOUND), ("", grpc.StatusCode.INVALID_ARGUMENT),
                      ("a b", grpc.StatusCode.INVALID_ARGUMENT)):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stack.client.redeliver(bad)
        assert info.value.code() == code, bad


async def test_notify_settings_are_checked_redacted_and_part_of_idempotency(stack: Stack) -> None:
    bad = pb.Notify(webhook_url="ftp://example.com/x", slack_url="http://exa mple.com/",
                    emails=["not-an-address", "a@example.com\r\nBcc: b@example.com"] + ["c@example.com"] * 10,
                    events=[pb.EVENT_TYPE_PROGRESS, pb.EVENT_TYPE_COMPLETED, pb.EVENT_TYPE_COMPLETED])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.client.create_job(IMAGE, notify=bad)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = {f for f, _ in details_of(refused.value)[1]}
    assert {"notify.webhook_url", "notify.slack_url", "notify.emails[0]", "notify.emails[1]", "notify.emails",
            "notify.events[0]", "notify.events"} <= fields
    with pytest.raises(grpc.aio.AioRpcError) as no_smtp:
        await stack.client.create_job(IMAGE, notify=pb.Notify(emails=["ann@example.com"]))
    assert no_smtp.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details_of(no_smtp.value)[0] == "EMAIL_NOT_CONFIGURED"
    with pytest.raises(grpc.aio.AioRpcError) as nowhere:
        await stack.client.create_job(IMAGE, notify=pb.Notify(events=[pb.EVENT_TYPE_STARTED]))
    assert details_of(nowhere.value)[1] == [("notify.events", "need a webhook_url, a slack_url or emails to send "
                                                                "them to")]

    request_id = str(uuid.uuid4())
    settings = pb.Notify(webhook_url="https://hooks.example.com/a/secret-1", events=[pb.EVENT_TYPE_FAILED])
    job = await stack.client.create_job(IMAGE, request_id=request_id, notify=settings)
    assert job.notify.webhook_url == "https://hooks.example.com/…" and len(job.notify.fingerprint) == 32
    assert (await stack.client.create_job(IMAGE, request_id=request_id, notify=settings)).id == job.id
    other = pb.Notify(webhook_url="https://hooks.example.com/a/secret-2", events=[pb.EVENT_TYPE_FAILED])
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await stack.client.create_job(IMAGE, request_id=request_id, notify=other)
    assert reused.value.code() == grpc.StatusCode.ALREADY_EXISTS and "notify" in reused.value.details()
    live = (await stack.client.get_job(job.id)).job
    stored = await stack.client.progress.GetJob(job_service_pb2.GetJobRequest(job_id=job.id))
    listed = (await stack.client.list_jobs()).jobs
    assert live.notify == stored.notify == job.notify == next(j for j in listed if j.id == job.id).notify
    assert "secret" not in str(live) + str(stored)


async def test_slack_and_email_carry_the_result_and_events_follow_the_filter(
        temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configure_env(monkeypatch, tmp_path)
    fast_retries(monkeypatch)
    async with smtp_server("mailer", "s3cret-pass") as (mailbox, smtp_port):
        monkeypatch.setenv("GENMEDIA_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("GENMEDIA_SMTP_PORT", str(smtp_port))
        monkeypatch.setenv("GENMEDIA_SMTP_TLS", "off")
        monkeypatch.setenv("GENMEDIA_SMTP_USERNAME", "mailer")
        (tmp_path / "smtp-password").write_text("s3cret-pass\n")
        monkeypatch.setenv("GENMEDIA_SMTP_PASSWORD_FILE", str(tmp_path / "smtp-password"))
        monkeypatch.setenv("GENMEDIA_SMTP_FROM", "genmedia@example.com")
        with receiver() as hook, receiver() as slack:
            async with job_services(tmp_path) as stack:
                await add_api(stack, temporal)
                await add_workers(stack, temporal)
                settings = pb.Notify(webhook_url=hook.url(), slack_url=slack.url("/services/T1/B2/secret"),
                                     emails=["ann@example.com", "bob@example.com"],
                                     events=[pb.EVENT_TYPE_STARTED, pb.EVENT_TYPE_COMPLETED])
                job = await stack.client.create_job(IMAGE, notify=settings)
                deliveries = await ended(stack, job.id, 8)
                mails = await mailbox.wait_for(4)
            hooks, slacks = await hook.wait_for(2), await slack.wait_for(2)
    assert {d.state for d in deliveries} == {pb.DELIVERY_STATE_DELIVERED}
    assert sorted(json.loads(r.body)["type"] for r in hooks) == ["job.completed", "job.started"]
    messages = {json.loads(r.body)["text"].split(":")[0]: json.loads(r.body) for r in slacks}
    done = messages["genmedia image job completed"]
    assert "genmedia image job running" in messages
    assert [b["type"] for b in done["blocks"]] == ["header", "section", "section", "context"]
    assert done["blocks"][0]["text"] == {"type": "plain_text", "text": "genmedia image job completed"}
    assert f"`{job.id}`" in done["blocks"][1]["text"]["text"] and "COMPLETED" in done["blocks"][1]["text"]["text"]
    assert done["blocks"][1]["text"]["type"] == "mrkdwn" and "image/png" in done["blocks"][2]["text"]["text"]
    assert all("webhook-signature" not in r.headers for r in slacks)  # Slack checks no signature
    completed = [m for envelope, m in mails if "completed" in m["Subject"]]
    assert sorted(m["To"] for m in completed) == ["ann@example.com", "bob@example.com"]
    assert {e.mail_from for e, _ in mails} == {"genmedia@example.com"}
    text = completed[0].get_content()
    assert f"Job {job.id} (image) is COMPLETED." in text and "Prompt:  a paper boat" in text
    assert "image/png" in text and "file://" in text and "64x64" in text
    email_ids = {d.id for d in deliveries if d.channel == pb.NOTIFY_CHANNEL_EMAIL}
    assert {m["Message-ID"].strip("<>").split("@")[0] for _, m in mails} == email_ids
    assert all(d.attempts[-1].status_code == 250 for d in deliveries if d.channel == pb.NOTIFY_CHANNEL_EMAIL)


async def test_another_users_deliveries_are_not_found(temporal: WorkflowEnvironment, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    configure_env(monkeypatch, tmp_path)
    fast_retries(monkeypatch)
    checker = guard()
    with receiver() as hook:
        async with job_services(tmp_path, guard=checker) as stack:
            stack.settings = replace(stack.settings, internal_token=INTERNAL)
            await add_api(stack, temporal, guard=checker, token=ALICE)
            await add_workers(stack, temporal)
            job = await stack.client.create_job(IMAGE, notify=pb.Notify(webhook_url=hook.url()))
            (delivery,) = await ended(stack, job.id, 1)
            api, progress = f"127.0.0.1:{stack.servers['api'].port}", stack.settings.progress_addr
            async with GenmediaClient(api, progress, token=BOB) as bob, \
                    GenmediaClient(api, progress, token=ROOT) as root:
                for call in (bob.list_deliveries(job.id), bob.get_delivery(delivery.id), bob.redeliver(delivery.id)):
                    with pytest.raises(grpc.aio.AioRpcError) as hidden:
                        await call
                    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND, hidden.value.details()
                assert [d.id for d in (await root.list_deliveries(job.id)).deliveries] == [delivery.id]
                secrets = {(await c.webhook_secret()).secret for c in (stack.client, bob, root)}
                alice_secret = (await stack.client.webhook_secret()).secret
    assert len(secrets) == 3 and all(s.startswith("whsec_") for s in secrets)
    assert verify_standard_webhook(alice_secret, hook.requests[0].headers, hook.requests[0].body)


async def test_https_receivers_are_verified_by_host_name_on_the_checked_address(
        temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configure_env(monkeypatch, tmp_path)
    fast_retries(monkeypatch, give_up=2)
    # Certificates for the name only: a check against the address connected to (127.0.0.1) would fail.
    trusted, stranger = certificates(tmp_path / "a", "localhost"), certificates(tmp_path / "b", "localhost")
    monkeypatch.setenv("GENMEDIA_NOTIFY_CA_FILE", str(trusted["ca"]))
    with receiver(tls=server_tls(trusted)) as good, receiver(tls=server_tls(stranger)) as bad:
        async with job_services(tmp_path) as stack:
            await add_api(stack, temporal)
            await add_workers(stack, temporal)
            job = await stack.client.create_job(IMAGE, notify=pb.Notify(webhook_url=good.url(host="localhost"),
                                                                        slack_url=bad.url(host="localhost")))
            deliveries = {d.channel: d for d in await ended(stack, job.id, 2)}
            secret = (await stack.client.webhook_secret()).secret
    webhook, slack = deliveries[pb.NOTIFY_CHANNEL_WEBHOOK], deliveries[pb.NOTIFY_CHANNEL_SLACK]
    assert webhook.state == pb.DELIVERY_STATE_DELIVERED and webhook.target == f"https://localhost:{good.port}/…"
    assert good.requests[0].headers["host"] == f"localhost:{good.port}"
    assert verify_standard_webhook(secret, good.requests[0].headers, good.requests[0].body)
    assert slack.state == pb.DELIVERY_STATE_FAILED and bad.requests == []
    assert all("CERTIFICATE_VERIFY_FAILED" in a.error for a in slack.attempts), slack.attempts


async def test_a_batch_notifies_its_own_start_and_end(stack: Stack) -> None:
    nulls = [job_service_pb2.CreateJobRequest(spec=pb.JobSpec(null=pb.NullSpec())) for _ in range(3)]
    with receiver(lambda n, path: (200, {}, 0.0)) as hook:
        bad = job_service_pb2.CreateJobRequest(spec=nulls[0].spec, notify=pb.Notify(webhook_url=hook.url("/x")))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.client.create_batch([bad])
        assert [f for f, _ in details_of(caught.value)[1]] == ["jobs[0].notify"]
        events = [pb.EVENT_TYPE_STARTED, pb.EVENT_TYPE_COMPLETED]
        batch = await stack.client.create_batch(nulls, notify=pb.Notify(webhook_url=hook.url("/b"), events=events))
        assert batch.notify.webhook_url == f"http://127.0.0.1:{hook.port}/…"
        await watch_to_end(stack.client, batch.id)
        deliveries = await ended(stack, batch.id, 2)
        requests = await hook.wait_for(2)
    secret = (await stack.client.webhook_secret()).secret
    assert all(verify_standard_webhook(secret, r.headers, r.body) for r in requests)
    bodies = sorted((json.loads(r.body) for r in requests), key=lambda b: b["timestamp"])
    assert [b["type"] for b in bodies] == ["job.started", "job.completed"]
    assert {b["data"]["id"] for b in bodies} == {batch.id} and bodies[1]["data"]["kind"] == "JOB_KIND_BATCH"
    assert sorted(d.event for d in deliveries) == events and len(requests) == 2  # the children told nobody
