"""`python -m genmedia.cli`: the same as the `genmedia` command."""

from genmedia.cli import main

main()
