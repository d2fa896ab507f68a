"""genmedia: durable prompt-to-image and prompt-to-video jobs over gRPC, driven by Temporal.

`from genmedia import Client, AsyncClient` (and the client's errors and types) loads the client on first
use, so the services, which import genmedia's serving kit, do not load it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"  # the one place the version is written (pyproject.toml reads it)

if TYPE_CHECKING:
    from genmedia.client import *  # noqa: F403


CLIENT_NAMES = frozenset({
    "AlreadyExists", "Asset", "AssetLink", "AsyncClient", "BatchStrategy", "BatchSummary", "ChecksumMismatch",
    "Client", "DeadlineExceeded", "Delivery", "DeliveryState", "DownloadError", "DownloadedAsset", "EventType",
    "FailedPrecondition", "GenmediaError", "InvalidArgument", "Job", "JobCancelled", "JobEnded", "JobError",
    "JobEvent", "JobFailed", "JobKind", "JobRequest", "JobState", "JobStep", "Motion", "NotFound",
    "NotifyChannel", "Page", "PermissionDenied", "ResourceExhausted", "Review", "ReviewDecision", "RpcError",
    "Stats", "Unauthenticated", "Unavailable", "image_job", "video_job",
})  # genmedia.client.__all__ without GenmediaClient (a unit test keeps them equal)


def __getattr__(name: str) -> Any:
    if name not in CLIENT_NAMES:
        raise AttributeError(f"module 'genmedia' has no attribute {name!r}")
    import genmedia.client

    return getattr(genmedia.client, name)
