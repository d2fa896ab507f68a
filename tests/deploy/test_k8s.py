"""deploy/k8s: every overlay renders, kubernetes-validate --strict accepts every object, and every Deployment
has probes, the restricted security context, resources and a termination grace longer than the application's."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, venv_bin
from tests.deploy.manifests import (
    CRD_KINDS,
    DEPLOY,
    OVERLAYS,
    by_name,
    env_of,
    is_genmedia,
    objects,
    of_kind,
    rendered,
)

SCRIPTS = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])
RECOMMENDED = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
               "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by", "app.kubernetes.io/version")
ROLES = {"genmedia-orchestrator-api", "genmedia-worker", "genmedia-progress", "genmedia-image", "genmedia-video",
         "genmedia-gateway"}


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv_bin("kubernetes-validate")), "--strict", str(path)], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_validate_strict_accepts_every_object(overlay: str, tmp_path: Path) -> None:
    path = tmp_path / "rendered.yaml"
    path.write_text(rendered(overlay))
    done = validate(path)
    assert done.returncode == 0, done.stdout + done.stderr
    # Only the CRDs' objects have no schema here (they are checked by the tests below); a built-in kind that
    # found no schema would be a wrong apiVersion.
    skipped = [line for line in done.stdout.splitlines() + done.stderr.splitlines() if "Couldn't find schema" in line]
    kinds = {(o["apiVersion"], o["kind"]) for o in objects(overlay)}
    assert len(skipped) == sum((o["apiVersion"], o["kind"]) in CRD_KINDS for o in objects(overlay)), skipped
    assert kinds - CRD_KINDS, "built-in objects were rendered and validated"


def test_strict_validation_refuses_an_unknown_field(tmp_path: Path) -> None:
    deployment = copy.deepcopy(by_name("base", "Deployment")["genmedia-progress"])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(deployment))
    assert validate(path).returncode != 0


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_probes_restricted_security_resources_and_a_long_enough_grace(overlay: str) -> None:
    deployments = of_kind(overlay, "Deployment")
    assert ROLES <= {d["metadata"]["name"] for d in deployments}
    for deployment in deployments:
        name, pod = deployment["metadata"]["name"], deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] > 0, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod.get("automountServiceAccountToken") is False, name
        tmp = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in pod["containers"]:
            where = f"{name}/{container['name']}"
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"] and "add" not in context["capabilities"], where
            assert context["runAsNonRoot"] is True and context["seccompProfile"]["type"] == "RuntimeDefault", where
            assert any(m["mountPath"] == "/tmp" and m["name"] in tmp for m in container["volumeMounts"]), where
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), where
            assert "readinessProbe" in container and "livenessProbe" in container, where
            if is_genmedia(container):
                check_genmedia_container(overlay, where, pod, container)


def check_genmedia_container(overlay: str, where: str, pod: dict, container: dict) -> None:
    """Native gRPC probes on the container's own port (the HTTP gateway: its /readyz and /healthz), a start-up
    probe where start waits on Temporal or the database, a preStop hook, and a termination grace longer than
    preStop + the app's delay and grace."""
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    grpc_port = next((port for name, port in ports.items() if name.startswith("grpc")), None)
    if container["command"][0] == "genmedia-gateway":
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            check = container[probe]["httpGet"]
            assert check["path"] == path and ports.get(check["port"], check["port"]) == ports["http"], (where, probe)
    else:
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == grpc_port, (where, probe)
    if container["command"][0] in ("genmedia-orchestrator", "genmedia-progress"):  # they wait on Temporal, the DB
        assert container["startupProbe"]["grpc"]["port"] == grpc_port, where
    env = env_of(overlay, container)
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    app = float(env.get("GENMEDIA_SHUTDOWN_DELAY_SECONDS", 0)) + float(env.get("GENMEDIA_SHUTDOWN_GRACE_SECONDS", 10))
    assert pod["terminationGracePeriodSeconds"] > pre_stop + app, (where, pod["terminationGracePeriodSeconds"], app)
    assert container["command"][0] in SCRIPTS, (where, container["command"])
    assert pod["securityContext"]["runAsUser"] == 10001, "the Dockerfile's USER"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_recommended_labels_on_every_workload_and_its_pods(overlay: str) -> None:
    for deployment in of_kind(overlay, "Deployment"):
        for labels in (deployment["metadata"]["labels"], deployment["spec"]["template"]["metadata"]["labels"]):
            assert set(RECOMMENDED) <= set(labels), (deployment["metadata"]["name"], labels)
            assert labels["app.kubernetes.io/part-of"] == "genmedia"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_select_pods_and_clients_dial_the_headless_ones(overlay: str) -> None:
    pods = {name: d["spec"]["template"] for name, d in by_name(overlay, "Deployment").items()}
    services = by_name(overlay, "Service")
    for name, service in services.items():
        selector = service["spec"]["selector"]
        matches = [p for p in pods.values() if selector.items() <= p["metadata"]["labels"].items()]
        assert len(matches) == 1, name
        ports = {p["name"] for c in matches[0]["spec"]["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports, name
    config = by_name(overlay, "ConfigMap")["genmedia-config"]["data"]
    for role in ("PROGRESS", "IMAGE", "VIDEO", "ORCHESTRATOR"):
        host, port = config[f"GENMEDIA_{role}_ADDR"].removeprefix("dns:///").split(":")
        assert services[host]["spec"]["clusterIP"] == "None", "headless: one address per ready pod"
        assert int(port) in [p["port"] for p in services[host]["spec"]["ports"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_budgets_autoscalers_policies_and_monitors_point_at_real_pods(overlay: str) -> None:
    deployments = by_name(overlay, "Deployment")
    pods = [d["spec"]["template"] for d in deployments.values()]
    for budget in of_kind(overlay, "PodDisruptionBudget"):
        selected = budget["spec"]["selector"]["matchLabels"]
        assert any(selected.items() <= p["metadata"]["labels"].items() for p in pods), budget["metadata"]["name"]
    scaled = [h["spec"]["scaleTargetRef"]["name"] for h in of_kind(overlay, "HorizontalPodAutoscaler")]
    scaled += [s["spec"]["scaleTargetRef"]["name"] for s in of_kind(overlay, "ScaledObject")]
    assert set(scaled) <= set(deployments) and len(scaled) == len(set(scaled)), "one autoscaler per Deployment"
    for name, deployment in deployments.items():
        assert ("replicas" in deployment["spec"]) != (name in scaled), f"{name}: replicas or an autoscaler"
    (monitor,) = of_kind(overlay, "PodMonitor")
    watched = [p for p in pods if monitor["spec"]["selector"]["matchLabels"].items() <= p["metadata"]["labels"].items()]
    metrics = [p for p in watched if any(port["name"] == "metrics" for c in p["spec"]["containers"]
                                         for port in c["ports"])]
    assert {p["metadata"]["labels"]["app.kubernetes.io/name"] for p in metrics} >= ROLES
    for policy in of_kind(overlay, "NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            for port in rule.get("ports", []):
                named = {p["name"] for pod in pods for c in pod["spec"]["containers"] for p in c["ports"]}
                assert port["port"] in named, (policy["metadata"]["name"], port)


def test_the_dev_overlay_runs_one_replica_each_with_every_secret_it_names() -> None:
    deployments = by_name("overlays/dev", "Deployment")
    assert {d["spec"]["replicas"] for d in deployments.values()} == {1}
    assert not of_kind("overlays/dev", "HorizontalPodAutoscaler")
    assert {"genmedia-temporal", "genmedia-postgres", "genmedia-minio"} <= set(deployments)
    secrets = by_name("overlays/dev", "Secret")
    for deployment in deployments.values():
        pod = deployment["spec"]["template"]["spec"]
        for volume in pod["volumes"]:
            if "secret" in volume and not volume["secret"].get("optional"):
                assert volume["secret"]["secretName"] in secrets
        for container in pod["containers"]:
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref and not ref.get("optional"):
                    assert ref["key"] in secrets[ref["name"]]["data"], (ref, deployment["metadata"]["name"])
    config = by_name("overlays/dev", "ConfigMap")["genmedia-config"]["data"]
    assert config["TEMPORAL_ADDRESS"] == "genmedia-temporal:7233"
    assert config["GENMEDIA_ASSET_URL"].startswith("s3://") and config["AWS_ENDPOINT_URL"] == "http://genmedia-minio:9000"
    keys = json.loads(base64.b64decode(secrets["genmedia-secrets"]["data"]["api-keys.json"]))
    assert keys and all({"user", "role"} <= set(k) for k in keys)


def test_prod_scales_workers_on_backlog_and_speaks_mtls_to_temporal() -> None:
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in of_kind("overlays/prod", "ScaledObject")}
    assert set(scaled) == {"genmedia-worker", "genmedia-image", "genmedia-video"}
    triggers = scaled["genmedia-worker"]["spec"]["triggers"]
    queues = {t["metadata"]["taskQueue"] for t in triggers if t["type"] == "temporal"}
    config = by_name("overlays/prod", "ConfigMap")["genmedia-config"]["data"]
    assert queues == {config["GENMEDIA_TASK_QUEUE"], config["GENMEDIA_IMAGE_TASK_QUEUE"],
                      config["GENMEDIA_VIDEO_TASK_QUEUE"]}
    deployments = by_name("overlays/prod", "Deployment")
    for name in ("genmedia-orchestrator-api", "genmedia-worker"):
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        mounted = {m["mountPath"] for m in container["volumeMounts"]}
        for variable in ("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_CLIENT_CERT_PATH",
                         "TEMPORAL_TLS_CLIENT_KEY_PATH"):
            assert str(Path(config[variable]).parent) in mounted, (name, variable)


def test_the_monitoring_objects_are_the_files_in_deploy_monitoring() -> None:
    (rule,) = of_kind("base", "PrometheusRule")
    assert rule["spec"] == yaml.safe_load((DEPLOY / "monitoring" / "alerts.yaml").read_text())
    dashboard = by_name("base", "ConfigMap")["genmedia-dashboard"]
    assert json.loads(dashboard["data"]["genmedia.json"]) == json.loads((DEPLOY / "monitoring" / "dashboard.json")
                                                                         .read_text())
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
