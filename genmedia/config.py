"""Reading GENMEDIA_* environment variables, for every process's settings objects; bad values fail fast.
The settings objects themselves live with what they configure (docs/configuration.md lists them all)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A GENMEDIA_* variable has a value that cannot be used."""


def load_or_exit(prog: str, factory: Callable[[], T]) -> T:
    """Builds a process's settings; a bad GENMEDIA_* value ends it with one line naming the variable."""
    try:
        return factory()
    except ConfigError as exc:
        raise SystemExit(f"{prog}: {exc}") from None


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def env_int(name: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{name}={value} is outside {lo}..{hi}")
    return value


def env_float(name: str, default: float, lo: float | None = None) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if lo is not None and value < lo:
        raise ConfigError(f"{name}={value} is below {lo}")
    return value


def secret(name: str) -> str:
    """A secret from NAME or from the file NAME_FILE names."""
    value = os.environ.get(name, "")
    path = os.environ.get(f"{name}_FILE", "")
    if path:
        try:
            value = Path(path).read_text().strip()
        except OSError as err:
            raise ConfigError(f"{name}_FILE: cannot read {path}: {err.strerror}") from None
    return value


def var_dir() -> Path:
    """GENMEDIA_VAR_DIR (default ./var): where databases, assets and logs go."""
    return Path(env_str("GENMEDIA_VAR_DIR", "var")).resolve()


# Default ports of the stack (ARCHITECTURE.md, "Processes and ports").
PORTS = {"orchestrator": 50051, "progress": 50052, "image": 50053, "video": 50054, "worker": 50055,
         "gateway": 8080}
METRICS_PORTS = {"orchestrator": 9101, "worker": 9102, "progress": 9103, "image": 9104, "video": 9105,
                 "gateway": 9106}


def service_addr(service: str) -> str:
    """Where clients reach a service: GENMEDIA_<SERVICE>_ADDR, default 127.0.0.1:<its default port>."""
    return env_str(f"GENMEDIA_{service.upper()}_ADDR", f"127.0.0.1:{PORTS[service]}")


@dataclass(frozen=True)
class Var:
    """One GENMEDIA_* variable as the settings object that reads it declares it: its name (`<SERVICE>` and the
    like stand for a part the code fills in), its default as shown to people, and what it does. The
    configuration reference (docs/configuration.md) is generated from these (`python -m services.configdoc`)."""

    name: str
    default: str
    help: str


@dataclass(frozen=True)
class Section:
    """The variables one settings object reads, under a title, in the order the reference shows them."""

    title: str
    variables: tuple[Var, ...]
    note: str = ""


ENV = Section("Every process", (
    Var("GENMEDIA_VAR_DIR", "var", "where databases, assets, logs and pid files go (relative to the working dir)"),
    Var("GENMEDIA_<SERVICE>_ADDR", "127.0.0.1:<the service's port>",
        "where clients (the CLI, the worker, the API) reach a service: ORCHESTRATOR, PROGRESS, IMAGE, VIDEO"),
))
