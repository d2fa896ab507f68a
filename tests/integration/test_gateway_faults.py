"""The gateway when the services behind it are down: every route answers JSON 503 UNAVAILABLE naming the
service (never a 500 or a traceback), /readyz says which is down, and /healthz stays up."""

from __future__ import annotations

import httpx
import pytest

from services.gateway.config import Settings
from services.gateway.server import start
from tests.conftest import free_port


@pytest.fixture
async def gateway(monkeypatch: pytest.MonkeyPatch):
    # Nothing listens on these ports: the services are down.
    monkeypatch.setenv("GENMEDIA_ORCHESTRATOR_ADDR", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("GENMEDIA_PROGRESS_ADDR", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("GENMEDIA_GATEWAY_PORT", "0")
    monkeypatch.setenv("GENMEDIA_GATEWAY_TIMEOUT_SECONDS", "5")
    runner, port = await start(Settings.from_env())
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client
    await runner.cleanup()


async def test_services_down_is_503_json(gateway: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    for method, path, service in (("GET", "/v1/jobs", "ProgressService"), ("GET", "/v1/jobs/j1", "JobService"),
                                  ("POST", "/v1/jobs/j1/cancel", "JobService"),
                                  ("GET", "/workflows/j1/status", "JobService"),
                                  ("GET", "/v1/jobs/j1/assets/0", "JobService")):
        answer = await gateway.request(method, path, json={} if method == "POST" else None)
        assert answer.status_code == 503, (path, answer.text)
        assert answer.json()["code"] == "UNAVAILABLE" and service in answer.json()["message"]
    stream = await gateway.get("/v1/events", headers={"Accept": "text/event-stream"})
    assert stream.status_code == 503 and stream.json()["code"] == "UNAVAILABLE"
    ready = await gateway.get("/readyz")
    assert ready.status_code == 503 and ready.json()["services"]["JobService"] == "UNAVAILABLE"
    assert (await gateway.get("/healthz")).status_code == 200
    assert (await gateway.get("/")).headers["content-type"].startswith("text/html")  # the console still loads
    assert "Traceback" not in caplog.text
