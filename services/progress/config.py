"""Settings of the progress service, read once from GENMEDIA_* environment variables; bad values fail fast."""

from __future__ import annotations

from dataclasses import dataclass

from genmedia.config import ConfigError, Section, Var, env_float, env_int, env_str, var_dir
from genmedia.serving.settings import ServingSettings


def default_database_url() -> str:
    """A SQLite file under GENMEDIA_VAR_DIR (its folder is created when the engine is made)."""
    return f"sqlite+aiosqlite:///{var_dir() / 'progress.db'}"


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name, "").lower()
    if not raw:
        return default
    if raw not in ("1", "true", "yes", "0", "false", "no"):
        raise ConfigError(f"{name}={raw!r} must be 1/true/yes or 0/false/no")
    return raw in ("1", "true", "yes")


@dataclass(frozen=True)
class Settings:
    """How the progress service serves, where it stores jobs and how it treats watchers."""

    serving: ServingSettings
    database_url: str  # GENMEDIA_DATABASE_URL: sqlite+aiosqlite:///... or postgresql+asyncpg://...
    heartbeat_seconds: float  # GENMEDIA_WATCH_HEARTBEAT_SECONDS: idle time before a stream heartbeat
    watch_buffer: int  # GENMEDIA_WATCH_BUFFER: events a watcher may fall behind before it is dropped
    migrate_on_start: bool  # GENMEDIA_MIGRATE_ON_START: apply migrations when serving starts (default 1)
    job_count_seconds: float = 10.0  # GENMEDIA_JOB_COUNT_SECONDS: how often genmedia_jobs{state} is read

    @classmethod
    def from_env(cls) -> Settings:
        heartbeat = env_float("GENMEDIA_WATCH_HEARTBEAT_SECONDS", 15.0, lo=0.0)
        if heartbeat <= 0:
            raise ConfigError(f"GENMEDIA_WATCH_HEARTBEAT_SECONDS={heartbeat} must be above 0")
        return cls(
            serving=ServingSettings.from_env("progress"),
            database_url=env_str("GENMEDIA_DATABASE_URL", default_database_url()),
            heartbeat_seconds=heartbeat,
            watch_buffer=env_int("GENMEDIA_WATCH_BUFFER", 1000, lo=1),
            migrate_on_start=env_bool("GENMEDIA_MIGRATE_ON_START", True),
            job_count_seconds=env_float("GENMEDIA_JOB_COUNT_SECONDS", 10.0, lo=0.1),
        )


ENV = Section("Progress service", (
    Var("GENMEDIA_DATABASE_URL", "sqlite+aiosqlite:///$GENMEDIA_VAR_DIR/progress.db",
        "the store: `sqlite+aiosqlite:///…` or `postgresql+asyncpg://…` (several replicas may share PostgreSQL)"),
    Var("GENMEDIA_MIGRATE_ON_START", "1",
        "1: apply the Alembic migrations when serving starts; 0: refuse a database that is behind"),
    Var("GENMEDIA_WATCH_HEARTBEAT_SECONDS", "15", "idle time before a watch stream's heartbeat"),
    Var("GENMEDIA_WATCH_BUFFER", "1000", "events a watcher may fall behind before it is closed (WATCHER_TOO_SLOW)"),
    Var("GENMEDIA_JOB_COUNT_SECONDS", "10", "how often the genmedia_jobs{state} gauge is read"),
))
