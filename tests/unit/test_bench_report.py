"""make bench's report: latest.json replaces previous.json, and bench-compare prints each row's change."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from benchmarks.table import Row, load, save, text_table
from tests.conftest import ROOT

STARTED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def rows(render_fps: float, met: bool) -> list[Row]:
    return [Row("render", "Ken Burns render, 512x512", render_fps, "fps", 300.0, render_fps / 300, ">= 1.0x", met),
            Row("image", "placeholder image", 250.0, "ms", goal="<= 300 ms", met=True)]


def test_a_run_keeps_the_one_before_as_previous(tmp_path: Path) -> None:
    save(rows(240, False), STARTED, tmp_path)
    save(rows(330, True), STARTED + dt.timedelta(hours=1), tmp_path)
    (_, previous), (report, latest) = load(tmp_path / "previous.json"), load(tmp_path / "latest.json")
    assert [r.figure for r in previous] == [240, 250] and [r.figure for r in latest] == [330, 250]
    assert report["started"] == "2026-01-01T01:00:00+00:00"
    assert latest[0].command == "" and latest[0].ratio == 1.1


def test_the_table_has_one_line_per_row_with_its_goal() -> None:
    lines = text_table(rows(330, True)).splitlines()
    assert lines[0].split() == ["row", "figure", "baseline", "ratio", "goal"] and len(lines) == 4
    assert "330 fps" in lines[2] and "300 fps" in lines[2] and "1.10x" in lines[2] and ">= 1.0x: met" in lines[2]
    assert "<= 300 ms: met" in lines[3]


def test_a_ratio_that_rounds_onto_its_goals_bound_shows_a_third_decimal() -> None:
    missed = Row("download", "DownloadAsset", 1046.0, "MB/s", 1315.0, 0.7954, ">= 0.8x", False)
    met = Row("createload", "CreateJob p99", 190.0, "ms", 164.0, 1.1587, "<= 1.2x", True)
    assert "0.795x" in text_table([missed]) and "1.16x" in text_table([met])


def test_compare_prints_the_change_of_every_row(tmp_path: Path) -> None:
    save(rows(240, False), STARTED, tmp_path)
    save(rows(330, True)[:1], STARTED, tmp_path)  # the image row not run this time
    result = subprocess.run([sys.executable, "-m", "benchmarks.compare", str(tmp_path / "previous.json"),
                             str(tmp_path / "latest.json")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    render, image = result.stdout.splitlines()[2:]
    assert "240 fps" in render and "330 fps" in render and "+37.5%" in render and "0.80x -> 1.10x" in render
    assert "met (was MISSED)" in render
    assert "(not run)" in image


def test_compare_without_two_runs_says_what_to_do(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "benchmarks.compare", str(tmp_path / "a.json"),
                             str(tmp_path / "b.json")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "run `make bench` twice" in result.stderr
