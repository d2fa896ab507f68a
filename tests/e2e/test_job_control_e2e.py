"""Job control end to end, as users do it: the `genmedia` CLI and grpcurl against the stack `make run` starts."""

from __future__ import annotations

import json
import re
import time
import uuid

from tests.e2e.conftest import RunningStack
from tests.e2e.test_stack import grpcurl

VIDEO = ["--width", "160", "--height", "96", "--duration", "1", "--fps", "12"]


def _job_id(output: str) -> str:
    match = re.search(r"job ([0-9a-f-]{36})", output)
    assert match, output
    return match.group(1)


def _wait_for(stack: RunningStack, job_id: str, state: str, timeout: float = 60) -> str:
    """`genmedia get` until the job is in `state`; returns its output."""
    deadline = time.monotonic() + timeout
    while True:
        out = stack.cli("get", job_id).stdout
        if f" {state} " in out:
            return out
        assert time.monotonic() < deadline, out
        time.sleep(0.2)


def test_cli_review_reject_with_corrections_then_approve(stack: RunningStack) -> None:
    request_id = str(uuid.uuid4())
    created = stack.cli("video", "a quiet bay", *VIDEO, "--review", "--request-id", request_id, "--priority", "2")
    assert created.returncode == 0, created.stderr
    job_id = _job_id(created.stdout)
    again = stack.cli("video", "a quiet bay", *VIDEO, "--review", "--request-id", request_id, "--priority", "2")
    assert _job_id(again.stdout) == job_id  # the same request id: the same job
    clash = stack.cli("video", "another bay", *VIDEO, "--review", "--request-id", request_id)
    assert clash.returncode == 5 and "ALREADY_EXISTS" in clash.stderr and job_id in clash.stderr
    waiting = _wait_for(stack, job_id, "AWAITING_REVIEW")
    assert "image/png" in waiting and "review round 1" in waiting
    rejected = stack.cli("review", job_id, "--reject", "--prompt", "a stormy bay", "--seed", "42",
                         "--feedback", "more drama")
    assert rejected.returncode == 0, rejected.stderr
    assert "round 1: reject by anonymous" in rejected.stdout and "more drama" in rejected.stdout
    assert "review round 2" in _wait_for(stack, job_id, "AWAITING_REVIEW")
    approved = stack.cli("review", job_id, "--approve")
    assert approved.returncode == 0, approved.stderr
    watched = stack.cli("watch", job_id)
    assert watched.returncode == 0 and re.search(rf"job {job_id} COMPLETED", watched.stdout), watched.stdout
    final = stack.cli("--json", "get", job_id)
    job = json.loads(final.stdout)
    assert [r["decision"] for r in job["reviews"]] == ["REVIEW_DECISION_REJECT", "REVIEW_DECISION_APPROVE"]
    assert job["spec"]["video"]["prompt"] == "a stormy bay" and job["priority"] == 2
    refused = stack.cli("review", job_id, "--approve")
    assert refused.returncode == 5 and "FAILED_PRECONDITION" in refused.stderr and "COMPLETED" in refused.stderr


def test_cli_pause_then_resume_and_pause_then_cancel(stack: RunningStack) -> None:
    slow = ["--width", "320", "--height", "180", "--duration", "10", "--fps", "24", "--deadline", "10m"]
    first = _job_id(stack.cli("video", "a slow river", *slow).stdout)
    second = _job_id(stack.cli("video", "a slow river", *slow, "--priority", "1").stdout)
    running = _wait_for(stack, first, "RUNNING")
    assert "ETA" in running, running  # a running job shows when it should end
    for job_id in (first, second):
        paused = stack.cli("pause", job_id)
        assert paused.returncode == 0, paused.stderr
        assert "pausing after the current step" in paused.stdout, paused.stdout
    for job_id in (first, second):
        _wait_for(stack, job_id, "PAUSED")  # it finished its step and waits
        twice = stack.cli("pause", job_id)
        assert twice.returncode == 5 and "FAILED_PRECONDITION" in twice.stderr and "PAUSED" in twice.stderr
    assert stack.cli("resume", first).returncode == 0
    watched = stack.cli("watch", first)
    assert watched.returncode == 0 and f"job {first} COMPLETED" in watched.stdout, watched.stdout
    cancelled = stack.cli("cancel", second, "--reason", "no longer needed")
    assert cancelled.returncode == 0 and "cancelling: no longer needed" in cancelled.stdout, cancelled.stdout
    watched = stack.cli("watch", second)
    assert watched.returncode == 1 and f"job {second} CANCELLED" in watched.stdout, watched.stdout
    resumed = stack.cli("resume", second)
    assert resumed.returncode == 5 and "CANCELLED" in resumed.stderr


def test_grpcurl_review_reject_fails_the_job_and_cancel_of_an_ended_job_is_refused(stack: RunningStack) -> None:
    orchestrator = stack.addr("orchestrator")
    request = {"spec": {"image": {"prompt": "a paper boat", "width": 128, "height": 128}}, "review": True,
               "review_timeout": "3600s", "priority": 1}
    created = grpcurl(orchestrator, "genmedia.v1.JobService/CreateJob", data=json.dumps(request))
    assert created.returncode == 0, created.stderr
    job = json.loads(created.stdout)
    assert job["priority"] == 1 and job["review_timeout"] == "3600s"
    deadline = time.monotonic() + 60
    while True:
        got = json.loads(grpcurl(orchestrator, "genmedia.v1.JobService/GetJob",
                                 data=json.dumps({"job_id": job["id"]})).stdout)
        if got["job"]["state"] == "JOB_STATE_AWAITING_REVIEW":
            break
        assert time.monotonic() < deadline, got
        time.sleep(0.2)
    assert got["source"] == "SOURCE_WORKFLOW" and got["job"]["assets"][0]["mime_type"] == "image/png"
    review = {"job_id": job["id"], "decision": "REVIEW_DECISION_REJECT", "feedback": "off brief"}
    reviewed = grpcurl(orchestrator, "genmedia.v1.JobService/ReviewJob", data=json.dumps(review))
    assert reviewed.returncode == 0, reviewed.stderr
    answer = json.loads(reviewed.stdout)
    assert answer["state"] == "JOB_STATE_FAILED" and answer["error"]["code"] == "REJECTED"
    watched = grpcurl(stack.addr("progress"), "genmedia.v1.ProgressService/WatchJob",
                      data=json.dumps({"job_id": job["id"], "after_sequence": 1}))
    assert '"EVENT_TYPE_REVIEWED"' in watched.stdout and '"EVENT_TYPE_FAILED"' in watched.stdout
    refused = grpcurl(orchestrator, "genmedia.v1.JobService/CancelJob", data=json.dumps({"job_id": job["id"]}))
    assert refused.returncode != 0
    assert "FailedPrecondition" in refused.stderr and "is FAILED" in refused.stderr, refused.stderr
    unknown = grpcurl(orchestrator, "genmedia.v1.JobService/PauseJob", data=json.dumps({"job_id": str(uuid.uuid4())}))
    assert "NotFound" in unknown.stderr, unknown.stderr
