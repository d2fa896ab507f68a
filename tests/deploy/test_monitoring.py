"""deploy/monitoring: the alert rules pass promtool's checks and unit tests, the PrometheusRule is current, and
the dashboard is provisionable (templated datasource) with PromQL that parses, every panel and alert explained
in docs/operations.md."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import yaml

from tests.conftest import ROOT
from tests.deploy.manifests import DEPLOY, system_tool

MONITORING = DEPLOY / "monitoring"
OPERATIONS = ROOT / "docs" / "operations.md"
# What Grafana puts in place of its variables before a query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$namespace": ".*"}


def dashboard() -> dict:
    return json.loads((MONITORING / "dashboard.json").read_text())


def dashboard_expressions() -> list[tuple[str, str]]:
    """(panel title, PromQL with Grafana's variables substituted) for every query of the dashboard."""
    found = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            found.append((panel["title"], expr))
    return found


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load((MONITORING / "alerts.yaml").read_text())["groups"]
            for rule in group["rules"]]


def promtool(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess:
    return subprocess.run([system_tool("promtool"), *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_promtool_checks_the_rules_and_their_unit_tests_pass() -> None:
    checked = promtool("check", "rules", "alerts.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 6 rules found" in checked.stdout
    tested = promtool("test", "rules", "alerts.test.yaml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_firing_and_a_quiet_case_in_the_unit_tests() -> None:
    tests = yaml.safe_load((MONITORING / "alerts.test.yaml").read_text())["tests"]
    firing = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    quiet = {case["alertname"] for test in tests for case in test["alert_rule_test"] if not case["exp_alerts"]}
    names = {rule["alert"] for rule in alert_rules()}
    assert len(names) == 6 and names == firing == quiet, "each alert fires, and stays quiet, in some case"


def test_the_prometheus_rule_is_generated_from_the_current_alerts() -> None:
    spec = importlib.util.spec_from_file_location("wrap_rules", MONITORING / "wrap_rules.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.render((MONITORING / "alerts.yaml").read_text())
    assert (MONITORING / "prometheusrule.yaml").read_text() == expected, "stale: run `make monitoring`"


def test_the_dashboard_has_a_templated_datasource_and_every_panel_uses_it() -> None:
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len(panels) >= 20 and len({p["id"] for p in board["panels"]}) == len(board["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"] and all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])
        assert panel["description"], panel["title"]


def test_every_dashboard_and_alert_expression_parses(tmp_path: Path) -> None:
    """promtool parses each expression as a recording rule (the end-to-end test evaluates them too)."""
    rules = [{"record": f"check:expr_{i}", "expr": expr} for i, (_, expr) in enumerate(dashboard_expressions())]
    rules += [{"record": f"check:alert_{i}", "expr": rule["expr"]} for i, rule in enumerate(alert_rules())]
    path = tmp_path / "expressions.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "check", "rules": rules}]}))
    checked = promtool("check", "rules", str(path), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dashboard_shows_what_operators_need() -> None:
    metrics = " ".join(expr for _, expr in dashboard_expressions())
    for metric in ("genmedia_jobs_finished_total", "genmedia_job_duration_seconds_bucket",
                   "genmedia_step_duration_seconds_bucket", "genmedia_jobs{", "genmedia_job_queue_wait_seconds",
                   "genmedia_task_queue_backlog", "genmedia_provider_request_duration_seconds_bucket",
                   "genmedia_provider_requests_total", "grpc_server_handled_total", "grpc_server_handling_seconds",
                   "genmedia_watch_streams", "temporal_activity_schedule_to_start_latency_seconds_bucket",
                   "process_cpu_seconds_total", "process_resident_memory_bytes", "genmedia_review_wait_seconds",
                   "genmedia_gateway_requests_total", "genmedia_gateway_request_seconds_bucket",
                   "genmedia_gateway_open_streams"):
        assert metric in metrics, metric


def test_operations_md_explains_every_panel_and_has_a_runbook_entry_per_alert() -> None:
    text = OPERATIONS.read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
               for heading in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}
    for rule in alert_rules():
        assert rule["annotations"]["runbook"] == f"docs/operations.md#{rule['alert'].lower()}"
        assert rule["alert"].lower() in anchors, f"no runbook section for {rule['alert']}"
    for panel in dashboard()["panels"]:
        if panel["type"] != "row":
            assert f"**{panel['title']}**" in text, f"docs/operations.md does not explain panel {panel['title']!r}"
