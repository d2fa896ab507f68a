"""`genmedia completion bash|zsh`: a completion script generated from the parser itself (shtab), so it
always knows every command and option; it runs no Python at each Tab."""

from __future__ import annotations

import argparse
import sys

from genmedia.cli import exitcodes
from genmedia.cli.context import Context


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("completion", help="print the shell completion script for bash or zsh",
                       description="bash: eval \"$(genmedia completion bash)\" (or save it to "
                                   "/etc/bash_completion.d/genmedia); zsh: genmedia completion zsh > "
                                   "\"${fpath[1]}/_genmedia\", then start a new shell.")
    p.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete in")
    p.set_defaults(handler=run)


async def run(ctx: Context) -> int:
    import shtab

    sys.stdout.write(shtab.complete(ctx.args.parser, shell=ctx.args.shell))
    return exitcodes.OK
