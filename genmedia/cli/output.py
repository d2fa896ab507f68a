"""Where the CLI's results go and in what form: `text` (for people; bars and live tables only on a
terminal, colour unless NO_COLOR), `json` (exactly one JSON document on stdout) or `jsonl` (one JSON
object per line, flushed as it comes). Errors go to stderr: text, or one JSON object per error."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.text import Text

from genmedia.cli import text
from genmedia.client.models import Job

MODES = ("text", "json", "jsonl")


class Output:
    def __init__(self, mode: str = "text") -> None:
        self.mode = mode
        self.console = Console(highlight=False, soft_wrap=True)
        self.errors = Console(stderr=True, highlight=False, soft_wrap=True)
        # Bars and live tables only where a person watches; pipes and TERM=dumb get plain lines.
        self.live = mode == "text" and self.console.is_terminal and os.environ.get("TERM") != "dumb"

    @property
    def text(self) -> bool:
        return self.mode == "text"

    def line(self, line: str, style: str = "") -> None:
        """One line of text output (never read as rich markup: job messages are data)."""
        if self.text:
            self.console.print(Text(line, style=style))

    def document(self, data: Any) -> None:
        """The one JSON document of -o json (or, with -o jsonl, one line)."""
        sys.stdout.write(json.dumps(data, indent=2 if self.mode == "json" else None, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def record(self, data: Any) -> None:
        """One line of -o jsonl, flushed at once (a reader may be following the stream)."""
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def job(self, job: Job) -> None:
        if self.text:
            for line in text.job_lines(job):
                self.line(line)
        else:
            self.document(job.to_dict())

    def jobs(self, jobs: list[Job]) -> None:
        """Several jobs: one after another as text, `{"jobs": [...]}` as JSON, one per line as JSONL."""
        if self.mode == "json":
            self.document({"jobs": [j.to_dict() for j in jobs]})
        else:
            for job in jobs:
                self.job(job)

    def listing(self, name: str, items: list, lines: Callable[[Any], list[str]]) -> None:
        """Items of one kind (events, deliveries): {name: [...]} as JSON, one per line as JSONL, else their
        text and a count ("4 events")."""
        if self.mode == "json":
            self.document({name: [item.to_dict() for item in items]})
        elif self.mode == "jsonl":
            for item in items:
                self.record(item.to_dict())
        else:
            for item in items:
                for line in lines(item):
                    self.line(line)
            self.line(f"{len(items)} {name}")

    def error(self, error: dict[str, Any], hint: str = "") -> None:
        """An error: {"code", "message", "reason", "field_violations"}; `hint` (text) says what to do."""
        if not self.text:
            message = f"{error['message']}. {hint}" if hint else error["message"]
            self.errors.file.write(json.dumps({**error, "message": message}, ensure_ascii=False) + "\n")
            self.errors.file.flush()
            return
        violations = error.get("field_violations") or []
        head = f"error: {error['code']}" + ("" if violations else f": {error['message']}")
        self.errors.print(Text(head))
        for v in violations:
            self.errors.print(Text(f"  {v['field']}: {v['description']}"))
        if hint:
            self.errors.print(Text(f"  {hint}"))


def usage_error(message: str) -> dict[str, Any]:
    return {"code": "USAGE", "message": message, "reason": "", "field_violations": []}
