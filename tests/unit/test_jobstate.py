"""The progress store's job state machine (services/progress/jobstate.py), without a database."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest

from genmedia.domain.errors import NotFound, ServiceError
from genmedia.v1 import common_pb2 as pb
from services.progress import jobstate

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(seconds=5)


def created(kind: int = pb.JOB_KIND_IMAGE, **fields):
    row = jobstate.new_row(pb.Job(id="j1", kind=kind, owner="alice", labels={"team": "a"}, **fields), NOW)
    jobstate.apply(row, pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_CREATED), NOW)
    return row


def test_a_new_row_has_every_column_at_its_default_or_the_jobs_value():
    row = jobstate.new_row(pb.Job(id="j1", kind=pb.JOB_KIND_VIDEO, owner="bob"), NOW)
    assert set(vars(row)) == set(jobstate.COLUMN_DEFAULTS)
    assert (row.state, row.priority, row.percent, row.last_sequence, row.create_time) == (
        pb.JOB_STATE_PENDING, jobstate.DEFAULT_PRIORITY, 0.0, 0, NOW)
    assert (row.start_time, row.end_time, row.batch) == (None, None, None)
    assert jobstate.new_row(pb.Job(id="j2", priority=5), NOW).priority == 5


def test_each_event_type_that_decides_a_state_leads_to_it():
    for event_type, state in jobstate.TYPE_STATES.items():
        row = created()
        stored = jobstate.apply(row, pb.JobEvent(job_id="j1", type=event_type, state=pb.JOB_STATE_PAUSED), LATER)
        assert row.state == stored.state == state, pb.EventType.Name(event_type)


def test_a_progress_event_keeps_or_sets_the_state_and_never_lowers_the_percent():
    row = created()
    jobstate.apply(row, pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_STARTED), LATER)
    stored = jobstate.apply(row, pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_PROGRESS, percent=40), LATER)
    assert (stored.state, stored.percent, stored.sequence) == (pb.JOB_STATE_RUNNING, 40, 3)
    stored = jobstate.apply(row, pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_PROGRESS, percent=10), LATER)
    assert (row.percent, stored.percent) == (40, 40)
    assert row.start_time == NOW + dt.timedelta(seconds=5)
    assert stored.time.ToDatetime(tzinfo=dt.UTC) == LATER


def test_an_ended_job_has_an_end_time_no_eta_and_refuses_more_events():
    row = created()
    jobstate.apply(row, pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_STARTED), NOW)
    row.estimated_completion_time = LATER
    jobstate.apply(row, pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_COMPLETED), LATER)
    assert row.state in jobstate.TERMINAL_STATES
    assert (row.end_time, row.estimated_completion_time) == (LATER, None)
    with pytest.raises(ServiceError) as refused:
        jobstate.check_transition(row, pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_PROGRESS))
    assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "JOB_TERMINAL")


def test_only_an_ended_batch_can_be_reopened():
    batch = created(kind=pb.JOB_KIND_BATCH)
    jobstate.apply(batch, pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_FAILED), NOW)
    retried = pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_RETRIED)
    jobstate.check_transition(batch, retried)  # allowed
    image = created()
    jobstate.apply(image, pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_FAILED), NOW)
    with pytest.raises(ServiceError):
        jobstate.check_transition(image, retried)


def test_a_job_is_created_once_and_other_events_need_it():
    with pytest.raises(ServiceError) as refused:
        jobstate.check_transition(created(), pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_CREATED))
    assert refused.value.reason == "JOB_ALREADY_EXISTS"
    jobstate.check_transition(None, pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_CREATED))
    with pytest.raises(NotFound):
        jobstate.check_transition(None, pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_STARTED))


def test_an_error_stays_while_retrying_and_is_cleared_once_the_job_recovers():
    row = created()
    error = pb.JobError(code="PROVIDER_DOWN", message="503", retryable=True)
    jobstate.apply(row, pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_RETRYING, error=error), NOW)
    jobstate.apply(row, pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_PROGRESS), NOW)
    assert (row.state, row.error_code) == (pb.JOB_STATE_RETRYING, "PROVIDER_DOWN")
    jobstate.apply(row, pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_STARTED), NOW)
    assert (row.error_code, row.error_message, row.error_retryable) == ("", "", False)


def test_reviews_append_and_assets_replace():
    row = created()
    for n in (1, 2):
        review = pb.Review(round=n, decision=pb.REVIEW_DECISION_REJECT)
        jobstate.apply(row, pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_REVIEWED, review=review,
                                        assets=[pb.Asset(uri=f"file:///a{n}.png")]), NOW)
    job = pb.Job(reviews=pb.Job.FromString(row.reviews).reviews, assets=pb.Job.FromString(row.assets).assets)
    assert [r.round for r in job.reviews] == [1, 2]
    assert [a.uri for a in job.assets] == ["file:///a2.png"]


def test_the_terminal_events_and_logged_events_follow_the_terminal_states():
    assert jobstate.TERMINAL_EVENTS == {pb.EVENT_TYPE_COMPLETED, pb.EVENT_TYPE_FAILED, pb.EVENT_TYPE_CANCELLED}
    assert jobstate.LOGGED_EVENTS == jobstate.TERMINAL_EVENTS | {pb.EVENT_TYPE_CREATED}


def test_an_event_row_holds_the_stored_event():
    row = created()
    stored = jobstate.apply(row, pb.JobEvent(job_id="j1", type=pb.EVENT_TYPE_STARTED), NOW)
    event = jobstate.event_row("j1", stored, "k1", NOW)
    assert (event["sequence"], event["idempotency_key"], event["state"]) == (2, "k1", pb.JOB_STATE_RUNNING)
    assert pb.JobEvent.FromString(event["event"]) == stored
