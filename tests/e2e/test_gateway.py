"""The HTTP gateway against the real stack (authentication on): the JSON API, SSE resumption, Range
downloads, isolation between users, cookie sessions with CSRF, and seed 000's endpoints."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.gateway import BOB, Gateway, gateway_stack, jwt_for, sse, wait_state

# Far longer than any wait here: a stream that needed a heartbeat to start would time out its read.
HEARTBEAT_SECONDS = 600
IMAGE = {"spec": {"kind": "JOB_KIND_IMAGE", "image": {"prompt": "a red kite over dunes", "width": 256,
                                                      "height": 256}}, "labels": {"suite": "gateway"}}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    env = {"GENMEDIA_WATCH_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS)}
    with gateway_stack(tmp_path_factory.mktemp("gateway"), env) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def done_job(gw: Gateway) -> dict:
    with gw.client() as client:
        created = client.post("/v1/jobs", json=IMAGE)
        assert created.status_code == 201, created.text
        return wait_state(client, created.json()["id"], {"COMPLETED"})


def test_errors_are_json_with_status_and_fields(gw: Gateway) -> None:
    with gw.client(None) as anonymous:
        answer = anonymous.get("/v1/jobs")
        assert answer.status_code == 401 and answer.json()["code"] == "UNAUTHENTICATED"
    with gw.client() as client:
        bad = client.get("/v1/jobs", params={"state": "SLEEPING"})
        assert bad.status_code == 400
        assert bad.json()["field_violations"][0]["field"] == "state"
        typo = client.post("/v1/jobs", json={"spec": {"kind": "JOB_KIND_IMAGE", "image": {"promt": "x"}}})
        assert typo.status_code == 400 and "promt" in typo.json()["message"]
        empty = client.post("/v1/jobs", json={"spec": {"kind": "JOB_KIND_IMAGE", "image": {"prompt": ""}}})
        assert empty.status_code == 400
        assert any("prompt" in v["field"] for v in empty.json()["field_violations"]), empty.json()
        broken = client.post("/v1/jobs", content=b"{nope", headers={"Content-Type": "application/json"})
        assert broken.status_code == 400 and broken.json()["field_violations"][0]["field"] == "body"
        assert client.get("/v1/nothing-here").json()["code"] == "NOT_FOUND"
        assert client.get("/v1/jobs/no-such-job").status_code == 404


def test_openapi_lists_every_route(gw: Gateway) -> None:
    with gw.client(None) as client:
        doc = client.get("/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in ("/v1/jobs", "/v1/jobs/{id}/events", "/v1/jobs/{id}/assets/{index}", "/v1/events", "/v1/stats",
                 "/v1/batches/{id}/retry", "/v1/jobs/{id}/review", "/v1/jobs/{id}/assets/{index}/link"):
        assert path in doc["paths"]
    assert "createTime" in doc["components"]["schemas"]["Job"]["properties"]


def test_jobs_list_get_events_stats(gw: Gateway, done_job: dict) -> None:
    with gw.client() as client:
        listed = client.get("/v1/jobs", params={"label": "suite=gateway", "state": "COMPLETED", "kind": "IMAGE"}).json()
        assert done_job["id"] in [j["id"] for j in listed["jobs"]] and int(listed["totalSize"]) >= 1
        paged = client.get("/v1/jobs", params={"pageSize": 1}).json()
        assert len(paged["jobs"]) == 1
        events = client.get(f"/v1/jobs/{done_job['id']}/events").json()["events"]
        assert events[0]["type"] == "EVENT_TYPE_CREATED" and events[-1]["type"] == "EVENT_TYPE_COMPLETED"
        stats = client.get("/v1/stats").json()
        assert int(stats["totalJobs"]) >= 1 and stats["successRate"] > 0
        assert client.get("/v1/stats", params={"since": "yesterday"}).json()["field_violations"][0]["field"] == "since"


def test_range_downloads_give_the_right_bytes(gw: Gateway, done_job: dict) -> None:
    asset = done_job["assets"][0]
    url = f"/v1/jobs/{done_job['id']}/assets/0"
    with gw.client() as client:
        whole = client.get(url)
        assert whole.status_code == 200 and whole.headers["content-type"] == "image/png"
        body = whole.content
        assert hashlib.sha256(body).hexdigest() == asset["sha256"] and len(body) == int(asset["sizeBytes"])
        for header, expected in (("bytes=10-19", body[10:20]), ("bytes=-100", body[-100:]),
                                 ("bytes=1000-", body[1000:]), ("bytes=0-0", body[:1])):
            part = client.get(url, headers={"Range": header})
            assert part.status_code == 206 and part.content == expected, header
            assert part.headers["content-range"].endswith(f"/{len(body)}")
        beyond = client.get(url, headers={"Range": f"bytes={len(body)}-"})
        assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(body)}"
        assert client.get(f"/v1/jobs/{done_job['id']}/assets/7").status_code in (400, 404)
        assert client.get(f"/v1/jobs/{done_job['id']}/assets/x").json()["field_violations"][0]["field"] == "index"
        link = client.post(f"{url}/link", json={"expiresIn": "60s"})  # the stack's store is a folder: no link
        assert link.status_code == 409 and link.json()["code"] == "FAILED_PRECONDITION"


def test_another_users_job_is_404(gw: Gateway, done_job: dict) -> None:
    job_id = done_job["id"]
    with gw.client(BOB) as bob:
        for path in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/events", f"/v1/jobs/{job_id}/assets/0",
                     f"/workflows/{job_id}/status", f"/workflows/{job_id}/progress"):
            answer = bob.get(path)
            assert answer.status_code == 404 and answer.json()["code"] == "NOT_FOUND", path
        assert bob.post(f"/v1/jobs/{job_id}/cancel", json={}).status_code == 404
        stream = bob.get(f"/v1/jobs/{job_id}/events", headers={"Accept": "text/event-stream"})
        assert stream.status_code == 404 and stream.json()["code"] == "NOT_FOUND"
        assert job_id not in [j["id"] for j in bob.get("/v1/jobs").json()["jobs"]]


def read_job_stream(client: httpx.Client, job_id: str, last_id: str | None, limit: int | None) -> list[dict]:
    headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_id} if last_id else {})}
    got = []
    with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=60) as response:
        assert response.status_code == 200 and response.headers["content-type"] == "text/event-stream"
        for item in sse(response):
            got.append(item)
            if limit is not None and len(got) >= limit:
                break
    return got


def test_job_sse_resumes_without_loss_or_repeat(gw: Gateway) -> None:
    with gw.client() as client:
        spec = {"spec": {"kind": "JOB_KIND_VIDEO", "video": {"prompt": "a slow tide", "width": 160, "height": 96,
                                                             "durationSeconds": 1, "fps": 12}}}
        job_id = client.post("/v1/jobs", json=spec).json()["id"]
        first = read_job_stream(client, job_id, None, 4)
        assert first[0]["event"] == "snapshot"
        start = int(first[0]["id"])
        rest = read_job_stream(client, job_id, first[-1]["id"], None)
        seen = [int(item["id"]) for item in first[1:] + rest]
        assert rest[-1]["data"]["type"] == "EVENT_TYPE_COMPLETED"
        stored = [int(e["sequence"]) for e in client.get(f"/v1/jobs/{job_id}/events").json()["events"]]
        assert seen == [s for s in stored if s > start]  # every event after the snapshot, once, in order
        resumed_after_end = client.get(f"/v1/jobs/{job_id}/events", headers={
            "Accept": "text/event-stream", "Last-Event-ID": str(stored[-1])})
        assert resumed_after_end.status_code == 204  # EventSource stops reconnecting
        for bad in ("x", "\u00b2", "99999999999999999999999"):
            refused = client.get(f"/v1/jobs/{job_id}/events", headers={"Accept": "text/event-stream"},
                                 params={"lastEventId": bad})
            assert refused.status_code == 400 and refused.json()["field_violations"][0]["field"] == "Last-Event-ID"


def wait_for_event(client: httpx.Client, job_id: str, event_type: str, timeout: float = 30) -> dict:
    """The job's newest recorded event, once it is of `event_type`."""
    deadline = time.monotonic() + timeout
    while True:
        newest = client.get(f"/v1/jobs/{job_id}/events").json()["events"][-1]
        if newest["type"] == event_type:
            return newest
        assert time.monotonic() < deadline, f"job {job_id}'s newest event is still {newest['type']}"
        time.sleep(0.2)


