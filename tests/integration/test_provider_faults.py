"""Provider failures through the real stack: rate limits with Retry-After, 5xx, hung connections, HTML where
an image was due, refusals, ComfyUI's execution errors and dropped sockets, fallback to the next provider,
and the API key kept out of logs, events and the workflow history."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from genmedia.v1 import common_pb2 as pb
from tests.integration.fakes.common import Fault
from tests.integration.jobstack import watch_to_end
from tests.integration.providerstack import KEY, fake_providers, image_spec, provider_stack, stored

pytestmark = pytest.mark.timeout(120)


def of(events: list[pb.JobEvent], type_: int) -> list[pb.JobEvent]:
    return [e for e in events if e.type == type_]


async def run_job(temporal, tmp_path, monkeypatch, backend: str, script, spec: pb.JobSpec | None = None,
                  **env: str) -> tuple[list[pb.JobEvent], dict]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    async with fake_providers(delay=0.1) as fakes, provider_stack(temporal, tmp_path, monkeypatch, fakes, backend) as s:
        script(fakes)
        job = await s.client.create_job(spec or image_spec())
        events = await watch_to_end(s.client, job.id)
    return events, fakes


async def test_429_with_retry_after_waits_that_long_then_completes(temporal, tmp_path, monkeypatch) -> None:
    limited = Fault(429, {"error": {"message": "Rate limit reached for images", "type": "requests",
                                    "code": "rate_limit_exceeded"}}, {"Retry-After": "2"})
    events, fakes = await run_job(temporal, tmp_path, monkeypatch, "openai",
                                  lambda f: f["openai"].faults.update(images=[limited]))
    calls = fakes["openai"].called("POST", "/v1/images")
    assert len(calls) == 2 and calls[1].time - calls[0].time >= 2.0, [c.time for c in calls]
    retrying = of(events, pb.EVENT_TYPE_RETRYING)
    assert [e.error.code for e in retrying] == ["PROVIDER_RATE_LIMITED"]
    assert "retrying in 2s" in retrying[0].message and retrying[0].error.provider == "openai"
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED


async def test_400_fails_the_job_at_once_with_the_providers_message(temporal, tmp_path, monkeypatch) -> None:
    bad = Fault(400, {"error": {"message": "Invalid value: 'huge'. Supported values are: '1024x1024'.",
                                "type": "invalid_request_error", "param": "size", "code": "invalid_value"}},
                {"x-request-id": "req_bad_size"})
    events, fakes = await run_job(temporal, tmp_path, monkeypatch, "openai",
                                  lambda f: f["openai"].faults.update(images=[bad]))
    assert len(fakes["openai"].called("POST", "/v1/images")) == 1 and not of(events, pb.EVENT_TYPE_RETRYING)
    failed = events[-1]
    assert failed.type == pb.EVENT_TYPE_FAILED and failed.error.code == "INVALID_ARGUMENT"
    assert "Invalid value: 'huge'" in failed.error.message and "openai" in failed.error.message
    assert (failed.error.provider, failed.error.provider_request_id) == ("openai", "req_bad_size")


async def test_500_500_then_200_completes_on_attempt_3(temporal, tmp_path, monkeypatch) -> None:
    broken = Fault(500, {"error": {"message": "The server had an error", "type": "server_error"}})
    events, fakes = await run_job(temporal, tmp_path, monkeypatch, "openai",
                                  lambda f: f["openai"].faults.update(images=[broken, broken]))
    assert [e.attempt for e in of(events, pb.EVENT_TYPE_RETRYING)] == [1, 2]
    assert {e.error.code for e in of(events, pb.EVENT_TYPE_RETRYING)} == {"PROVIDER_UNAVAILABLE"}
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED and len(fakes["openai"].called("POST", "/v1/images")) == 3
    assert any(e.attempt == 3 and "attempt 3" in e.message for e in of(events, pb.EVENT_TYPE_PROGRESS))


async def test_a_hung_connection_times_out_and_is_retried(temporal, tmp_path, monkeypatch) -> None:
    events, _ = await run_job(temporal, tmp_path, monkeypatch, "openai",
                              lambda f: f["openai"].faults.update(images=[Fault(hang=True)]),
                              GENMEDIA_PROVIDER_TIMEOUT_SECONDS="0.5")
    retrying = of(events, pb.EVENT_TYPE_RETRYING)
    assert len(retrying) == 1 and "timed out" in retrying[0].message
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED


async def test_html_instead_of_a_png_fails_the_attempt_with_a_clear_error(temporal, tmp_path, monkeypatch) -> None:
    def script(fakes) -> None:
        fakes["openai"].answer_with = "url"
        fakes["openai"].faults["file"] = [Fault(html=True)]

    events, fakes = await run_job(temporal, tmp_path, monkeypatch, "openai", script)
    retrying = of(events, pb.EVENT_TYPE_RETRYING)
    assert [e.error.code for e in retrying] == ["PROVIDER_BAD_OUTPUT"]
    assert "text/html" in retrying[0].error.message and "where an image was expected" in retrying[0].error.message
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED
    assert stored(events[-1].assets[0]) == fakes["openai"].served[-1]


async def test_comfyui_execution_error_fails_the_attempt(temporal, tmp_path, monkeypatch) -> None:
    events, _ = await run_job(temporal, tmp_path, monkeypatch, "comfyui",
                              lambda f: setattr(f["comfyui"], "execution_error", True))
    retrying = of(events, pb.EVENT_TYPE_RETRYING)
    assert [e.error.code for e in retrying] == ["PROVIDER_FAILED"]
    assert "execution_error in node 3 (KSampler)" in retrying[0].message and "out of memory" in retrying[0].message
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED


async def test_comfyui_websocket_dropped_mid_run_is_survived(temporal, tmp_path, monkeypatch) -> None:
    events, fakes = await run_job(temporal, tmp_path, monkeypatch, "comfyui",
                                  lambda f: setattr(f["comfyui"], "drop_ws", True))
    assert not fakes["comfyui"].drop_ws, "the socket was dropped"
    assert not of(events, pb.EVENT_TYPE_RETRYING) and events[-1].type == pb.EVENT_TYPE_COMPLETED
    assert events[-1].assets[0].provider == "comfyui"


async def test_fallback_completes_on_the_secondary_naming_both(temporal, tmp_path, monkeypatch) -> None:
    down = Fault(503, {"title": "Service Unavailable", "detail": "Replicate is temporarily down", "status": 503})
    events, fakes = await run_job(temporal, tmp_path, monkeypatch, "replicate,openai",
                                  lambda f: f["replicate"].faults.update(create=[down] * 20))
    retrying = of(events, pb.EVENT_TYPE_RETRYING)
    assert retrying and retrying[0].error.provider == "replicate"
    assert "with replicate failed" in retrying[0].message and "attempt 2 goes to openai" in retrying[0].message
    assert any("generating with openai" in e.message for e in events)
    assert events[-1].type == pb.EVENT_TYPE_COMPLETED
    assert (events[-1].assets[0].provider, events[-1].assets[0].model) == ("openai", "gpt-image-1")


async def test_the_api_key_appears_in_no_log_event_or_workflow_history(
        temporal: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with fake_providers(delay=0.1) as fakes, \
            provider_stack(temporal, tmp_path, monkeypatch, fakes, "openai") as s:
        done = await s.client.create_job(image_spec())
        done_events = await watch_to_end(s.client, done.id)
        fakes["openai"].key = "sk-the-key-the-provider-expects"  # now it refuses ours, echoing it (as OpenAI does)
        refused = await s.client.create_job(image_spec())
        refused_events = await watch_to_end(s.client, refused.id)
        texts = [caplog.text]
        for job in (done, refused):
            texts += [str(event) async for event in s.client.job_events(job.id)]
            history = await temporal.client.get_workflow_handle(job.id).fetch_history()
            texts.append(history.to_json())
    texts += [str(e) for e in done_events + refused_events]
    assert done_events[-1].type == pb.EVENT_TYPE_COMPLETED
    failed = refused_events[-1]
    assert failed.type == pb.EVENT_TYPE_FAILED and failed.error.code == "PROVIDER_AUTH"
    assert "GENMEDIA_OPENAI_API_KEY" in failed.error.message, "the message names the setting to fix"
    assert "openai" in caplog.text and "PROVIDER_AUTH" in texts[-1]  # what is searched is the real record
    for text in texts:
        assert KEY not in text and KEY[-20:] not in text
