"""Supervision of the stack's processes once `make run` has them up: a process that dies is reported with
the last lines it logged since it was started, and started again after a growing pause (1 s, doubling up
to 30 s, and 1 s again once it has stayed up a minute), until the stack stops. Jobs waiting in RETRYING
for a dead service go on once it is back."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Protocol

from rich.console import Console
from rich.markup import escape

FIRST_PAUSE, MAX_PAUSE = 1.0, 30.0  # seconds before a restart: the first, and the most
STABLE_AFTER = 60.0  # seconds up after which a death counts as the first again
POLL = 0.2  # seconds between two looks at a process
TAIL_LINES, TAIL_BYTES = 20, 64 * 1024


def log_tail(path: Path, offset: int, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines written to a log from `offset` on (what this start of the process wrote, not
    what earlier runs left in the same file)."""
    try:
        with path.open("rb") as log:
            size = log.seek(0, 2)
            log.seek(max(offset, size - TAIL_BYTES))
            text = log.read().decode(errors="replace")
    except OSError as err:
        return f"(its log {path} cannot be read: {err.strerror})"
    kept = text.splitlines()[-lines:]
    return "\n".join(kept) if kept else "(it logged nothing)"


def exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class Supervised(Protocol):
    """What the supervisor needs of the stack (genmedia.launcher.stack.Stack)."""

    children: list
    console: Console
    logs: Path  # the directory of the children's logs

    def spawn(self, child) -> None: ...

    async def wait_ready(self, child, timeout: float = 90.0) -> None: ...

    def tail(self, child) -> str: ...


class Supervisor:
    def __init__(self, stack: Supervised) -> None:
        self.stack = stack

    async def run(self) -> None:
        """Watches every process until cancelled (the stack is stopping)."""
        await asyncio.gather(*(self._watch(child) for child in self.stack.children))

    async def _watch(self, child) -> None:
        console, pause, restarts = self.stack.console, FIRST_PAUSE, 0
        started = time.monotonic()
        while True:
            while (code := child.process.poll()) is None:  # noqa: ASYNC110 (a Popen's exit cannot be awaited)
                await asyncio.sleep(POLL)
            lived = time.monotonic() - started
            pause = FIRST_PAUSE if lived >= STABLE_AFTER or not restarts else min(pause * 2, MAX_PAUSE)
            restarts += 1
            console.print(f"[red]{child.name} died[/] ({exit_text(code)}, after {lived:.0f} s up); its last log "
                          f"lines ({self.stack.logs / child.name}.log):", highlight=False, soft_wrap=True)
            console.print(escape(self.stack.tail(child)), highlight=False, soft_wrap=True)
            console.print(f"[yellow]restarting {child.name} in {pause:g} s[/] (restart {restarts})",
                          highlight=False, soft_wrap=True)
            await asyncio.sleep(pause)
            self.stack.spawn(child)
            started = time.monotonic()
            try:
                await self.stack.wait_ready(child)
            except Exception as err:  # StackError: it died again, or is not healthy in time
                if child.process.poll() is None:
                    child.process.kill()  # up but not healthy: start it again
                console.print(f"[red]{child.name} did not come back:[/] {escape(str(err).splitlines()[0])}",
                              highlight=False)
                continue
            console.print(f"[green]{child.name} is back[/] (pid {child.process.pid})", highlight=False, soft_wrap=True)
