"""The Alembic migrations build exactly the schema the models describe, on SQLite and on PostgreSQL, and
serving refuses a database that is behind unless it may migrate it."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from services.progress.config import Settings
from services.progress.models import Base, make_engine
from services.progress.schema import current_revision, head, upgrade
from services.progress.server import SchemaOutOfDate, open_database


def _differences(connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


async def test_migrations_match_the_models(database):
    engine = make_engine(database.url, database.connect_args)
    try:
        assert await current_revision(engine) == ""
        await upgrade(engine)
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
        assert await current_revision(engine) == head() != ""
    finally:
        await engine.dispose()
    assert differences == []


async def test_concurrent_migrations_take_turns(database):
    # Replicas that migrate at start-up at the same moment: one creates the tables, the others find them.
    if database.schema is None:
        pytest.skip("replicas need PostgreSQL; a SQLite file has one process")
    engines = [make_engine(database.url, database.connect_args) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade(engine) for engine in engines))
        assert {await current_revision(engine) for engine in engines} == {head()}
    finally:
        await asyncio.gather(*(engine.dispose() for engine in engines))


async def test_serving_without_migrating_refuses_an_old_schema(monkeypatch, tmp_path):
    monkeypatch.setenv("GENMEDIA_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("GENMEDIA_MIGRATE_ON_START", "0")
    settings = Settings.from_env()
    with pytest.raises(SchemaOutOfDate, match="genmedia-progress migrate"):
        await open_database(settings)
    engine = await open_database(settings, migrate=True)
    await engine.dispose()
    engine = await open_database(settings)  # now at head: serving may start
    await engine.dispose()


async def test_a_database_from_before_migrations_is_refused_with_a_clear_message(tmp_path) -> None:
    from sqlalchemy import text

    from services.progress.schema import UnmanagedSchema

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    async with engine.begin() as connection:  # the foundation release made its tables with create_all
        await connection.execute(text("CREATE TABLE jobs (id VARCHAR(200) PRIMARY KEY)"))
    try:
        with pytest.raises(UnmanagedSchema, match="before schema migrations"):
            await upgrade(engine)
    finally:
        await engine.dispose()
