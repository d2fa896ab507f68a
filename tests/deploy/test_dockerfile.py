"""The Dockerfile: hadolint finds nothing, and what it builds is right, checked without a Docker engine: the
build context it gets (.dockerignore) holds what it copies, a package built from only those files has every
module, console script and the console's static files, and its user and ports are the ones the manifests use."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from tests.conftest import ROOT, venv_bin
from tests.deploy.manifests import is_genmedia, of_kind

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run([str(venv_bin("hadolint")), "--no-color", str(ROOT / "Dockerfile")], capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def context_files() -> list[Path]:
    """The files `docker build .` sends, by .dockerignore's rules (the last matching rule wins)."""
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    sent = []
    for name in tracked.splitlines():
        keep = True
        for rule in rules:
            negated, pattern = rule.startswith("!"), rule.lstrip("!").rstrip("/")
            parts = Path(name).parts
            if pattern.startswith("**/"):  # at any depth
                hit = any(fnmatch.fnmatch(part, pattern[3:]) for part in parts)
            else:  # anchored at the context's root: the path or a folder above it
                hit = any(fnmatch.fnmatch("/".join(parts[:i]), pattern) for i in range(1, len(parts) + 1))
            if hit:
                keep = negated
        if keep:
            sent.append(Path(name))
    return sent


def test_the_build_context_is_exactly_what_the_image_copies() -> None:
    copied = {src for line in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE, re.MULTILINE)
              for src in line.split()[:-1]}
    assert copied == {"pyproject.toml", "README.md", "genmedia", "services"}
    sent = context_files()
    tops = {path.parts[0] for path in sent}
    assert tops == copied, tops
    assert not any(part in (".venv", "tests", "var", ".git") for path in sent for part in path.parts)


def test_a_package_built_from_the_context_alone_has_every_module_and_command(tmp_path: Path) -> None:
    context = tmp_path / "context"
    for path in context_files():
        (context / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, context / path)
    # The Dockerfile's `pip install .`, without its dependencies (they are pinned wheels from PyPI).
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path / "wheels"), str(context)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "wheels").glob("genmedia-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    modules = {str(p.relative_to(ROOT)) for top in ("genmedia", "services") for p in (ROOT / top).rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    # The gateway serves its console from these files, next to its modules: no CDN, nothing fetched at run time.
    static = {str(p.relative_to(ROOT)) for p in (ROOT / "services" / "gateway" / "static").iterdir()}
    assert "services/gateway/static/index.html" in static and static <= names, sorted(static - names)
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for script in scripts:
        assert f"{script} = " in entry_points
    for overlay in ("overlays/dev", "overlays/prod"):
        for deployment in of_kind(overlay, "Deployment"):
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                if is_genmedia(container):
                    assert container["command"][0] in scripts


def test_the_image_runs_as_the_manifests_user_and_exposes_their_ports() -> None:
    assert re.search(r"^USER 10001:10001$", DOCKERFILE, re.MULTILINE)
    assert "PYTHONDONTWRITEBYTECODE=1" in DOCKERFILE, "the root filesystem is read-only at run time"
    # The temporal CLI (Go without cgo) refuses to start when it cannot tell its user (seen running as 10001).
    assert "USER=genmedia" in DOCKERFILE and "HOME=/var/lib/genmedia" in DOCKERFILE
    exposed = {int(p) for line in re.findall(r"^EXPOSE (.+)$", DOCKERFILE, re.MULTILINE) for p in line.split()}
    stages = re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE)
    assert len(stages) == 2 and all("slim" in s or s == "${PYTHON_IMAGE}" for s in stages)
    assert "slim" in re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.MULTILINE).group(1)
    for deployment in of_kind("base", "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert {p["containerPort"] for p in container["ports"]} <= exposed
    for label in ("title", "description", "version", "revision", "created", "source"):
        assert f"org.opencontainers.image.{label}=" in DOCKERFILE
