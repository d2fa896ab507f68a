"""Orchestrator settings from GENMEDIA_* environment variables (see the README's service table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc

from genmedia.assetstore import StoreSettings
from genmedia.channels import aio_channel
from genmedia.config import PORTS, ConfigError, Section, Var, env_float, env_int, env_str, secret, service_addr, var_dir
from genmedia.domain.notify import master_secret
from genmedia.domain.policy import ContentPolicy
from genmedia.serving.settings import ServingSettings
from genmedia.tls import ClientTls
from services.orchestrator.temporal import TemporalSettings


@dataclass(frozen=True)
class StepPolicy:
    """How one kind of step is retried: the explicit retry policy and its time bounds."""

    initial_interval: timedelta
    backoff: float
    max_interval: timedelta
    schedule_to_close: timedelta  # every attempt of the step together
    start_to_close: timedelta  # one attempt
    heartbeat: timedelta


@dataclass(frozen=True)
class SmtpSettings:
    """Where notification emails go; host "" turns email off."""

    host: str = ""
    port: int = 587
    tls: str = "starttls"  # starttls | implicit | off
    username: str = ""
    password: str = ""
    sender: str = "genmedia@localhost"

    @classmethod
    def from_env(cls) -> SmtpSettings:
        tls = env_str("GENMEDIA_SMTP_TLS", "starttls").lower()
        if tls not in ("starttls", "implicit", "off"):
            raise ConfigError(f"GENMEDIA_SMTP_TLS={tls!r} must be starttls, implicit or off")
        return cls(host=env_str("GENMEDIA_SMTP_HOST", ""), port=env_int("GENMEDIA_SMTP_PORT", 587, 1, 65535), tls=tls,
                   username=env_str("GENMEDIA_SMTP_USERNAME", ""), password=secret("GENMEDIA_SMTP_PASSWORD"),
                   sender=env_str("GENMEDIA_SMTP_FROM", "genmedia@localhost"))


@dataclass(frozen=True)
class NotifySettings:
    """How notifications are signed, retried and sent (README, "Notifications")."""

    master_secret: bytes = b""  # per-owner webhook secrets are derived from it
    retry_initial: timedelta = timedelta(seconds=5)
    retry_backoff: float = 2.0
    retry_max: timedelta = timedelta(hours=1)
    give_up: timedelta = timedelta(hours=24)  # all attempts of one delivery together
    timeout: timedelta = timedelta(seconds=10)  # one attempt
    refuse_private: bool = True  # refuse loopback, private and link-local receivers (SSRF)
    smtp: SmtpSettings = SmtpSettings()
    ca_file: str = ""  # a CA trusted for https receivers, besides the public roots

    @classmethod
    def from_env(cls) -> NotifySettings:
        def seconds(name: str, default: float) -> timedelta:
            return timedelta(seconds=env_float(f"GENMEDIA_NOTIFY_{name}_SECONDS", default, lo=0.01))

        private = env_str("GENMEDIA_NOTIFY_PRIVATE_ADDRESSES", "refuse").lower()
        if private not in ("refuse", "allow"):
            raise ConfigError(f"GENMEDIA_NOTIFY_PRIVATE_ADDRESSES={private!r} must be refuse or allow")
        ca_file = env_str("GENMEDIA_NOTIFY_CA_FILE", "")
        if ca_file and not Path(ca_file).is_file():
            raise ConfigError(f"GENMEDIA_NOTIFY_CA_FILE={ca_file!r} is not a file")
        try:
            master = master_secret(secret("GENMEDIA_WEBHOOK_SECRET"), var_dir())
        except OSError as err:
            raise ConfigError(f"GENMEDIA_WEBHOOK_SECRET is unset and {var_dir()}/webhook-secret cannot be made: "
                              f"{err.strerror}") from None
        return cls(master_secret=master, retry_initial=seconds("RETRY_INITIAL", 5.0),
                   retry_backoff=env_float("GENMEDIA_NOTIFY_RETRY_BACKOFF", 2.0, lo=1.0),
                   retry_max=seconds("RETRY_MAX", 3600.0), give_up=seconds("GIVE_UP", 86400.0),
                   timeout=seconds("TIMEOUT", 10.0), refuse_private=private == "refuse", smtp=SmtpSettings.from_env(),
                   ca_file=ca_file)


@dataclass(frozen=True)
class Settings:
    serving: ServingSettings
    worker_metrics_port: int
    worker_port: int  # the worker's gRPC health (-1: none)
    queue_check_seconds: float  # how often the worker asks Temporal whether its pollers are seen
    temporal: TemporalSettings
    task_queue: str
    image_task_queue: str
    video_task_queue: str
    image_slots: int  # 0: as many as the image service takes (DescribeBackends), asked at start-up
    video_slots: int
    progress_addr: str
    image_addr: str
    video_addr: str
    progress_interval: float  # seconds between forwarded progress reports of one step
    rpc_timeout: float  # deadline of unary calls to the progress service
    heartbeat_flush: float  # seconds between heartbeats sent to Temporal (the live view's freshness)
    image_policy: StepPolicy
    video_policy: StepPolicy
    internal_token: str = ""  # the credential the API and worker send to the other services
    client_tls: ClientTls | None = None  # TLS of the channels to the other services
    content_policy: ContentPolicy = ContentPolicy()
    notify: NotifySettings = NotifySettings()
    asset_store: StoreSettings | None = None  # None: read from the environment when the store is opened

    def channel(self, address: str) -> grpc.aio.Channel:
        """A channel from this process to another genmedia service."""
        return aio_channel(address, token=self.internal_token, tls=self.client_tls)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            serving=ServingSettings.from_env("orchestrator"),
            worker_metrics_port=env_int("GENMEDIA_WORKER_METRICS_PORT", 9102, -1, 65535),
            worker_port=env_int("GENMEDIA_WORKER_PORT", PORTS["worker"], -1, 65535),
            queue_check_seconds=env_float("GENMEDIA_WORKER_HEALTH_INTERVAL_SECONDS", 5.0, lo=0.1),
            temporal=TemporalSettings.from_env(),
            task_queue=env_str("GENMEDIA_TASK_QUEUE", "genmedia-jobs"),
            image_task_queue=env_str("GENMEDIA_IMAGE_TASK_QUEUE", "genmedia-image"),
            video_task_queue=env_str("GENMEDIA_VIDEO_TASK_QUEUE", "genmedia-video"),
            # Unset (0): the services' capacity, asked at start-up (services.orchestrator.backends).
            image_slots=env_int("GENMEDIA_IMAGE_SLOTS", 0, 1, 1000),
            video_slots=env_int("GENMEDIA_VIDEO_SLOTS", 0, 1, 1000),
            progress_addr=service_addr("progress"),
            image_addr=service_addr("image"),
            video_addr=service_addr("video"),
            progress_interval=env_float("GENMEDIA_PROGRESS_INTERVAL_SECONDS", 0.25, lo=0.0),
            rpc_timeout=env_float("GENMEDIA_RPC_TIMEOUT_SECONDS", 5.0, lo=0.1),
            heartbeat_flush=env_float("GENMEDIA_HEARTBEAT_FLUSH_SECONDS", 0.5, lo=0.1),
            image_policy=_policy("IMAGE", schedule_to_close=3600, start_to_close=600),
            video_policy=_policy("VIDEO", schedule_to_close=3600, start_to_close=1800),
            internal_token=secret("GENMEDIA_INTERNAL_TOKEN"),
            client_tls=ClientTls.from_env(),
            content_policy=ContentPolicy.from_env(),
            notify=NotifySettings.from_env(),
            asset_store=StoreSettings.from_env(),
        )


def _policy(step: str, schedule_to_close: float, start_to_close: float) -> StepPolicy:
    def seconds(name: str, default: float) -> timedelta:
        return timedelta(seconds=env_float(f"GENMEDIA_{step}_{name}_SECONDS", default, lo=0.001))

    return StepPolicy(
        initial_interval=seconds("RETRY_INITIAL", 1.0),
        backoff=env_float(f"GENMEDIA_{step}_RETRY_BACKOFF", 2.0, lo=1.0),
        max_interval=seconds("RETRY_MAX", 30.0),
        schedule_to_close=seconds("SCHEDULE_TO_CLOSE", schedule_to_close),
        start_to_close=seconds("START_TO_CLOSE", start_to_close),
        # Heartbeats go every 0.5 s (GENMEDIA_HEARTBEAT_FLUSH_SECONDS): 4 s is eight missed ones, and a killed
        # worker's step shows RETRYING (WORKER_LOST) about 6 s after it died (4 s, the 1 s retry interval, a
        # worker picking the retry up), well within the 10 s a user should wait to see it.
        heartbeat=seconds("HEARTBEAT_TIMEOUT", 4.0),
    )


ENV = Section("Orchestrator: API and worker", (
    Var("GENMEDIA_TASK_QUEUE", "genmedia-jobs", "the workflows' task queue"),
    Var("GENMEDIA_IMAGE_TASK_QUEUE", "genmedia-image", "the image steps' task queue"),
    Var("GENMEDIA_VIDEO_TASK_QUEUE", "genmedia-video", "the video steps' task queue"),
    Var("GENMEDIA_IMAGE_SLOTS", "0", "image steps one worker runs at once (1-1000); 0: the image service's capacity"),
    Var("GENMEDIA_VIDEO_SLOTS", "0", "video steps one worker runs at once (1-1000); 0: the video service's capacity"),
    Var("GENMEDIA_WORKER_HEALTH_INTERVAL_SECONDS", "5", "how often the worker checks its task queues' health"),
    Var("GENMEDIA_PROGRESS_INTERVAL_SECONDS", "0.25", "between forwarded progress reports of one step"),
    Var("GENMEDIA_RPC_TIMEOUT_SECONDS", "5", "the deadline of unary calls to the other services"),
    Var("GENMEDIA_HEARTBEAT_FLUSH_SECONDS", "0.5", "between heartbeats a step sends Temporal"),
    Var("GENMEDIA_<STEP>_RETRY_INITIAL_SECONDS", "1", "a step's first retry interval; STEP is IMAGE or VIDEO"),
    Var("GENMEDIA_<STEP>_RETRY_BACKOFF", "2", "each retry interval is this times the last"),
    Var("GENMEDIA_<STEP>_RETRY_MAX_SECONDS", "30", "a step's longest retry interval"),
    Var("GENMEDIA_<STEP>_SCHEDULE_TO_CLOSE_SECONDS", "3600", "all attempts of a step together"),
    Var("GENMEDIA_<STEP>_START_TO_CLOSE_SECONDS", "IMAGE 600, VIDEO 1800", "one attempt of a step"),
    Var("GENMEDIA_<STEP>_HEARTBEAT_TIMEOUT_SECONDS", "4",
        "a worker killed mid-step is noticed this long after its last heartbeat"),
))
NOTIFY_ENV = Section("Notifications (the worker sends them)", (
    Var("GENMEDIA_NOTIFY_RETRY_INITIAL_SECONDS", "5", "first retry interval of a delivery"),
    Var("GENMEDIA_NOTIFY_RETRY_BACKOFF", "2", "each interval is this times the last"),
    Var("GENMEDIA_NOTIFY_RETRY_MAX_SECONDS", "3600", "longest interval"),
    Var("GENMEDIA_NOTIFY_GIVE_UP_SECONDS", "86400", "all attempts of one delivery together; then it is FAILED"),
    Var("GENMEDIA_NOTIFY_TIMEOUT_SECONDS", "10", "one attempt"),
    Var("GENMEDIA_NOTIFY_PRIVATE_ADDRESSES", "refuse",
        "`refuse` loopback, private, link-local and other non-public receivers (SSRF), or `allow` (`make run`)"),
    Var("GENMEDIA_NOTIFY_CA_FILE", "unset", "a CA (PEM) trusted for https receivers besides the public roots"),
    Var("GENMEDIA_WEBHOOK_SECRET", "$GENMEDIA_VAR_DIR/webhook-secret",
        "the master secret per-owner webhook signing secrets are derived from"),
    Var("GENMEDIA_WEBHOOK_SECRET_FILE", "unset", "a file holding GENMEDIA_WEBHOOK_SECRET (wins over it)"),
    Var("GENMEDIA_SMTP_HOST", "unset", "the SMTP server; unset: no email (a job asking for email is refused)"),
    Var("GENMEDIA_SMTP_PORT", "587", "its port"),
    Var("GENMEDIA_SMTP_TLS", "starttls", "`starttls`, `implicit` (SMTPS, usually port 465) or `off`"),
    Var("GENMEDIA_SMTP_USERNAME", "unset", "AUTH LOGIN/PLAIN user, when set"),
    Var("GENMEDIA_SMTP_PASSWORD", "unset", "its password"),
    Var("GENMEDIA_SMTP_PASSWORD_FILE", "unset", "a file holding GENMEDIA_SMTP_PASSWORD (wins over it)"),
    Var("GENMEDIA_SMTP_FROM", "genmedia@localhost", "the sender"),
))
