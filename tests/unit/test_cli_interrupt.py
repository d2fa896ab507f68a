"""Ctrl-C stops a command with exit code 130 even when the command swallows the first cancellation."""

from __future__ import annotations

import asyncio
import os
import signal

from genmedia.cli import exitcodes
from genmedia.cli.interrupt import interruptible


async def test_ctrl_c_stops_a_command_that_swallows_the_first_cancellation() -> None:
    cancellations = 0

    async def stubborn() -> int:
        nonlocal cancellations
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancellations += 1
                if cancellations > 1:
                    raise

    loop = asyncio.get_running_loop()
    loop.call_later(0.1, os.kill, os.getpid(), signal.SIGINT)
    assert await asyncio.wait_for(interruptible(stubborn()), 10) == exitcodes.INTERRUPTED
    assert cancellations == 2


async def test_a_command_that_ends_gives_its_own_code_and_leaves_ctrl_c_as_it_was() -> None:
    async def quick() -> int:
        return exitcodes.NOT_FOUND

    before = signal.getsignal(signal.SIGINT)
    assert await interruptible(quick()) == exitcodes.NOT_FOUND
    assert signal.getsignal(signal.SIGINT) == before
