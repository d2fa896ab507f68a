"""`genmedia-progress [serve|migrate]`: serve ProgressService, or create the database schema and exit."""

from __future__ import annotations

import argparse
import sys

from genmedia.config import load_or_exit
from genmedia.serving.server import run_main
from services.progress.config import Settings
from services.progress.schema import UnmanagedSchema
from services.progress.server import SchemaOutOfDate, migrate, serve_forever


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="genmedia-progress", description=__doc__)
    parser.add_argument(
        "command", nargs="?", choices=("serve", "migrate"), default="serve",
        help="serve (default) or migrate: create the schema and exit",
    )
    args = parser.parse_args(argv)
    settings = load_or_exit("genmedia-progress", Settings.from_env)
    try:
        if args.command == "migrate":
            run_main(settings.serving, lambda: migrate(settings))
        else:
            run_main(settings.serving, lambda: serve_forever(settings))
    except (SchemaOutOfDate, UnmanagedSchema) as err:
        print(f"genmedia-progress: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
