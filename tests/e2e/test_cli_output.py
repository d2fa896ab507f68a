"""The CLI as a script drives it, against the stack `make run` starts: every command's -o json is one JSON
document (errors too, on stderr), -o jsonl is one object per line, exit codes tell the outcome, several jobs
at once, --wait, and Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid

from tests.conftest import venv_bin
from tests.e2e.conftest import RunningStack

SMALL = ["--width", "64", "--height", "64"]
VIDEO = ["--width", "96", "--height", "64", "--duration", "1", "--fps", "12"]


def as_json(stack: RunningStack, *args: str) -> tuple[int, object, list[dict]]:
    """Runs the CLI with -o json: its exit code, its one JSON document (None if it printed nothing) and the
    JSON errors on stderr."""
    result = stack.cli(*args, "-o", "json")
    document = json.loads(result.stdout) if result.stdout.strip() else None
    errors = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    return result.returncode, document, errors


def test_every_command_prints_one_json_document(stack: RunningStack, tmp_path) -> None:
    code, image, _ = as_json(stack, "image", "a paper kite", *SMALL, "--label", "run=json")
    assert code == 0 and image["state"] == "JOB_STATE_PENDING" and image["labels"] == {"run": "json"}
    code, done, _ = as_json(stack, "watch", image["id"])
    assert code == 0 and done["state"] == "JOB_STATE_COMPLETED" and done["assets"][0]["size_bytes"] > 0
    assert done["end_time"].endswith("Z") and isinstance(done["last_sequence"], int)
    code, video, _ = as_json(stack, "video", "a paper boat", *VIDEO, "--wait")
    assert code == 0 and video["state"] == "JOB_STATE_COMPLETED"
    assert {a["mime_type"] for a in video["assets"]} == {"image/png", "video/mp4"}
    code, got, _ = as_json(stack, "get", image["id"])
    assert code == 0 and got["id"] == image["id"]
    code, both, _ = as_json(stack, "get", image["id"], video["id"])
    assert code == 0 and [j["id"] for j in both["jobs"]] == [image["id"], video["id"]]
    code, page, _ = as_json(stack, "list", "--label", "run=json")
    assert code == 0 and page == {"jobs": page["jobs"], "next_page_token": "", "total_size": 1}
    code, history, _ = as_json(stack, "history", image["id"])
    assert code == 0 and history["events"][-1]["type"] == "EVENT_TYPE_COMPLETED"
    code, stats, _ = as_json(stack, "stats", "--since", "1h")
    assert code == 0 and stats["total_jobs"] >= 2
    code, table, _ = as_json(stack, "monitor", "--since", "1h")
    assert code == 0 and image["id"] in [j["id"] for j in table["jobs"]]
    code, secret, _ = as_json(stack, "webhook-secret")
    assert code == 0 and secret["secret"].startswith("whsec_")
    code, deliveries, _ = as_json(stack, "deliveries", image["id"])
    assert code == 0 and deliveries == {"deliveries": []}

    code, review, _ = as_json(stack, "video", "a slow river", "--duration", "10")
    code, paused, _ = as_json(stack, "pause", review["id"])
    assert code == 0 and paused["id"] == review["id"]
    code, resumed, _ = as_json(stack, "resume", review["id"])
    assert code == 0 and resumed["id"] == review["id"]
    code, cancelled, _ = as_json(stack, "cancel", review["id"], "--reason", "json test")
    assert code == 0 and cancelled["id"] == review["id"]
    code, refused, errors = as_json(stack, "review", review["id"], "--approve")
    assert code == 5 and refused is None and errors[0]["code"] == "FAILED_PRECONDITION", errors

    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"null": {"duration": "0.1s"}}\n{"null": {"duration": "0.1s", "fail_with": "NO_GPU"}}\n')
    code, batch, _ = as_json(stack, "batch", str(jobs), "--watch")
    assert code == 1 and batch["state"] == "JOB_STATE_FAILED" and batch["batch"]["failed"] == 1
    code, retried, _ = as_json(stack, "retry-batch", batch["id"])
    assert code == 0 and retried["batch"]["attempt"] == 2

    code, refused, errors = as_json(stack, "video", "x", "--fps", "0")
    assert code == 4 and refused is None
    assert errors == [{"code": "INVALID_ARGUMENT", "message": errors[0]["message"], "reason": "INVALID_ARGUMENT",
                       "field_violations": [{"field": "spec.video.fps", "description": errors[0]["field_violations"][0]
                                             ["description"]}]}]
    for argv, exit_code, error in ((["redeliver", "msg_nope"], 3, "NOT_FOUND"), (["get", "--bogus"], 2, "USAGE"),
                                   (["batch", str(tmp_path / "missing.json")], 2, "USAGE")):
        code, out, errors = as_json(stack, *argv)
        assert (code, out, errors[0]["code"]) == (exit_code, None, error), (argv, errors)


def test_watch_jsonl_streams_the_snapshot_then_every_event(stack: RunningStack) -> None:
    watched = stack.cli("video", "a lighthouse", *VIDEO, "--watch", "-o", "jsonl")
    assert watched.returncode == 0, watched.stderr
    lines = [json.loads(line) for line in watched.stdout.splitlines()]
    job_id = lines[0]["snapshot"]["id"]
    events = [line["event"] for line in lines[1:]]
    assert events and all(e["job_id"] == job_id for e in events)
    assert [e["sequence"] for e in events] == list(range(events[0]["sequence"], events[0]["sequence"] + len(events)))
    assert events[-1]["type"] == "EVENT_TYPE_COMPLETED"


def test_several_jobs_at_once_and_the_worst_exit_code(stack: RunningStack) -> None:
    ids = [json.loads(stack.cli("image", f"kite {n}", *SMALL, "-o", "json").stdout)["id"] for n in range(2)]
    watched = stack.cli("watch", *ids)
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert all(f"job {job_id} COMPLETED" in watched.stdout for job_id in ids)
    assert all(f"] {job_id[:8]} " in watched.stdout for job_id in ids), watched.stdout  # each job's own lines
    got = stack.cli("get", *ids)
    assert got.returncode == 0 and all(f"job {job_id}  COMPLETED" in got.stdout for job_id in ids), got.stdout
    slow = json.loads(stack.cli("video", "a slow river", "--duration", "10", "-o", "json").stdout)["id"]
    stack.cli("cancel", slow)
    assert stack.cli("watch", ids[0], slow).returncode == 1  # one cancelled: 1
    missing = str(uuid.uuid4())
    mixed = stack.cli("watch", ids[0], missing, slow)
    assert mixed.returncode == 3 and "NOT_FOUND" in mixed.stderr, mixed.stderr  # an error outranks a failure
    assert f"job {ids[0]} COMPLETED" in mixed.stdout
    assert stack.cli("get", ids[0], missing).returncode == 3


def test_wait_exits_with_the_jobs_outcome(stack: RunningStack) -> None:
    done = stack.cli("image", "a white kite", *SMALL, "--wait")
    assert done.returncode == 0 and "COMPLETED" in done.stdout and "image/png" in done.stdout, done.stdout
    assert "━" not in done.stdout  # no bars
    rejected = stack.cli("image", "a black kite", *SMALL, "--review", "-o", "json")
    job_id = json.loads(rejected.stdout)["id"]
    waiter = subprocess.Popen([str(venv_bin("genmedia")), "watch", job_id, "-o", "jsonl"], env=stack.env,
                              stdout=subprocess.PIPE, text=True)
    for line in waiter.stdout:
        item = json.loads(line)
        if (item.get("event") or item.get("snapshot"))["state"] == "JOB_STATE_AWAITING_REVIEW":
            break
    assert stack.cli("review", job_id, "--reject").returncode == 0
    assert waiter.wait(60) == 1
    waiter.stdout.close()


def test_ctrl_c_exits_130(stack: RunningStack) -> None:
    job_id = json.loads(stack.cli("video", "a long river", "--duration", "20", "-o", "json").stdout)["id"]
    watcher = subprocess.Popen([str(venv_bin("genmedia")), "watch", job_id, "-o", "jsonl"], env=stack.env,
                               stdout=subprocess.PIPE, text=True)
    assert json.loads(watcher.stdout.readline())["snapshot"]["id"] == job_id  # watching
    watcher.send_signal(signal.SIGINT)
    assert watcher.wait(30) == 130
    watcher.stdout.close()
    assert stack.cli("cancel", job_id).returncode == 0


def test_bars_and_colour_only_on_a_terminal_and_never_with_no_color(stack: RunningStack) -> None:
    terminal = dict(stack.env, TTY_COMPATIBLE="1", TTY_INTERACTIVE="1", COLUMNS="120")  # rich: as on a terminal
    runs = {}
    for name, env in (("terminal", terminal), ("no_color", dict(terminal, NO_COLOR="1")), ("pipe", stack.env)):
        result = subprocess.run([str(venv_bin("genmedia")), "image", "a green kite", *SMALL, "--watch"], env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        runs[name] = result.stdout
    colour = "\x1b[3"  # an SGR foreground colour
    assert "━" in runs["terminal"] and colour in runs["terminal"]
    assert "━" in runs["no_color"] and colour not in runs["no_color"]
    assert "━" not in runs["pipe"] and "\x1b" not in runs["pipe"] and "COMPLETED" in runs["pipe"]
