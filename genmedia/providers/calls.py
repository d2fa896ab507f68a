"""One GenerateImages or RenderVideo call on a backend, shared by both services: the attempt's backend and its
slot, progress as GenerationProgress, the outputs checked and stored, and cleanup when the call fails or is
cancelled before its result went out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace

from genmedia.assetstore import Store
from genmedia.providers.backend import Backend, Output, Progress, Request, discard_files
from genmedia.providers.errors import Kind, ProviderError, to_service_error
from genmedia.providers.media import inspect_image, inspect_video
from genmedia.providers.outputs import (
    Provenance,
    discard_assets,
    discard_partials,
    save_asset,
    scratch_for,
    store_errors,
)
from genmedia.providers.runner import Backends, run
from genmedia.serving import logs
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import image_service_pb2 as ipb

log = logging.getLogger(__name__)


def _progress(backend: Backend, percent: float, message: str, item: Progress | None = None) -> ipb.GenerationProgress:
    return ipb.GenerationProgress(
        percent=min(max(percent, 0.0), 100.0), message=message, item_index=item.item if item else 0,
        queue_position=item.queue_position if item else 0, provider=backend.name, model=backend.model,
        provider_request_id=item.request_id if item else "")


def opening(backend: Backend, chain: list[str], attempt: int) -> str:
    """The first message of an attempt: which provider it uses and where it stands in the fallback list."""
    text = f"generating with {backend.name} ({backend.model})"
    if attempt > 1:
        text += f", attempt {attempt}"
    if len(chain) > 1:
        text += f"; fallback order {', '.join(chain)}"
    return text


async def generate(backends: Backends, store: Store, chain: list[str], attempt: int, request: Request,
                   kind: str, stems: list[str]) -> AsyncIterator[ipb.GenerationProgress | list[pb.Asset]]:
    """Yields progress, then the stored assets (one per stem: `<job>/<stem>.<ext>`)."""
    backend, next_name = backends.pick(chain, attempt)
    with backends.slot(backend):
        log.info("%s with %s (%s), attempt %d", kind, backend.name, backend.model, attempt, **logs.job(request.job_id))
        yield _progress(backend, 0.0, opening(backend, chain, attempt))
        with store_errors():
            await discard_partials(store, request.job_id)
        request = replace(request, scratch=scratch_for(store, request.job_id))
        started, outputs = time.perf_counter(), []
        try:
            async with contextlib.aclosing(run(backend, request, next_name)) as items:  # closed at once on a cancel
                async for item in items:
                    if isinstance(item, Progress):
                        yield _progress(backend, item.percent * 0.98, item.message, item)
                    else:
                        outputs = item
            latency = time.perf_counter() - started
            assets = await _store(store, backend, request, kind, stems, outputs, latency, next_name)
        finally:
            discard_files(outputs)  # the local files not stored (those stored are gone already)
        log.info("%s done with %s in %.2fs (%d file(s))", kind, backend.name, latency, len(assets),
                 **logs.job(request.job_id))
        yield _progress(backend, 100.0, f"stored {len(assets)} {kind}(s) made by {backend.name}")
        yield assets


async def _store(store: Store, backend: Backend, request: Request, kind: str, stems: list[str],
                 outputs: list[Output], latency: float, next_name: str) -> list[pb.Asset]:
    """The outputs checked and stored; on any failure none of them is left in the store."""
    assets: list[pb.Asset] = []
    try:
        if len(outputs) < len(stems):
            raise ProviderError(Kind.BAD_OUTPUT, backend.name, f"made {len(outputs)} of {len(stems)} {kind}(s)")
        inspect = inspect_image if kind == "image" else inspect_video
        for stem, output in zip(stems, outputs, strict=False):
            source = output.path if output.path is not None else output.data
            media = await asyncio.to_thread(inspect, source, backend.name, output.content_type)
            made_by = Provenance(backend.name, backend.model, output.request_id, output.provider_seconds,
                                 output.tokens, latency)
            with store_errors():
                assets.append(await save_asset(store, request.job_id, stem, output, media, made_by))
    except ProviderError as error:
        await discard_assets(store, assets)
        log.warning("%s from %s refused: %s", kind, backend.name, error.message, **logs.job(request.job_id))
        raise to_service_error(error.with_request_id(outputs[0].request_id if outputs else ""),
                               next_name) from None
    except BaseException:
        await asyncio.shield(discard_assets(store, assets))
        raise
    return assets
