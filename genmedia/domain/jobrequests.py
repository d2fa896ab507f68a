"""The checks of a CreateJob and a CreateBatch request, in one place: every bad field comes back in one list
of violations (`create_job_violations`), and `check_create_job` raises the one error a client sees.
The spec rules are genmedia.domain.specs, the notify rules genmedia.domain.notify; this puts them together."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import grpc

from genmedia.domain import notify, specs
from genmedia.domain.errors import ServiceError, check, shorten
from genmedia.domain.jobrules import PRIORITIES
from genmedia.domain.policy import ContentPolicy
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2

Violations = list[tuple[str, str]]
LABEL_KEY = re.compile(r"^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$")
MAX_LABELS = 32
REVIEW_TIMEOUT_RANGE = (timedelta(minutes=1), timedelta(days=30))
DEFAULT_REVIEW_TIMEOUT = timedelta(hours=24)
MAX_DEADLINE = timedelta(days=365)
MAX_CHILDREN = 1000
DEFAULT_CONCURRENCY = 10


@dataclass(frozen=True)
class RequestRules:
    """What this server allows beyond the API's own bounds: private webhook addresses, email (an SMTP
    server is configured), and its content policy."""

    refuse_private: bool = True
    sends_email: bool = True
    content_policy: ContentPolicy = field(default_factory=ContentPolicy)


def idempotent_id(owner: str, request_id: str) -> str:
    """The id a request creates: the same for every repeat of one user's request_id, so a repeat finds what
    the first made; a fresh one without a request_id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"genmedia:{owner}:{request_id}")) if request_id else str(uuid.uuid4())


def common_violations(request_id: str, priority: int, labels) -> Violations:
    """The fields CreateJob and CreateBatch share: request_id, priority, labels."""
    violations: Violations = []
    if request_id:
        try:
            uuid.UUID(request_id)
        except ValueError:
            violations.append(("request_id", f"must be a UUID, got {shorten(request_id, 60)!r}"))
    if priority and not PRIORITIES[0] <= priority <= PRIORITIES[1]:
        violations.append(("priority", f"must be 1 (highest) to 5 (lowest), or 0 for 3; got {priority}"))
    if len(labels) > MAX_LABELS:
        violations.append(("labels", f"at most {MAX_LABELS} labels, got {len(labels)}"))
    for key, value in labels.items():
        if not LABEL_KEY.match(key):
            violations.append((f"labels[{key}]", "key must be 1-63 of a-z, 0-9, '_', '.', '-'"))
        if len(value) > 256 or not value.isprintable():
            violations.append((f"labels[{key}]", "value must be at most 256 printable characters"))
    return violations


def create_job_violations(request: job_service_pb2.CreateJobRequest, rules: RequestRules = RequestRules()
                          ) -> tuple[pb.JobSpec | None, Violations]:
    """The spec with its defaults (None if it is bad), and every bad field of the request."""
    spec, violations = specs.job_spec_violations(request.spec if request.HasField("spec") else None)
    violations += common_violations(request.request_id, request.priority, request.labels)
    if request.HasField("review_timeout"):
        timeout = request.review_timeout
        lo, hi = REVIEW_TIMEOUT_RANGE
        if not request.review:
            violations.append(("review_timeout", "is only allowed with review=true"))
        elif not 0 <= timeout.nanos < 1_000_000_000 or not lo.total_seconds() <= timeout.seconds <= hi.total_seconds():
            violations.append(("review_timeout", "must be between 1 minute and 30 days"))
    if request.HasField("deadline"):
        deadline = request.deadline
        now = datetime.now(UTC)
        if not 0 <= deadline.nanos < 1_000_000_000 or not now.timestamp() < deadline.seconds + deadline.nanos / 1e9:
            violations.append(("deadline", "must be a time in the future"))
        elif deadline.seconds - now.timestamp() > MAX_DEADLINE.total_seconds():
            violations.append(("deadline", "must be within 365 days"))
    violations += notify.notify_violations(request.notify, rules.refuse_private)
    return spec, violations


