"""Activities of the batch workflow: read a page of a batch's PENDING children from the progress store,
mark the children that never started CANCELLED, and read the batch's counts at its end."""

from __future__ import annotations

from typing import Any

import grpc
from temporalio import activity

from genmedia.v1 import common_pb2 as pb
from genmedia.v1 import progress_service_pb2 as ps
from services.orchestrator.model import ChildPage, ChildPageInput
from services.orchestrator.progress import ProgressCalls
from services.orchestrator.worker.activities import classify, to_dict


class BatchActivities:
    def __init__(self, progress: ProgressCalls) -> None:
        self.progress = progress

    @activity.defn(name="load_batch_children")
    async def load_children(self, page: ChildPageInput) -> ChildPage:
        """The next page of the batch's PENDING children in batch order (they were created a microsecond
        apart), from the cursor on."""
        query = ps.JobFilter(batch_id=page.batch_id, states=[pb.JOB_STATE_PENDING])
        request = ps.ListJobsRequest(filter=query, page_size=page.size, page_token=page.cursor,
                                     order=ps.LIST_ORDER_OLDEST_FIRST)
        try:
            answer = await self.progress.list_jobs(request)
        except grpc.aio.AioRpcError as err:
            raise classify(err) from None
        return ChildPage(children=[to_dict(job) for job in answer.jobs], next_cursor=answer.next_page_token)

    @activity.defn(name="cancel_batch_children")
    async def cancel_children(self, batch_id: str) -> int:
        try:
            return await self.progress.cancel_pending(batch_id, "cancelled before it started")
        except grpc.aio.AioRpcError as err:
            raise classify(err) from None

    @activity.defn(name="batch_summary")
    async def summary(self, batch_id: str) -> dict[str, Any]:
        """The batch's counts as the store has them (every child's terminal event is recorded by then)."""
        try:
            job = await self.progress.get_job(batch_id)
        except grpc.aio.AioRpcError as err:
            raise classify(err) from None
        return to_dict(job.batch)
