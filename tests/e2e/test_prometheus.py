"""Metrics end to end: a real Prometheus (Debian's package) scrapes a running stack, the HTTP gateway included;
after three jobs (two completed, one failed) it reports them, it sees the gateway's requests and open SSE
streams, every process's /metrics passes `promtool check metrics`, and every PromQL expression of the
dashboard and the alerts evaluates against it."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import free_port
from tests.deploy.manifests import system_tool
from tests.deploy.test_monitoring import alert_rules, dashboard_expressions
from tests.e2e.conftest import RunningStack, start_stack
from tests.e2e.test_stack import grpcurl

pytestmark = pytest.mark.timeout(300)
# The job label of each process, as the PodMonitor names them (the pods' app.kubernetes.io/name).
JOBS = {"orchestrator": "genmedia-orchestrator-api", "worker": "genmedia-worker", "progress": "genmedia-progress",
        "image": "genmedia-image", "video": "genmedia-video", "gateway": "genmedia-gateway"}


class Prometheus:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str, **params: str) -> dict:
        with urllib.request.urlopen(f"{self.url}{path}?{urllib.parse.urlencode(params)}", timeout=10) as reply:
            return json.loads(reply.read())

    def query(self, expr: str) -> dict:
        """The answer to an instant query (status success, or the HTTPError Prometheus sends for a bad one)."""
        try:
            return self.get("/api/v1/query", query=expr)
        except urllib.error.HTTPError as err:
            return json.loads(err.read())

    def values(self, expr: str, label: str) -> dict[str, float]:
        answer = self.query(expr)
        assert answer["status"] == "success", answer
        return {r["metric"].get(label, ""): float(r["value"][1]) for r in answer["data"]["result"]}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack of its own: the counts it reports are this module's jobs only."""
    with start_stack(tmp_path_factory.mktemp("metrics") / "var", {"GENMEDIA_JOB_COUNT_SECONDS": "0.5"}) as running:
        yield running


