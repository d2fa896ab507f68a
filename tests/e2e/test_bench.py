"""`make bench` (here every section with tiny sizes) leaves nothing in the temp directory, and its output is
the report alone, one table: no gRPC core log line, no Temporal banner or SDK warning, no log record. The
same rows are in var/bench/latest.json."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import SECTIONS
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(300)

SMALL = {"GENMEDIA_BENCH_CALLS": "20", "GENMEDIA_BENCH_LIST_ROWS": "500", "GENMEDIA_BENCH_STREAMS": "20",
         "GENMEDIA_BENCH_FANOUT_TRIALS": "1", "GENMEDIA_BENCH_FANOUT_SECONDS": "0.3",
         "GENMEDIA_BENCH_INGEST_SECONDS": "0.3", "GENMEDIA_BENCH_INGEST_TRIALS": "1",
         "GENMEDIA_BENCH_INGEST_EVENTS": "640", "GENMEDIA_BENCH_BATCH_CHILDREN": "5",
         "GENMEDIA_BENCH_PROVIDER_JOBS": "12", "GENMEDIA_BENCH_PROVIDER_LATENCY_JOBS": "1",
         "GENMEDIA_BENCH_ASSET_MB": "2", "GENMEDIA_BENCH_ROUNDS": "1", "GENMEDIA_BENCH_RENDER_SIZES": "64x48",
         "GENMEDIA_BENCH_RENDER_FRAMES": "6", "GENMEDIA_BENCH_RENDER_ROUNDS": "1",
         "GENMEDIA_BENCH_IMAGE_SIZE": "64", "GENMEDIA_BENCH_IMAGE_RENDERS": "1",
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
                            text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((var / "bench" / "latest.json").read_text())
    assert {row["section"] for row in report["rows"]} == set(SECTIONS)
    header, rule, *rows = result.stdout.split("\n\n")[0].splitlines()
    assert header.split() == ["row", "figure", "baseline", "ratio", "goal"] and set(rule) == {"-", " "}
    assert [line.split("  ")[0] for line in rows] == [row["name"] for row in report["rows"]]
    assert not list(temp.iterdir()), f"left in the temp directory: {[p.name for p in temp.iterdir()]}"
    assert not GRPC_LOG.search(result.stdout + result.stderr), result.stdout + result.stderr
    assert not NOT_REPORT.search(result.stdout), result.stdout
    assert result.stderr == "", result.stderr
    assert (var / "logs" / "bench.log").is_file()  # where the rest went
