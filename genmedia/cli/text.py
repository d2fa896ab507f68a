"""The CLI's text for people: a job, an event, a delivery, stats. Times are RFC 3339 (UTC) except ETAs,
which are local clock times; enum values from a newer server read `unknown`."""

from __future__ import annotations

import datetime as dt

from genmedia.client.enums import JobKind, JobState, JobStep
from genmedia.client.models import Asset, BatchSummary, Delivery, Job, JobEvent, Stats
from genmedia.domain import notify


def rfc3339(when: dt.datetime | None) -> str:
    """2026-11-23T18:00:00.123Z ('-' when unset)."""
    if when is None:
        return "-"
    return when.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def eta_text(eta: dt.datetime) -> str:
    """`ETA 12:03:04 (in 35s)`, in local time."""
    left = max((eta - dt.datetime.now(dt.UTC)).total_seconds(), 0)
    return f"ETA {eta.astimezone():%H:%M:%S} (in {left:.0f}s)"


def age_text(since: dt.datetime | None) -> str:
    """How long ago: 12s, 4m, 3h, 2d."""
    if since is None:
        return "-"
    seconds = max((dt.datetime.now(dt.UTC) - since).total_seconds(), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit}"
    return f"{seconds:.0f}s"


def describe_asset(asset: Asset) -> str:
    size = f"{asset.width}x{asset.height}"
    if asset.mime_type.startswith("video/"):
        size += f", {asset.duration_seconds:g}s, {asset.frame_count} frames @ {asset.fps:g} fps"
    where = str(asset.path) if asset.path else asset.uri
    return f"{asset.mime_type:<10} {where}  ({size}, {asset.size_bytes} bytes)"


def provenance_text(asset: Asset) -> str:
    """`made by openai gpt-image-1, request req_1, 1.20 s; usage: 100 tokens`."""
    raw = asset.raw
    text = f"made by {asset.provider} {asset.model}".rstrip()
    if asset.provider_request_id:
        text += f", request {asset.provider_request_id}"
    if raw.provider_latency_seconds:
        text += f", {raw.provider_latency_seconds:.2f} s"
    usage = [f"{raw.provider_seconds:.2f} s of compute"] if raw.provider_seconds else []
    usage += [f"{raw.provider_tokens} tokens"] if raw.provider_tokens else []
    return text + (f"; usage: {', '.join(usage)}" if usage else "")


def summary_text(summary: BatchSummary) -> str:
    parts = [f"{summary.counts.get(JobState.COMPLETED, 0)}/{summary.total} completed"]
    for state in (JobState.RUNNING, JobState.RETRYING, JobState.PAUSED, JobState.AWAITING_REVIEW,
                  JobState.PENDING, JobState.FAILED, JobState.CANCELLED):
        if count := summary.counts.get(state):
            parts.append(f"{count} {state.label}")
    return ", ".join(parts)


def step_label(item: Job | JobEvent) -> str:
    """What the job is doing: its step while it has one, else its state."""
    return item.step.label if item.step != JobStep.UNSPECIFIED else item.state.label


def job_lines(job: Job) -> list[str]:
    source = f"  (from {job.source})" if job.source else ""
    lines = [f"job {job.id}  {job.state.name}  {job.step.label if job.step else 'unspecified'}  "
             f"{job.percent:.0f}%  {job.message}{source}"]
    if job.error:
        lines.append(f"  error: {job.error.code}: {job.error.message}")
        if job.error.provider:
            lines.append(f"  provider: {job.error.provider}, request {job.error.provider_request_id or '-'}")
    if job.batch:
        b = job.batch
        lines.append(f"  batch: {summary_text(b)}; attempt {b.attempt}, {b.strategy.label}, at most "
                     f"{b.max_concurrent} at once" + (", fail fast" if b.fail_fast else ""))
    if job.batch_id:
        lines.append(f"  job {job.batch_index} of batch {job.batch_id} (attempt {job.batch_attempt})")
    if job.estimated_completion_time and not job.state.terminal:
        lines.append(f"  {eta_text(job.estimated_completion_time)}")
    if job.raw.HasField("notify"):
        lines.append(f"  {notify_text(job)}")
    if job.review:
        lines.append(f"  review round {job.review_round}" if job.review_round else "  review requested")
    for review in job.reviews:
        lines.append(f"  round {review.round}: {review.decision.label} by {review.reviewer} at {rfc3339(review.time)}"
                     + (f": {review.feedback}" if review.feedback else "")
                     + (f" corrections {dict(review.corrections)}" if review.corrections else ""))
    for asset in job.assets:
        lines.append(f"  {describe_asset(asset)}")
        if asset.provider:
            lines.append(f"    {provenance_text(asset)}")
    return lines


