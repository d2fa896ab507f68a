"""Helpers of the progress benchmarks: percentiles, a ratio line, fresh databases to measure on."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import statistics
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from tempfile import TemporaryDirectory

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio.testing import WorkflowEnvironment

from genmedia.launcher.stack import TEMPORAL_DEV_ARGS
from services.progress.models import make_engine
from services.progress.schema import upgrade


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))]


def latency_line(name: str, ms: list[float], baseline: list[float] | None = None) -> str:
    p50, p99 = statistics.median(ms), percentile(ms, 99)
    line = f"{name:<44} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms"
    if baseline:
        line += f"   ratio p50 {p50 / statistics.median(baseline):5.2f}x  p99 {p99 / percentile(baseline, 99):5.2f}x"
    return line


def postgres_url() -> str | None:
    return os.environ.get("GENMEDIA_BENCH_DATABASE_URL") or os.environ.get("GENMEDIA_TEST_DATABASE_URL") or None


@contextlib.asynccontextmanager
async def database(kind: str, var: str) -> AsyncIterator[AsyncEngine]:
    """A migrated, empty database: a SQLite file under var, or a fresh schema in the PostgreSQL database
    (GENMEDIA_BENCH_DATABASE_URL or GENMEDIA_TEST_DATABASE_URL), dropped afterwards."""
    if kind == "sqlite":
        engine = make_engine(f"sqlite+aiosqlite:///{var}/bench-{uuid.uuid4().hex[:8]}.db")
        try:
            await upgrade(engine)
            yield engine
        finally:
            await engine.dispose()
        return
    url, schema = postgres_url(), f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(url)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, {"server_settings": {"search_path": schema}})
    try:
        await upgrade(engine)
        yield engine
    finally:
        await engine.dispose()
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


async def temporal_dev_server() -> WorkflowEnvironment:
    """The Temporal dev server as `make run` starts it (the venv's binary, genmedia's dynamic config)."""
    return await WorkflowEnvironment.start_local(dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
                                                 dev_server_log_level="error",
                                                 dev_server_extra_args=list(TEMPORAL_DEV_ARGS))


def run_alone(run: Callable[[str, WorkflowEnvironment], Awaitable[object]]) -> None:
    """`python -m benchmarks.<one>`: one benchmark by itself, with a dev server and a var folder of its own."""
    async def alone() -> None:
        env = await temporal_dev_server()
        try:
            with TemporaryDirectory(prefix="genmedia-bench-") as var:
                os.environ.update(GENMEDIA_VAR_DIR=var, GENMEDIA_LOG_LEVEL="WARNING")
                await run(var, env)
        finally:
            await env.shutdown()

    asyncio.run(alone())
    os._exit(0)  # as benchmarks.__main__: grpcio's poller thread can abort the interpreter's teardown


PORT = re.compile(rb"(?:serving .* on [^ ]+:|^port )(\d+)")


async def start(args: list[str], env: dict[str, str]) -> tuple[asyncio.subprocess.Process, int]:
    """Starts a server process; returns it once it logs the port it serves on (its output kept drained)."""
    env = {**env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    async with asyncio.timeout(60):
        while not (match := PORT.search(line := await proc.stdout.readline())):
            if not line:
                raise RuntimeError(f"{args[0]} exited before serving")
    asyncio.create_task(proc.stdout.read())  # keep its pipe drained
    return proc, int(match.group(1))


@contextlib.asynccontextmanager
async def disk_probe(directory: str) -> AsyncIterator[list[str]]:
    """benchmarks.disk_probe beside the block; the list gets a summary of its fdatasync latencies after it."""
    summary: list[str] = []
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "benchmarks.disk_probe", directory,
                                                stdout=asyncio.subprocess.PIPE,
                                                cwd=str(Path(__file__).resolve().parent.parent))
    try:
        yield summary
    finally:
        proc.terminate()
        out, _ = await proc.communicate()
        count, p50, p99, worst, stalls = out.split() if out.count(b" ") == 4 else (b"0",) * 5
        summary.append(f"disk fdatasync p99 {float(p99):.1f} max {float(worst):.1f} ms"
                       + (f" ({int(stalls)} of {int(count)} over 10 ms)" if int(stalls) else ""))


@contextlib.asynccontextmanager
async def no_summary() -> AsyncIterator[list[str]]:
    yield []


CHECKPOINTS = {  # PostgreSQL 17 moved the checkpointer's counters out of pg_stat_bgwriter
    "pg_stat_checkpointer": "num_timed + num_requested, write_time, sync_time",
    "pg_stat_bgwriter": "checkpoints_timed + checkpoints_req, checkpoint_write_time, checkpoint_sync_time",
}


@contextlib.asynccontextmanager
async def checkpoints() -> AsyncIterator[list[str]]:
    """PostgreSQL checkpoints that ended during the block (the whole server's): the list gets a summary
    after it. A checkpoint writes the data files and then fsyncs them all, which on a shared disk can stall
    the WAL's fdatasync, so every commit waiting for it; the summary sits beside the trial it may explain."""
    summary: list[str] = []
    engine = create_async_engine(postgres_url(), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            view = await connection.scalar(text(
                "SELECT relname FROM pg_catalog.pg_class WHERE relname = 'pg_stat_checkpointer'")) or "pg_stat_bgwriter"
            query = text(f"SELECT {CHECKPOINTS[view]} FROM pg_catalog.{view}")
            before = (await connection.execute(query)).one()
            yield summary
            after = (await connection.execute(query)).one()
    finally:
        await engine.dispose()
    count, written, synced = (a - b for a, b in zip(after, before, strict=True))
    summary.append(f"{count} checkpoint{'s' * (count != 1)} ended"
                   + (f" (write {written / 1000:.1f} s, fsync {synced:.0f} ms)" if count else ""))


def progress_env(var: str, **extra: str) -> dict[str, str]:
    """The environment of a genmedia-progress process for a benchmark: port 0, no metrics port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENMEDIA_")}
    env.update(GENMEDIA_PROGRESS_PORT="0", GENMEDIA_PROGRESS_METRICS_PORT="-1", GENMEDIA_VAR_DIR=var,
               GENMEDIA_LOG_LEVEL="INFO", **extra)
    return env


@contextlib.asynccontextmanager
async def progress_process(kind: str, var: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """A real genmedia-progress process on a fresh database: a SQLite file under var, or a new PostgreSQL
    database next to the one of GENMEDIA_BENCH_DATABASE_URL / GENMEDIA_TEST_DATABASE_URL (dropped after)."""
    admin = None
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{var}/bench-{uuid.uuid4().hex[:8]}.db"
    else:
        name = f"genmedia_bench_{uuid.uuid4().hex[:12]}"
        admin = create_async_engine(postgres_url(), isolation_level="AUTOCOMMIT")
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(postgres_url()).set(database=name).render_as_string(hide_password=False)
    try:
        proc, port = await start([str(Path(sys.executable).parent / "genmedia-progress")],
                                 progress_env(var, GENMEDIA_DATABASE_URL=url))
        try:
            yield proc, port
        finally:
            proc.terminate()
            await proc.wait()
    finally:
        if admin is not None:
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()


def backends() -> list[str]:
    return ["sqlite", "postgres"] if postgres_url() else ["sqlite"]
