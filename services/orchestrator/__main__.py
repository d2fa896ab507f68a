"""`genmedia-orchestrator [--role api|worker|all]`: JobService, the Temporal worker, or both."""

from __future__ import annotations

import argparse

from genmedia.config import load_or_exit
from genmedia.serving import server as serving
from services.orchestrator.config import Settings
from services.orchestrator.server import serve_forever


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="genmedia-orchestrator", description=__doc__)
    parser.add_argument("--role", choices=("api", "worker", "all"), default="all",
                        help="api: JobService only; worker: the Temporal worker only; all: both (default)")
    args = parser.parse_args(argv)
    settings = load_or_exit("genmedia-orchestrator", Settings.from_env)
    serving.run_main(settings.serving, lambda: serve_forever(args.role, settings))


if __name__ == "__main__":
    main()
