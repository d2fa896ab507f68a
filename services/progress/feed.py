"""The cross-job event feed behind WatchJobs: every event in the order it became visible, with a cursor.

An event's position is (commit_tx, id). On SQLite writers take turns, so commit_tx is 0 and ids follow
commits. On PostgreSQL ids are handed out before commit, so a smaller id may become visible later; commit_tx
is the writing transaction's id and the feed only reads below the *horizon*, the oldest transaction still
running (`pg_snapshot_xmin`), in the same statement: every transaction below it has ended, so no event can
ever appear behind a position already read. Events of transactions at or above the horizon wait until it
passes them (milliseconds: writes are short)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, func, literal, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from genmedia.v1 import common_pb2 as pb
from services.progress.models import JobEventRow, JobRow
from services.progress.queries import JobQuery, decode_token, encode_token

PG_HORIZON = text("(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")


@dataclass(frozen=True, order=True)
class Position:
    """Where an event is in the feed; a cursor is the position of the last event delivered."""

    commit_tx: int
    id: int

    def token(self) -> str:
        return encode_token("f", self.commit_tx, self.id)

    @classmethod
    def from_token(cls, token: str, field: str = "cursor") -> Position:
        _, commit_tx, id_ = decode_token(token, field, (str, int, int))
        return cls(commit_tx, id_)


@dataclass(frozen=True)
class FeedPage:
    events: list[tuple[Position, pb.JobEvent]]
    pending: bool  # events exist beyond the horizon: read again soon even without a wake-up


class Feed:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], postgres: bool) -> None:
        self._sessions, self._postgres = sessions, postgres

    def _horizon(self) -> ColumnElement[int]:
        return PG_HORIZON if self._postgres else literal(1)

    async def head(self) -> Position:
        """A cursor before every event that is not yet visible to every reader: 'from now on'."""
        async with self._sessions() as session:
            if self._postgres:
                return Position(await session.scalar(select(PG_HORIZON)), 0)
            return Position(0, await session.scalar(select(func.coalesce(func.max(JobEventRow.id), 0))))

    async def read(self, after: Position, query: JobQuery, limit: int) -> FeedPage:
        """Up to `limit` events after a position, of jobs the query matches (states: the state after the
        event), in feed order."""
        where = replace(query, states=()).conditions()
        if query.states:
            where.append(JobEventRow.state.in_(query.states))
        horizon = self._horizon()
        select_events = (
            select(JobEventRow.commit_tx, JobEventRow.id, JobEventRow.event)
            .join(JobRow, JobRow.id == JobEventRow.job_id)
            .where(tuple_(JobEventRow.commit_tx, JobEventRow.id) > tuple_(literal(after.commit_tx), literal(after.id)),
                   JobEventRow.commit_tx < horizon, *where)
            .order_by(JobEventRow.commit_tx, JobEventRow.id)
            .limit(limit)
        )
        async with self._sessions() as session:
            rows = (await session.execute(select_events)).all()
            pending = False
            if self._postgres and len(rows) < limit:
                beyond = select(JobEventRow.id).where(JobEventRow.commit_tx >= PG_HORIZON).limit(1)
                pending = await session.scalar(beyond) is not None
        return FeedPage([(Position(tx, id_), pb.JobEvent.FromString(blob)) for tx, id_, blob in rows], pending)
