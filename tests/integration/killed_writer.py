"""`python -m tests.integration.killed_writer SERVICE JOB_ID MEGABYTES`: writes MEGABYTES of the job's asset
`video.mp4` to the store the environment names, says `written`, then waits mid-write for its SIGKILL."""

from __future__ import annotations

import asyncio
import os
import sys

from genmedia.assetstore import asset_key, open_store


async def main(service: str, job_id: str, megabytes: int) -> None:
    async def chunks():
        for _ in range(megabytes):
            yield os.urandom(1 << 20)
        print("written", flush=True)
        await asyncio.Event().wait()  # mid-write, until killed
        yield b""

    store = open_store(service)
    await store.write_chunks(asset_key(job_id, "video.mp4"), chunks(), "video/mp4")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
