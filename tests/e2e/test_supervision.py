"""`make run` supervises: a service that dies is reported with its last log lines and restarted with a
growing pause, and jobs go on; a start that fails shows that start's own error, not an earlier run's."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import venv_bin
from tests.e2e.conftest import RunningStack, _stack_env
from tests.e2e.test_stack import grpcurl


def output_after(stack: RunningStack, start: int, pattern: str, timeout: float = 60) -> str:
    """The stack's output from offset `start` on, once it matches `pattern`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = stack.output.read_bytes()[start:].decode(errors="replace")
        if re.search(pattern, text, re.DOTALL):
            return text
        time.sleep(0.2)
    raise AssertionError(f"no {pattern!r} in the stack's output:\n{stack.output.read_text(errors='replace')[-3000:]}")


def kill(stack: RunningStack, name: str) -> int:
    pid = int((stack.var / "run" / f"{name}.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    return pid


def serving(addr: str, service: str) -> bool:
    async def check() -> bool:
        async with grpc.aio.insecure_channel(addr) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=5)
            return reply.status == health_pb2.HealthCheckResponse.SERVING

    return asyncio.run(check())


def shown_tail(text: str) -> list[str]:
    """The log lines a death report showed."""
    return text.split("its last log lines", 1)[1].split("\n", 1)[1].split("restarting ", 1)[0].splitlines()


def test_a_dead_service_is_reported_and_restarted_with_backoff_and_jobs_go_on(stack: RunningStack) -> None:
    start = stack.output.stat().st_size
    first = kill(stack, "image")
    text = output_after(stack, start, r"image is back")
    assert re.search(r"image died \(killed by SIGKILL, after \d+ s up\); its last log lines", text), text
    log = (stack.var / "logs" / "image.log").read_text()
    assert shown_tail(text) and all(line in log for line in shown_tail(text)), text  # its own log's lines
    assert "restarting image in 1 s (restart 1)" in text
    second = int((stack.var / "run" / "image.pid").read_text())
    assert second != first and serving(stack.addr("image"), "genmedia.v1.ImageService")

    start = stack.output.stat().st_size
    kill(stack, "image")  # dies again soon after: a longer pause
    text = output_after(stack, start, r"image is back")
    assert "restarting image in 2 s (restart 2)" in text, text
    assert any("serving genmedia.v1.ImageService" in line for line in shown_tail(text)), text  # since its start
    result = stack.cli("image", "after the restarts", "--width", "64", "--height", "64", "--watch")
    assert result.returncode == 0 and "COMPLETED" in result.stdout, result.stdout + result.stderr


def test_a_failed_start_shows_its_own_error_not_an_earlier_runs(tmp_path: Path) -> None:
    var = tmp_path / "var"
    (var / "logs").mkdir(parents=True)
    (var / "logs" / "progress.log").write_text("STALE: a line from an earlier run\n" * 50)
    env = _stack_env(var) | {"GENMEDIA_WATCH_HEARTBEAT_SECONDS": "0"}  # refused at start, in one line
    result = subprocess.run([str(venv_bin("genmedia-stack"))], env=env, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "genmedia could not start" in result.stdout and "progress exited with" in result.stdout
    assert "GENMEDIA_WATCH_HEARTBEAT_SECONDS=0.0 must be above 0" in result.stdout, result.stdout
    assert "STALE" not in result.stdout, result.stdout


def test_a_killed_worker_is_restarted_and_its_job_shows_retrying_then_completes(stack: RunningStack) -> None:
    created = grpcurl(stack.addr("orchestrator"), "genmedia.v1.JobService/CreateJob",
                      data=json.dumps({"spec": {"null": {"duration": "6s"}}}))
    job_id = json.loads(created.stdout)["id"]
    deadline = time.monotonic() + 30
    while "RUNNING" not in stack.cli("get", job_id).stdout:
        assert time.monotonic() < deadline, "the job never ran"
        time.sleep(0.3)
    start = stack.output.stat().st_size
    kill(stack, "worker")
    killed_at = dt.datetime.now(dt.UTC)
    watched = stack.cli("watch", job_id)
    assert watched.returncode == 0 and "WORKER_LOST" in watched.stdout, watched.stdout + watched.stderr
    output_after(stack, start, r"worker died \(killed by SIGKILL.*worker is back")
    listed = grpcurl(stack.addr("progress"), "genmedia.v1.ProgressService/ListJobEvents",
                     data=json.dumps({"job_id": job_id}))
    events = json.loads(listed.stdout)["events"]
    retrying = next(e for e in events if e["type"] == "EVENT_TYPE_RETRYING")
    seen = dt.datetime.fromisoformat(retrying["time"].replace("Z", "+00:00"))
    assert (seen - killed_at).total_seconds() < 10, (seen, killed_at)
    assert "the worker running it was lost" in retrying["message"] and events[-1]["type"] == "EVENT_TYPE_COMPLETED"
