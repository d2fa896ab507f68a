"""End to end: the stack as `make run` starts it, driven by the `genmedia` CLI and by grpcurl."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from pathlib import Path

import av

from tests.conftest import grpcurl_path, venv_bin
from tests.e2e.conftest import RunningStack, _stack_env

SERVICES = {
    "orchestrator": "genmedia.v1.JobService",
    "progress": "genmedia.v1.ProgressService",
    "image": "genmedia.v1.ImageService",
    "video": "genmedia.v1.VideoService",
}


def grpcurl(addr: str, *args: str, data: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    argv = [str(grpcurl_path()), "-plaintext", *(["-d", data] if data is not None else []), addr, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def json_stream(text: str) -> list[dict]:
    """The messages of a grpcurl server stream (one JSON object after another)."""
    decoder, messages, pos = json.JSONDecoder(), [], 0
    text = text.strip()
    while pos < len(text):
        message, pos = decoder.raw_decode(text, pos)
        messages.append(message)
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return messages


def check_mp4(path: Path, width: int, height: int, frames: int) -> None:
    with av.open(str(path)) as container:
        assert container.format.name.startswith("mov,mp4")
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.codec_context.width, stream.codec_context.height) == (width, height)
        decoded = sum(1 for _ in container.decode(stream))
    assert abs(decoded - frames) <= 1, decoded


def test_video_job_from_the_cli_ends_in_a_real_h264_mp4(stack: RunningStack) -> None:
    result = stack.cli("video", "a lighthouse at dusk", "--width", "320", "--height", "180",
                       "--duration", "2", "--fps", "12", "--watch")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "running: image generation" in out and "running: video generation" in out, out
    assert re.search(r"job \S+ COMPLETED", out), out
    mp4 = Path(re.search(r"video/mp4\s+(\S+\.mp4)", out).group(1))
    png = Path(re.search(r"image/png\s+(\S+\.png)", out).group(1))
    assert mp4.is_relative_to(stack.var / "assets") and png.is_file()
    check_mp4(mp4, 320, 180, 24)

    job_id = re.search(r"job (\S+) created", out).group(1)
    got = stack.cli("get", job_id)
    assert got.returncode == 0 and "COMPLETED" in got.stdout and "(from workflow)" in got.stdout, got.stdout
    listed = stack.cli("list")
    assert job_id in listed.stdout


def test_bad_input_from_the_cli_names_the_field(stack: RunningStack) -> None:
    result = stack.cli("video", "a lighthouse", "--fps", "0")
    assert result.returncode == 4  # input refused
    assert "INVALID_ARGUMENT" in result.stderr and "spec.video.fps" in result.stderr, result.stderr


def test_grpcurl_lists_describes_and_health_checks_every_service(stack: RunningStack) -> None:
    listed = set()
    for name, service in SERVICES.items():
        addr = stack.addr(name)
        out = grpcurl(addr, "list")
        assert out.returncode == 0, out.stderr
        listed |= set(out.stdout.split())
        described = grpcurl(addr, "describe", service)
        assert described.returncode == 0 and "is a service" in described.stdout, described.stderr
        health = grpcurl(addr, "grpc.health.v1.Health/Check", data=json.dumps({"service": service}))
        assert json.loads(health.stdout) == {"status": "SERVING"}, health.stderr
    assert set(SERVICES.values()) <= listed


def test_grpcurl_creates_a_job_and_watches_it_to_completion(stack: RunningStack) -> None:
    spec = {"spec": {"kind": "JOB_KIND_VIDEO", "video": {"prompt": "a red fox", "width": 160, "height": 96,
                                                         "duration_seconds": 1, "fps": 12}}}
    created = grpcurl(stack.addr("orchestrator"), "genmedia.v1.JobService/CreateJob", data=json.dumps(spec))
    assert created.returncode == 0, created.stderr
    job = json.loads(created.stdout)
    assert job["state"] == "JOB_STATE_PENDING" and job["owner"] == "anonymous"
    watched = grpcurl(stack.addr("progress"), "genmedia.v1.ProgressService/WatchJob",
                      data=json.dumps({"job_id": job["id"]}))
    assert watched.returncode == 0, watched.stderr
    messages = json_stream(watched.stdout)
    events = [m["event"] for m in messages if "event" in m]
    assert events[-1]["type"] == "EVENT_TYPE_COMPLETED"
    sequences = [int(e["sequence"]) for e in events]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))
    assert any(a["mime_type"] == "video/mp4" for a in events[-1]["assets"])


def test_bad_input_over_grpcurl_is_invalid_argument(stack: RunningStack) -> None:
    out = grpcurl(stack.addr("orchestrator"), "genmedia.v1.JobService/CreateJob",
                  data=json.dumps({"spec": {"video": {"prompt": "x", "width": 3000}}}))
    assert out.returncode != 0
    assert "InvalidArgument" in out.stderr and "spec.video.width" in out.stderr, out.stderr


def test_metrics_count_handled_rpcs(stack: RunningStack) -> None:
    grpcurl(stack.addr("orchestrator"), "genmedia.v1.JobService/CreateJob", data="{}")
    port = stack.env["GENMEDIA_ORCHESTRATOR_METRICS_PORT"]
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'grpc_code="INVALID_ARGUMENT",grpc_method="CreateJob"' in text
    assert "grpc_server_handling_seconds_bucket" in text and "grpc_server_started_total" in text


def test_demo_runs_a_video_job_then_stops_everything(tmp_path: Path) -> None:
    var = tmp_path / "var"
    env = _stack_env(var)
    env["GENMEDIA_IMAGE_STEP_DELAY_SECONDS"] = "0"
    result = subprocess.run([str(venv_bin("genmedia-stack")), "--demo"], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "genmedia is ready" in result.stdout and "stopped" in result.stdout
    mp4 = Path(re.search(r"video/mp4\s+(\S+\.mp4)", result.stdout).group(1))
    check_mp4(mp4, 640, 360, 96)
    logs = sorted(p.name for p in (var / "logs").iterdir())
    assert logs == sorted(f"{n}.log" for n in ("temporal", "progress", "image", "video", "orchestrator",
                                               "worker", "gateway"))
    assert not list((var / "run").glob("*.pid"))
    leftovers = []
    for proc in Path("/proc").iterdir():
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if f"GENMEDIA_VAR_DIR={var}".encode() in environ:
            leftovers.append(proc.name)
    assert not leftovers, f"processes left behind: {leftovers}"