def test_a_resume_with_nothing_new_gets_its_headers_at_once(gw: Gateway) -> None:
    """A job waiting for review has nothing new to say; resuming its stream must still answer 200 with the
    SSE headers at once (this stack's progress service heartbeats only every 10 minutes, and the read timeout
    is far shorter), and the events that follow arrive on that stream. Errors still come first, as JSON."""
    with gw.client() as client:
        job_id = client.post("/v1/jobs", json={**IMAGE, "review": True}).json()["id"]
        wait_state(client, job_id, {"AWAITING_REVIEW"})
        last = int(wait_for_event(client, job_id, "EVENT_TYPE_AWAITING_REVIEW")["sequence"])
        headers = {"Accept": "text/event-stream", "Last-Event-ID": str(last)}
        timeout = httpx.Timeout(HEARTBEAT_SECONDS / 20)
        with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=timeout) as response:
            assert response.status_code == 200 and response.headers["content-type"] == "text/event-stream"
            assert response.headers["x-content-type-options"] == "nosniff"
            items = sse(response)
            approved = client.post(f"/v1/jobs/{job_id}/review", json={"decision": "REVIEW_DECISION_APPROVE"})
            assert approved.status_code == 200, approved.text
            rest = []
            for item in items:
                rest.append(item)
                if item["data"]["type"] == "EVENT_TYPE_COMPLETED":
                    break
        stored = [int(e["sequence"]) for e in client.get(f"/v1/jobs/{job_id}/events").json()["events"]]
        assert [int(item["id"]) for item in rest] == [s for s in stored if s > last]
        beyond = client.get(f"/v1/jobs/{job_id}/events", headers={**headers, "Last-Event-ID": str(stored[-1] + 5)})
        assert beyond.status_code == 400 and beyond.json()["field_violations"][0]["field"] == "Last-Event-ID"
    with gw.client(BOB) as bob:
        other = bob.get(f"/v1/jobs/{job_id}/events", headers=headers)
        assert other.status_code == 404 and other.json()["code"] == "NOT_FOUND"
    with gw.client(None) as anonymous:
        assert anonymous.get(f"/v1/jobs/{job_id}/events", headers=headers).status_code == 401


