"""The client's and the CLI's surface without a server: enums that follow the protos (and survive values
from a newer server), the same methods on Client and AsyncClient, help on every argument, and imports that
pull in no server dependency."""

from __future__ import annotations

import argparse
import inspect
import json
import subprocess
import sys

import pytest

import genmedia
import genmedia.client
from genmedia.cli import text
from genmedia.cli.app import build_parser, json_wanted
from genmedia.client import AsyncClient, Client, Job, JobEvent, JobState
from genmedia.client.enums import PROTO_NAMES
from genmedia.client.errors import InvalidArgument
from genmedia.v1 import common_pb2 as pb

# (grpc_tools, grpc_health and grpc_reflection are left out: `import grpc` loads them itself when installed.)
SERVER_MODULES = ("temporalio", "av", "numpy", "sqlalchemy", "PIL", "alembic", "asyncpg", "aiosqlite", "jwt",
                  "cryptography", "prometheus_client", "httpx", "grpc_status", "services")


@pytest.mark.parametrize("enum", list(PROTO_NAMES))
def test_each_enum_has_every_value_of_its_proto_enum(enum) -> None:
    name, prefix = PROTO_NAMES[enum]
    proto = getattr(pb, name)
    assert {n.removeprefix(prefix): v for n, v in proto.items()} == {m.name: m.value for m in enum if m.value >= 0}


def test_values_from_a_newer_server_read_unknown_and_keep_their_number() -> None:
    raw = pb.Job(id="j", state=42, step=17, kind=9, reviews=[pb.Review(decision=5)])
    job = Job.from_proto(pb.Job.FromString(raw.SerializeToString()))
    assert job.state == JobState.UNKNOWN and job.reviews[0].decision.name == "UNKNOWN"
    assert job.state.name == job.step.name == job.kind.name == "UNKNOWN" and not job.state.terminal
    assert job.to_dict()["state"] == 42  # JSON keeps what the server sent
    assert text.job_lines(job)[0].startswith("job j  UNKNOWN  unknown")
    event = JobEvent.from_proto(pb.JobEvent(job_id="j", sequence=3, type=99, state=42))
    assert text.history_line(event).split()[1:4] == [text.rfc3339(None), "unknown", "unknown"]


def test_json_numbers_and_times() -> None:
    job = Job.from_proto(pb.Job(id="j", last_sequence=12, assets=[pb.Asset(size_bytes=2 ** 40)]))
    job.raw.create_time.FromSeconds(1_800_000_000)
    data = Job.from_proto(job.raw).to_dict()
    assert data["last_sequence"] == 12 and data["assets"][0]["size_bytes"] == 2 ** 40  # numbers, not strings
    assert data["create_time"] == "2027-01-15T08:00:00Z" and data["percent"] == 0  # every field, RFC 3339


def test_client_and_async_client_have_the_same_methods_and_arguments() -> None:
    def public(cls) -> dict[str, inspect.Signature]:
        return {name: inspect.signature(member) for name, member in vars(cls).items()
                if callable(member) and not name.startswith("_")}

    sync, aio = public(Client), public(AsyncClient)
    assert sync.keys() == aio.keys()
    for name, signature in aio.items():
        assert list(signature.parameters) == list(sync[name].parameters), name
    assert {"create_image", "create_video", "create_batch", "get", "list", "watch", "wait", "cancel", "pause",
            "resume", "review"} <= aio.keys()


def test_the_package_exports_the_client_lazily() -> None:
    assert genmedia.CLIENT_NAMES == set(genmedia.client.__all__) - {"GenmediaClient"}
    assert genmedia.Client is Client and genmedia.AsyncClient is AsyncClient


def _parsers(parser: argparse.ArgumentParser, path: str = "genmedia"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_argument_of_every_command_has_help() -> None:
    missing = [f"{path}: {action.dest}" for path, parser in _parsers(build_parser()) for action in parser._actions
               if not action.help and not isinstance(action, argparse._SubParsersAction)]
    assert not missing, missing
    commands = {path for path, _ in _parsers(build_parser())}
    assert len(commands) > 15


def test_every_command_takes_output_options_before_or_after_it() -> None:
    parser = build_parser()
    for argv in (["--json", "list"], ["list", "--json"], ["list", "-o", "json"], ["-o", "jsonl", "list"]):
        assert parser.parse_args(argv).output in ("json", "jsonl"), argv
    assert parser.parse_args(["--server", "a:1", "get", "x"]).server == "a:1"
    assert parser.parse_args(["get", "x", "--server", "b:2"]).server == "b:2"
    assert parser.parse_args(["get", "x"]).output == "text"
    assert json_wanted(["get", "-o", "json", "x"]) and json_wanted(["--output=jsonl"]) and not json_wanted(["get"])


def test_errors_as_json_name_each_field() -> None:
    error = InvalidArgument("bad", reason="INVALID_ARGUMENT", field_violations=[("spec.image.width", "too small")])
    assert json.loads(json.dumps(error.to_dict())) == {
        "code": "INVALID_ARGUMENT", "message": "bad", "reason": "INVALID_ARGUMENT",
        "field_violations": [{"field": "spec.image.width", "description": "too small"}]}


def test_the_cli_and_the_client_import_no_server_dependency() -> None:
    """What `pip install genmedia` (no extras) must be able to run: checked in a fresh interpreter."""
    code = ("import sys, genmedia.cli.app, genmedia.client\n"
            "from genmedia import Client, AsyncClient\n"
            "genmedia.cli.app.build_parser()\n"
            f"print([m for m in sys.modules if m.split('.')[0] in {SERVER_MODULES!r}])")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]", loaded


def _complete(script: str, *words: str) -> list[str]:
    """What bash offers for the last word after sourcing the completion script."""
    array = " ".join(f'"{w}"' for w in words)
    program = (f'{script}\nCOMP_WORDS=({array}); COMP_CWORD={len(words) - 1}\n'
               f'_shtab_genmedia genmedia "{words[-1]}" "{words[-2]}"\necho "${{COMPREPLY[@]}}"')
    return subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True).stdout.split()


def test_bash_and_zsh_completion_know_the_commands_options_and_choices() -> None:
    bash = subprocess.run([sys.executable, "-m", "genmedia.cli", "completion", "bash"], capture_output=True,
                          text=True, check=True).stdout
    assert _complete(bash, "genmedia", "mon") == ["monitor"]
    assert _complete(bash, "genmedia", "list", "--st") == ["--state"]
    assert "awaiting-review" in _complete(bash, "genmedia", "list", "--state", "")
    assert _complete(bash, "genmedia", "watch", "-o", "js") == ["json", "jsonl"]
    zsh = subprocess.run([sys.executable, "-m", "genmedia.cli", "completion", "zsh"], capture_output=True,
                         text=True, check=True).stdout
    assert zsh.startswith("#compdef genmedia") and "monitor" in zsh and "--progress-server" in zsh
