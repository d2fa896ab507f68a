"""The whole stack as real processes, started the way `make run` starts it, on free ports."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from genmedia.config import METRICS_PORTS, PORTS
from tests.conftest import free_port, stop_loop_thread, venv_bin
from tests.integration.receivers import smtp_server


@dataclass
class RunningStack:
    env: dict[str, str]
    var: Path
    process: subprocess.Popen
    output: Path

    def addr(self, service: str) -> str:
        return self.env[f"GENMEDIA_{service.upper()}_ADDR"]

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([str(venv_bin("genmedia")), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)


def _stack_env(var: Path) -> dict[str, str]:
    env = dict(os.environ, GENMEDIA_VAR_DIR=str(var), GENMEDIA_TEMPORAL_PORT=str(free_port()),
               GENMEDIA_TEMPORAL_UI_PORT="-1", GENMEDIA_SHUTDOWN_GRACE_SECONDS="5",
               GENMEDIA_IMAGE_STEP_DELAY_SECONDS="0.02", GENMEDIA_VIDEO_FRAME_DELAY_SECONDS="0.02")
    for name in PORTS:
        port = free_port()
        env[f"GENMEDIA_{name.upper()}_PORT"] = str(port)
        env[f"GENMEDIA_{name.upper()}_ADDR"] = f"127.0.0.1:{port}"
    for name in METRICS_PORTS:
        env[f"GENMEDIA_{name.upper()}_METRICS_PORT"] = str(free_port())
    return env


class MailServer:
    """A real SMTP server (aiosmtpd) on its own event loop in a thread, for the stack to send email to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._context = smtp_server()
        self.mailbox, self.port = None, 0

    def __enter__(self) -> MailServer:
        self._thread.start()
        self.mailbox, self.port = self._run(self._context.__aenter__())
        return self

    def __exit__(self, *exc) -> None:
        self._run(self._context.__aexit__(None, None, None))
        stop_loop_thread(self.loop, self._thread)

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def wait_for(self, count: int, timeout: float = 60) -> list:
        return self._run(self.mailbox.wait_for(count, timeout))


@pytest.fixture(scope="session")
def mail() -> Iterator[MailServer]:
    with MailServer() as server:
        yield server


@contextmanager
def start_stack(var: Path, extra_env: dict[str, str] | None = None) -> Iterator[RunningStack]:
    """`genmedia-stack` on free ports under `var`, ready, stopped (SIGINT) at the end."""
    env = _stack_env(var)
    env.update(extra_env or {})
    output = var.parent / "stack.out"
    with output.open("wb") as out:
        process = subprocess.Popen([str(venv_bin("genmedia-stack"))], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    running = RunningStack(env, var, process, output)
    deadline = time.monotonic() + 120
    while "genmedia is ready" not in output.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"stack did not start:\n{output.read_text(errors='replace')}")
        time.sleep(0.2)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, mail: MailServer) -> Iterator[RunningStack]:
    smtp = dict(GENMEDIA_SMTP_HOST="127.0.0.1", GENMEDIA_SMTP_PORT=str(mail.port), GENMEDIA_SMTP_TLS="off",
                GENMEDIA_SMTP_FROM="genmedia@example.com")
    with start_stack(tmp_path_factory.mktemp("stack") / "var", smtp) as running:
        yield running
