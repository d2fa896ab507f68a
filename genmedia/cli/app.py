"""The `genmedia` command line: its parser (one module per group of commands registers them) and the run
of one command, turning errors into messages and exit codes (cli/exitcodes.py)."""

from __future__ import annotations

import argparse
import asyncio
import sys

import genmedia
from genmedia.cli import (
    assets,
    batch,
    completion,
    control,
    exitcodes,
    follow,
    monitor,
    notify,
    options,
    reads,
    submit,
)
from genmedia.cli.context import Context
from genmedia.cli.failures import report_error
from genmedia.cli.interrupt import interruptible
from genmedia.cli.output import MODES, Output, usage_error
from genmedia.client.errors import RpcError
from genmedia.config import ConfigError

DESCRIPTION = "genmedia: submit image and video jobs and batches, read them, list them, watch them live."
# One module per group of commands; each registers its commands with their handlers.
COMMANDS = (submit, reads, follow, monitor, control, assets, batch, notify, completion)


class Parser(argparse.ArgumentParser):
    """Usage errors as JSON on stderr when JSON output was asked for (exit code 2 either way)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if json_wanted(sys.argv[1:]):
            Output("json").error(usage_error(f"{self.prog}: {message}"))
            sys.exit(exitcodes.USAGE)
        super().error(message)


def json_wanted(argv: list[str]) -> bool:
    """Whether the command line asks for JSON output, read without the parser (which just failed)."""
    for i, arg in enumerate(argv):
        if arg == "--json" or arg in ("-ojson", "-ojsonl", "--output=json", "--output=jsonl"):
            return True
        if arg in ("-o", "--output") and i + 1 < len(argv) and argv[i + 1] in MODES[1:]:
            return True
    return False


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="genmedia", description=DESCRIPTION, epilog=exitcodes.HELP,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"genmedia {genmedia.__version__}",
                        help="print the version and exit")
    options.add_common(parser, top=True)
    common = argparse.ArgumentParser(add_help=False)
    options.add_common(common, top=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for module in COMMANDS:
        module.register(sub, [common])
    for command in sub.choices.values():
        command.epilog, command.formatter_class = exitcodes.HELP, argparse.RawDescriptionHelpFormatter
    return parser


async def run(ctx: Context) -> int:
    try:
        return await ctx.args.handler(ctx)
    except RpcError as error:
        return report_error(ctx.out, error)
    except (batch.BadFile, ValueError) as error:  # a local file or value the client could not use
        ctx.out.error(usage_error(str(error)))
        return exitcodes.USAGE
    except TimeoutError:
        ctx.out.error({"code": "DEADLINE_EXCEEDED", "message": "timed out", "reason": "", "field_violations": []})
        return exitcodes.TIMEOUT
    finally:
        await ctx.close()


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.parser = parser
    out = Output(args.output)
    try:
        code = asyncio.run(interruptible(run(Context(args, out))))
    except ConfigError as error:  # a GENMEDIA_TLS_* setting that cannot be used
        out.error(usage_error(str(error)))
        code = exitcodes.USAGE
    except KeyboardInterrupt:
        code = exitcodes.INTERRUPTED
    sys.exit(code)
