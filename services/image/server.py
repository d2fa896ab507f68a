"""Builds and runs the image service's gRPC server from its settings."""

from __future__ import annotations

from genmedia.assetstore import open_store
from genmedia.serving.server import Registration, serve
from genmedia.v1 import image_service_pb2, image_service_pb2_grpc
from services.image.backends import create_backends
from services.image.config import Settings
from services.image.servicer import ImageServicer

SERVICE_NAME = image_service_pb2.DESCRIPTOR.services_by_name["ImageService"].full_name
STORE_NAME = "image"  # whose temporary files in the asset store these are (each service sweeps its own)


def build_registrations(settings: Settings) -> list[Registration]:
    """The servicer, with its backends and its asset store (`servicer.aclose()` releases both)."""
    backends = create_backends(settings.backend, settings.providers, settings.step_delay, settings.max_concurrency)
    servicer = ImageServicer(open_store(STORE_NAME, settings.assets), backends)
    return [Registration(SERVICE_NAME, image_service_pb2_grpc.add_ImageServiceServicer_to_server, servicer)]


async def serve_forever(settings: Settings | None = None) -> None:
    """Sweeps what an earlier run left in the store, serves until SIGTERM/SIGINT, then drains in-flight calls
    within the grace period."""
    settings = settings or Settings.from_env()
    registrations = build_registrations(settings)
    servicer = registrations[0].servicer
    await servicer.sweep(settings.assets.sweep_grace)
    await serve(settings.serving, registrations, on_stop=servicer.aclose)
