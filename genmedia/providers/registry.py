"""Builds a service's Backends from its settings: the built-in placeholders always, and every provider whose
settings are complete (so a job may pick it), in the service's fallback order."""

from __future__ import annotations

from collections.abc import Callable

from genmedia.providers.backend import Backend
from genmedia.providers.runner import Backends
from genmedia.providers.settings import PROVIDERS, ProviderSettings, check_chain

Factory = Callable[[ProviderSettings], Backend]


def build_backends(service: str, setting: str, value: str, placeholders: list[Backend],
                   factories: dict[str, Factory], providers: ProviderSettings) -> Backends:
    known = (*(b.name for b in placeholders), *PROVIDERS)
    chain = check_chain(setting, value, known, providers, service)
    backends: dict[str, Backend] = {b.name: b for b in placeholders}
    for name in PROVIDERS:
        if not providers.missing(name, service):
            backends[name] = factories[name](providers)
    return Backends(service, setting, backends, chain)
