"""Builds and runs the video service's gRPC server from its settings."""

from __future__ import annotations

from genmedia.assetstore import open_store
from genmedia.serving.server import Registration, serve
from genmedia.v1 import video_service_pb2, video_service_pb2_grpc
from services.video.backends import create_backends
from services.video.config import Settings
from services.video.servicer import VideoServicer

SERVICE_NAME = video_service_pb2.DESCRIPTOR.services_by_name["VideoService"].full_name
STORE_NAME = "video"  # whose temporary and scratch files these are (each service sweeps its own)


def build_registrations(settings: Settings) -> list[Registration]:
    """The servicer, with its backends and its asset store (`servicer.aclose()` releases both)."""
    backends = create_backends(settings.backend, settings.providers, settings.frame_delay, settings.crf,
                               settings.preset, settings.max_concurrency)
    servicer = VideoServicer(open_store(STORE_NAME, settings.assets), backends)
    return [Registration(SERVICE_NAME, video_service_pb2_grpc.add_VideoServiceServicer_to_server, servicer)]


async def serve_forever(settings: Settings | None = None) -> None:
    """Sweeps what an earlier run left in the store, serves until SIGTERM/SIGINT, then drains in-flight calls
    within the grace period."""
    settings = settings or Settings.from_env()
    registrations = build_registrations(settings)
    servicer = registrations[0].servicer
    await servicer.sweep(settings.assets.sweep_grace)
    await serve(settings.serving, registrations, on_stop=servicer.aclose)
