"""Tables of the progress service (jobs, job_events), the async engine factory and row -> proto mapping."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    make_url,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from genmedia.v1 import common_pb2 as pb

UTC = dt.UTC
ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps them naive, in UTC, with microseconds)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


BIG_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite numbers only INTEGER PRIMARY KEYs itself


class Base(DeclarativeBase):
    pass


class JobRow(Base):
    """The current view of one job; last_sequence is the sequence of the newest event applied.

    Every ListJobs filter has an index that ends in (create_time, id), the listing order, so a filtered
    page is an index range scan whatever the table's size."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_newest", "create_time", "id"),
        Index("ix_jobs_state", "state", "create_time", "id"),
        Index("ix_jobs_kind", "kind", "create_time", "id"),
        Index("ix_jobs_batch", "batch_id", "create_time", "id"),
        Index("ix_jobs_owner", "owner", "create_time", "id"),
        Index("ix_jobs_end_time", "end_time"),
    )

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[int] = mapped_column(Integer)
    state: Mapped[int] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer, default=0)
    percent: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[str] = mapped_column(Text, default="")
    spec: Mapped[bytes] = mapped_column(LargeBinary, default=b"")  # serialized JobSpec
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    assets: Mapped[bytes] = mapped_column(LargeBinary, default=b"")  # a serialized Job holding only assets
    error_code: Mapped[str] = mapped_column(Text, default="")
    error_message: Mapped[str] = mapped_column(Text, default="")
    error_retryable: Mapped[bool] = mapped_column(Boolean, default=False)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    create_time: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    start_time: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    update_time: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    end_time: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger, default=0)
    priority: Mapped[int] = mapped_column(Integer, default=3)
    deadline: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    review: Mapped[bool] = mapped_column(Boolean, default=False)
    review_timeout_us: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # microseconds
    review_round: Mapped[int] = mapped_column(Integer, default=0)
    reviews: Mapped[bytes] = mapped_column(LargeBinary, default=b"")  # a serialized Job holding only reviews
    batch_id: Mapped[str] = mapped_column(String(200), default="")
    estimated_completion_time: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    batch: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # a batch's serialized BatchSummary
    batch_percent_sum: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))
    batch_index: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    batch_attempt: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    def to_proto(self) -> pb.Job:
        job = pb.Job(
            id=self.id, kind=self.kind, state=self.state, step=self.step, percent=self.percent,
            message=self.message, attempt=self.attempt, owner=self.owner, request_id=self.request_id,
            labels=self.labels or {}, last_sequence=self.last_sequence, priority=self.priority,
            review=self.review, review_round=self.review_round, batch_id=self.batch_id,
            batch_index=self.batch_index, batch_attempt=self.batch_attempt,
        )
        if self.batch:
            job.batch.ParseFromString(self.batch)
        if self.review_timeout_us is not None:
            job.review_timeout.FromMicroseconds(self.review_timeout_us)
        if self.reviews:
            job.reviews.extend(pb.Job.FromString(self.reviews).reviews)
        if self.spec:
            job.spec.ParseFromString(self.spec)
        if self.assets:
            job.assets.extend(pb.Job.FromString(self.assets).assets)
        if self.error_code or self.error_message:
            job.error.CopyFrom(
                pb.JobError(code=self.error_code, message=self.error_message, retryable=self.error_retryable)
            )
        for name in ("create_time", "start_time", "update_time", "end_time", "deadline",
                     "estimated_completion_time"):
            value = getattr(self, name)
            if value is not None:
                getattr(job, name).FromDatetime(value)
        return job


class JobEventRow(Base):
    """One recorded event; (job_id, sequence) has no gaps and (job_id, idempotency_key) is unique.

    `id` numbers events across jobs; (commit_tx, id) is the order in which they became visible, the
    cursor of WatchJobs (see store.EventCursor): on SQLite, writes take turns, so commit_tx is 0 and ids
    follow commits; on PostgreSQL commit_tx is the writing transaction's id."""

    __tablename__ = "job_events"
    __table_args__ = (
        UniqueConstraint("job_id", "sequence", name="uq_job_events_sequence"),
        UniqueConstraint("job_id", "idempotency_key", name="uq_job_events_key"),
        Index("ix_job_events_cursor", "commit_tx", "id"),
        Index("ix_job_events_type_time", "type", "time"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(200), ForeignKey("jobs.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    type: Mapped[int] = mapped_column(Integer)
    state: Mapped[int] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer)
    commit_tx: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))  # the migration's default
    time: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    event: Mapped[bytes] = mapped_column(LargeBinary)  # the serialized JobEvent as it was recorded

    def to_proto(self) -> pb.JobEvent:
        return pb.JobEvent.FromString(self.event)


class JobLabelRow(Base):
    """One label of a job, so a label filter is an indexed lookup on every backend (jobs.labels is the copy
    that is read back)."""

    __tablename__ = "job_labels"
    __table_args__ = (Index("ix_job_labels_value", "key", "value", "job_id"),)

    job_id: Mapped[str] = mapped_column(
        String(200), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(63), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class JobCountRow(Base):
    """How many jobs an (owner, kind, state) has: updated with every state change (recording.py), summed for
    ListJobs' total_size when the filter is made of states, kind and owner only."""

    __tablename__ = "job_counts"

    owner: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


def sqlite_pragmas(dbapi_connection: Any, _record: Any = None) -> None:
    # WAL lets watchers read while one writer commits; NORMAL skips the fsync per commit (safe with WAL).
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000", "foreign_keys=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def make_engine(url: str, connect_args: dict[str, Any] | None = None) -> AsyncEngine:
    """An async engine for a SQLite or PostgreSQL URL (plain drivers are upgraded to their async ones)."""
    parsed = make_url(url)
    if parsed.drivername in ASYNC_DRIVERS:
        parsed = parsed.set(drivername=ASYNC_DRIVERS[parsed.drivername])
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(parsed, connect_args=connect_args or {})
    if sqlite:
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
    return engine


async def create_schema(engine: AsyncEngine) -> None:
    """Brings the schema to the newest migration (kept for the callers from before Alembic)."""
    from services.progress.schema import upgrade  # schema's migrations import this module

    await upgrade(engine)
