"""GetStats: how jobs created in a time window fared (success, durations per kind and step, reviews), and
the backlog now. Durations are aggregated in Python over the window's rows, which keeps the SQL portable."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field, replace

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from genmedia.domain.jobrules import TERMINAL_STATES
from genmedia.v1 import common_pb2 as pb
from services.progress.models import JobEventRow, JobRow
from services.progress.provider_stats import ProviderCalls, provider_calls
from services.progress.queries import JobQuery

BACKLOG = (pb.JOB_STATE_PENDING, pb.JOB_STATE_RUNNING, pb.JOB_STATE_RETRYING)


@dataclass(frozen=True)
class Durations:
    count: int
    mean: dt.timedelta
    p95: dt.timedelta

    @classmethod
    def of(cls, seconds: list[float]) -> Durations:
        ordered = sorted(seconds)
        p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest rank
        return cls(len(ordered), dt.timedelta(seconds=sum(ordered) / len(ordered)), dt.timedelta(seconds=p95))


@dataclass
class Stats:
    counts: dict[int, int] = field(default_factory=dict)  # by state
    kinds: dict[int, Durations] = field(default_factory=dict)
    steps: dict[int, Durations] = field(default_factory=dict)
    approved: int = 0
    reviews: int = 0
    backlog: int = 0
    providers: dict[str, ProviderCalls] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def success_rate(self) -> float:
        finished = sum(self.counts.get(s, 0) for s in TERMINAL_STATES)
        return self.counts.get(pb.JOB_STATE_COMPLETED, 0) / finished if finished else 0.0


async def compute(sessions: async_sessionmaker[AsyncSession], start: dt.datetime, end: dt.datetime,
                  query: JobQuery) -> Stats:
    """The stats of the jobs created in [start, end) that the query matches."""
    jobs = [JobRow.create_time >= start, JobRow.create_time < end, *query.conditions()]
    stats = Stats()
    async with sessions() as session:
        counted = await session.execute(select(JobRow.state, func.count()).where(*jobs).group_by(JobRow.state))
        stats.counts = {state: count for state, count in counted.all()}
        stats.backlog = await session.scalar(select(func.count()).where(*_backlog(query))) or 0
        completed = await session.execute(
            select(JobRow.kind, JobRow.create_time, JobRow.end_time)
            .where(*jobs, JobRow.state == pb.JOB_STATE_COMPLETED))
        by_kind: dict[int, list[float]] = defaultdict(list)
        for kind, created, ended in completed.all():
            by_kind[kind].append((ended - created).total_seconds())
        stats.kinds = {kind: Durations.of(seconds) for kind, seconds in sorted(by_kind.items())}
        stats.steps = await _step_durations(session, jobs)
        stats.providers = await provider_calls(session, jobs)
        reviewed = await session.scalars(
            select(JobEventRow.event).join(JobRow, JobRow.id == JobEventRow.job_id)
            .where(*jobs, JobEventRow.type == pb.EVENT_TYPE_REVIEWED))
        decisions = [pb.JobEvent.FromString(blob).review.decision for blob in reviewed]
    stats.reviews = sum(d in (pb.REVIEW_DECISION_APPROVE, pb.REVIEW_DECISION_REJECT) for d in decisions)
    stats.approved = decisions.count(pb.REVIEW_DECISION_APPROVE)
    return stats


def _backlog(query: JobQuery) -> list:
    """The jobs waiting or running now that the query matches, whenever they were created: the caller's own
    (the query is scoped to its owner), and of the states asked for, if any."""
    states = [state for state in BACKLOG if not query.states or state in query.states]
    return [JobRow.state.in_(states), *replace(query, states=(), created_after=None, created_before=None).conditions()]


async def _step_durations(session: AsyncSession, jobs: list) -> dict[int, Durations]:
    """STEP_STARTED to the next STEP_FINISHED of the same step in the same job (retries are in the span)."""
    steps = await session.execute(
        select(JobEventRow.job_id, JobEventRow.type, JobEventRow.step, JobEventRow.time)
        .join(JobRow, JobRow.id == JobEventRow.job_id)
        .where(*jobs, JobEventRow.type.in_((pb.EVENT_TYPE_STEP_STARTED, pb.EVENT_TYPE_STEP_FINISHED)))
        .order_by(JobEventRow.job_id, JobEventRow.sequence))
    started: dict[tuple[str, int], dt.datetime] = {}
    by_step: dict[int, list[float]] = defaultdict(list)
    for job_id, type_, step, time in steps.all():
        if type_ == pb.EVENT_TYPE_STEP_STARTED:
            started.setdefault((job_id, step), time)
        elif (begun := started.pop((job_id, step), None)) is not None:
            by_step[step].append((time - begun).total_seconds())
    return {step: Durations.of(seconds) for step, seconds in sorted(by_step.items())}
