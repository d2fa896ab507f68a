"""The deploy/ tree as the tests read it: overlays rendered by kubectl kustomize, tools by path, and what a
container's environment resolves to."""

from __future__ import annotations

import functools
import shutil
import subprocess
from typing import Any

import yaml

from tests.conftest import ROOT, venv_bin

DEPLOY = ROOT / "deploy"
OVERLAYS = ("base", "overlays/dev", "overlays/prod")
GENMEDIA_IMAGE = ("genmedia", "registry.example.com/genmedia")
CRD_KINDS = {("monitoring.coreos.com/v1", "PodMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule"),
             ("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication")}


def system_tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: `make test` installs Debian's prometheus package, which has it"
    return path


@functools.cache
def rendered(overlay: str) -> str:
    done = subprocess.run([str(venv_bin("kubectl")), "kustomize", str(DEPLOY / "k8s" / overlay)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"kubectl kustomize {overlay} failed:\n{done.stderr}"
    return done.stdout


@functools.cache
def parsed(overlay: str) -> tuple[dict[str, Any], ...]:
    return tuple(doc for doc in yaml.safe_load_all(rendered(overlay)) if doc)


def objects(overlay: str) -> list[dict[str, Any]]:
    """The rendered objects (shared between tests: copy one before changing it)."""
    return list(parsed(overlay))


def of_kind(overlay: str, kind: str) -> list[dict[str, Any]]:
    return [o for o in objects(overlay) if o["kind"] == kind]


def by_name(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in of_kind(overlay, kind)}


def is_genmedia(container: dict[str, Any]) -> bool:
    return container["image"].rsplit(":", 1)[0] in GENMEDIA_IMAGE and container["command"][0] != "temporal"


def env_of(overlay: str, container: dict[str, Any]) -> dict[str, str]:
    """The plain values a container's environment gets: its ConfigMaps, then its own env (secrets left out)."""
    maps = by_name(overlay, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(maps[source["configMapRef"]["name"]]["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
    return env
