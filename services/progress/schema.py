"""The progress database's schema, managed by the Alembic migrations in services/progress/migrations.

`upgrade` brings a database to the newest revision. On PostgreSQL it first takes an advisory lock, so
replicas that all migrate at start-up take turns instead of racing to create the same tables."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = 0x67656E6D  # "genm": the advisory lock key that serialises migrations on PostgreSQL


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


class UnmanagedSchema(RuntimeError):
    """The database holds genmedia's tables but no migration history (made before migrations existed)."""


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    if not _current(connection) and inspect(connection).has_table("jobs"):
        raise UnmanagedSchema(
            f"the progress database {connection.engine.url.render_as_string(hide_password=True)} was made by "
            "genmedia's first release, before schema migrations, and cannot be upgraded in place: move it "
            "away (for local data: delete var/progress.db) and start again")
    command.upgrade(alembic_config(connection), revision)


def _current(connection: Connection) -> str:
    return MigrationContext.configure(connection).get_current_revision() or ""


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Applies the migrations the database lacks, up to `revision`, in one transaction."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)
        current = await connection.run_sync(_current)
    log.info("database schema at revision %s", current)


async def current_revision(engine: AsyncEngine) -> str:
    """The revision the database is at ('' before the first migration)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current)
