"""The worker's one /metrics: genmedia's own series (prometheus_client) and the Temporal SDK's. The Temporal
runtime exports its series on a loopback port in Prometheus conventions (`_total` counters, durations in
seconds named `_seconds`); a collector re-exposes them on the worker's metrics port at each scrape."""

from __future__ import annotations

import logging
import socket
import urllib.request
from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

log = logging.getLogger(__name__)

SCRAPE_TIMEOUT = 2.0  # seconds: a scrape answers with genmedia's own series rather than hang
# Seconds, not the SDK's default buckets (sized for milliseconds): schedule-to-start spans ms to minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
BUCKETED = ("activity_schedule_to_start_latency", "workflow_task_schedule_to_start_latency",
            "activity_execution_latency", "workflow_endtoend_latency")


def _loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def temporal_runtime() -> tuple[Runtime, str]:
    """A Temporal runtime exporting the SDK's metrics in Prometheus conventions on a loopback port, and the
    URL they are read from."""
    address = f"127.0.0.1:{_loopback_port()}"
    config = PrometheusConfig(bind_address=address, counters_total_suffix=True, unit_suffix=True,
                              durations_as_seconds=True,
                              histogram_bucket_overrides={name: list(LATENCY_BUCKETS) for name in BUCKETED})
    return Runtime(telemetry=TelemetryConfig(metrics=config)), f"http://{address}/metrics"


class TemporalCollector(Collector):
    """The Temporal SDK's series, read from the runtime's exporter when Prometheus scrapes the worker."""

    def __init__(self, url: str) -> None:
        self.url = url

    def describe(self) -> list[Metric]:
        return []  # names unknown until the runtime has recorded something; read at each scrape

    def collect(self) -> Iterator[Metric]:
        try:
            with urllib.request.urlopen(self.url, timeout=SCRAPE_TIMEOUT) as response:  # noqa: S310 (loopback)
                text = response.read().decode()
        except OSError as err:  # the runtime not up yet, or gone: this scrape has genmedia's series only
            log.debug("temporal metrics unavailable: %s", err)
            return
        yield from text_string_to_metric_families(text)


def export_temporal_metrics(url: str) -> TemporalCollector:
    """Adds the Temporal SDK's series to this process's /metrics."""
    collector = TemporalCollector(url)
    REGISTRY.register(collector)
    return collector
