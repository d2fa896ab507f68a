"""The DownloadAsset baseline: a bare grpc.aio server whose DownloadAsset streams a file in 1 MiB chunks,
read as it goes, with nothing else (no job lookup, no store, no checks). Run as
`python -m benchmarks.download_baseline FILE`; prints `port N`."""

from __future__ import annotations

import asyncio
import sys

import grpc

from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import job_service_pb2_grpc

CHUNK = 1 << 20


class Bare(job_service_pb2_grpc.JobServiceServicer):
    def __init__(self, path: str) -> None:
        self.path = path

    async def DownloadAsset(self, request, context):
        with open(self.path, "rb") as f:  # noqa: ASYNC230 - the bare way: plain blocking reads
            f.seek(request.offset)
            offset = request.offset
            while data := f.read(CHUNK):
                yield js.DownloadAssetResponse(chunk=js.AssetChunk(offset=offset, data=data))
                offset += len(data)


async def main(path: str) -> None:
    server = grpc.aio.server()
    job_service_pb2_grpc.add_JobServiceServicer_to_server(Bare(path), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"port {port}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
