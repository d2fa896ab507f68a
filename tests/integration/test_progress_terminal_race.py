"""Two PostgreSQL replicas recording the same terminal report at once: the second answers a duplicate of
the first, never JOB_TERMINAL (a worker retrying its report on another replica must see it recorded)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.util import await_

from genmedia.domain.errors import NotFound
from genmedia.v1 import common_pb2 as pb
from services.progress import transaction


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_terminal_report_recorded_while_another_replica_waited_for_the_row_is_a_duplicate(
        replicas, monkeypatch):
    """Both replicas write under row locks (each batch also reports to a job that does not exist, so the
    first pass, without locks, is refused). The first holds j1's row while it writes COMPLETED; the second
    read j1 in a statement that began before that commit: its row as it is now (COMPLETED), its keys as
    they were (no "done"). It must look again before refusing."""
    first, second = replicas
    await first.report(pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_CREATED), "created",
                       pb.Job(id="j1", kind=pb.JOB_KIND_IMAGE))
    write = transaction.Transaction.write
    paused = asyncio.Event()

    def slow_write(self, *parts):
        if self.locked and not paused.is_set():
            paused.set()
            await_(asyncio.sleep(0.5))  # the row lock is held; the other replica's read waits for it
        return write(self, *parts)

    monkeypatch.setattr(transaction.Transaction, "write", slow_write)

    def batch(missing: str) -> list:
        return [(pb.JobEvent(job_id=missing, type=pb.EVENT_TYPE_PROGRESS, percent=1), "p", None, ()),
                (pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_COMPLETED), "done", None, ())]

    holding = asyncio.create_task(first.report_many(batch("absent-1")))
    await paused.wait()
    waiting = await second.report_many(batch("absent-2"))
    held = await holding
    assert isinstance(held[0], NotFound) and isinstance(waiting[0], NotFound)
    assert (held[1].sequence, held[1].duplicate) == (2, False)
    assert not isinstance(waiting[1], Exception), waiting[1]
    assert (waiting[1].sequence, waiting[1].duplicate) == (2, True)
    job = await second.get_job("j1")
    assert (job.state, job.last_sequence) == (pb.JOB_STATE_COMPLETED, 2)