def test_events_feed_resumes_with_cursor(gw: Gateway) -> None:
    with gw.client() as client:
        headers = {"Accept": "text/event-stream"}
        with client.stream("GET", "/v1/events", headers=headers, timeout=60) as response:
            items = sse(response)
            cursor = next(items)["id"]  # subscribed
            job_id = client.post("/v1/jobs", json=IMAGE).json()["id"]
            first = []
            for item in items:
                if item["event"] == "event" and item["data"]["jobId"] == job_id:
                    first.append(item)
                    if len(first) == 3:
                        break
                cursor = item["id"]
            cursor = first[-1]["id"]
        rest = []
        with client.stream("GET", "/v1/events", headers={**headers, "Last-Event-ID": cursor}, timeout=60) as response:
            for item in sse(response):
                if item["event"] == "event" and item["data"]["jobId"] == job_id:
                    rest.append(item)
                    if item["data"]["type"] == "EVENT_TYPE_COMPLETED":
                        break
        seen = [int(i["data"]["sequence"]) for i in first + rest]
        stored = [int(e["sequence"]) for e in client.get(f"/v1/jobs/{job_id}/events").json()["events"]]
        assert seen == stored


def test_a_jwt_bearer_is_forwarded_and_can_log_in(gw: Gateway, done_job: dict) -> None:
    token = jwt_for("carol")
    with gw.client(token) as carol:
        created = carol.post("/v1/jobs", json=IMAGE)
        assert created.status_code == 201 and created.json()["owner"] == "carol"
        assert carol.get(f"/v1/jobs/{done_job['id']}").status_code == 404  # alice's
        assert carol.get("/v1/session").json()["user"] == "carol"
    with gw.client(jwt_for("carol")[:-4] + "AAAA") as forged:
        answer = forged.get("/v1/jobs")
        assert answer.status_code == 401 and answer.json()["reason"] == "TOKEN_INVALID"
    with httpx.Client(base_url=gw.url, timeout=30) as browser:
        assert browser.post("/v1/session", json={"apiKey": token}).json()["user"] == "carol"
        assert [j["owner"] for j in browser.get("/v1/jobs").json()["jobs"]] == ["carol"]


