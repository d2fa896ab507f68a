"""The Python client of genmedia: `Client` (plain code) and `AsyncClient` (asyncio), with the same methods,
typed results and typed exceptions. docs/client.md shows it at work."""

from genmedia.client.aio import AsyncClient
from genmedia.client.enums import (
    BatchStrategy,
    DeliveryState,
    EventType,
    JobKind,
    JobState,
    JobStep,
    Motion,
    NotifyChannel,
    ReviewDecision,
)
from genmedia.client.errors import (
    AlreadyExists,
    ChecksumMismatch,
    DeadlineExceeded,
    DownloadError,
    FailedPrecondition,
    GenmediaError,
    InvalidArgument,
    JobCancelled,
    JobEnded,
    JobFailed,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    RpcError,
    Unauthenticated,
    Unavailable,
)
from genmedia.client.models import Asset, BatchSummary, Delivery, Job, JobError, JobEvent, Page, Review, Stats
from genmedia.client.requests import JobRequest, image_job, video_job
from genmedia.client.rpc import GenmediaClient
from genmedia.client.sync import Client
from genmedia.client.transfer import AssetLink, DownloadedAsset

__all__ = [
    "AlreadyExists", "Asset", "AssetLink", "AsyncClient", "BatchStrategy", "BatchSummary", "ChecksumMismatch",
    "Client", "DeadlineExceeded", "Delivery", "DeliveryState", "DownloadError", "DownloadedAsset", "EventType",
    "FailedPrecondition", "GenmediaClient", "GenmediaError", "InvalidArgument", "Job", "JobCancelled",
    "JobEnded", "JobError", "JobEvent", "JobFailed", "JobKind", "JobRequest", "JobState", "JobStep", "Motion",
    "NotFound", "NotifyChannel", "Page", "PermissionDenied", "ResourceExhausted", "Review", "ReviewDecision",
    "RpcError", "Stats", "Unauthenticated", "Unavailable", "image_job", "video_job",
]
