"""Per-user rate limits of the public RPCs: token buckets per user and kind of call (`create` for calls that
start work, `read` for every other), and the per-role limits GENMEDIA_LIMITS sets (docs/security.md)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from genmedia.config import ConfigError
from genmedia.domain.errors import ServiceError

# Calls that start work: the tighter `create` rate limit (RetryBatch starts a batch's failed children
# again, a redelivery sends requests out).
CREATE_METHODS = ("/genmedia.v1.JobService/CreateJob", "/genmedia.v1.JobService/CreateBatch",
                  "/genmedia.v1.JobService/RetryBatch", "/genmedia.v1.JobService/RedeliverNotification")
# Every other public RPC takes the `read` limit, DownloadAsset and CreateAssetLink included: they start no work,
# and reach only the caller's own jobs' assets (the owner is checked as for GetJob; an admin reaches every job's).


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: `rate` requests a second on average, bursts of up to `burst`. rate 0 = unlimited."""

    rate: float
    burst: float


@dataclass(frozen=True)
class RoleLimits:
    create: RateLimit = RateLimit(5, 20)  # CreateJob, CreateBatch, RetryBatch
    read: RateLimit = RateLimit(50, 200)  # every other public RPC
    max_active_jobs: int = 100  # jobs not yet ended; 0 = unlimited


DEFAULT_LIMITS = {"user": RoleLimits(), "admin": RoleLimits(RateLimit(0, 0), RateLimit(0, 0), 0)}


def limits_from(text: str, source: str) -> dict[str, RoleLimits]:
    """`{"user": {"create": [5, 20], "read": [50, 200], "max_active_jobs": 100}, "admin": {...}}`."""
    limits = dict(DEFAULT_LIMITS)
    try:
        for role, spec in json.loads(text).items():
            if role not in ("user", "admin"):
                raise ValueError(f"unknown role {role!r}")
            base = limits[role]
            limits[role] = RoleLimits(
                RateLimit(*map(float, spec.get("create", (base.create.rate, base.create.burst)))),
                RateLimit(*map(float, spec.get("read", (base.read.rate, base.read.burst)))),
                int(spec.get("max_active_jobs", base.max_active_jobs)),
            )
    except (ValueError, TypeError, AttributeError) as err:
        raise ConfigError(f"{source}: expected {{role: {{create: [rate, burst], read: [rate, burst], "
                          f"max_active_jobs: n}}}}: {err}") from None
    return limits


class RateLimiter:
    """Per user and class of RPC (create / read): token buckets in this process."""

    MAX_BUCKETS = 100_000

    def __init__(self, limits: dict[str, RoleLimits]) -> None:
        self.limits = limits
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # -> (tokens, last refill)

    def check(self, user: str, role: str, method: str) -> None:
        """Takes a token from the caller's bucket for this kind of call; RESOURCE_EXHAUSTED with RetryInfo
        when there is none."""
        limits = self.limits.get(role)
        if limits is None:
            return
        kind = "create" if method.startswith(CREATE_METHODS) else "read"
        limit: RateLimit = getattr(limits, kind)
        if limit.rate <= 0:
            return
        now = time.monotonic()
        key = (user, kind)
        tokens, last = self._buckets.get(key, (limit.burst, now))
        tokens = min(limit.burst, tokens + (now - last) * limit.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            wait = (1 - tokens) / limit.rate
            retry = duration_pb2.Duration()
            retry.FromNanoseconds(int(wait * 1e9))
            raise ServiceError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"rate limit of {limit.rate:g} {kind} requests/s (bursts of {limit.burst:g}) reached; "
                f"retry in {wait:.2f}s", "RATE_LIMITED", metadata={"limit": kind},
                details=[error_details_pb2.RetryInfo(retry_delay=retry)],
            )
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > self.MAX_BUCKETS:
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
