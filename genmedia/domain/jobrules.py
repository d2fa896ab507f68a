"""What a job is, for every part of genmedia (API, worker, progress store, client, asset store): which states
are final, and what a job id may be. Defined once here; everything else imports it."""

from __future__ import annotations

import re

from genmedia.v1 import common_pb2 as pb

# A job in one of these states has ended and never changes again (RetryBatch reopens a batch with a new
# attempt, recorded as a new event).
TERMINAL_STATES = frozenset({pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED})
ACTIVE_STATES = tuple(s for s in pb.JobState.values() if s not in (pb.JOB_STATE_UNSPECIFIED, *TERMINAL_STATES))
PRIORITIES, DEFAULT_PRIORITY = (1, 5), 3  # 1 is the highest; a job without one gets 3

# The API takes any job id of 1-200 characters (an unknown one is NOT_FOUND); the ids genmedia makes (UUIDs,
# a batch's `<batch>_<index>[_<attempt>]`) are also letters, digits, '-' and '_', which is what the services
# that name files and object keys after a job (the asset store) require.
MAX_JOB_ID = 200
STORABLE_JOB_ID = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_JOB_ID}}}$")


def job_id_violations(job_id: str, field: str = "job_id") -> list[tuple[str, str]]:
    """The API's rule for a job id a request names: 1-200 characters."""
    if not job_id:
        return [(field, "must not be empty")]
    if len(job_id) > MAX_JOB_ID:
        return [(field, f"must be at most {MAX_JOB_ID} characters")]
    return []


def storable_job_id_violations(job_id: str, field: str = "job_id") -> list[tuple[str, str]]:
    """The rule for a job id that names files and object keys: the API's, and only letters, digits, '-'
    and '_' (every id genmedia makes is one)."""
    if violations := job_id_violations(job_id, field):
        return violations
    if not STORABLE_JOB_ID.match(job_id):
        return [(field, f"may hold only 1-{MAX_JOB_ID} letters, digits, '-' and '_'")]
    return []
