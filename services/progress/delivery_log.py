"""The delivery log of job notifications, and each job's notify settings: tables and their store.

A delivery is one notification of one event to one target (a webhook, a Slack URL or an email address);
its attempts are appended as the orchestrator worker makes them. Rows go with their job (ON DELETE
CASCADE), so retention purges them too."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    and_,
    func,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from genmedia.domain.errors import NotFound, ServiceError, check
from genmedia.serving import logs
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from services.progress.models import BIG_ID, UTC, Base, JobRow, UtcDateTime

log = logging.getLogger(__name__)
CONFLICT_RETRIES = 3
FINAL = (pb.DELIVERY_STATE_DELIVERED, pb.DELIVERY_STATE_FAILED)


class JobNotifyRow(Base):
    """A job's notify settings as submitted (secrets included; they are redacted when shown)."""

    __tablename__ = "job_notify"

    job_id: Mapped[str] = mapped_column(String(200), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    notify: Mapped[bytes] = mapped_column(LargeBinary)  # a serialized Notify


# The settings of some jobs, read directly from a SQLite file (the ids a JSON array).
NOTIFY_OF = "SELECT job_id, notify FROM job_notify WHERE job_id IN (SELECT value FROM json_each(?))"


class DeliveryRow(Base):
    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_job", "job_id", "create_time", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(200), ForeignKey("jobs.id", ondelete="CASCADE"))
    owner: Mapped[str] = mapped_column(Text)
    channel: Mapped[int] = mapped_column(Integer)
    target: Mapped[str] = mapped_column(Text)  # unredacted
    event: Mapped[int] = mapped_column(Integer)
    state: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # the webhook body every channel is rendered from
    redeliveries: Mapped[list[str]] = mapped_column(JSON)  # the key of each redelivery, in order
    create_time: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    update_time: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class DeliveryAttemptRow(Base):
    __tablename__ = "delivery_attempts"
    __table_args__ = (
        UniqueConstraint("delivery_id", "number", name="uq_delivery_attempts_number"),
        UniqueConstraint("delivery_id", "key", name="uq_delivery_attempts_key"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(64), ForeignKey("deliveries.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(200))
    time: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    status_code: Mapped[int] = mapped_column(Integer)
    latency_us: Mapped[int] = mapped_column(BigInteger)
    error: Mapped[str] = mapped_column(Text)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    redelivery: Mapped[int] = mapped_column(Integer)

    def to_proto(self) -> pb.DeliveryAttempt:
        attempt = pb.DeliveryAttempt(attempt=self.number, status_code=self.status_code, error=self.error,
                                     succeeded=self.succeeded, redelivery=self.redelivery)
        attempt.time.FromDatetime(self.time)
        attempt.latency.FromMicroseconds(self.latency_us)
        return attempt


def to_proto(row: DeliveryRow, attempts: list[DeliveryAttemptRow]) -> pb.Delivery:
    delivery = pb.Delivery(id=row.id, job_id=row.job_id, owner=row.owner, channel=row.channel, target=row.target,
                           event=row.event, state=row.state, redeliveries=len(row.redeliveries),
                           attempts=[a.to_proto() for a in attempts])
    delivery.create_time.FromDatetime(row.create_time)
    delivery.update_time.FromDatetime(row.update_time)
    return delivery


@dataclass(frozen=True)
class Recorded:
    delivery: pb.Delivery  # unredacted
    payload: bytes
    redelivery: int  # the number of the redelivery the request's key began (0: none)
    new_attempt: bool  # the request's attempt was added (not a repeat)
    finished: bool  # the request moved the delivery to DELIVERED or FAILED


class Deliveries:
    """Deliveries and notify settings in the progress database; one transaction per call."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 read: Callable[[str, tuple], tuple[list, object] | None] | None = None) -> None:
        self.sessions = sessions
        self._read = read  # the store's quick read of a SQLite file, when it is on one

    async def keep_notify(self, job_id: str, notify: pb.Notify) -> None:
        """Keeps a job's settings the first time (a repeated CREATED keeps the first ones)."""
        try:
            async with self.sessions.begin() as session:
                if await session.get(JobNotifyRow, job_id) is None:
                    session.add(JobNotifyRow(job_id=job_id, notify=notify.SerializeToString()))
        except IntegrityError:
            log.debug("notify settings were kept by a concurrent report", **logs.job(job_id))

    async def notify_of(self, job_ids: list[str]) -> dict[str, pb.Notify]:
        if not job_ids:
            return {}
        if self._read is not None and (read := self._read(NOTIFY_OF, (json.dumps(job_ids),))) is not None:
            return {job_id: pb.Notify.FromString(blob) for job_id, blob in read[0]}
        async with self.sessions() as session:
            rows = await session.scalars(select(JobNotifyRow).where(JobNotifyRow.job_id.in_(job_ids)))
            return {row.job_id: pb.Notify.FromString(row.notify) for row in rows}

    async def record(self, request: ps.RecordDeliveryRequest) -> Recorded:
        """Creates the delivery if new, begins a redelivery, adds an attempt and sets the state, as asked;
        a repeated key changes nothing."""
        for _ in range(CONFLICT_RETRIES):
            try:
                return await self._record(request)
            except IntegrityError:
                log.debug("delivery %s: a concurrent record won, trying again", request.delivery.id)
        raise ServiceError(grpc.StatusCode.ABORTED, "too many concurrent records, try again", "CONFLICT")

    async def _record(self, request: ps.RecordDeliveryRequest) -> Recorded:
        d = request.delivery
        async with self.sessions.begin() as session:
            now = dt.datetime.now(UTC)
            row = await session.scalar(select(DeliveryRow).where(DeliveryRow.id == d.id).with_for_update())
            if row is None:
                row = await self._create(session, request, now)
            elif d.job_id and d.job_id != row.job_id:
                check([("delivery.job_id", f"delivery {d.id} belongs to another job")])
            redelivery, new_attempt, before = 0, False, row.state
            if request.redeliver:
                keys = list(row.redeliveries)
                if request.key not in keys:
                    row.redeliveries, row.state = [*keys, request.key], pb.DELIVERY_STATE_PENDING
                redelivery = [*keys, request.key].index(request.key) + 1
            if request.HasField("attempt"):
                new_attempt = await self._add_attempt(session, row.id, request, now)
            if d.state and (new_attempt or not request.HasField("attempt")):
                row.state = d.state
            row.update_time = now
            attempts = list(await session.scalars(
                select(DeliveryAttemptRow).where(DeliveryAttemptRow.delivery_id == row.id)
                .order_by(DeliveryAttemptRow.number)))
            delivery = to_proto(row, attempts)
        finished = row.state in FINAL and before != row.state
        return Recorded(delivery, row.payload, redelivery, new_attempt, finished)

    @staticmethod
    async def _create(session: AsyncSession, request: ps.RecordDeliveryRequest, now: dt.datetime) -> DeliveryRow:
        d = request.delivery
        missing = [(f"delivery.{name}", "is required to create a delivery")
                   for name in ("job_id", "channel", "target", "event") if not getattr(d, name)]
        check(missing + ([("payload", "is required to create a delivery")] if not request.payload else []))
        job = await session.get(JobRow, d.job_id)
        if job is None:
            raise NotFound("job", d.job_id)
        row = DeliveryRow(id=d.id, job_id=d.job_id, owner=job.owner, channel=d.channel, target=d.target,
                          event=d.event, state=d.state or pb.DELIVERY_STATE_PENDING, payload=request.payload,
                          redeliveries=[], create_time=now, update_time=now)
        session.add(row)
        await session.flush()
        return row

    @staticmethod
    async def _add_attempt(session: AsyncSession, delivery_id: str, request: ps.RecordDeliveryRequest,
                           now: dt.datetime) -> bool:
        seen = await session.scalar(select(DeliveryAttemptRow.number).where(
            DeliveryAttemptRow.delivery_id == delivery_id, DeliveryAttemptRow.key == request.key))
        if seen is not None:
            return False
        last = await session.scalar(select(func.max(DeliveryAttemptRow.number))
                                    .where(DeliveryAttemptRow.delivery_id == delivery_id))
        a = request.attempt
        session.add(DeliveryAttemptRow(
            delivery_id=delivery_id, number=(last or 0) + 1, key=request.key,
            time=a.time.ToDatetime(tzinfo=UTC) if a.HasField("time") else now, status_code=a.status_code,
            latency_us=a.latency.ToMicroseconds(), error=a.error, succeeded=a.succeeded, redelivery=a.redelivery,
        ))
        await session.flush()
        return True

    async def get(self, delivery_id: str) -> pb.Delivery:
        async with self.sessions() as session:
            row = await session.get(DeliveryRow, delivery_id)
            if row is None:
                raise NotFound("delivery", delivery_id)
            return (await self._with_attempts(session, [row]))[0]

    async def page(self, job_id: str, after: tuple[dt.datetime, str] | None, size: int
                   ) -> tuple[list[pb.Delivery], bool]:
        """Up to `size` deliveries of a job after `after` (create_time, id), oldest first, and whether more
        follow."""
        async with self.sessions() as session:
            query = select(DeliveryRow).where(DeliveryRow.job_id == job_id)
            if after is not None:
                query = query.where(or_(DeliveryRow.create_time > after[0],
                                        and_(DeliveryRow.create_time == after[0], DeliveryRow.id > after[1])))
            query = query.order_by(DeliveryRow.create_time, DeliveryRow.id).limit(size + 1)
            rows = list(await session.scalars(query))
            return await self._with_attempts(session, rows[:size]), len(rows) > size

    @staticmethod
    async def _with_attempts(session: AsyncSession, rows: list[DeliveryRow]) -> list[pb.Delivery]:
        by_delivery: dict[str, list[DeliveryAttemptRow]] = {row.id: [] for row in rows}
        if rows:
            query = (select(DeliveryAttemptRow).where(DeliveryAttemptRow.delivery_id.in_(list(by_delivery)))
                     .order_by(DeliveryAttemptRow.delivery_id, DeliveryAttemptRow.number))
            for attempt in await session.scalars(query):
                by_delivery[attempt.delivery_id].append(attempt)
        return [to_proto(row, by_delivery[row.id]) for row in rows]