def check_create_job(request: job_service_pb2.CreateJobRequest, rules: RequestRules) -> pb.JobSpec:
    """The spec with its defaults, or the error: INVALID_ARGUMENT naming every bad field; FAILED_PRECONDITION
    for email on a server that sends none; INVALID_ARGUMENT (CONTENT_POLICY) for a refused prompt."""
    spec, violations = create_job_violations(request, rules)
    check(violations)
    check_email(request.notify, rules)
    rules.content_policy.check(prompt_fields(spec))
    return spec


def create_batch_violations(request: job_service_pb2.CreateBatchRequest, rules: RequestRules = RequestRules()
                            ) -> tuple[list[pb.JobSpec], Violations]:
    """Every valid child's spec with its defaults, and every bad field of the request
    (jobs[3].spec.image.prompt...)."""
    violations: Violations = []
    count = len(request.jobs)
    if not 1 <= count <= MAX_CHILDREN:
        violations.append(("jobs", f"must hold 1-{MAX_CHILDREN} jobs, got {count}"))
    found: list[pb.JobSpec] = []
    for i, job in enumerate(request.jobs[:MAX_CHILDREN]):
        spec, child = create_job_violations(job, rules)
        violations += [(f"jobs[{i}].{name}", text) for name, text in child]
        if not child:
            found.append(spec)
        if job.request_id:
            violations.append((f"jobs[{i}].request_id", "must be empty: the batch's request_id covers its jobs"))
        if job.HasField("notify"):
            violations.append((f"jobs[{i}].notify", "must be unset: set notify on the batch"))
        if len({**request.labels, **job.labels}) > MAX_LABELS:
            violations.append((f"jobs[{i}].labels", f"with the batch's labels, at most {MAX_LABELS} labels"))
    if request.strategy not in pb.BatchStrategy.values():
        violations.append(("strategy", f"must be BATCH_STRATEGY_PARALLEL or BATCH_STRATEGY_SEQUENTIAL, got "
                           f"{request.strategy}"))
    elif request.strategy == pb.BATCH_STRATEGY_SEQUENTIAL and request.max_concurrent not in (0, 1):
        violations.append(("max_concurrent", "SEQUENTIAL runs one job at a time: leave it 0 or set 1"))
    elif not 0 <= request.max_concurrent <= MAX_CHILDREN:
        violations.append(("max_concurrent", f"must be 1-{MAX_CHILDREN}, or 0 for {DEFAULT_CONCURRENCY}; got "
                           f"{request.max_concurrent}"))
    violations += common_violations(request.request_id, request.priority, request.labels)
    violations += notify.notify_violations(request.notify, rules.refuse_private)
    return found, violations


def check_create_batch(request: job_service_pb2.CreateBatchRequest, rules: RequestRules) -> list[pb.JobSpec]:
    """Every child's spec with its defaults, or the error, as check_create_job."""
    found, violations = create_batch_violations(request, rules)
    check(violations)
    check_email(request.notify, rules)  # (a job in a batch may not set notify)
    rules.content_policy.check([f for i, spec in enumerate(found) for f in prompt_fields(spec, f"jobs[{i}].spec")])
    return found


def check_email(asked: pb.Notify, rules: RequestRules) -> None:
    """Email is asked for but this server has no SMTP server: FAILED_PRECONDITION, not a silent drop."""
    if asked.emails and not rules.sends_email:
        raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION, "notify.emails: this server sends no email "
                           "(GENMEDIA_SMTP_HOST is not set); use a webhook or Slack", "EMAIL_NOT_CONFIGURED",
                           metadata={"field": "notify.emails"})


def prompt_fields(spec: pb.JobSpec, prefix: str = "spec") -> Violations:
    """The texts of a spec the content policy reads, named by field (a null job has none)."""
    kind = spec.WhichOneof("params")
    if kind not in ("image", "video"):
        return []
    params = getattr(spec, kind)
    return [(f"{prefix}.{kind}.prompt", params.prompt), (f"{prefix}.{kind}.negative_prompt", params.negative_prompt)]
