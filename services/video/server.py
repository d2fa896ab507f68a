"""Builds and runs the video service's gRPC server from its settings."""

from __future__ import annotations

from genmedia.serving import Registration, serve
from genmedia.v1 import video_service_pb2, video_service_pb2_grpc
from services.video.backends import create_backends
from services.video.config import Settings
from services.video.servicer import VideoServicer

SERVICE_NAME = video_service_pb2.DESCRIPTOR.services_by_name["VideoService"].full_name


def build_registrations(settings: Settings) -> list[Registration]:
    backends = create_backends(settings.backend, settings.providers, settings.frame_delay, settings.crf,
                               settings.preset, settings.max_concurrency)
    servicer = VideoServicer(settings.assets, backends)
    return [Registration(SERVICE_NAME, video_service_pb2_grpc.add_VideoServiceServicer_to_server, servicer)]


async def serve_forever(settings: Settings | None = None) -> None:
    """Serves until SIGTERM/SIGINT, then drains in-flight calls within the grace period."""
    settings = settings or Settings.from_env()
    registrations = build_registrations(settings)
    await serve(settings.serving, registrations, on_stop=registrations[0].servicer.backends.aclose)
