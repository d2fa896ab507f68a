"""Notifications end to end, as users do it: the stack `make run` starts (which lets notifications reach this
machine), a job submitted from the CLI with a webhook and Slack, then `genmedia deliveries`, `redeliver` and
`webhook-secret`, and grpcurl's ListDeliveries."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from tests.e2e.conftest import MailServer, RunningStack
from tests.e2e.test_stack import grpcurl
from tests.integration.receivers import receiver, verify_standard_webhook


def test_a_cli_job_sends_a_signed_webhook_and_a_slack_message(stack: RunningStack) -> None:
    with receiver() as hook, receiver() as slack:
        created = stack.cli("image", "a red kite", "--width", "64", "--height", "64", "--watch",
                            "--webhook", hook.url("/hooks/secret-path"), "--slack", slack.url("/services/T/B/x"),
                            "--notify-events", "started,completed")
        assert created.returncode == 0, created.stderr
        job_id = re.search(r"job ([0-9a-f-]{36}) created", created.stdout)[1]
        requests = asyncio.run(hook.wait_for(2, timeout=60))
        asyncio.run(slack.wait_for(2, timeout=60))
        shown = stack.cli("get", job_id)
        assert f"notify: webhook http://127.0.0.1:{hook.port}/…, slack http://127.0.0.1:{slack.port}/… on " \
               "started, completed" in shown.stdout, shown.stdout
        secret = stack.cli("webhook-secret").stdout.split()[0]
        assert secret.startswith("whsec_")
        assert all(verify_standard_webhook(secret, r.headers, r.body) for r in requests)
        assert sorted(json.loads(r.body)["type"] for r in requests) == ["job.completed", "job.started"]

        listed = stack.cli("deliveries", job_id)
        assert listed.returncode == 0 and "4 deliveries" in listed.stdout, listed.stdout
        assert "secret-path" not in listed.stdout and listed.stdout.count("DELIVERED") == 4, listed.stdout
        completed = next(r for r in requests if json.loads(r.body)["type"] == "job.completed")
        delivery_id = completed.headers["webhook-id"]
        assert delivery_id in listed.stdout
        redelivered = stack.cli("redeliver", delivery_id)
        assert redelivered.returncode == 0 and "PENDING" in redelivered.stdout, redelivered.stderr
        again = asyncio.run(hook.wait_for(3, timeout=60))[2]
        assert again.headers["webhook-id"] == delivery_id and again.body == completed.body
        assert verify_standard_webhook(secret, again.headers, again.body)

    answer = grpcurl(stack.addr("progress"), "genmedia.v1.ProgressService/ListDeliveries",
                     data=json.dumps({"job_id": job_id}))
    assert answer.returncode == 0, answer.stderr
    deliveries = json.loads(answer.stdout)["deliveries"]
    assert {d["channel"] for d in deliveries} == {"NOTIFY_CHANNEL_WEBHOOK", "NOTIFY_CHANNEL_SLACK"}
    assert all(d["attempts"][0]["status_code"] == 200 for d in deliveries)
    unknown = stack.cli("redeliver", "msg_nope")
    assert unknown.returncode == 3 and "NOT_FOUND" in unknown.stderr


def test_a_cli_batch_file_is_watched_and_its_end_is_signed_posted_slacked_and_emailed(
        stack: RunningStack, mail: MailServer, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"spec": {"null": {"duration": "0.3s"}}, "labels": {"n": str(i)}}) + "\n"
                            for i in range(4)))
    before = len(mail.mailbox.messages)
    with receiver() as hook, receiver() as slack:
        done = stack.cli("batch", str(jobs), "--parallel", "2", "--watch", "--webhook", hook.url("/b"),
                         "--slack", slack.url("/services/T/B/y"), "--email", "ops@example.com")
        assert done.returncode == 0, done.stderr
        batch_id = re.search(r"batch ([0-9a-f-]{36}) created", done.stdout)[1]
        (posted,) = asyncio.run(hook.wait_for(1, timeout=60))
        (slacked,) = asyncio.run(slack.wait_for(1, timeout=60))
        mails = mail.wait_for(before + 1)
    secret = stack.cli("webhook-secret").stdout.split()[0]
    body = json.loads(posted.body)
    assert verify_standard_webhook(secret, posted.headers, posted.body)
    assert body["type"] == "job.completed" and body["data"]["id"] == batch_id
    assert batch_id in json.loads(slacked.body)["blocks"][1]["text"]["text"]
    (email,) = [m for _, m in mails[before:]]
    assert email["To"] == "ops@example.com" and batch_id in email.get_content() and "COMPLETED" in email.get_content()
    listed = stack.cli("deliveries", batch_id)
    assert "3 deliveries" in listed.stdout and listed.stdout.count("DELIVERED") == 3, listed.stdout
