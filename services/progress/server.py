"""Wiring of the progress service: engine, schema, store, bus and servicer behind the shared serving kit."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from genmedia.serving.server import Registration, serve
from genmedia.v1 import progress_service_pb2, progress_service_pb2_grpc
from services.progress import jobmetrics
from services.progress.bus import Bus
from services.progress.config import Settings
from services.progress.models import make_engine
from services.progress.replicas import Listener
from services.progress.schema import current_revision, head, upgrade
from services.progress.servicer import ProgressServicer
from services.progress.store import Store

log = logging.getLogger(__name__)

SERVICE_NAME = progress_service_pb2.DESCRIPTOR.services_by_name["ProgressService"].full_name


def build_registrations(store: Store, bus: Bus, heartbeat_seconds: float) -> list[Registration]:
    """The services one progress server exposes (health and reflection are added by the kit)."""
    servicer = ProgressServicer(store, bus, heartbeat_seconds)
    return [Registration(SERVICE_NAME, progress_service_pb2_grpc.add_ProgressServiceServicer_to_server, servicer)]


class SchemaOutOfDate(RuntimeError):
    """The database is not at the migration this code needs, and migrating at start-up is off."""


async def open_database(settings: Settings, migrate: bool | None = None) -> AsyncEngine:
    """An engine on the configured database, migrated first when `migrate` (default: the setting)."""
    engine = make_engine(settings.database_url)
    try:
        if settings.migrate_on_start if migrate is None else migrate:
            await upgrade(engine)
        elif (current := await current_revision(engine)) != head():
            raise SchemaOutOfDate(
                f"database schema is at revision {current or 'none'}, this code needs {head()}: "
                "run `genmedia-progress migrate` (or set GENMEDIA_MIGRATE_ON_START=1)"
            )
    except BaseException:
        await engine.dispose()
        raise
    log.info("database ready (%s)", engine.url.render_as_string(hide_password=True))
    return engine


async def migrate(settings: Settings | None = None) -> None:
    """Applies the migrations the database lacks and returns (`genmedia-progress migrate`)."""
    engine = await open_database(settings or Settings.from_env(), migrate=True)
    await engine.dispose()


async def serve_forever(settings: Settings | None = None) -> None:
    """Serves ProgressService until SIGTERM/SIGINT, then drains and closes the database."""
    settings = settings or Settings.from_env()
    engine = await open_database(settings)
    store, bus = Store.for_engine(engine), Bus(settings.watch_buffer)
    listener = Listener(engine.url, {}, store, bus) if engine.dialect.name == "postgresql" else None
    if listener is not None:
        await listener.start()  # other replicas' events reach this one's watchers
    counting = asyncio.create_task(jobmetrics.keep_counting_jobs(store.sessions, settings.job_count_seconds))

    async def stop() -> None:
        counting.cancel()
        if listener is not None:
            await listener.stop()
        store.close()
        await engine.dispose()

    registrations = build_registrations(store, bus, settings.heartbeat_seconds)
    await serve(settings.serving, registrations, on_drain=bus.close, on_stop=stop)
