"""The store's write path (services/progress/write_*.py, transaction.py) where it can go wrong: the SQLite
writer's job-row cache against other connections, another writer holding the file, WAL checkpoints, a
failing database."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import text
from sqlalchemy.util import await_

from genmedia.domain.errors import NotFound, ServiceError
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import progress_service_pb2 as ps
from services.progress import statements, transaction, write_sqlite
from services.progress.ingest import Ingest
from services.progress.models import make_engine
from services.progress.queries import encode_token
from services.progress.schema import upgrade
from services.progress.store import Store
from tests.integration.progress import created, failure, progress_stub, report


@pytest.fixture
async def store(database) -> AsyncIterator[Store]:
    engine = make_engine(database.url, database.connect_args)
    await upgrade(engine)
    store = Store(engine)
    try:
        yield store
    finally:
        store.close()
        await engine.dispose()


async def create(store: Store, job_id: str) -> None:
    event = pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_CREATED)
    await store.report(event, "created", pb.Job(id=job_id, kind=pb.JOB_KIND_IMAGE))


async def progress(store: Store, job_id: str, key: str, percent: float = 1) -> int:
    event = pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_PROGRESS, percent=percent)
    return (await store.report(event, key)).sequence


def file_of(database) -> Path:
    return Path(database.url.removeprefix("sqlite+aiosqlite:///"))


async def test_a_purged_job_is_gone_for_the_writer_too(store):
    """The purge deletes through another connection: the writer must not answer from rows it kept."""
    await create(store, "j1")
    await store.report(pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_COMPLETED), "done")
    assert await store.purge(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1), 10) == ["j1"]
    with pytest.raises(ServiceError) as caught:
        await progress(store, "j1", "late")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    await create(store, "j1")  # the id is free again
    assert (await store.get_job("j1")).last_sequence == 1


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_another_writer_of_the_file_is_waited_for_off_the_loop_and_its_changes_are_seen(store, database):
    await create(store, "j1")
    assert await progress(store, "j1", "p1") == 2
    other = sqlite3.connect(file_of(database), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # holds the file's write lock
        # Another writer records sequence 3 itself (as a second process on the file would).
        other.execute("INSERT INTO job_events (job_id, sequence, idempotency_key, type, state, step, time, event) "
                      "VALUES ('j1', 3, 'elsewhere', ?, ?, 0, '2030-01-01 00:00:00.000000', x'')",
                      (pb.EVENT_TYPE_PROGRESS, pb.JOB_STATE_PENDING))
        other.execute("UPDATE jobs SET last_sequence = 3, message = 'from elsewhere' WHERE id = 'j1'")
        waiting = asyncio.create_task(progress(store, "j1", "p2"))
        began = time.perf_counter()
        await asyncio.sleep(0.3)
        assert time.perf_counter() - began < 0.5, "the event loop was blocked while the report waited"
        assert not waiting.done()
        other.execute("COMMIT")
    finally:
        other.close()
    assert await waiting == 4  # after the other writer's 3: its change was read, not the kept row
    job = await store.get_job("j1")
    assert (job.last_sequence, job.message) == (4, "from elsewhere")


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_the_wal_is_checkpointed_as_reports_are_written(store, database, monkeypatch):
    monkeypatch.setattr(write_sqlite, "CHECKPOINT_EVERY", 5)
    monkeypatch.setattr(write_sqlite, "RESTART_EVERY", 20)
    await create(store, "j1")
    checkpoints = 0
    for i in range(600):  # a transaction each
        await progress(store, "j1", f"p{i}", percent=i / 6)
        if (checkpoint := store.sqlite.checkpointing) is not None:
            # Each checkpoint's thread is waited for: on a loaded machine a late one lets the WAL grow
            # meanwhile (a checkpoint is skipped while one runs), and its size would measure the machine.
            checkpoints += 1
            await checkpoint
    wal = file_of(database).with_name(file_of(database).name + "-wal")
    # Without checkpoints the WAL holds every page of 600 commits (15.6 MB, measured); with them it starts
    # over every RESTART_EVERY commits.
    assert checkpoints == 600 // 5 and wal.stat().st_size < 1024 * 1024, (checkpoints, wal.stat().st_size)


async def test_a_failing_database_answers_unavailable_and_the_next_reports_go_on(database, monkeypatch):
    async with progress_stub(database) as stub:
        await stub.ReportProgress(created("j1"))
        original = transaction.Transaction.write

        def broken(self, *rows):
            raise OSError("the database went away")

        monkeypatch.setattr(transaction.Transaction, "write", broken)
        code, reason, _ = await failure(stub.ReportProgress(report("j1", "p1", pb.EVENT_TYPE_PROGRESS, percent=5)))
        assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE")
        both = ps.ReportProgressBatchRequest(reports=[report("j1", "p1", pb.EVENT_TYPE_PROGRESS, percent=5),
                                                      report("j1", "p2", pb.EVENT_TYPE_PROGRESS, percent=6)])
        results = (await stub.ReportProgressBatch(both)).results
        assert [r.error.code for r in results] == [grpc.StatusCode.UNAVAILABLE.value[0]] * 2
        monkeypatch.setattr(transaction.Transaction, "write", original)
        # Nothing of the failed writes was kept: the retries get the next sequences, with no gap.
        assert (await stub.ReportProgress(report("j1", "p1", pb.EVENT_TYPE_PROGRESS, percent=5))).sequence == 2
        assert (await stub.ReportProgressBatch(both)).results[1].recorded.sequence == 3
        job = await stub.GetJob(js.GetJobRequest(job_id="j1"))
        assert (job.last_sequence, job.percent) == (3, 6)


async def test_two_stores_creating_the_same_jobs_at_once_record_each_event_once(database):
    """Two writers (replicas on PostgreSQL; two connections on a SQLite file) send the same CREATED with
    different progress: one creates each job, the other's CREATED is a duplicate, and every progress
    report is recorded once, in sequences without gaps. (On PostgreSQL the loser's insert of the job
    fails on its key, and its batch is redone report by report.)"""
    engines = [make_engine(database.url, database.connect_args) for _ in range(2)]
    await upgrade(engines[0])
    stores = [Store(engine) for engine in engines]
    try:
        for round_ in range(10):
            job_id = f"j{round_}"
            job = pb.Job(id=job_id, kind=pb.JOB_KIND_IMAGE)
            batches = [[(pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_CREATED), "created", job, ()),
                        (pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_PROGRESS, percent=n), f"p{n}", None, ())]
                       for n in (1, 2)]
            outcomes = await asyncio.gather(*(store.report_many(b) for store, b in zip(stores, batches, strict=True)))
            creations, progress_ = [o[0] for o in outcomes], [o[1] for o in outcomes]
            assert sorted(c.duplicate for c in creations) == [False, True] and {c.sequence for c in creations} == {1}
            assert sorted(p.sequence for p in progress_) == [2, 3] and not any(p.duplicate for p in progress_)
            assert (await stores[0].get_job(job_id)).last_sequence == 3
    finally:
        for store, engine in zip(stores, engines, strict=True):
            store.close()
            await engine.dispose()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def read_j1(stub) -> tuple:
    """What GetJob and ListJobEvents answer about j1 (two pages of one, the rest, past the end)."""
    job = await stub.GetJob(js.GetJobRequest(job_id="j1"))
    first = await stub.ListJobEvents(ps.ListJobEventsRequest(job_id="j1", page_size=1))
    rest = await stub.ListJobEvents(ps.ListJobEventsRequest(job_id="j1", page_token=first.next_page_token))
    watched = [r async for r in stub.WatchJob(ps.WatchJobRequest(job_id="j1", after_sequence=1))]
    past = await stub.ListJobEvents(ps.ListJobEventsRequest(job_id="j1", page_token=encode_token("j1", 3)))
    missing = await failure(stub.ListJobEvents(ps.ListJobEventsRequest(job_id="nope")))
    return job, first, rest, watched, past, missing[:2]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_reads_of_a_sqlite_file_are_direct_and_the_slow_way_when_that_would_wait(database, monkeypatch):
    reads = []
    read = write_sqlite.SqliteWriter.read

    def counted(self, statement, parameters):
        reads.append(statement)
        return read(self, statement, parameters)

    monkeypatch.setattr(write_sqlite.SqliteWriter, "read", counted)
    async with progress_stub(database) as stub:
        await stub.ReportProgress(created("j1", notify=pb.Notify(webhook_url="https://example.com/hook")))
        await stub.ReportProgress(report("j1", "p", pb.EVENT_TYPE_PROGRESS, percent=5, message="halfway there"))
        direct = await stub.GetJob(js.GetJobRequest(job_id="j1"))
        assert len(reads) == 2  # the job, and its notify settings
        code, reason, _ = await failure(stub.GetJob(js.GetJobRequest(job_id="nope")))
        assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "JOB_NOT_FOUND")

        def busy(self, statement, parameters):
            raise write_sqlite.ReadBusy

        await stub.ReportProgress(report("j1", "done", pb.EVENT_TYPE_COMPLETED))
        read_directly = await read_j1(stub)
        assert any("job_events" in statement for statement in reads)
        monkeypatch.setattr(write_sqlite.SqliteWriter, "read", busy)
        slow = await stub.GetJob(js.GetJobRequest(job_id="j1"))
        read_slowly = await read_j1(stub)
    assert direct.notify == slow.notify  # notify settings (redacted) included, whichever way it was read
    assert read_directly == read_slowly
    job, first, rest, watched, past, missing = read_directly
    assert [e.sequence for e in first.events] == [1] and [e.sequence for e in rest.events] == [2, 3]
    assert not rest.next_page_token and [r.event.sequence for r in watched] == [2, 3]
    assert missing == (grpc.StatusCode.NOT_FOUND, "JOB_NOT_FOUND") and list(past.events) == []
    assert (direct.percent, direct.message, direct.notify.webhook_url) == (5, "halfway there", "https://example.com/…")
    assert direct.create_time.seconds and direct.update_time.seconds and dict(direct.labels) == {"team": "a"}


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
@pytest.mark.parametrize("locked", [False, True])
async def test_a_job_another_writer_creates_after_the_batch_read_it_is_recorded_once(database, monkeypatch, locked,
                                                                                     caplog):
    """A replica creates a job after this batch read its jobs and keys and before it writes. The batch's
    insert of the job fails on its key and the batch is written again: its CREATED a duplicate, its
    progress the job's next event.

    Its first pass (from kept rows, no locks) assumes a job its batch creates is new, so it reads nothing;
    written again under row locks, it finds the job. With `locked`, the first pass refuses a report to a
    job that does not exist (a refusal is only final under locks), so the race is met by the pass under
    locks (one snapshot: the job is in neither the jobs it read nor their keys), and then the batch is
    written report by report."""
    engines = [make_engine(database.url, database.connect_args) for _ in range(2)]
    await upgrade(engines[0])
    late, early = Store(engines[0]), Store(engines[1])
    write = transaction.Transaction.write

    def slow_write(self, *parts):
        if not paused and self.locked == locked:
            paused.append(True)
            await_(asyncio.sleep(0.3))  # the other store creates the job meanwhile
        return write(self, *parts)

    paused: list[bool] = []
    monkeypatch.setattr(transaction.Transaction, "write", slow_write)
    caplog.set_level(logging.DEBUG, logger="services.progress")
    job = pb.Job(id="j1", kind=pb.JOB_KIND_IMAGE)

    def batch(n: int) -> list:
        return [(pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_CREATED), "created", job, ()),
                (pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_PROGRESS, percent=n), f"p{n}", None, ())]

    missing = [(pb.JobEvent(job_id="j0", type=pb.EVENT_TYPE_PROGRESS, percent=1), "p", None, ())] if locked else []
    try:
        slow = asyncio.create_task(late.report_many(missing + batch(1)))
        await asyncio.sleep(0.1)  # it has read, it waits before writing
        first = await early.report_many(batch(2))
        second = await slow
        assert [(r.sequence, r.duplicate) for r in first] == [(1, False), (2, False)]
        if locked:
            assert isinstance(second.pop(0), NotFound)
        assert [(r.sequence, r.duplicate) for r in second] == [(1, True), (3, False)]
        assert ("lost a race, writing them one by one" in caplog.text) == locked
    finally:
        for store, engine in zip((late, early), engines, strict=True):
            store.close()
            await engine.dispose()


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_known_keys_stay_index_probes_whatever_the_table_held_when_planned(database):
    """A prepared statement keeps the plan PostgreSQL settles on after a few runs. The batch's read must
    look its keys up by index probes: written as a join, they were planned on a new database as a hash
    join over a scan of every event, and kept as the table grew, so each batch read the whole table."""
    engine = make_engine(database.url, database.connect_args)
    await upgrade(engine)
    store = Store(engine)
    try:
        await create(store, "j1")
        statement = statements.Statements(engine.dialect).read_batch
        async with engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            await driver.execute(f"PREPARE read_batch AS {statement}")
            for n in range(10):  # the first batches of a new database: the table is (nearly) empty
                await driver.fetch(f"EXECUTE read_batch('{{j1}}', '{{j1}}', '{{p{n}}}')")
            await driver.execute("INSERT INTO job_events (job_id, sequence, idempotency_key, type, state, step, "
                                 "time, event) SELECT 'j1', n + 1, 'p' || n, 5, 2, 0, now(), '\\x00' "
                                 "FROM generate_series(1, 20000) AS n")
            plan = "\n".join(row[0] for row in
                             await driver.fetch("EXPLAIN EXECUTE read_batch('{j1}', '{j1}', '{p7}')"))
            found = await driver.fetch("EXECUTE read_batch('{j1}', '{j1,j1}', '{p7,p0}')")
            await driver.execute("DEALLOCATE read_batch")
    finally:
        store.close()
        await engine.dispose()
    width = len(statements.JOB_COLUMNS)
    assert [row[0] for row in found if row[width] is None] == ["j1"]  # the job's row, locked
    assert [(row[0], row[width], row[width + 1]) for row in found if row[width] is not None] == [("j1", "p7", 8)]
    assert "Index Scan using uq_job_events_key" in plan and "Seq Scan on job_events" not in plan, plan


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_writer_connections_the_server_dropped_are_replaced(database):
    """The write path uses the pool's asyncpg connections itself: one that PostgreSQL dropped fails its
    batch (UNAVAILABLE, nothing recorded) and is thrown away, never handed out again."""
    name = f"genmedia-{database.schema}"
    args = {"server_settings": {**database.connect_args["server_settings"], "application_name": name}}
    engine = make_engine(database.url, args)
    await upgrade(engine)
    store = Store(engine)
    try:
        await create(store, "j1")
        assert await progress(store, "j1", "p1") == 2
        admin = make_engine(database.url, database.connect_args)
        async with admin.connect() as connection:
            killed = await connection.scalar(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                                  "WHERE application_name = :name"), {"name": name})
        await admin.dispose()
        assert killed >= 1  # the pool's idle connections
        failures, sequences = [], []
        for n in range(2, 9):
            try:
                sequences.append(await progress(store, "j1", f"p{n}"))
            except ServiceError as error:
                failures.append((error.code, error.reason))
        assert sequences == list(range(3, 3 + len(sequences)))  # a failed batch kept nothing
        assert failures and set(failures) == {(grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE")}
        assert len(failures) <= killed
    finally:
        store.close()
        await engine.dispose()


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_batch_chosen_as_a_deadlock_victim_is_written_again(store, database, caplog):
    """A session locking b, then a, while a batch's statement updates a, then b: PostgreSQL aborts the
    batch's statement (it waited first, so it checks first) and the batch is written again under row
    locks, nothing lost or doubled."""
    for job_id in ("a", "b"):
        await create(store, job_id)
    caplog.set_level(logging.DEBUG, logger="services.progress")
    engine = make_engine(database.url, database.connect_args)
    try:
        async with engine.connect() as other:
            driver = (await other.get_raw_connection()).driver_connection
            async with driver.transaction():
                await driver.execute("SELECT 1 FROM jobs WHERE id = 'b' FOR UPDATE")
                reports = [(pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_PROGRESS, percent=5), "p1", None, ())
                           for job_id in ("b", "a")]
                batch = asyncio.create_task(store.report_many(reports))
                await asyncio.sleep(0.3)  # the batch holds a and waits for b
                await driver.execute("SELECT 1 FROM jobs WHERE id = 'a' FOR UPDATE")  # a cycle
                await asyncio.sleep(0.3)
                assert not batch.done()  # its reports wait for this session's locks now
            outcomes = await asyncio.wait_for(batch, 10)
    finally:
        await engine.dispose()
    assert "writing 2 reports again, under row locks: deadlock detected" in caplog.text
    assert [(o.sequence, o.duplicate) for o in outcomes] == [(2, False), (2, False)]
    assert (await progress(store, "a", "p1"), await progress(store, "a", "p2")) == (2, 3)  # p1: the same event


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_job_another_replica_changed_since_this_one_wrote_it_is_written_again_under_locks(replicas, caplog):
    """A replica writes a job from the row it kept, checking the row's version in the same statement:
    when another replica wrote the job meanwhile, the statement fails whole and the batch is written again
    from the row as it is now, with the next sequence; then the replica keeps that row and writes without
    a second pass again."""
    a, b = replicas
    caplog.set_level(logging.DEBUG, logger="services.progress")
    await create(a, "j1")
    await create(a, "j2")
    assert await progress(a, "j1", "a1", percent=10) == 2  # a keeps j1's row
    assert await progress(b, "j1", "b1", percent=20) == 3
    assert "again" not in caplog.text
    both = [(pb.JobEvent(job_id=job_id, type=pb.EVENT_TYPE_PROGRESS, percent=30), "a2", None, ())
            for job_id in ("j1", "j2")]
    assert [r.sequence for r in await a.report_many(both)] == [4, 2]  # j2's row was not stale: no matter
    assert "writing 2 reports again, under row locks: genmedia: 1 of 2 job rows changed since they were read" \
        in caplog.text
    caplog.clear()
    assert await progress(a, "j1", "a3", percent=40) == 5
    assert "again" not in caplog.text
    job = await b.get_job("j1")
    assert (job.last_sequence, job.percent) == (5, 40)


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_refusal_from_a_kept_row_is_checked_under_locks(replicas):
    """A replica kept j1 as COMPLETED; it was purged and made anew through another replica. A report the
    kept row would refuse (j1 is COMPLETED) is checked against the row as it is, and recorded."""
    a, b = replicas
    await create(a, "j1")
    await a.report(pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_COMPLETED), "done")
    assert await b.purge(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1), 10) == ["j1"]
    await create(b, "j1")
    assert await progress(a, "j1", "p1", percent=50) == 2
    with pytest.raises(ServiceError) as caught:  # and a refusal that stands, under locks too
        await progress(a, "nope", "p1")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_two_replicas_writing_the_same_jobs_at_once_keep_every_sequence_whole(replicas, database, caplog):
    """Both replicas write the same four jobs at once, each from the rows it kept: rows go stale all the
    time and batches are written again under locks. Every report is
    recorded exactly once, each job's sequences are 1..N with nothing missing or doubled, a repeat of any
    report answers its sequence, and each job ends with the highest percent reported."""
    caplog.set_level(logging.DEBUG, logger="services.progress")
    jobs = [f"j{n}" for n in range(4)]
    for job_id in jobs:
        await create(replicas[0], job_id)

    def reports(replica: int, round_: int) -> list:
        return [(pb.JobEvent(job_id=jobs[(round_ + i) % 4], type=pb.EVENT_TYPE_PROGRESS,
                             percent=(round_ * 7 + i) % 100), f"r{replica}-{round_}-{i}", None, ()) for i in range(5)]

    calls, outcomes = [], []
    for round_ in range(30):  # each round both replicas write from what they kept: one of them is stale
        now = [(store, reports(n, round_)) for n, store in enumerate(replicas)]
        calls += now
        outcomes += await asyncio.gather(*(store.report_many(batch) for store, batch in now))
    assert "again, under row locks" in caplog.text  # the race did happen
    recorded: dict[str, list[int]] = {job_id: [1] for job_id in jobs}  # CREATED is 1
    for (_, batch), results in zip(calls, outcomes, strict=True):
        for (event, *_), result in zip(batch, results, strict=True):
            assert not result.duplicate
            recorded[event.job_id].append(result.sequence)
    for job_id in jobs:
        assert sorted(recorded[job_id]) == list(range(1, len(recorded[job_id]) + 1)), job_id
        job = await replicas[1].get_job(job_id)
        highest = max(event.percent for _, batch in calls for event, *_ in batch if event.job_id == job_id)
        assert (job.last_sequence, job.percent) == (len(recorded[job_id]), highest)
    store, batch = calls[17]
    again = await replicas[1 - replicas.index(store)].report_many(batch)  # a repeat, through the other replica
    assert [(r.sequence, r.duplicate) for r in again] == [(r.sequence, True) for r in outcomes[17]]


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_two_replicas_recording_children_of_one_batch_keep_its_aggregate(replicas, caplog):
    """Each replica records progress of its own children of one batch, at once, round after round. A
    child's small step changes the batch's row (its counts and sum of percents) without adding an event
    to it, so only the row's version tells that a kept copy of it is stale: the batch's mean must end
    exactly the children's."""
    caplog.set_level(logging.DEBUG, logger="services.progress")
    batch = pb.Job(id="b", kind=pb.JOB_KIND_BATCH, spec=pb.JobSpec(kind=pb.JOB_KIND_BATCH),
                   batch=pb.BatchSummary(strategy=pb.BATCH_STRATEGY_PARALLEL, max_concurrent=20))
    children = tuple(pb.Job(id=f"b_{i}", kind=pb.JOB_KIND_NULL, batch_id="b", batch_index=i,
                            spec=pb.JobSpec(kind=pb.JOB_KIND_NULL, null=pb.NullSpec())) for i in range(20))
    a, b = replicas
    await a.report(pb.JobEvent(job_id="b", type=pb.EVENT_TYPE_CREATED), "created", batch, children)
    await a.report(pb.JobEvent(job_id="b", type=pb.EVENT_TYPE_STARTED), "started")
    final = [0.0] * 20
    for round_ in range(30):
        steps = [(replica, (round_ % 10) + 10 * n, float(round_ + 1)) for n, replica in enumerate((a, b))]
        for _, child, percent in steps:
            final[child] = percent
        await asyncio.gather(*(replica.report(pb.JobEvent(job_id=f"b_{child}", type=pb.EVENT_TYPE_PROGRESS,
                                                          percent=percent), f"p{round_}")
                               for replica, child, percent in steps))
    assert "job rows changed since they were read" in caplog.text  # the batch's row went stale
    job = await b.get_job("b")
    assert job.percent == round(sum(final) / 20, 1)
    assert (job.batch.running, job.batch.pending) == (0, 20)  # progress without STARTED: still pending


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_replicas_writers_take_a_job_in_the_order_its_reports_came(store, caplog, monkeypatch):
    """Reports of one job that arrive while its batch is being written go in other batches, written by
    other writers at once: each waits for the batch before it, so none is computed from a row another
    writer of this replica is changing (which would fail and be written again) and the sequences follow
    the order the reports came in."""
    await create(store, "j1")
    await progress(store, "j1", "p0")  # the replica keeps j1's row
    caplog.set_level(logging.DEBUG, logger="services.progress")
    sizes, write_batch = [], Ingest.write_batch

    async def counted(self, batch):
        sizes.append(len(batch))
        return await write_batch(self, batch)

    monkeypatch.setattr(Ingest, "write_batch", counted)
    calls = []
    for n in range(1, 5):
        calls.append(asyncio.create_task(progress(store, "j1", f"p{n}", percent=n)))
        await asyncio.sleep(0.001)  # its writer has taken it: the next report goes in a batch of its own
    assert await asyncio.gather(*calls) == [3, 4, 5, 6]
    assert sizes == [1, 1, 1, 1]  # four batches, written by four writers
    assert "again" not in caplog.text
