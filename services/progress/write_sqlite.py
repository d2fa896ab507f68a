"""The SQLite file's write path: the store's one connection for writing it, used on the event loop.

With WAL and synchronous=NORMAL a commit writes no fsync, so a batch takes well under a millisecond, far
less than handing it to a thread (the GIL handoffs cost more than the work, and delayed every watcher's
stream). docs/progress-store.md has the design."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from services.progress.models import sqlite_pragmas
from services.progress.statements import Statements
from services.progress.transaction import JobCache, Transaction

log = logging.getLogger(__name__)

T = TypeVar("T")
BUSY_TIMEOUT_MS = 5000  # how long the writer waits for another writer of the file (in a thread)
CHECKPOINT_EVERY = 25  # commits between two WAL checkpoints: small ones, so each syncs little at once
RESTART_EVERY = 1000  # commits between two checkpoints that let the WAL start over (it holds some 30 MB)
CHECKPOINT_PASSES, QUICK_PASS = 3, 0.01  # passes while writes go on, until one takes under QUICK_PASS s


class ReadBusy(Exception):
    """The SQLite file could not be read at once."""


def busy(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SqliteWriter:
    """The store's one connection for writing a SQLite file, used on the event loop (see the module).

    The transaction begins IMMEDIATE, taking the file's write lock first. When another connection holds it
    (the delivery log, a migration, another process), waiting must not block the loop: that transaction
    runs in a thread instead, which waits up to BUSY_TIMEOUT_MS. Transactions take turns, so the
    connection is never used by two at once.

    Two more things keep the loop free. The WAL is checkpointed in a thread every CHECKPOINT_EVERY commits
    (a checkpoint copies pages into the file and syncs it; left to SQLite, it would run inside a commit),
    while writes go on: small and often, since a sync of many pages stalls the writer's own writes (the
    file system's journal) for tens of ms. Every RESTART_EVERY commits one more pass follows with writes
    held, which copies only what came meanwhile and leaves the WAL fully copied, so the next write starts
    it over instead of growing it.

    And the rows of the jobs it wrote are kept (JOB_CACHE), so a batch reads only the jobs it has not
    written lately: the file has one writer of jobs, this connection, and SQLite's data_version tells when
    any other connection committed anything, which empties the cache."""

    def __init__(self, path: str, statements: Statements) -> None:
        self._path, self._statements = path, statements
        self._connection: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._jobs = JobCache()
        self._version: int | None = None
        self._commits = self._copied = self._restarted = 0  # commits: all, at the last checkpoint, restart
        self._checkpoint: asyncio.Task[None] | None = None
        self._turn = asyncio.Lock()  # a transaction, or the held part of a checkpoint

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            # isolation_level=None: the module begins nothing by itself, the transaction is ours.
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            sqlite_pragmas(connection)  # the engine's, then this writer's own: no waiting, no checkpoints
            for pragma in ("busy_timeout=0", "wal_autocheckpoint=0"):
                connection.execute(f"PRAGMA {pragma}")
            self._connection = connection
        return self._connection

    async def run(self, work: Callable[[Transaction], T], ids: Iterable[str] = ()) -> T:
        """`work(transaction)` in one transaction, committed (rolled back if it raises); `ids` (the jobs it
        writes) are for the other writers' interface: a failed transaction leaves no cache stale here."""
        async with self._turn:
            connection = self._connect()
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if not busy(error):
                    raise
                log.debug("another connection is writing the database: waiting for it in a thread")
                result = await asyncio.to_thread(self._waiting, connection, work)
            else:
                result = self._finish(connection, work)
        self._commits += 1
        if self._checkpoint is None and self._commits - self._copied >= CHECKPOINT_EVERY:
            hold = self._commits - self._restarted >= RESTART_EVERY
            self._copied = self._commits
            self._restarted = self._commits if hold else self._restarted
            self._checkpoint = asyncio.create_task(self._checkpoint_wal(hold))
            self._checkpoint.add_done_callback(self._checkpointed)
        return result

    def _waiting(self, connection: sqlite3.Connection, work: Callable[[Transaction], T]) -> T:
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        try:
            connection.execute("BEGIN IMMEDIATE")
        finally:
            connection.execute("PRAGMA busy_timeout=0")
        return self._finish(connection, work)

    def _finish(self, connection: sqlite3.Connection, work: Callable[[Transaction], T]) -> T:
        try:
            (version,) = connection.execute("PRAGMA data_version").fetchone()
            if version != self._version:  # another connection committed: what is cached may be stale
                self._jobs.clear()
                self._version = version
            transaction = Transaction(self._statements, connection.cursor(), self._jobs)
            result = work(transaction)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        transaction.keep_written()
        return result

    async def _checkpoint_wal(self, hold: bool) -> None:
        for _ in range(CHECKPOINT_PASSES):  # the bulk, while transactions go on
            began = time.perf_counter()
            await asyncio.to_thread(self._copy_wal)
            if not hold or time.perf_counter() - began < QUICK_PASS:
                break  # little came meanwhile: the held pass will be short
        if hold:
            async with self._turn:
                await asyncio.to_thread(self._copy_wal)  # what they added meanwhile, with none running

    def _copy_wal(self) -> None:
        """Copies the WAL into the file without waiting for (or blocking) readers and writers."""
        with contextlib.closing(sqlite3.connect(self._path)) as connection:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")

    @property
    def checkpointing(self) -> asyncio.Task[None] | None:
        """The WAL checkpoint running now, if any."""
        return self._checkpoint

    def _checkpointed(self, task: asyncio.Task[None]) -> None:
        self._checkpoint = None
        if not task.cancelled() and task.exception() is not None:
            log.warning("checkpointing the WAL failed: %s", task.exception())

    def read(self, statement: str, parameters: tuple) -> tuple[list, Any]:
        """A read on the event loop (rows and the cursor's description), on a connection of its own: in WAL
        mode a reader waits for no writer. ReadBusy in the rare moments it would have to wait (the WAL being
        reset, recovery): then the caller reads the slow way."""
        if self._reader is None:
            self._reader = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            self._reader.execute("PRAGMA busy_timeout=0")
            self._reader.execute("PRAGMA query_only=ON")
        try:
            cursor = self._reader.execute(statement, parameters)
            return cursor.fetchall(), cursor.description
        except sqlite3.OperationalError as error:
            if busy(error):
                raise ReadBusy from error
            raise

    def close(self) -> None:
        for connection in (self._connection, self._reader):
            if connection is not None:
                connection.close()
        self._connection = self._reader = None
        self._jobs.clear()
