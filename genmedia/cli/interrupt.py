"""Ctrl-C for a running command: it is stopped and the process exits 130, every time.

asyncio.run's own handling cancels the command's task once; under load a library was seen swallowing that
one cancellation (a watch then ran on to the job's end and exited 0), so the cancellation is repeated until
the command has stopped."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any

from genmedia.cli import exitcodes

RECANCEL_SECONDS = 0.5


async def interruptible(command: Coroutine[Any, Any, int]) -> int:
    """The command's exit code, or INTERRUPTED once SIGINT arrived (whatever the command did then)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(command)
    interrupted = asyncio.Event()
    previous = signal.getsignal(signal.SIGINT)
    try:
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
    except (NotImplementedError, RuntimeError):  # not the main thread: leave Ctrl-C to the default handling
        return await task
    waiter = asyncio.ensure_future(interrupted.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not interrupted.is_set():
            return task.result()
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=RECANCEL_SECONDS)
        if not task.cancelled():
            task.exception()  # retrieved: whatever it raised while stopping is not news after Ctrl-C
        return exitcodes.INTERRUPTED
    finally:
        waiter.cancel()
        if not task.done():  # we are being cancelled ourselves
            task.cancel()
        loop.remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, previous)
