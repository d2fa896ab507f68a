"""Live views of jobs: a rich progress bar per job on a terminal (nothing elsewhere), and a line for every
change of state or step, on any output."""

from __future__ import annotations

import time
from types import TracebackType

from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn

from genmedia.cli.output import Output
from genmedia.cli.text import describe_asset, eta_text, step_label
from genmedia.client.enums import JobState
from genmedia.client.models import Job, JobEvent


class Bars:
    """Progress bars where a person watches (Output.live); elsewhere every call does nothing."""

    def __init__(self, out: Output) -> None:
        columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
        self.progress = Progress(*columns, console=out.console, transient=False) if out.live else None

    def __enter__(self) -> Bars:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.progress is not None:
            self.progress.stop()

    def add(self, description: str = "") -> TaskID | None:
        return self.progress.add_task(description, total=100) if self.progress is not None else None

    def update(self, task: TaskID | None, percent: float, description: str) -> None:
        if self.progress is not None and task is not None:
            self.progress.update(task, completed=percent, description=description)

    def remove(self, task: TaskID | None) -> None:
        if self.progress is not None and task is not None:
            self.progress.remove_task(task)


def stamp() -> str:
    return f"[{time.strftime('%H:%M:%S')}]"


class JobView:
    """One job's bar and lines. `name` prefixes its lines and bar when several jobs are shown."""

    def __init__(self, out: Output, bars: Bars, job_id: str, name: str = "") -> None:
        self.out, self.bars, self.job_id, self.name = out, bars, job_id, name
        self.task = bars.add(f"{name} pending" if name else "pending")
        self.state: JobState | None = None
        self.step = None

    def apply(self, item: Job | JobEvent) -> None:
        """Shows a snapshot or an event: a line when the state or step changes, and the bar."""
        if (item.state, item.step) != (self.state, self.step):
            self.state, self.step = item.state, item.step
            line = item.state.label
            if item.step and item.state not in (JobState.PENDING, JobState.COMPLETED):
                line += f": {item.step.label}"
            if item.state == JobState.RETRYING and item.error:
                line += f" (attempt {item.attempt} failed: {item.error.code} {item.error.message})"
            self.out.line(f"{stamp()} {self.name + ' ' if self.name else ''}{line}")
            if item.state == JobState.AWAITING_REVIEW:
                for asset in item.assets:
                    self.out.line(f"  candidate: {describe_asset(asset)}")
                self.out.line(f"  decide with: genmedia review {self.job_id} --approve | --reject "
                              "[--prompt ... --seed ... --feedback ...]")
        eta = eta_text(item.estimated_completion_time) if item.estimated_completion_time else ""
        label = f"{self.name} {step_label(item)}" if self.name else step_label(item)
        self.bars.update(self.task, item.percent, f"{label:<17} {item.message[:40]:<40} {eta}")


def summary_lines(job: Job) -> list[str]:
    """The end of a watch: the job's final state, then its files or its error."""
    lines = [f"job {job.id} {job.state.name}"]
    if job.state == JobState.COMPLETED:
        lines.extend(f"  {describe_asset(asset)}" for asset in job.assets)
    elif job.error:
        lines.append(f"  error: {job.error.code}: {job.error.message}")
    return lines
