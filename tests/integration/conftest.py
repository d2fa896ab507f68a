"""Database fixtures for integration tests: a fresh SQLite file, and a fresh PostgreSQL schema when
GENMEDIA_TEST_DATABASE_URL is set (tests using `database` run on both)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.progress.models import make_engine
from services.progress.schema import upgrade
from services.progress.store import Store
from tests.conftest import postgres_url
from tests.integration.stores import StoreUnderTest, make_store
from tests.s3server import s3_server


@dataclass(frozen=True)
class Database:
    """Where a test's tables go: an async SQLAlchemy URL plus the connect_args that isolate it."""

    url: str
    connect_args: dict[str, Any] = field(default_factory=dict)
    schema: str | None = None


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        yield Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        return
    url = postgres_url()
    if url is None:
        pytest.skip("GENMEDIA_TEST_DATABASE_URL is not set")
    # A schema per test, uniquely named: other sessions may be using the same database at the same time.
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(url)
    try:
        async with admin.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield Database(url, {"server_settings": {"search_path": schema}}, schema)
    finally:
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture
async def replicas(database: Database) -> AsyncIterator[list[Store]]:
    """Two stores on one database, as two progress replicas (on PostgreSQL: two pools)."""
    engines = [make_engine(database.url, database.connect_args) for _ in range(2)]
    await upgrade(engines[0])
    stores = [Store(engine) for engine in engines]
    try:
        yield stores
    finally:
        for store, engine in zip(stores, engines, strict=True):
            store.close()
            await engine.dispose()


@pytest.fixture(scope="session")
async def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The local S3-protocol server (moto's server mode, its own process), shared by the session."""
    async with s3_server(tmp_path_factory.mktemp("s3")) as endpoint:
        yield endpoint


@pytest.fixture(params=["file", "s3"])
async def store_env(request: pytest.FixtureRequest, s3_endpoint: str, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[StoreUnderTest]:
    """A fresh empty asset store of each kind, named by GENMEDIA_ASSET_URL (and AWS_*) in the environment."""
    under = await make_store(request.param, s3_endpoint, tmp_path)
    for name, value in under.env.items():
        monkeypatch.setenv(name, value)
    async with under.closing:
        yield under
