"""`make bench` (here with small sizes) leaves nothing in the temp directory, and its output is the report
alone: no gRPC core log line, no Temporal banner or SDK warning, no log record."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(600)

SMALL = {"GENMEDIA_BENCH_CALLS": "20", "GENMEDIA_BENCH_LIST_ROWS": "500", "GENMEDIA_BENCH_STREAMS": "20",
         "GENMEDIA_BENCH_INGEST_SECONDS": "0.5", "GENMEDIA_BENCH_INGEST_TRIALS": "1",
         "GENMEDIA_BENCH_INGEST_EVENTS": "640", "GENMEDIA_BENCH_BATCH_CHILDREN": "5",
         "GENMEDIA_BENCH_THROUGHPUT_JOBS": "10", "GENMEDIA_BENCH_THROUGHPUT_REPEATS": "1",
         "GENMEDIA_BENCH_THROUGHPUT_LANES": "5", "GENMEDIA_BENCH_CREATE_CALLERS": "5",
         "GENMEDIA_BENCH_CREATE_CALLS": "20", "GENMEDIA_BENCH_CREATE_ROUNDS": "2"}
GRPC_LOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ \S+:\d+\]", re.MULTILINE)  # absl's prefix
NOT_REPORT = re.compile(r"\x1b\[|Temporal CLI|Temporal Server:|temporalio_sdk_core|WARN|Traceback")


def test_bench_leaves_no_files_and_prints_only_its_report(tmp_path: Path) -> None:
    temp, var = tmp_path / "tmp", tmp_path / "var"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENMEDIA_")}  # (SQLite only: quicker)
    env.update(SMALL, TMPDIR=str(temp), GENMEDIA_VAR_DIR=str(var))
    result = subprocess.run([sys.executable, "-m", "benchmarks"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=540)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "CreateJob vs start_workflow" in result.stdout and "batch of null jobs" in result.stdout
    assert "5 callers: genmedia" in result.stdout and "CreateJob (record and start)" in result.stdout
    assert not list(temp.iterdir()), f"left in the temp directory: {[p.name for p in temp.iterdir()]}"
    assert not GRPC_LOG.search(result.stdout + result.stderr), result.stdout + result.stderr
    assert not NOT_REPORT.search(result.stdout), result.stdout
    assert result.stderr == "", result.stderr
    assert (var / "logs" / "bench.log").is_file()  # where the rest went
