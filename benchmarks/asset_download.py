"""DownloadAsset of a 100 MB asset on loopback from a real genmedia-orchestrator API process (a folder
store; the job looked up in a real genmedia-progress process), beside a bare grpc.aio stream of the same
1 MiB chunks read from the same file (benchmarks.download_baseline), alternating in the same run. Goal:
throughput >= 0.8x the baseline's (medians)."""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import grpc

from benchmarks.common import progress_env, progress_process, run_alone, start
from benchmarks.table import Row, add
from genmedia.assetstore import asset_key
from genmedia.assetstore.filestore import FileStore
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import job_service_pb2_grpc, progress_service_pb2_grpc
from genmedia.v1 import progress_service_pb2 as ps

SIZE = int(os.environ.get("GENMEDIA_BENCH_ASSET_MB", "100")) << 20
ROUNDS = int(os.environ.get("GENMEDIA_BENCH_ROUNDS", "9"))


async def stored_asset(var: str, progress_port: int) -> tuple[str, Path]:
    """A finished job with one asset of SIZE random bytes in a folder store; (job id, the file)."""
    store, job_id = FileStore(Path(var) / "bench-assets", "bench"), str(uuid.uuid4())

    async def chunks():
        for _ in range(SIZE >> 20):
            yield os.urandom(1 << 20)

    stored = await store.write_chunks(asset_key(job_id, "video.mp4"), chunks(), "video/mp4")
    asset = pb.Asset(uri=stored.uri, mime_type="video/mp4", size_bytes=stored.size, sha256=stored.sha256)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{progress_port}") as channel:
        progress = progress_service_pb2_grpc.ProgressServiceStub(channel)
        job = pb.Job(id=job_id, kind=pb.JOB_KIND_VIDEO, owner="anonymous")
        await progress.ReportProgress(ps.ReportProgressRequest(
            event=pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_CREATED), idempotency_key="c", job=job))
        await progress.ReportProgress(ps.ReportProgressRequest(
            event=pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_COMPLETED, assets=[asset]), idempotency_key="d"))
    return job_id, Path(store.root / job_id / "video.mp4")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def download(port: int, job_id: str) -> float:
    """Seconds to receive the whole asset (every message read, its bytes counted)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_receive_message_length",
                                                                         8 << 20)]) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        began, received = time.perf_counter(), 0
        async for message in stub.DownloadAsset(js.DownloadAssetRequest(job_id=job_id), timeout=120):
            received += len(message.chunk.data)
        elapsed = time.perf_counter() - began
    assert received == SIZE, received
    return elapsed


async def run(var: str, temporal_address: str) -> None:
    print(f"\nDownloadAsset of a {SIZE >> 20} MB asset on loopback, {ROUNDS} alternating rounds")
    async with progress_process("sqlite", var) as (_, progress_port):
        job_id, path = await stored_asset(var, progress_port)
        env = progress_env(var, GENMEDIA_ORCHESTRATOR_PORT="0", GENMEDIA_ORCHESTRATOR_METRICS_PORT="-1",
                           GENMEDIA_TEMPORAL_ADDR=temporal_address, GENMEDIA_PROGRESS_ADDR=f"127.0.0.1:{progress_port}",
                           GENMEDIA_ASSET_URL=path.parent.parent.as_uri())
        api, api_port = await start([str(Path(sys.executable).parent / "genmedia-orchestrator"), "--role", "api"], env)
        bare, bare_port = await start([sys.executable, "-m", "benchmarks.download_baseline", str(path)], env)
        try:
            await download(api_port, job_id)  # warm-up of both
            await download(bare_port, job_id)
            times: dict[str, list[float]] = {"api": [], "bare": []}
            cpu = {"api": 0.0, "bare": 0.0}
            for _ in range(ROUNDS):
                for name, proc, port in (("bare", bare, bare_port), ("api", api, api_port)):
                    before = cpu_seconds(proc.pid)
                    times[name].append(await download(port, job_id))
                    cpu[name] += cpu_seconds(proc.pid) - before
        finally:
            for proc in (api, bare):
                proc.terminate()
                await proc.wait()
    mb = SIZE / 2**20
    bare_rate, api_rate = mb / statistics.median(times["bare"]), mb / statistics.median(times["api"])
    labels = {"bare": "baseline: bare grpc.aio stream of the file", "api": "DownloadAsset (folder store)"}
    for name, label in labels.items():
        rates = [mb / t for t in times[name]]
        line = (f"{label:<44} {statistics.median(rates):7.1f} MB/s (median of {ROUNDS}; {min(rates):.0f}-"
                f"{max(rates):.0f}), server CPU {cpu[name] / ROUNDS * 1000:4.0f} ms per download")
        if name == "api":
            line += f"   ratio {api_rate / bare_rate:4.2f}x (goal >= 0.8x)"
        print(line)
    add(Row("download", f"DownloadAsset of a {SIZE >> 20} MB asset (folder store), throughput", api_rate, "MB/s",
            bare_rate, api_rate / bare_rate, ">= 0.8x", api_rate / bare_rate >= 0.8,
            "bare grpc.aio stream", command="GENMEDIA_BENCH_ONLY=download make bench"))


if __name__ == "__main__":
    run_alone(lambda var, env: run(var, env.client.service_client.config.target_host))
