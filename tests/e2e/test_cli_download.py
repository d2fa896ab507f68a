"""`genmedia download`, `link` and `--download` against the stack `make run` starts (a folder store): the
files with their sha256 checked, one JSON document, and the exit codes of what goes wrong, a corrupted
file included."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from pathlib import Path

from tests.conftest import venv_bin
from tests.e2e.conftest import RunningStack
from tests.e2e.test_cli_output import VIDEO, as_json


def check_files(files: list[dict], folder: Path, names: list[str]) -> None:
    assert [Path(f["path"]).name for f in files] == names
    for f in files:
        data = Path(f["path"]).read_bytes()
        assert Path(f["path"]).parent == folder and f["size_bytes"] == len(data)
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)  # no part file left beside them


def test_download_fetches_verified_files_and_says_what_went_wrong(stack: RunningStack, tmp_path: Path) -> None:
    code, both, _ = as_json(stack, "video", "a paper plane", *VIDEO, "--wait", "--download", "--out",
                            str(tmp_path / "all"))
    assert code == 0 and both["job"]["state"] == "JOB_STATE_COMPLETED", both
    check_files(both["files"], tmp_path / "all", ["image-0.png", "video.mp4"])
    assert [f["sha256"] for f in both["files"]] == [a["sha256"] for a in both["job"]["assets"]]
    job_id = both["job"]["id"]

    code, one, _ = as_json(stack, "download", job_id, "--asset", "1", "--out", str(tmp_path / "one"))
    assert code == 0 and one["job_id"] == job_id and one["files"][0]["asset_index"] == 1
    check_files(one["files"], tmp_path / "one", ["video.mp4"])
    text = stack.cli("download", job_id, "--out", str(tmp_path / "text"))
    assert text.returncode == 0 and text.stdout.count(" verified\n") == 2, text.stdout + text.stderr
    assert str(tmp_path / "text" / "video.mp4") in text.stdout
    terminal = dict(stack.env, TTY_COMPATIBLE="1", TTY_INTERACTIVE="1", COLUMNS="160")  # rich: as on a terminal
    barred = subprocess.run([str(venv_bin("genmedia")), "download", job_id, "--out", str(tmp_path / "bars")],
                            env=terminal, capture_output=True, text=True, timeout=60)
    assert barred.returncode == 0 and "━" in barred.stdout and "asset 1" in barred.stdout, barred.stdout

    watched = stack.cli("image", "a paper kite", "--width", "64", "--height", "64", "--watch", "--download",
                        "--out", str(tmp_path / "watched"))
    assert watched.returncode == 0 and "COMPLETED" in watched.stdout, watched.stdout + watched.stderr
    assert (tmp_path / "watched" / "image-0.png").is_file()

    none = ["--out", str(tmp_path / "none")]
    for argv, exit_code, error in ((["link", job_id], 5, "FAILED_PRECONDITION"),  # a folder has no links
                                   (["download", job_id, "--asset", "7", *none], 4, "INVALID_ARGUMENT"),
                                   (["download", str(uuid.uuid4()), *none], 3, "NOT_FOUND")):
        code, out, errors = as_json(stack, *argv)
        assert (code, out, errors[0]["code"]) == (exit_code, None, error), (argv, errors)
    assert not any((tmp_path / "none").iterdir())


def test_a_file_that_is_not_the_recorded_one_exits_11_and_is_not_kept(stack: RunningStack, tmp_path: Path) -> None:
    code, job, _ = as_json(stack, "video", "a paper boat", *VIDEO, "--wait")
    assert code == 0, job
    # Bit rot the store does not know of: the bytes change, the file's size, mtime and record stay.
    path = stack.var / "assets" / job["id"] / "video.mp4"
    stat, data = path.stat(), bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    with path.open("r+b") as f:
        f.write(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    code, out, errors = as_json(stack, "download", job["id"], "--asset", "1", "--out", str(tmp_path))
    assert (code, out, errors[0]["code"]) == (11, None, "CHECKSUM_MISMATCH"), errors
    assert list(tmp_path.iterdir()) == []
