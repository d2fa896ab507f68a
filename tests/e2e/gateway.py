"""A stack with authentication on (two users, one API key each) for the gateway's and the console's tests,
and small HTTP helpers: waiting for a job's state, reading Server-Sent Events."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.conftest import RunningStack, start_stack

ALICE, BOB = "alice-key-0123456789", "bob-key-0123456789"
JWT = {"GENMEDIA_JWT_HS256_SECRET": "jwt-secret-for-the-gateway-tests-0123456789",
       "GENMEDIA_JWT_AUDIENCE": "genmedia", "GENMEDIA_JWT_ISSUER": "tests"}


def jwt_for(user: str) -> str:
    import jwt

    claims = {"sub": user, "aud": JWT["GENMEDIA_JWT_AUDIENCE"], "iss": JWT["GENMEDIA_JWT_ISSUER"],
              "exp": int(time.time()) + 600}
    return jwt.encode(claims, JWT["GENMEDIA_JWT_HS256_SECRET"], algorithm="HS256")


@dataclass
class Gateway:
    stack: RunningStack
    url: str

    def client(self, key: str | None = ALICE) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@contextmanager
def gateway_stack(base: Path, extra_env: dict[str, str] | None = None) -> Iterator[Gateway]:
    keys = base / "keys.json"
    keys.write_text(json.dumps([{"key": ALICE, "user": "alice", "role": "user"},
                                {"key": BOB, "user": "bob", "role": "user"}]))
    env = {"GENMEDIA_API_KEYS_FILE": str(keys), "GENMEDIA_INTERNAL_TOKEN": "internal-token-for-tests-0123", **JWT,
           **(extra_env or {})}
    with start_stack(base / "var", env) as stack:
        yield Gateway(stack, f"http://127.0.0.1:{stack.env['GENMEDIA_GATEWAY_PORT']}")


def wait_state(client: httpx.Client, job_id: str, states: set[str], timeout: float = 90, rounds: int = 0) -> dict:
    """The job once it is in one of `states` (and at review round `rounds` or later)."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()["job"]
        if job["state"].removeprefix("JOB_STATE_") in states and job["reviewRound"] >= rounds:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['state']}"
        time.sleep(0.2)


def sse(response: httpx.Response) -> Iterator[dict]:
    """The events of an SSE response as {event, id, data} (comments and retry lines skipped)."""
    fields: dict = {}
    for line in response.iter_lines():
        if not line:
            if "data" in fields:
                yield {**fields, "data": json.loads(fields["data"])}
            fields = {}
        elif not line.startswith((":", "retry:")):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
