"""The CLI where things go wrong: no stack running, credentials refused, rate limits, deadlines, a server
that does not know the call, and `genmedia monitor` across a restart of the progress service."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import grpc
import pytest

from genmedia.serving.ratelimit import RateLimit, RoleLimits
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2_grpc
from tests.conftest import free_port, venv_bin
from tests.integration.jobstack import configure_env, job_services, start_image_server
from tests.integration.progress import created, report
from tests.integration.test_progress_process import process_env, start_serving
from tests.integration.test_progress_resume import until
from tests.integration.test_security import ALICE, BOB, guard

pytestmark = pytest.mark.timeout(180)


async def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(venv_bin("genmedia")), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=env or {k: v for k, v in os.environ.items() if not k.startswith("GENMEDIA_")})
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def test_with_no_stack_running_the_cli_names_the_address_and_how_to_start_it() -> None:
    port = free_port()  # nothing listens there
    env = {"PATH": os.environ["PATH"], "GENMEDIA_ORCHESTRATOR_ADDR": f"127.0.0.1:{port}"}
    code, out, err = await cli("image", "a kite", env=env)
    assert code == 7 and out == "", err
    assert f"cannot reach JobService at 127.0.0.1:{port}" in err and "make run" in err, err
    assert "GENMEDIA_ORCHESTRATOR_ADDR" in err and "Traceback" not in err
    code, out, err = await cli("--progress-server", f"127.0.0.1:{port}", "list", "-o", "json")
    (error,) = [json.loads(line) for line in err.splitlines()]
    assert code == 7 and error["code"] == "UNAVAILABLE" and f"127.0.0.1:{port}" in error["message"]
    assert "make run" in error["message"] and "--progress-server" in error["message"]


async def test_exit_codes_of_refused_credentials_rate_limits_deadlines_and_unknown_calls(tmp_path: Path,
                                                                                      monkeypatch) -> None:
    configure_env(monkeypatch, tmp_path)
    limits = {"user": RoleLimits(RateLimit(1000, 1000), RateLimit(0.2, 1)), "admin": RoleLimits()}
    async with job_services(tmp_path, guard=guard(limits)) as stack:
        progress = ["--progress-server", stack.settings.progress_addr]
        code, _, err = await cli(*progress, "--token", "wrong", "list")
        assert code == 6 and "UNAUTHENTICATED" in err, err
        code, _, err = await cli(*progress, "--token", BOB, "list", "--json")
        assert code == 0, err
        code, _, err = await cli(*progress, "--token", BOB, "list", "--json")  # past the burst of 1
        (error,) = [json.loads(line) for line in err.splitlines()]
        assert code == 8 and error["code"] == "RESOURCE_EXHAUSTED" and error["reason"] == "RATE_LIMITED", err
        code, _, err = await cli(*progress, "--token", ALICE, "--timeout", "0.000001", "list")
        assert code == 9 and "DEADLINE_EXCEEDED" in err, err
    image = await start_image_server()
    try:  # an image service answers no ProgressService call: UNIMPLEMENTED
        code, _, err = await cli("--progress-server", f"127.0.0.1:{image.port}", "list", "-o", "json")
    finally:
        await image.stop(0)
    assert code == 10 and json.loads(err)["code"] == "UNIMPLEMENTED", err


async def _lines(stream: asyncio.StreamReader, into: list[dict]) -> None:
    while line := await stream.readline():
        into.append(json.loads(line))


async def test_monitor_keeps_running_across_a_progress_service_restart(tmp_path: Path) -> None:
    env = process_env(tmp_path)
    progress, address, drain = await start_serving(env)
    monitor = None
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = progress_service_pb2_grpc.ProgressServiceStub(channel)
            await stub.ReportProgress(created("kite"), timeout=5)
            cli_env = dict(env, GENMEDIA_PROGRESS_ADDR=address)
            monitor = await asyncio.create_subprocess_exec(
                str(venv_bin("genmedia")), "monitor", "-o", "jsonl", env=cli_env, stdout=asyncio.subprocess.PIPE)
            seen: list[dict] = []
            reading = asyncio.create_task(_lines(monitor.stdout, seen))
            await until(lambda: any(s.get("snapshot", {}).get("id") == "kite" for s in seen))
            await stub.ReportProgress(report("kite", "s", pb.EVENT_TYPE_STARTED), timeout=5)
            await until(lambda: any(s.get("event", {}).get("type") == "EVENT_TYPE_STARTED" for s in seen))
        progress.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(progress.wait(), 15) == 0
        await drain
        await asyncio.sleep(1)  # the monitor is reconnecting meanwhile
        assert monitor.returncode is None
        env["GENMEDIA_PROGRESS_PORT"] = address.rsplit(":", 1)[1]
        progress, _, drain = await start_serving(env)
        async with grpc.aio.insecure_channel(address) as channel:
            stub = progress_service_pb2_grpc.ProgressServiceStub(channel)
            await stub.ReportProgress(report("kite", "p", pb.EVENT_TYPE_PROGRESS, percent=50), timeout=5)
            await stub.ReportProgress(created("owl", key="created-owl"), timeout=5)
            await stub.ReportProgress(report("kite", "c", pb.EVENT_TYPE_COMPLETED, percent=100), timeout=5)
            await until(lambda: [s["event"]["type"] for s in seen if "event" in s][-3:] == [
                "EVENT_TYPE_PROGRESS", "EVENT_TYPE_CREATED", "EVENT_TYPE_COMPLETED"])
        events = [s["event"] for s in seen if "event" in s]
        assert [(e["job_id"], e["sequence"]) for e in events] == [("kite", 2), ("kite", 3), ("owl", 1), ("kite", 4)]
        assert all(s.get("cursor") for s in seen if "event" in s)
        monitor.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(monitor.wait(), 15) == 130
        await reading
    finally:
        for proc in (monitor, progress):
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()
        await drain

