"""Helpers of the progress benchmarks: percentiles, a ratio line, fresh databases to measure on."""

from __future__ import annotations

import contextlib
import os
import statistics
import uuid
from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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


def backends() -> list[str]:
    return ["sqlite", "postgres"] if postgres_url() else ["sqlite"]
