"""The delivery log in the progress service, on SQLite and PostgreSQL: RecordDelivery creates, appends and
finishes idempotently, ListDeliveries pages, notify settings come back redacted on every job read, and
retention purges a job's deliveries with it."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest

from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import job_service_pb2 as js
from genmedia.v1 import progress_service_pb2 as ps
from tests.integration.progress import created, failure, progress_stub, report

SETTINGS = pb.Notify(webhook_url="https://hooks.example.com/t/secret-token", slack_url="https://hooks.slack.com/x/y",
                     emails=["ann@example.com"], events=[pb.EVENT_TYPE_COMPLETED], fingerprint="f" * 32)


def new(delivery_id: str, job_id: str = "fox", channel: int = pb.NOTIFY_CHANNEL_WEBHOOK) -> ps.RecordDeliveryRequest:
    delivery = pb.Delivery(id=delivery_id, job_id=job_id, channel=channel, target=SETTINGS.webhook_url,
                           event=pb.EVENT_TYPE_COMPLETED)
    return ps.RecordDeliveryRequest(delivery=delivery, payload=b'{"type":"job.completed"}')


def attempt(delivery_id: str, key: str, status: int,
            state: int = pb.DELIVERY_STATE_PENDING) -> ps.RecordDeliveryRequest:
    a = pb.DeliveryAttempt(status_code=status, succeeded=200 <= status < 300, error="" if status < 300 else "HTTP")
    a.latency.FromMilliseconds(12)
    return ps.RecordDeliveryRequest(delivery=pb.Delivery(id=delivery_id, state=state), attempt=a, key=key)


async def test_deliveries_are_recorded_once_listed_in_pages_and_redacted(database) -> None:
    async with progress_stub(database) as stub:
        await stub.ReportProgress(created("fox", notify=SETTINGS))
        job = await stub.GetJob(js.GetJobRequest(job_id="fox"))
        assert job.notify.webhook_url == "https://hooks.example.com/…" and job.notify.slack_url == "https://hooks.slack.com/…"
        assert job.notify.emails == ["ann@example.com"] and job.notify.fingerprint == "f" * 32
        listed = (await stub.ListJobs(ps.ListJobsRequest())).jobs
        assert [j.notify for j in listed] == [job.notify]

        first = await stub.RecordDelivery(new("msg_1"))
        assert first.delivery.state == pb.DELIVERY_STATE_PENDING and first.delivery.owner == "ann"
        assert first.delivery.target == SETTINGS.webhook_url and first.payload == b'{"type":"job.completed"}'
        await stub.RecordDelivery(new("msg_1"))  # a repeated create changes nothing
        for key, status in (("0.1", 503), ("0.1", 503), ("0.2", 500)):  # the repeat of 0.1 is a no-op
            await stub.RecordDelivery(attempt("msg_1", key, status))
        done = await stub.RecordDelivery(attempt("msg_1", "0.3", 200, pb.DELIVERY_STATE_DELIVERED))
        assert [a.status_code for a in done.delivery.attempts] == [503, 500, 200]
        assert [a.attempt for a in done.delivery.attempts] == [1, 2, 3]
        assert done.delivery.state == pb.DELIVERY_STATE_DELIVERED
        redelivery = await stub.RecordDelivery(ps.RecordDeliveryRequest(delivery=pb.Delivery(id="msg_1"),
                                                                        redeliver=True, key="r1"))
        again = await stub.RecordDelivery(ps.RecordDeliveryRequest(delivery=pb.Delivery(id="msg_1"),
                                                                   redeliver=True, key="r1"))
        assert redelivery.redelivery == again.redelivery == 1 and again.delivery.redeliveries == 1
        assert again.delivery.state == pb.DELIVERY_STATE_PENDING
        for i in range(2, 5):
            await stub.RecordDelivery(new(f"msg_{i}", channel=pb.NOTIFY_CHANNEL_EMAIL))

        pages, token = [], ""
        while True:
            page = await stub.ListDeliveries(ps.ListDeliveriesRequest(job_id="fox", page_size=3, page_token=token))
            pages.append([d.id for d in page.deliveries])
            if not (token := page.next_page_token):
                break
        assert pages == [["msg_1", "msg_2", "msg_3"], ["msg_4"]]
        shown = await stub.GetDelivery(ps.GetDeliveryRequest(delivery_id="msg_1"))
        assert shown.target == "https://hooks.example.com/…" and len(shown.attempts) == 3

        await stub.ReportProgress(created("owl"))
        other = (await stub.ListDeliveries(ps.ListDeliveriesRequest(job_id="fox", page_size=3))).next_page_token
        code, _, violations = await failure(stub.ListDeliveries(ps.ListDeliveriesRequest(job_id="owl",
                                                                                         page_token=other)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and violations[0][0] == "page_token"
        assert (await stub.ListDeliveries(ps.ListDeliveriesRequest(job_id="owl"))).deliveries == []


@pytest.mark.parametrize("request_, code, field", [
    (ps.RecordDeliveryRequest(), grpc.StatusCode.INVALID_ARGUMENT, "delivery.id"),
    (ps.RecordDeliveryRequest(delivery=pb.Delivery(id="msg_new")), grpc.StatusCode.INVALID_ARGUMENT,
     "delivery.job_id"),
    (new("msg_x", job_id="nobody"), grpc.StatusCode.NOT_FOUND, ""),
    (ps.RecordDeliveryRequest(delivery=pb.Delivery(id="msg_x"), attempt=pb.DeliveryAttempt(status_code=5000)),
     grpc.StatusCode.INVALID_ARGUMENT, "key"),
    (ps.RecordDeliveryRequest(delivery=pb.Delivery(id="msg_x", channel=9, state=-1)),
     grpc.StatusCode.INVALID_ARGUMENT, "delivery.channel"),
])
async def test_bad_records_are_refused_naming_the_field(database, request_, code, field) -> None:
    async with progress_stub(database) as stub:
        got, _, violations = await failure(stub.RecordDelivery(request_))
    assert got == code
    if field:
        assert field in {f for f, _ in violations}, violations


async def test_purging_a_job_purges_its_deliveries(database) -> None:
    async with progress_stub(database) as stub:
        await stub.ReportProgress(created("fox", notify=SETTINGS))
        await stub.RecordDelivery(new("msg_1"))
        await stub.RecordDelivery(attempt("msg_1", "0.1", 200, pb.DELIVERY_STATE_DELIVERED))
        await stub.ReportProgress(report("fox", "c", pb.EVENT_TYPE_COMPLETED, percent=100))
        later = pb.Job()
        later.create_time.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
        purged = await stub.PurgeJobs(ps.PurgeJobsRequest(ended_before=later.create_time))
        assert list(purged.job_ids) == ["fox"]
        code, _, _ = await failure(stub.GetDelivery(ps.GetDeliveryRequest(delivery_id="msg_1")))
        assert code == grpc.StatusCode.NOT_FOUND
        # The same job id recorded again starts with no settings and no deliveries of the old one.
        await stub.ReportProgress(created("fox"))
        assert not (await stub.GetJob(js.GetJobRequest(job_id="fox"))).HasField("notify")
        assert (await stub.ListDeliveries(ps.ListDeliveriesRequest(job_id="fox"))).deliveries == []
