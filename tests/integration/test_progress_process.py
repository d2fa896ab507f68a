"""genmedia-progress as a real process: serves (grpcurl via reflection), migrates, fails fast, exits 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
from pathlib import Path

import grpc
import pytest

from genmedia.domain.errors import details_of
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from genmedia.v1 import progress_service_pb2_grpc
from services.progress.schema import head
from tests.conftest import grpcurl_path, venv_bin

SERVING = re.compile(rb"progress serving .* on [^ ]+:(\d+)")


def process_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENMEDIA_")}
    env.update(
        GENMEDIA_PROGRESS_PORT="0", GENMEDIA_PROGRESS_METRICS_PORT="-1", GENMEDIA_VAR_DIR=str(var_dir),
        GENMEDIA_SHUTDOWN_GRACE_SECONDS="2",
    )
    env.update(extra)
    return env


async def start_serving(env: dict[str, str]) -> tuple[asyncio.subprocess.Process, str, asyncio.Task]:
    """Starts genmedia-progress; returns it once it serves, its address and the task draining its stderr."""
    proc = await asyncio.create_subprocess_exec(str(venv_bin("genmedia-progress")), env=env,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(30):
            while not (match := SERVING.search(line := await proc.stderr.readline())):
                assert line, "genmedia-progress exited before serving"
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    return proc, f"127.0.0.1:{int(match.group(1))}", asyncio.create_task(proc.stderr.read())


async def run(*args: str, env: dict[str, str]) -> tuple[int, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode, output


async def test_serves_answers_grpcurl_and_exits_0_on_sigterm(tmp_path: Path):
    proc, address, drain = await start_serving(process_env(tmp_path))
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = progress_service_pb2_grpc.ProgressServiceStub(channel)
            event = pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_CREATED)
            job = pb.Job(id="j1", kind=pb.JOB_KIND_IMAGE)
            await stub.ReportProgress(ps.ReportProgressRequest(event=event, idempotency_key="c", job=job), timeout=5)
        code, output = await run(
            str(grpcurl_path()), "-plaintext", "-d", '{"job_id": "j1"}', address,
            "genmedia.v1.ProgressService/GetJob", env=dict(os.environ),
        )
        proc.send_signal(signal.SIGTERM)
        returncode = await asyncio.wait_for(proc.wait(), 15)
        await drain
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    answer = json.loads(output) if code == 0 else output
    assert answer["id"] == "j1" and answer["state"] == "JOB_STATE_PENDING" and answer["last_sequence"] == "1"
    assert returncode == 0 and (tmp_path / "progress.db").exists()


async def test_sigterm_ends_open_watches_at_once_so_clients_resume(tmp_path: Path):
    env = process_env(tmp_path, GENMEDIA_SHUTDOWN_GRACE_SECONDS="60")
    proc, address, drain = await start_serving(env)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = progress_service_pb2_grpc.ProgressServiceStub(channel)
            event = pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_CREATED)
            job = pb.Job(id="j1", kind=pb.JOB_KIND_IMAGE)
            await stub.ReportProgress(ps.ReportProgressRequest(event=event, idempotency_key="c", job=job), timeout=5)
            watch = stub.WatchJob(ps.WatchJobRequest(job_id="j1"))
            assert (await watch.read()).WhichOneof("payload") == "snapshot"
            started = asyncio.get_running_loop().time()
            proc.send_signal(signal.SIGTERM)
            with pytest.raises(grpc.aio.AioRpcError) as ended:
                await watch.read()
            returncode = await asyncio.wait_for(proc.wait(), 15)
            elapsed = asyncio.get_running_loop().time() - started
        await drain
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
    assert details_of(ended.value)[0] == "SERVER_SHUTTING_DOWN" and "after_sequence=1" in ended.value.details()
    assert returncode == 0 and elapsed < 10, f"waited {elapsed:.1f}s of a 60s grace period"


async def test_migrate_creates_the_schema_and_exits(tmp_path: Path):
    code, output = await run(str(venv_bin("genmedia-progress")), "migrate", env=process_env(tmp_path / "v"))
    with sqlite3.connect(tmp_path / "v" / "progress.db") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        journal = db.execute("PRAGMA journal_mode").fetchone()[0]
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert code == 0, output
    assert tables == {"jobs", "job_events", "job_labels", "job_counts", "job_notify", "deliveries",
                      "delivery_attempts", "alembic_version"} and journal == "wal"
    assert revision == head() and f"at revision {head()}".encode() in output


async def test_a_bad_setting_fails_fast_naming_the_variable(tmp_path: Path):
    env = process_env(tmp_path, GENMEDIA_WATCH_BUFFER="0")
    code, output = await run(str(venv_bin("genmedia-progress")), env=env)
    assert code != 0 and b"GENMEDIA_WATCH_BUFFER" in output
