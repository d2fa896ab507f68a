"""The `genmedia` command line (entry point `main`); cli/app.py builds it, one module per group of commands."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> None:
    from genmedia.cli.app import main as run

    run(argv)
