"""What any durable commit on a disk waits for: fdatasync of an 8 KiB write every 5 ms to a file in a
directory, in a process of its own, until SIGTERM; then one line: count, p50, p99 and max in ms, and how
many took over 10 ms. The ingest benchmark runs it beside each trial, so a trial whose p99 a storage
stall made shows the stall next to it (a shared virtual disk here stalls fdatasync 40-110 ms at times,
with or without genmedia running)."""

from __future__ import annotations

import os
import signal
import sys
import time

INTERVAL = 0.005


def main(directory: str) -> None:
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    path = os.path.join(directory, f"disk-probe-{os.getpid()}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    latencies, block = [], b"\0" * 8192
    try:
        while not stop:
            os.pwrite(fd, block, (len(latencies) % 1024) * len(block))
            began = time.perf_counter()
            os.fdatasync(fd)
            latencies.append((time.perf_counter() - began) * 1000)
            time.sleep(INTERVAL)
    finally:
        os.close(fd)
        os.remove(path)
    latencies.sort()
    at = lambda p: latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]  # noqa: E731
    print(len(latencies), f"{at(50):.2f}", f"{at(99):.2f}", f"{latencies[-1]:.1f}",
          sum(ms > 10 for ms in latencies), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
