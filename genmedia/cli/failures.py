"""How the CLI reports a refused or failed call: the error (text or JSON on stderr), a hint when the stack
cannot be reached, and the exit code."""

from __future__ import annotations

from genmedia.cli import exitcodes
from genmedia.cli.output import Output
from genmedia.client.errors import RpcError, Unavailable

WHERE = {"JobService": "--server or GENMEDIA_ORCHESTRATOR_ADDR",
         "ProgressService": "--progress-server or GENMEDIA_PROGRESS_ADDR"}


def hint(error: RpcError) -> str:
    """What to do about it, when the CLI can tell."""
    if isinstance(error, Unavailable) and not error.reason:  # no answer at all: nothing listens there
        flag = WHERE.get(error.address.split(" ")[0], "--server / --progress-server")
        return (f"Is the stack running? Start it with `make run` (in a genmedia checkout), or point genmedia at "
                f"it with {flag}.")
    return ""


def report_error(out: Output, error: RpcError) -> int:
    out.error(error.to_dict(), hint(error))
    return exitcodes.for_error(error)
