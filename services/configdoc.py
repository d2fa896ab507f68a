"""Writes docs/configuration.md from the settings objects' declarations (genmedia.config.Var and Section),
so the reference lists every GENMEDIA_* variable the code reads, with its default. `python -m
services.configdoc` rewrites it; `--check` exits 1 when it is stale. tests/unit/test_configdoc.py checks it
and that every variable read anywhere in genmedia/ and services/ is declared."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from genmedia.config import Section

# The modules whose settings objects read GENMEDIA_* variables, in the order the reference shows them.
SOURCES = (
    "genmedia.config", "genmedia.serving.settings", "genmedia.serving.auth", "genmedia.tls", "genmedia.client.rpc",
    "genmedia.launcher.stack", "services.orchestrator.temporal", "services.orchestrator.config",
    "services.orchestrator.retention", "genmedia.domain.policy", "genmedia.assetstore.settings",
    "genmedia.providers.settings", "services.progress.config", "services.image.config", "services.video.config",
    "services.gateway.config",
)
DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
HEADER = """# Configuration reference

Every process reads its settings from `GENMEDIA_*` environment variables once, at start-up, into typed
settings objects; a value that cannot be used stops the process with one line naming the variable. This
page is generated from those objects' declarations by `python -m services.configdoc` (do not edit it by
hand); `tests/unit/test_configdoc.py` fails when it is stale or when the code reads a `GENMEDIA_*` variable
it does not list. A name with `<SERVICE>`, `<STEP>` or `<PROVIDER>` stands for each of the values given.
Secrets can also come from a file: `NAME_FILE` names the file, and wins over `NAME`.
"""


def sections() -> list[tuple[str, Section]]:
    """(module, section) for every Section the SOURCES declare, in order."""
    found = []
    for name in SOURCES:
        module = importlib.import_module(name)
        found += [(name, value) for value in vars(module).values() if isinstance(value, Section)]
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    parts = [HEADER]
    for module, section in sections():
        parts.append(f"\n## {section.title}\n\nRead by `{module}`.")
        if section.note:
            parts.append(f" {section.note}")
        parts.append("\n\n| Variable | Default | What it does |\n|---|---|---|\n")
        for var in section.variables:
            default = var.default if var.default == "unset" else f"`{var.default}`"
            parts.append(f"| `{var.name}` | {_cell(default)} | {_cell(var.help)} |\n")
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.configdoc", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/configuration.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC} is stale: run python -m services.configdoc", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
