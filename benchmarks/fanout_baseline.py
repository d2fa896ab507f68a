"""The fan-out baseline: a bare grpc.aio server speaking ProgressService's ReportProgress and WatchJob with
nothing behind them (no database, no validation): each report is stamped and put on every watcher's queue.
Run as `python -m benchmarks.fanout_baseline`; prints `port N`."""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc

from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from genmedia.v1 import progress_service_pb2_grpc


class Bare(progress_service_pb2_grpc.ProgressServiceServicer):
    def __init__(self) -> None:
        self.watchers: dict[str, set[asyncio.Queue]] = {}
        self.sequences: dict[str, int] = {}

    async def ReportProgress(self, request, context):
        event = pb.JobEvent()
        event.CopyFrom(request.event)
        event.sequence = self.sequences[event.job_id] = self.sequences.get(event.job_id, 0) + 1
        event.time.FromDatetime(dt.datetime.now(dt.UTC))
        for queue in self.watchers.get(event.job_id, ()):
            queue.put_nowait(event)
        return ps.ReportProgressResponse(sequence=event.sequence)

    async def WatchJob(self, request, context):
        queue: asyncio.Queue = asyncio.Queue()
        self.watchers.setdefault(request.job_id, set()).add(queue)
        try:
            yield ps.WatchJobResponse(snapshot=pb.Job(id=request.job_id))
            while True:
                yield ps.WatchJobResponse(event=await queue.get())
        finally:
            self.watchers[request.job_id].discard(queue)


async def main() -> None:
    server = grpc.aio.server()
    progress_service_pb2_grpc.add_ProgressServiceServicer_to_server(Bare(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"port {port}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main())
