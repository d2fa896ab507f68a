"""Prometheus series of provider requests. The names are a contract: the Grafana dashboard reads them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram

LABELS = ("provider", "operation")
REQUESTS = Counter("genmedia_provider_requests_total",
                   "HTTP and WebSocket requests to generation providers, by outcome (ok, or the failure's kind).",
                   (*LABELS, "outcome"))
DURATION = Histogram("genmedia_provider_request_duration_seconds", "Time one provider request took.", LABELS,
                     buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600))
IN_FLIGHT = Gauge("genmedia_provider_requests_in_flight", "Provider requests being made now.", LABELS)


class Outcome:
    """Set by the block `track` wraps; anything that escapes it unset counts as `error`."""

    def __init__(self) -> None:
        self.value = ""


@contextmanager
def track(provider: str, operation: str) -> Iterator[Outcome]:
    outcome = Outcome()
    gauge = IN_FLIGHT.labels(provider, operation)
    gauge.inc()
    started = time.perf_counter()
    try:
        yield outcome
    except BaseException as exc:
        if not outcome.value:
            outcome.value = "cancelled" if isinstance(exc, asyncio.CancelledError) else "error"
        raise
    finally:
        gauge.dec()
        DURATION.labels(provider, operation).observe(time.perf_counter() - started)
        REQUESTS.labels(provider, operation, outcome.value or "ok").inc()
