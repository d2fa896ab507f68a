"""A local S3-protocol server for tests and benchmarks: moto's server mode in a process of its own, on a
free port. `python -m tests.s3server` prints `port N` once it serves and stops when its stdin closes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

ACCESS_KEY, SECRET_KEY, REGION = "genmedia-test", "genmedia-test-secret", "us-east-1"


def s3_env(endpoint: str) -> dict[str, str]:
    """The standard variables that point an S3 client at the local server."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


@contextlib.asynccontextmanager
async def s3_server(tmp: Path | None = None) -> AsyncIterator[str]:
    """Starts the server process; yields its endpoint URL (http://127.0.0.1:PORT); stops it afterwards.
    Its spill files (moto keeps large objects in temporary files) go under `tmp` when given."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.s3server", env=env,
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(60):
            line = await proc.stdout.readline()
        if not line.startswith(b"port "):
            raise RuntimeError(f"the S3 server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.stdin.close()  # its signal to stop
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


def main() -> None:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
    server.start()
    print(f"port {server.get_host_and_port()[1]}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or dies)
    server.stop()


if __name__ == "__main__":
    main()
