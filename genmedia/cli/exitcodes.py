"""The CLI's exit codes: a stable contract for scripts (docs/cli.md and `genmedia --help` list them)."""

from __future__ import annotations

from genmedia.client.errors import RpcError

OK = 0  # success, or the watched (waited-for) job COMPLETED
JOB_FAILED = 1  # a watched or waited-for job ended FAILED or CANCELLED
USAGE = 2  # bad arguments, or a local file that cannot be read or used
NOT_FOUND = 3  # no such job, batch or delivery (or it is not yours)
INVALID = 4  # the server refused the input (INVALID_ARGUMENT): every bad field is named
CONFLICT = 5  # the job's state refuses the command, or a request id was reused (FAILED_PRECONDITION, ALREADY_EXISTS)
AUTH = 6  # UNAUTHENTICATED or PERMISSION_DENIED
UNAVAILABLE = 7  # the stack cannot be reached (or a service behind it is down)
EXHAUSTED = 8  # a rate limit or quota (RESOURCE_EXHAUSTED)
TIMEOUT = 9  # a deadline passed (DEADLINE_EXCEEDED, or --timeout of a wait)
ERROR = 10  # any other server error
INTEGRITY = 11  # a downloaded file's bytes are not the ones recorded (sha256 mismatch); the file was not kept
INTERRUPTED = 130  # Ctrl-C

BY_CODE = {
    "NOT_FOUND": NOT_FOUND, "INVALID_ARGUMENT": INVALID, "OUT_OF_RANGE": INVALID, "FAILED_PRECONDITION": CONFLICT,
    "ALREADY_EXISTS": CONFLICT, "ABORTED": CONFLICT, "UNAUTHENTICATED": AUTH, "PERMISSION_DENIED": AUTH,
    "UNAVAILABLE": UNAVAILABLE, "RESOURCE_EXHAUSTED": EXHAUSTED, "DEADLINE_EXCEEDED": TIMEOUT,
}

HELP = """exit codes:
  0    success, or the watched job COMPLETED
  1    a watched or waited-for job ended FAILED or CANCELLED
  2    usage error (or a local file that cannot be read)
  3    not found
  4    input refused (INVALID_ARGUMENT; every bad field is named)
  5    the job's state refuses the command (FAILED_PRECONDITION, ALREADY_EXISTS)
  6    unauthenticated or permission denied
  7    unavailable: the stack cannot be reached
  8    rate limit or quota (RESOURCE_EXHAUSTED)
  9    deadline exceeded
  10   other server error
  11   a downloaded file failed its sha256 check (it was not kept)
  130  interrupted"""


def for_error(error: RpcError) -> int:
    return BY_CODE.get(error.code, ERROR)


def worst(codes: list[int]) -> int:
    """Several jobs' outcome: an error (not found, unavailable...) before a failed job before success."""
    errors = [c for c in codes if c not in (OK, JOB_FAILED)]
    return errors[0] if errors else max(codes, default=OK)
