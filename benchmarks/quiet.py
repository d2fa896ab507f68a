"""`make bench` prints its report and nothing else. Much writes to the process's stdout and stderr
descriptors that is not the report: gRPC core's log lines (C, to fd 2: "I1205 ... Got goaway"), the
Temporal dev server's banner and the Temporal SDK core's warnings (a child process and Rust, to fd 1), and
Python log records. Inside `report_only`, fds 1 and 2 go to a log file instead, while `print` (the
report) and Python's own errors (a traceback) still reach the terminal."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def report_only(log_path: Path) -> Iterator[None]:
    """The block's diagnostics go to `log_path` (made anew); sys.stdout and sys.stderr stay the terminal's."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (sys.stdout, sys.stderr)
    terminal = (os.dup(1), os.dup(2))
    report = os.fdopen(os.dup(terminal[0]), "w", buffering=1)
    errors = os.fdopen(os.dup(terminal[1]), "w", buffering=1)
    log = log_path.open("w", buffering=1)
    handlers = logging.root.handlers[:]
    try:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout, sys.stderr = report, errors
        logging.basicConfig(stream=log, level=logging.WARNING, force=True,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        yield
    finally:
        report.flush()
        errors.flush()
        os.dup2(terminal[0], 1)
        os.dup2(terminal[1], 2)
        sys.stdout, sys.stderr = saved
        logging.root.handlers[:] = handlers
        for stream in (report, errors, log):
            stream.close()
        for fd in terminal:
            os.close(fd)
