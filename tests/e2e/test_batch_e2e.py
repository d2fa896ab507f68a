"""Batches end to end, as users run them: `genmedia batch FILE --watch` and the batch commands of the CLI,
and grpcurl, against the stack `make run` starts."""

from __future__ import annotations

import json
import re
import subprocess
import time

from tests.conftest import venv_bin
from tests.e2e.conftest import RunningStack
from tests.e2e.test_stack import grpcurl


def _batch_id(output: str) -> str:
    match = re.search(r"batch ([0-9a-f-]{36})", output)
    assert match, output
    return match.group(1)


def test_cli_batch_file_watch_shows_the_batch_and_its_jobs_to_the_end(stack: RunningStack) -> None:
    jobs = stack.var.parent / "jobs.jsonl"
    lines = [{"spec": {"null": {"duration": "0.4s"}}, "labels": {"n": str(i)}} for i in range(5)]
    lines.append({"image": {"prompt": "a paper boat", "width": 64, "height": 64}})  # a bare spec works too
    jobs.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    # As on a terminal (rich redraws the bars live): the output holds every frame, with each running job's bar.
    terminal = dict(stack.env, TTY_COMPATIBLE="1", TTY_INTERACTIVE="1", COLUMNS="160")
    watched = subprocess.run([str(venv_bin("genmedia")), "batch", str(jobs), "--parallel", "2", "--label", "run=e2e",
                              "--watch"], env=terminal, capture_output=True, text=True, timeout=180)
    assert watched.returncode == 0, watched.stdout + watched.stderr
    batch_id = _batch_id(watched.stdout)
    assert f"batch {batch_id} COMPLETED: 6/6 completed" in watched.stdout, watched.stdout
    bars = set(re.findall(r"job (\d)\s+(?:validating|image generation)", watched.stdout))
    assert bars == {str(i) for i in range(6)}, watched.stdout  # every job had its bar while it ran
    listed = stack.cli("list", "--batch", batch_id, "--oldest-first")
    assert listed.returncode == 0 and "6 of 6 jobs" in listed.stdout, listed.stdout
    assert [f"{batch_id}_{i}" for i in range(6)] == re.findall(rf"job ({re.escape(batch_id)}_\d)", listed.stdout)
    got = stack.cli("get", batch_id)
    assert "COMPLETED" in got.stdout and "batch: 6/6 completed; attempt 1, parallel, at most 2 at once" in got.stdout


def test_cli_fail_fast_then_retry_batch_and_grpcurl(stack: RunningStack) -> None:
    jobs = stack.var.parent / "failing.json"
    jobs.write_text(json.dumps([{"spec": {"null": {"duration": "0.2s"}}},
                                {"spec": {"null": {"duration": "0.2s", "fail_with": "NO_DISK"}}},
                                {"spec": {"null": {"duration": "0.2s"}}}]))
    failed = stack.cli("batch", str(jobs), "--fail-fast", "--sequential", "--watch")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    batch_id = _batch_id(failed.stdout)
    assert re.search(rf"job 1 {re.escape(batch_id)}_1 failed: NO_DISK", failed.stdout), failed.stdout
    assert f"batch {batch_id} FAILED: 1/3 completed, 1 failed, 1 cancelled" in failed.stdout, failed.stdout
    retried = stack.cli("retry-batch", batch_id)  # reruns the failed job and the one fail_fast cancelled
    assert retried.returncode == 0 and "attempt 2" in retried.stdout, retried.stdout + retried.stderr
    orchestrator = stack.addr("orchestrator")
    deadline = time.monotonic() + 60
    while True:
        got = json.loads(grpcurl(orchestrator, "genmedia.v1.JobService/GetJob",
                                 data=json.dumps({"job_id": batch_id})).stdout)["job"]
        if got["state"] in ("JOB_STATE_COMPLETED", "JOB_STATE_FAILED"):
            break
        assert time.monotonic() < deadline, got
        time.sleep(0.3)
    counts = {name: got["batch"].get(name, 0) for name in ("attempt", "completed", "failed", "cancelled")}
    assert got["state"] == "JOB_STATE_FAILED" and counts == {"attempt": 2, "completed": 1, "failed": 1,
                                                               "cancelled": 1}, got
    listed = stack.cli("list", "--batch", batch_id)
    assert "5 of 5 jobs" in listed.stdout and f"{batch_id}_1_2" in listed.stdout and f"{batch_id}_0_2" not in \
        listed.stdout, listed.stdout
    request = {"jobs": [{"spec": {"image": {"prompt": ""}}}], "strategy": "BATCH_STRATEGY_SEQUENTIAL",
               "max_concurrent": 4}
    refused = grpcurl(orchestrator, "genmedia.v1.JobService/CreateBatch", data=json.dumps(request))
    assert refused.returncode != 0 and "InvalidArgument" in refused.stderr
    assert "jobs[0].spec.image.prompt" in refused.stderr and "max_concurrent" in refused.stderr, refused.stderr
