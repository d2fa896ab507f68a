"""Writes prometheusrule.yaml: alerts.yaml's groups, unchanged, as the Prometheus Operator's PrometheusRule
(`make monitoring`; tests/deploy fail when it is stale)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = """# Generated from alerts.yaml by `make monitoring` (deploy/monitoring/wrap_rules.py): edit alerts.yaml.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: genmedia
  labels:
    app.kubernetes.io/name: genmedia
    # The label a Prometheus Operator's ruleSelector usually matches (kube-prometheus-stack: release=<its name>).
    prometheus: genmedia
spec:
"""


def render(alerts: str) -> str:
    lines = alerts.splitlines()
    body = lines[next(i for i, line in enumerate(lines) if line.startswith("groups:")):]
    return HEADER + "".join(f"  {line}\n" if line else "\n" for line in body)


def main() -> None:
    target = HERE / "prometheusrule.yaml"
    target.write_text(render((HERE / "alerts.yaml").read_text()))
    print(f"wrote {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
