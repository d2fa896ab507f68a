"""GetStats' provider figures: the calls each provider got for the window's jobs, how many failed, and the
latency of the calls that made an asset. A call that made assets is read from STEP_FINISHED (each asset names
its provider, request id and latency); a failed one from RETRYING and FAILED (the error names the provider)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from genmedia.v1 import common_pb2 as pb
from services.progress.models import JobEventRow, JobRow

TYPES = (pb.EVENT_TYPE_STEP_FINISHED, pb.EVENT_TYPE_RETRYING, pb.EVENT_TYPE_FAILED)


@dataclass
class ProviderCalls:
    calls: int = 0
    failures: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, of the calls that made assets


async def provider_calls(session: AsyncSession, jobs: list) -> dict[str, ProviderCalls]:
    rows = await session.execute(
        select(JobEventRow.job_id, JobEventRow.event).join(JobRow, JobRow.id == JobEventRow.job_id)
        .where(*jobs, JobEventRow.type.in_(TYPES)))
    by_provider: dict[str, ProviderCalls] = defaultdict(ProviderCalls)
    for job_id, blob in rows.all():
        event = pb.JobEvent.FromString(blob)
        if event.error.provider:
            entry = by_provider[event.error.provider]
            entry.calls += 1
            entry.failures += 1
        made: dict[tuple[str, str], float] = {}
        for asset in event.assets:
            if asset.provider:  # one call may make several assets (n images): counted once
                made[(asset.provider, asset.provider_request_id or f"{job_id}:{asset.uri}")] = \
                    asset.provider_latency_seconds
        for (provider, _), latency in made.items():
            entry = by_provider[provider]
            entry.calls += 1
            entry.latencies.append(latency)
    return dict(sorted(by_provider.items()))
