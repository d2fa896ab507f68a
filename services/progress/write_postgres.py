"""PostgreSQL's write path: a batch's transaction on a pool connection's asyncpg connection itself.

Usually one statement from the rows this replica kept (Transaction, Statements.write_batch); written again
under row locks when that is refused or loses a race. docs/progress-store.md has the design."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only, greenlet_spawn

from services.progress.statements import Statements
from services.progress.transaction import JobCache, Transaction, Unconfirmed, lost_race

log = logging.getLogger(__name__)

T = TypeVar("T")


class AsyncpgCursor:
    """What Transaction uses of a DBAPI cursor, straight on an asyncpg connection, for code run by
    SQLAlchemy's greenlet_spawn: each call awaits the driver through await_only. SQLAlchemy's own adapter
    does the same with a lock, a transaction check, its statement cache and a status parse per statement:
    measured, it doubled the Python time of a batch's transaction (asyncpg caches the prepared statements)."""

    descriptions: dict[str, list[tuple[Any, ...]]] = {}  # statement -> its columns (name, type oid), as DBAPI's

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._rows: list = []
        self._statement = ""

    def execute(self, statement: str, parameters: Sequence[Any]) -> None:
        self._statement = statement
        self._rows = await_only(self._connection.fetch(statement, *parameters))

    def fetchall(self) -> list:
        return self._rows

    @property
    def description(self) -> list[tuple[Any, ...]]:
        description = self.descriptions.get(self._statement)
        if description is None:
            attributes = await_only(self._connection.prepare(self._statement)).get_attributes()
            description = [(a.name, a.type.oid, None, None, None, None, None) for a in attributes]
            self.descriptions[self._statement] = description
        return description


class PostgresWriter:
    """Runs a batch's transaction on a connection of the engine's pool, straight from the pool (a third of
    the CPU of a checkout through engine.connect()), used as the asyncpg connection it is.

    First without locks, from the job rows this replica kept, as one statement that checks their versions
    (Transaction): one round trip instead of four (BEGIN, the read, the write, COMMIT), the lock held only
    while the statement runs. If that is refused (Unconfirmed) or loses a race, again in a transaction that
    reads the rows FOR UPDATE."""

    def __init__(self, engine: AsyncEngine, statements: Statements) -> None:
        self._engine, self._statements = engine, statements
        self._dbapi = engine.dialect.dbapi
        self.jobs = JobCache()  # the job rows this replica wrote last, with their versions

    async def run(self, work: Callable[[Transaction], T], ids: Iterable[str]) -> T:
        """`work(transaction)` written once; `ids` are the jobs of its reports, one per report (forgotten if
        it fails)."""
        ids = list(ids)
        try:
            return await self._attempt(work, ids, lock=False)
        except Exception as error:
            if not isinstance(error, Unconfirmed) and not lost_race(error, self._dbapi):
                raise
            log.debug("writing %d reports again, under row locks: %s", len(ids), error)
            return await self._attempt(work, ids, lock=True)

    async def _attempt(self, work: Callable[[Transaction], T], ids: list[str], lock: bool) -> T:
        pooled = await greenlet_spawn(self._engine.sync_engine.pool.connect)
        driver = pooled.driver_connection
        tx = Transaction(self._statements, AsyncpgCursor(driver), self.jobs, lock=lock)
        try:
            if lock:
                async with driver.transaction():
                    result = await greenlet_spawn(work, tx)
            else:
                result = await greenlet_spawn(work, tx)
        except BaseException:
            tx.forget(ids)
            if driver.is_closed():  # the pool must not hand out a broken connection again
                await greenlet_spawn(pooled.invalidate)
            raise
        finally:
            await greenlet_spawn(pooled.close)
        tx.keep_written()
        return result