def test_cookie_session_needs_csrf_for_changes(gw: Gateway) -> None:
    with httpx.Client(base_url=gw.url, timeout=30) as browser:
        assert browser.post("/v1/session", json={"apiKey": "wrong-key"}).status_code == 401
        assert browser.post("/v1/session", json={}).json()["field_violations"][0]["field"] == "apiKey"
        form = browser.post("/v1/session", content=b"apiKey=x",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert form.status_code == 415  # a cross-site form cannot log anyone in
        login = browser.post("/v1/session", json={"apiKey": "alice-key-0123456789"})
        assert login.status_code == 200 and login.json()["user"] == "alice"
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        token = browser.get("/v1/session").json()["csrfToken"]
        assert token == login.json()["csrfToken"]
        assert browser.get("/v1/jobs").status_code == 200  # reads need no token
        refused = browser.post("/v1/jobs", json=IMAGE)
        assert refused.status_code == 403 and refused.json()["reason"] == "CSRF_TOKEN_MISSING"
        forged = browser.post("/v1/jobs", json=IMAGE, headers={"X-CSRF-Token": "0" * 64})
        assert forged.status_code == 403 and forged.json()["reason"] == "CSRF_TOKEN_INVALID"
        assert browser.post("/v1/jobs", json=IMAGE, headers={"X-CSRF-Token": token}).status_code == 201
        browser.cookies.set("genmedia_session", "tampered", domain="127.0.0.1")
        assert browser.get("/v1/jobs").status_code == 401


def test_seed_000_endpoints_have_its_shapes(gw: Gateway, done_job: dict) -> None:
    job_id = done_job["id"]
    with gw.client() as client:
        status = client.get(f"/workflows/{job_id}/status").json()
        assert set(status) == {"workflow_id", "status", "start_time", "close_time", "workflow_type", "task_queue"}
        assert status["workflow_id"] == job_id and status["status"] == "COMPLETED"
        assert status["workflow_type"] == "GenerationJob" and status["close_time"].endswith("Z")
        progress = client.get(f"/workflows/{job_id}/progress").json()
        assert set(progress) == {"workflow_id", "workflow_status", "progress", "timestamp"}
        shape = {"step", "status", "percent", "message", "asset_url", "updated_at"}
        assert set(progress["progress"]) == shape and progress["progress"]["percent"] == 100
        assert progress["progress"]["asset_url"].endswith(f"/v1/jobs/{job_id}/assets/0")
        detailed = client.get(f"/workflows/{job_id}/detailed-status").json()
        assert set(detailed) == {"workflow_id", "workflow_status", "start_time", "close_time", "workflow_type",
                                 "task_queue", "progress", "detailed_status", "timestamp"}
        inner = detailed["detailed_status"]
        assert set(inner) == {"workflow_id", "job_input", "current_progress", "started_at", "progress_history"}
        assert inner["job_input"]["image"]["prompt"] == "a red kite over dunes"
        assert all(set(p) == shape for p in inner["progress_history"]) and len(inner["progress_history"]) >= 3
        assert client.get("/workflows/nope/status").status_code == 404


def test_review_cancel_pause_resume_and_batches(gw: Gateway) -> None:
    with gw.client() as client:
        review = client.post("/v1/jobs", json={**IMAGE, "review": True}).json()["id"]
        wait_state(client, review, {"AWAITING_REVIEW"})
        rejected = client.post(f"/v1/jobs/{review}/review", json={
            "decision": "REVIEW_DECISION_REJECT", "feedback": "bluer", "corrections": {"prompt": "a blue kite"}})
        assert rejected.status_code == 200, rejected.text
        job = wait_state(client, review, {"AWAITING_REVIEW"}, rounds=2)
        assert job["reviews"][0]["feedback"] == "bluer"
        assert client.post(f"/v1/jobs/{review}/review", json={"decision": "REVIEW_DECISION_APPROVE"}).status_code == 200
        assert wait_state(client, review, {"COMPLETED"})["spec"]["image"]["prompt"] == "a blue kite"

        slow_spec = {"spec": {"kind": "JOB_KIND_NULL", "null": {"duration": "30s"}}}
        slow = client.post("/v1/jobs", json=slow_spec).json()["id"]
        wait_state(client, slow, {"RUNNING"})
        assert client.post(f"/v1/jobs/{slow}/pause").status_code == 200
        assert client.post(f"/v1/jobs/{slow}/resume").status_code == 200
        assert client.post(f"/v1/jobs/{slow}/cancel", json={"reason": "test"}).status_code == 200
        wait_state(client, slow, {"CANCELLED"})
        again = client.post(f"/v1/jobs/{slow}/cancel", json={})
        assert again.status_code in (200, 409)

        jobs = [{"spec": {"kind": "JOB_KIND_NULL", "null": {"duration": "0.2s"}}},
                {"spec": {"kind": "JOB_KIND_NULL", "null": {"duration": "0.2s", "failWith": "NO_DISK"}}}]
        batch = client.post("/v1/batches", json={"jobs": jobs})
        assert batch.status_code == 201, batch.text
        batch_id = batch.json()["id"]
        wait_state(client, batch_id, {"FAILED", "COMPLETED"})
        children = client.get(f"/v1/batches/{batch_id}/jobs").json()
        assert int(children["totalSize"]) == 2
        retried = client.post(f"/v1/batches/{batch_id}/retry", json={})
        assert retried.status_code == 200, retried.text
        assert client.get(f"/v1/batches/{batch_id}").json()["job"]["batch"]["attempt"] == 2


def test_health_metrics_and_batch_controls(gw: Gateway) -> None:
    with gw.client(None) as anonymous:
        ready = anonymous.get("/readyz").json()
        assert ready == {"status": "SERVING", "services": {"JobService": "SERVING", "ProgressService": "SERVING"}}
        assert anonymous.get("/healthz").status_code == 200
    with gw.client() as client:
        jobs = [{"spec": {"kind": "JOB_KIND_NULL", "null": {"duration": "30s"}}} for _ in range(2)]
        batch_id = client.post("/v1/batches", json={"jobs": jobs, "maxConcurrent": 1}).json()["id"]
        wait_state(client, batch_id, {"RUNNING"})
        assert client.post(f"/v1/batches/{batch_id}/pause").status_code == 200
        assert client.post(f"/v1/batches/{batch_id}/resume").status_code == 200
        assert client.post(f"/v1/batches/{batch_id}/cancel", json={"reason": "enough"}).status_code == 200
        assert wait_state(client, batch_id, {"CANCELLED"})["batch"]["total"] == 2
        # A cancelled batch's jobs can be retried as its next attempt.
        assert client.post(f"/v1/batches/{batch_id}/retry", json={"attempt": 1}).status_code == 200
    port = gw.stack.env["GENMEDIA_GATEWAY_METRICS_PORT"]
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert 'genmedia_gateway_requests_total{method="POST",route="/v1/batches/{id}/cancel",status="200"}' in text
    assert "genmedia_gateway_request_seconds_bucket" in text


def test_gateway_restart_ends_streams_at_once_and_they_resume(gw: Gateway) -> None:
    """SIGTERM ends open SSE streams at once (not after the grace period); the client resumes on the
    restarted gateway from its Last-Event-ID and sees every later event once."""
    with gw.client() as client:
        slow_spec = {"spec": {"kind": "JOB_KIND_NULL", "null": {"duration": "8s"}}}
        job_id = client.post("/v1/jobs", json=slow_spec).json()["id"]
        seen: list[dict] = []
        with client.stream("GET", f"/v1/jobs/{job_id}/events", headers={"Accept": "text/event-stream"},
                           timeout=60) as response:
            items = sse(response)
            seen.append(next(items))
            os.kill(int((gw.stack.var / "run" / "gateway.pid").read_text()), signal.SIGTERM)
            stopping = time.monotonic()
            try:
                seen += list(items)
            except httpx.HTTPError:
                pass  # cut rather than ended: the same to a client that resumes
            ended_after = time.monotonic() - stopping
        assert ended_after < 3, f"the stream stayed open {ended_after:.1f}s (grace is 5 s)"
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the gateway did not come back"
            time.sleep(0.2)
        rest = read_job_stream(client, job_id, seen[-1]["id"], None)
        assert rest[-1]["data"]["type"] == "EVENT_TYPE_COMPLETED"
        got = [int(item["id"]) for item in seen[1:] + rest]
        stored = [int(e["sequence"]) for e in client.get(f"/v1/jobs/{job_id}/events").json()["events"]]
        assert got == [s for s in stored if s > int(seen[0]["id"])]
