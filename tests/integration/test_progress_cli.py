"""`genmedia list` filters, `genmedia history` and `genmedia stats` as real CLI processes against a real
progress server."""

from __future__ import annotations

import asyncio
import json

from genmedia.v1 import common_pb2 as pb
from tests.conftest import venv_bin
from tests.integration.progress import created, progress_stub, report


async def cli(address: str, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(venv_bin("genmedia")), "--progress-server", address, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env={"COLUMNS": "200", "PATH": "/usr/bin"})
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode, out.decode()


async def test_list_history_and_stats(database):
    address_out: list[str] = []
    async with progress_stub(database, address_out=address_out) as stub:
        address = address_out[0]
        await stub.ReportProgress(created("fox", labels={"team": "a"}))
        await stub.ReportProgress(created("owl", kind=pb.JOB_KIND_VIDEO, labels={"team": "b"}, batch_id="b1"))
        await stub.ReportProgress(report("fox", "s", pb.EVENT_TYPE_STARTED, message="working"))
        await stub.ReportProgress(report("fox", "e", pb.EVENT_TYPE_RETRYING,
                                         error=pb.JobError(code="UNAVAILABLE", message="down")))
        await stub.ReportProgress(report("fox", "c", pb.EVENT_TYPE_COMPLETED, percent=100))
        running = await cli(address, "list", "--state", "completed", "--label", "team=a")
        videos = await cli(address, "list", "--kind", "video", "--batch", "b1", "--created-after", "1h")
        none = await cli(address, "list", "--state", "failed")
        history = await cli(address, "history", "fox")
        as_json = await cli(address, "--json", "history", "owl")
        as_jsonl = await cli(address, "history", "fox", "-o", "jsonl")
        listed = await cli(address, "list", "--page-size", "1", "-o", "json")
        stats = await cli(address, "stats", "--since", "2h")
        missing = await cli(address, "history", "nope")
        bad = await cli(address, "list", "--created-after", "yesterday-ish")
    assert running[0] == 0 and "job fox" in running[1] and "owl" not in running[1] and "1 of 1 jobs" in running[1]
    assert videos[0] == 0 and "job owl" in videos[1] and "fox" not in videos[1]
    assert none == (0, "0 of 0 jobs\n")
    lines = history[1].splitlines()
    assert history[0] == 0 and len(lines) == 5 and lines[-1] == "4 events"
    assert "retrying" in lines[2] and "UNAVAILABLE: down" in lines[2] and "completed" in lines[3]
    assert as_json[0] == 0 and json.loads(as_json[1])["events"][0]["type"] == "EVENT_TYPE_CREATED"
    events = [json.loads(line) for line in as_jsonl[1].splitlines()]
    assert [e["sequence"] for e in events] == [1, 2, 3, 4] and events[2]["error"]["code"] == "UNAVAILABLE"
    assert all(e["time"].endswith("Z") for e in events)  # RFC 3339
    page = json.loads(listed[1])
    assert listed[0] == 0 and len(page["jobs"]) == 1 and page["total_size"] == 2 and page["next_page_token"]
    assert stats[0] == 0 and "success rate      100.0%" in stats[1] and ": 2" in stats[1]
    assert missing[0] == 3 and "NOT_FOUND" in missing[1]
    assert bad[0] == 2 and "span like 24h" in bad[1]