@pytest.fixture(scope="module")
def prometheus(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    folder = tmp_path_factory.mktemp("prometheus")
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "scrape_configs": [
                  {"job_name": job, "static_configs": [{
                      "targets": [f"127.0.0.1:{stack.env[f'GENMEDIA_{name.upper()}_METRICS_PORT']}"],
                      "labels": {"namespace": "genmedia-e2e"}}]}
                  for name, job in JOBS.items()]}
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (folder / "prometheus.log").open("wb")
    process = subprocess.Popen([system_tool("prometheus"), f"--config.file={folder / 'prometheus.yml'}",
                                f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = Prometheus(port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if server.values("up", "job").keys() >= set(JOBS.values()):
                    break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (folder / "prometheus.log").read_text()
            time.sleep(0.3)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def null_job(stack: RunningStack, spec: dict) -> str:
    created = grpcurl(stack.addr("orchestrator"), "genmedia.v1.JobService/CreateJob",
                      data=json.dumps({"spec": {"null": spec}}))
    assert created.returncode == 0, created.stderr
    return json.loads(created.stdout)["id"]


def wait_for(check, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what}: {result!r}"
        time.sleep(0.5)


def test_prometheus_counts_two_completed_jobs_and_one_failed(stack: RunningStack, prometheus: Prometheus) -> None:
    image = stack.cli("image", "a lighthouse at dusk", "--width", "64", "--height", "64", "--watch")
    assert image.returncode == 0 and "COMPLETED" in image.stdout, image.stdout + image.stderr
    null_job(stack, {"duration": "0.2s"})
    null_job(stack, {"duration": "0.2s", "fail_with": "X"})

    def finished() -> dict[str, float] | None:
        found = prometheus.values("sum by (state) (genmedia_jobs_finished_total) > 0", "state")
        return found if found == {"completed": 2.0, "failed": 1.0} else None

    wait_for(finished, "genmedia_jobs_finished_total by state")
    assert prometheus.values('sum(genmedia_jobs_finished_total{state="cancelled"})', "") == {"": 0.0}
    by_kind = prometheus.values('sum by (kind) (genmedia_jobs_finished_total{state="completed"}) > 0', "kind")
    assert by_kind == {"image": 1.0, "null": 1.0}
    assert prometheus.values("sum(genmedia_jobs_created_total)", "") == {"": 3.0}
    wait_for(lambda: prometheus.values('max by (state) (genmedia_jobs{state=~"completed|failed|running"})', "state")
             == {"completed": 2.0, "failed": 1.0, "running": 0.0}, "genmedia_jobs by state")
    # The worker's own target: waited for too, since a scrape slower than the 1 s interval times out and
    # leaves its series stale (absent) until the next one.
    wait_for(lambda: prometheus.values("sum by (step, backend) (genmedia_step_duration_seconds_count)", "backend")
             == {"procedural": 1.0}, "the image step, observed by the worker, by its backend")
    wait_for(lambda: prometheus.values("sum(genmedia_worker_polling)", "") == {"": 1.0}, "the worker polling")
    wait_for(lambda: prometheus.values("sum(temporal_activity_schedule_to_start_latency_seconds_count)", "")
             .get("", 0) >= 1, "the Temporal SDK's series, in seconds, on the worker's /metrics")


def test_prometheus_sees_the_gateways_requests_and_open_streams(stack: RunningStack, prometheus: Prometheus) -> None:
    """The series the gateway panels read, moved by real HTTP requests (authentication is off in this stack)."""
    with httpx.Client(base_url=f"http://127.0.0.1:{stack.env['GENMEDIA_GATEWAY_PORT']}", timeout=30) as client:
        assert client.get("/v1/jobs").status_code == 200
        assert client.get("/v1/jobs/no-such-job").status_code == 404
        with client.stream("GET", "/v1/events", headers={"Accept": "text/event-stream"}) as response:
            assert response.status_code == 200
            wait_for(lambda: prometheus.values('sum by (route) (genmedia_gateway_open_streams) > 0', "route")
                     == {"/v1/events": 1.0}, "the open SSE stream")
    wait_for(lambda: prometheus.values('sum by (route) (genmedia_gateway_open_streams) > 0', "route") == {},
             "the SSE stream closed")
    answered = prometheus.values('sum by (status) (genmedia_gateway_requests_total{route="/v1/jobs/{id}"})', "status")
    assert answered == {"404": 1.0}
    assert prometheus.values('sum(genmedia_gateway_request_seconds_count{route="/v1/jobs"})', "")[""] >= 1


def test_every_dashboard_and_alert_expression_evaluates(stack: RunningStack, prometheus: Prometheus) -> None:
    expressions = [*dashboard_expressions(), *((rule["alert"], rule["expr"]) for rule in alert_rules())]
    failures = [(title, expr, answer) for title, expr in expressions
                if (answer := prometheus.query(expr))["status"] != "success"]
    assert not failures, failures
    # A rate needs two samples: the counters start at 0 (every kind and state), so the first failure shows.
    wait_for(lambda: prometheus.values(
        'sum by (kind) (increase(genmedia_jobs_finished_total{state="failed"}[1m])) > 0', "kind"),
        "the failure, in a rate", timeout=20)


def test_every_metrics_endpoint_passes_promtool(stack: RunningStack, tmp_path: Path) -> None:
    for name in JOBS:
        with urllib.request.urlopen(f"http://127.0.0.1:{stack.env[f'GENMEDIA_{name.upper()}_METRICS_PORT']}/metrics",
                                    timeout=10) as reply:
            text = reply.read()
        assert b"# TYPE" in text, name
        checked = subprocess.run([system_tool("promtool"), "check", "metrics"], input=text, capture_output=True,
                                 timeout=60)
        assert (checked.returncode, checked.stdout + checked.stderr) == (0, b""), name
