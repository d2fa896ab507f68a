"""Helpers for ProgressService tests: an in-process server on port 0 over a migrated database, and
request builders."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.message import Message
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from genmedia.domain.errors import details_of
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from genmedia.v1 import progress_service_pb2_grpc
from services.progress.bus import Bus
from services.progress.models import make_engine
from services.progress.schema import upgrade
from services.progress.server import build_registrations
from services.progress.store import Store
from tests.conftest import postgres_url, serve_on_port0, stop_loop_thread
from tests.integration.conftest import Database

Stub = progress_service_pb2_grpc.ProgressServiceStub


@contextlib.asynccontextmanager
async def progress_stub(database, heartbeat_seconds: float = 15, address_out: list | None = None
                        ) -> AsyncIterator[Stub]:
    """A progress server on a freshly migrated database, and a stub on it (its address appended to
    address_out when given)."""
    engine = make_engine(database.url, database.connect_args)
    await upgrade(engine)
    registrations = build_registrations(Store.for_engine(engine), Bus(1000), heartbeat_seconds=heartbeat_seconds)
    try:
        async with contextlib.asynccontextmanager(serve_on_port0)(registrations) as running:
            if address_out is not None:
                address_out.append(f"127.0.0.1:{running.port}")
            async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
                yield Stub(channel)
    finally:
        await engine.dispose()


def created(job_id: str, key: str = "created", at: dt.datetime | None = None, **fields) -> ps.ReportProgressRequest:
    job = pb.Job(
        id=job_id, kind=pb.JOB_KIND_IMAGE, owner="ann", request_id=f"req-{job_id}", labels={"team": "a"},
        spec=pb.JobSpec(kind=pb.JOB_KIND_IMAGE, image=pb.ImageSpec(prompt="a red fox")),
    )
    for name, value in fields.items():
        if isinstance(value, dict):
            getattr(job, name).clear()
            getattr(job, name).update(value)
        elif isinstance(value, Message):
            getattr(job, name).CopyFrom(value)
        else:
            setattr(job, name, value)
    if at is not None:
        job.create_time.FromDatetime(at)
    return ps.ReportProgressRequest(
        event=pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_CREATED), idempotency_key=key, job=job
    )


def report(job_id: str, key: str, type: int, **fields) -> ps.ReportProgressRequest:
    return ps.ReportProgressRequest(event=pb.JobEvent(job_id=job_id, type=type, **fields), idempotency_key=key)


async def failure(call) -> tuple[grpc.StatusCode, str, list[tuple[str, str]]]:
    """The code, ErrorInfo reason and BadRequest violations of a call that must fail."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return (caught.value.code(), *details_of(caught.value))


class ThreadedProgress:
    """A progress server with its own event loop in a thread, for synchronous tests (hypothesis drives
    plain functions); on PostgreSQL it works in a schema of its own, dropped at the end."""

    def __init__(self, postgres: bool, tmp_path: Path) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._stack = contextlib.AsyncExitStack()
        self._postgres, self._tmp_path = postgres, tmp_path
        self.stub: Stub | None = None

    def run(self, coro):
        """Runs a coroutine on the server's loop and returns its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=120)

    def call(self, method: str, request):
        """One ProgressService RPC, made on the server's loop (grpc.aio calls belong to one loop)."""
        async def rpc():
            return await getattr(self.stub, method)(request)

        return self.run(rpc())

    def __enter__(self) -> ThreadedProgress:
        self._thread.start()
        self.stub = self.run(self._start())
        return self

    def __exit__(self, *exc) -> None:
        self.run(self._stack.aclose())
        stop_loop_thread(self._loop, self._thread)

    async def _start(self) -> Stub:
        database = Database(f"sqlite+aiosqlite:///{self._tmp_path / 'threaded.db'}")
        if self._postgres:
            url, schema = postgres_url(), f"test_{uuid.uuid4().hex[:16]}"
            admin = create_async_engine(url)
            self._stack.push_async_callback(admin.dispose)
            async with admin.begin() as connection:
                await connection.execute(text(f'CREATE SCHEMA "{schema}"'))

            async def drop() -> None:
                async with admin.begin() as connection:
                    await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

            self._stack.push_async_callback(drop)
            database = Database(url, {"server_settings": {"search_path": schema}}, schema)
        return await self._stack.enter_async_context(progress_stub(database))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def threaded_progress(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[ThreadedProgress]:
    """A ThreadedProgress per module, on SQLite and on PostgreSQL (skipped without GENMEDIA_TEST_DATABASE_URL)."""
    if request.param == "postgres" and postgres_url() is None:
        pytest.skip("GENMEDIA_TEST_DATABASE_URL is not set")
    with ThreadedProgress(request.param == "postgres", tmp_path_factory.mktemp("progress")) as progress:
        yield progress
