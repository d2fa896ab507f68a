"""The domain's checks of CreateJob and CreateBatch (genmedia/domain/jobrequests.py) and the job rules
(genmedia/domain/jobrules.py): one list of violations for every bad field."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from genmedia.domain import jobrules
from genmedia.domain.errors import InvalidArgument, ServiceError
from genmedia.domain.jobrequests import (
    RequestRules,
    check_create_batch,
    check_create_job,
    create_batch_violations,
    create_job_violations,
)
from genmedia.domain.policy import ContentPolicy
from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js

IMAGE = pb.JobSpec(image=pb.ImageSpec(prompt="a fox"))


def test_a_good_request_has_no_violations_and_its_spec_gets_defaults():
    spec, violations = create_job_violations(js.CreateJobRequest(spec=IMAGE, priority=2, labels={"team": "a"}))
    assert violations == []
    assert (spec.kind, spec.image.width, spec.image.num_images) == (pb.JOB_KIND_IMAGE, 512, 1)


def test_every_bad_field_comes_back_in_one_list():
    past = Timestamp(seconds=1)
    request = js.CreateJobRequest(spec=pb.JobSpec(image=pb.ImageSpec(prompt="", width=9)), request_id="nope",
                                  priority=9, labels={"Bad Key": "v"}, review_timeout={"seconds": 60},
                                  deadline=past, notify=pb.Notify(webhook_url="ftp://x"))
    spec, violations = create_job_violations(request)
    assert spec is None
    fields = [name for name, _ in violations]
    assert fields == ["spec.image.prompt", "spec.image.width", "request_id", "priority", "labels[Bad Key]",
                      "review_timeout", "deadline", "notify.webhook_url"]
    with pytest.raises(InvalidArgument) as raised:
        check_create_job(request, RequestRules())
    assert raised.value.violations == violations


def test_a_missing_or_mismatched_spec_is_named():
    assert create_job_violations(js.CreateJobRequest())[1] == [
        ("spec", "is required: set spec.image, spec.video or spec.null")]
    _, violations = create_job_violations(js.CreateJobRequest(spec=pb.JobSpec(kind=pb.JOB_KIND_VIDEO,
                                                                                image=pb.ImageSpec(prompt="x"))))
    assert violations == [("spec.kind", "JOB_KIND_VIDEO does not match spec.image")]


def test_the_servers_rules_email_and_content_policy():
    emails = js.CreateJobRequest(spec=IMAGE, notify=pb.Notify(emails=["a@example.com"]))
    assert check_create_job(emails, RequestRules(sends_email=True)).image.prompt == "a fox"
    with pytest.raises(ServiceError) as refused:
        check_create_job(emails, RequestRules(sends_email=False))
    assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                          "EMAIL_NOT_CONFIGURED")
    policy = RequestRules(content_policy=ContentPolicy.parse(["fox"]))
    with pytest.raises(ServiceError) as refused:
        check_create_job(js.CreateJobRequest(spec=IMAGE), policy)
    assert (refused.value.reason, refused.value.violations[0][0]) == ("CONTENT_POLICY", "spec.image.prompt")


def test_a_batch_names_each_jobs_fields_by_position():
    request = js.CreateBatchRequest(jobs=[js.CreateJobRequest(spec=IMAGE),
                                          js.CreateJobRequest(spec=pb.JobSpec(image=pb.ImageSpec()), request_id="x"),
                                          js.CreateJobRequest(spec=IMAGE, notify=pb.Notify(slack_url="https://a"))],
                                    strategy=pb.BATCH_STRATEGY_SEQUENTIAL, max_concurrent=3)
    specs, violations = create_batch_violations(request)
    assert len(specs) == 2  # the second's spec is bad
    assert [name for name, _ in violations] == ["jobs[1].spec.image.prompt", "jobs[1].request_id",
                                                "jobs[1].request_id", "jobs[2].notify", "max_concurrent"]
    with pytest.raises(InvalidArgument):
        check_create_batch(request, RequestRules())
    assert create_batch_violations(js.CreateBatchRequest())[1] == [("jobs", "must hold 1-1000 jobs, got 0")]


def test_the_job_id_rules():
    assert jobrules.job_id_violations("any id: 'with' spaces") == []
    assert jobrules.job_id_violations("") == [("job_id", "must not be empty")]
    assert jobrules.job_id_violations("j" * 200) == []
    assert jobrules.job_id_violations("j" * 201, "event.job_id") == [("event.job_id", "must be at most 200 characters")]
    assert jobrules.storable_job_id_violations("8d0c6f0e-1b2a-4c3d-9e8f-0a1b2c3d4e5f_12_2") == []
    assert jobrules.storable_job_id_violations("../etc")[0][0] == "job_id"
    assert jobrules.storable_job_id_violations("j" * 201)[0][1] == "must be at most 200 characters"


def test_the_terminal_and_active_states_cover_every_state_once():
    states = set(pb.JobState.values()) - {pb.JOB_STATE_UNSPECIFIED}
    assert jobrules.TERMINAL_STATES | set(jobrules.ACTIVE_STATES) == states
    assert not jobrules.TERMINAL_STATES & set(jobrules.ACTIVE_STATES)
    assert jobrules.TERMINAL_STATES == {pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED}
