"""Progress settings from the environment, the engine factory, page tokens and report validation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genmedia.config import ConfigError
from genmedia.domain.errors import InvalidArgument
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from services.progress.config import Settings
from services.progress.models import make_engine
from services.progress.queries import JobQuery, PageKey, decode_page_token, encode_page_token
from services.progress.validation import _all_violations, report_violations


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("GENMEDIA_DATABASE_URL", "GENMEDIA_WATCH_HEARTBEAT_SECONDS", "GENMEDIA_WATCH_BUFFER",
                 "GENMEDIA_PROGRESS_PORT", "GENMEDIA_PROGRESS_METRICS_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GENMEDIA_VAR_DIR", str(tmp_path / "var"))
    return monkeypatch


def test_defaults_work_on_one_machine(env, tmp_path: Path):
    settings = Settings.from_env()
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'var' / 'progress.db'}"
    assert (settings.heartbeat_seconds, settings.watch_buffer) == (15.0, 1000)
    assert (settings.serving.port, settings.serving.metrics_port) == (50052, 9103)


def test_environment_overrides(env):
    env.setenv("GENMEDIA_DATABASE_URL", "postgresql+asyncpg://db/genmedia")
    env.setenv("GENMEDIA_WATCH_HEARTBEAT_SECONDS", "0.5")
    env.setenv("GENMEDIA_WATCH_BUFFER", "10")
    settings = Settings.from_env()
    assert (settings.database_url, settings.heartbeat_seconds, settings.watch_buffer) == (
        "postgresql+asyncpg://db/genmedia", 0.5, 10,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("GENMEDIA_WATCH_HEARTBEAT_SECONDS", "0"), ("GENMEDIA_WATCH_HEARTBEAT_SECONDS", "soon"),
     ("GENMEDIA_WATCH_BUFFER", "0"), ("GENMEDIA_WATCH_BUFFER", "many")],
)
def test_bad_values_fail_fast_naming_the_variable(env, name, value):
    env.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        Settings.from_env()


async def test_engine_creates_the_sqlite_folder_and_uses_async_drivers(tmp_path: Path):
    sqlite = make_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'progress.db'}")
    postgres = make_engine("postgresql://user@db/genmedia")
    assert (tmp_path / "a" / "b").is_dir()
    assert (sqlite.url.drivername, postgres.url.drivername) == ("sqlite+aiosqlite", "postgresql+asyncpg")
    await sqlite.dispose()
    await postgres.dispose()


def test_page_tokens_round_trip_to_the_microsecond():
    key = PageKey(dt.datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC), "job:with/odd=chars")
    token = encode_page_token(key, "f")
    assert decode_page_token(token, "f") == key and "=" not in token


# {}, [1,2,3], ["1","x"], [1, "x", "f"] with a huge time
@pytest.mark.parametrize("token", ["%%%", "e30", "WzEsIDIsIDNd", "WyIxIiwgIngiXQ", "WzFlKzMwMCwgIngiLCAiZiJd",
                                   "Wzk5OTk5OTk5OTk5OTk5OTk5OTk5LCAieCIsICJmIl0"])
def test_malformed_page_tokens_are_invalid_arguments(token):
    with pytest.raises(InvalidArgument) as caught:
        decode_page_token(token, "f")
    assert [field for field, _ in caught.value.violations] == ["page_token"]


def test_a_token_is_bound_to_its_filter_and_order():
    a, b = JobQuery(states=(1,)), JobQuery(states=(1, 2))
    assert len({a.fingerprint(False), a.fingerprint(True), b.fingerprint(False)}) == 3
    token = encode_page_token(PageKey(dt.datetime(2030, 1, 1, tzinfo=dt.UTC), "j"), a.fingerprint(False))
    with pytest.raises(InvalidArgument, match="another filter"):
        decode_page_token(token, b.fingerprint(False))


@pytest.mark.parametrize(
    ("event", "fields"),
    [
        (pb.JobEvent(job_id="j", type=pb.EVENT_TYPE_PROGRESS, percent=float("nan")), ["event.percent"]),
        (pb.JobEvent(job_id="j", type=pb.EVENT_TYPE_STARTED, state=pb.JOB_STATE_PAUSED), ["event.state"]),
        (pb.JobEvent(job_id="j", type=pb.EVENT_TYPE_COMPLETED, state=pb.JOB_STATE_COMPLETED), []),
        (pb.JobEvent(job_id="j", type=pb.EVENT_TYPE_PROGRESS, state=99), ["event.state"]),
        (pb.JobEvent(job_id="j" * 201, type=pb.EVENT_TYPE_PROGRESS, percent=100), ["event.job_id"]),
    ],
)
def test_report_validation(event, fields):
    request = ps.ReportProgressRequest(event=event, idempotency_key="k")
    assert [field for field, _ in report_violations(request)] == fields


TEXTS = st.sampled_from(["", "k", "\x00", "j" * 200, "j" * 201, "m" * 4001])


@settings(max_examples=400, deadline=None)
@given(type_=st.sampled_from(sorted(pb.EventType.values()) + [99]), state=st.sampled_from([0, 2, 5, 99]),
       percent=st.sampled_from([0.0, 50.0, 100.0, -1.0, 101.0, float("nan")]), job_id=TEXTS, key=TEXTS,
       message=TEXTS, eta=st.sampled_from([None, 0, 10**12]), extra=st.sampled_from(["", "job", "error", "asset"]))
def test_the_quick_check_passes_only_what_the_full_check_passes(type_, state, percent, job_id, key, message,
                                                                 eta, extra):
    event = pb.JobEvent(job_id=job_id, type=type_, state=state, percent=percent, message=message)
    if eta is not None:
        event.estimated_completion_time.seconds = eta
    request = ps.ReportProgressRequest(event=event, idempotency_key=key)
    if extra == "job":
        request.job.id = job_id
    elif extra == "error":
        event.error.code = "\x00"
    elif extra == "asset":
        event.assets.add(uri="\x00")
    assert report_violations(request) == _all_violations(request)
