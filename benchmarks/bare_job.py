"""The baseline's workflow for the throughput benchmark: a null job as Temporal alone would run it (one step
activity on the job queue, then its result). A module of its own with nothing else imported, as a plain
Temporal user would write it: the sandbox imports a workflow's module afresh for every run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow


@dataclass
class BareJob:
    job_id: str
    spec: dict


@activity.defn(name="bench_null_step")
async def null_step(job: BareJob) -> list[dict]:
    return []


@workflow.defn(name="BenchBareJob")
class BareJobWorkflow:
    @workflow.run
    async def run(self, job: BareJob) -> dict:
        assets = await workflow.execute_activity(null_step, job, start_to_close_timeout=timedelta(seconds=60))
        return {"job_id": job.job_id, "assets": assets}