def notify_text(job: Job) -> str:
    """Where the job's notifications go (redacted, as the server shows them) and on which events."""
    settings = job.raw.notify
    targets = ([f"webhook {settings.webhook_url}"] if settings.webhook_url else []) + (
        [f"slack {settings.slack_url}"] if settings.slack_url else []) + [f"email {a}" for a in settings.emails]
    events = ", ".join(notify.EVENTS.get(e, "unknown") for e in settings.events or notify.DEFAULT_EVENTS)
    return f"notify: {', '.join(targets)} on {events}"


def history_line(event: JobEvent) -> str:
    line = (f"{event.sequence:>5}  {rfc3339(event.time)}  {event.type.label:<15} {event.state.label:<16} "
            f"{event.step.label if event.step else '-':<17} {event.percent:5.1f}%  {event.message}")
    if event.error:
        line += f"  [{event.error.code}: {event.error.message}]"
    if event.review:
        line += f"  review round {event.review.round}: {event.review.decision.label}"
    return line


def delivery_lines(d: Delivery) -> list[str]:
    redelivered = f", redelivered {d.redeliveries}x" if d.redeliveries else ""
    event = notify.EVENTS.get(int(d.event), d.event.label)
    lines = [f"{d.id}  {d.channel.label}  {d.target}  job.{event}  {d.state.name}  "
             f"{len(d.attempts)} attempts{redelivered}"]
    for a in d.attempts:
        millis = a.latency.total_seconds() * 1000
        redelivery = f"(redelivery {a.redelivery})  " if a.redelivery else ""
        lines.append(f"  {a.attempt:>3}  {rfc3339(a.time)}  {a.status_code or '-':>3}  {millis:7.0f} ms  "
                     f"{redelivery}{'ok' if a.succeeded else a.error}")
    return lines


def _seconds(duration) -> str:
    return f"{duration.ToTimedelta().total_seconds():.1f}s"


def stats_lines(s: Stats) -> list[str]:
    lines = [f"jobs created {rfc3339(s.start_time)} .. {rfc3339(s.end_time)}: {s.total_jobs}",
             f"  success rate      {s.success_rate:.1%}",
             f"  backlog now       {s.backlog} (pending + running + retrying)",
             f"  reviews           {s.reviews}, approved {s.review_approval_rate:.1%}",
             "  by state          " + (", ".join(f"{state.label} {n}" for state, n in s.counts.items()) or "-")]
    for k in s.raw.kinds:
        lines.append(f"  {JobKind(k.kind).label + ' jobs':<17} {k.duration.count} completed, "
                     f"mean {_seconds(k.duration.mean)}, p95 {_seconds(k.duration.p95)}")
    for step in s.raw.steps:
        lines.append(f"  step {JobStep(step.step).label:<12} {step.duration.count} runs, "
                     f"mean {_seconds(step.duration.mean)}, p95 {_seconds(step.duration.p95)}")
    for p in s.raw.providers:
        p95 = _seconds(p.latency.p95) if p.latency.count else "-"
        lines.append(f"  provider {p.provider:<8} {p.calls} calls, {p.failures} failed, latency p95 {p95}")
    return lines
