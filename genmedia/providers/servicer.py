"""What the image and video servicers share: their store and backends, the start-up sweep, closing, and
DescribeBackends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from genmedia.assetstore import Store
from genmedia.providers.outputs import sweep_stale
from genmedia.providers.runner import Backends


class GeneratingServicer:
    """Mixed in before the generated servicer class, so its DescribeBackends answers."""

    def __init__(self, store: Store, backends: Backends) -> None:
        self.store = store
        self.backends = backends
        self.limit = backends  # callers (and tests) wait for calls to end with limit.wait_idle()

    async def sweep(self, grace: timedelta) -> None:
        await sweep_stale(self.store, grace)

    async def aclose(self) -> None:
        await self.backends.aclose()
        await self.store.close()

    async def DescribeBackends(self, request: Any, context: Any) -> Any:
        return self.backends.describe()
