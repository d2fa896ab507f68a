"""Which jobs a request means (JobQuery, from a JobFilter) and the opaque tokens that page through them.

A page token names the last job returned and a fingerprint of the filter and order it was made for, so a
token replayed with other filters is refused instead of silently returning the wrong page."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, select

from genmedia.domain.errors import check
from genmedia.v1 import progress_service_pb2 as ps
from services.progress.models import UTC, JobLabelRow, JobRow

EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class JobQuery:
    """The jobs a filter matches; every field that is set must match."""

    states: tuple[int, ...] = ()
    kind: int = 0
    batch_id: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    created_after: dt.datetime | None = None  # inclusive
    created_before: dt.datetime | None = None  # exclusive
    owner: str = ""
    top_level: bool = False  # not a child of a batch

    @classmethod
    def from_proto(cls, f: ps.JobFilter) -> JobQuery:
        def time(name: str) -> dt.datetime | None:
            return getattr(f, name).ToDatetime(tzinfo=UTC) if f.HasField(name) else None

        return cls(
            states=tuple(sorted(set(f.states))), kind=f.kind, batch_id=f.batch_id,
            labels=tuple(sorted(f.labels.items())), created_after=time("created_after"),
            created_before=time("created_before"), owner=f.owner, top_level=f.top_level,
        )

    def conditions(self) -> list[ColumnElement[bool]]:
        """WHERE clauses on JobRow."""
        where: list[ColumnElement[bool]] = []
        if self.states:
            where.append(JobRow.state.in_(self.states))
        if self.kind:
            where.append(JobRow.kind == self.kind)
        if self.batch_id:
            where.append(JobRow.batch_id == self.batch_id)
        for key, value in self.labels:
            where.append(exists(select(JobLabelRow.job_id).where(
                JobLabelRow.job_id == JobRow.id, JobLabelRow.key == key, JobLabelRow.value == value)))
        if self.created_after is not None:
            where.append(JobRow.create_time >= self.created_after)
        if self.created_before is not None:
            where.append(JobRow.create_time < self.created_before)
        if self.owner:
            where.append(JobRow.owner == self.owner)
        if self.top_level:
            where.append(JobRow.batch_id == "")
        return where

    def matches(self, job) -> bool:
        """The same test in Python, on a Job proto (for live events and tests' reference)."""
        created = job.create_time.ToDatetime(tzinfo=UTC)
        return (
            (not self.states or job.state in self.states)
            and (not self.kind or job.kind == self.kind)
            and (not self.batch_id or job.batch_id == self.batch_id)
            and all(job.labels.get(k) == v for k, v in self.labels)
            and (self.created_after is None or created >= self.created_after)
            and (self.created_before is None or created < self.created_before)
            and (not self.owner or job.owner == self.owner)
            and (not self.top_level or not job.batch_id)
        )

    def fingerprint(self, *extra: object) -> str:
        """A short digest of the query (and extra, e.g. the order) that tokens carry."""
        def micros(t: dt.datetime | None) -> int | None:
            return None if t is None else (t - EPOCH) // MICROSECOND

        canonical = json.dumps([list(self.states), self.kind, self.batch_id, [list(p) for p in self.labels],
                                micros(self.created_after), micros(self.created_before), self.owner,
                                *([True] if self.top_level else []), *extra])
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PageKey:
    """Position in a listing: the last job returned."""

    create_time: dt.datetime
    job_id: str


def encode_token(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


def decode_token(token: str, field: str, types: tuple[type, ...]) -> list:
    """The parts of a token made by encode_token, each of the type given; INVALID_ARGUMENT otherwise."""
    try:
        parts = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(parts, list) or [type(p) for p in parts] != list(types):
            raise ValueError(token)
        return parts
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        check([(field, "is not a token returned by this call")])
        raise


def encode_page_token(key: PageKey, fingerprint: str) -> str:
    return encode_token((key.create_time - EPOCH) // MICROSECOND, key.job_id, fingerprint)


def decode_page_token(token: str, fingerprint: str) -> PageKey:
    micros, job_id, made_for = decode_token(token, "page_token", (int, str, str))
    if made_for != fingerprint:
        check([("page_token", "was returned for another filter or order: start again without it")])
    try:
        return PageKey(EPOCH + micros * MICROSECOND, job_id)
    except OverflowError:
        check([("page_token", "is not a token returned by this call")])
        raise
