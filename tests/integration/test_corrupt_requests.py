"""Request bodies that are not valid protobuf, sent to every RPC of the four services as a client's bytes
would arrive: INVALID_ARGUMENT naming the message (and the field, where there is one), never UNKNOWN, and
no ERROR or traceback in the log, at most a rate-limited warning."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor, symbol_database
from temporalio.testing import WorkflowEnvironment

from genmedia.domain.errors import details_of
from genmedia.serving.decoding import WARN_EVERY
from genmedia.serving.wire import find_fault
from tests.integration.jobstack import add_api, configure_env, job_services

SERVICES = {"api": "genmedia.v1.JobService", "progress": "genmedia.v1.ProgressService",
            "image": "genmedia.v1.ImageService", "video": "genmedia.v1.VideoService"}
Fd = descriptor.FieldDescriptor


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _string_path(message: descriptor.Descriptor, depth: int = 0) -> list[descriptor.FieldDescriptor] | None:
    """The fields down to the first string field of a message (through singular sub-messages)."""
    for field in message.fields:
        if field.type == Fd.TYPE_STRING:
            return [field]
    for field in message.fields:
        if field.type == Fd.TYPE_MESSAGE and depth < 3 and not field.message_type.GetOptions().map_entry:
            if (rest := _string_path(field.message_type, depth + 1)) is not None:
                return [field, *rest]
    return None


def bad_utf8(message: descriptor.Descriptor) -> tuple[bytes, str] | None:
    """A body whose first string field holds bytes that are not UTF-8, and that field's path."""
    path = _string_path(message)
    if path is None:
        return None
    body = b"\xc3\x28"  # a lead byte whose continuation is missing
    for field in reversed(path):
        body = _varint(field.number << 3 | 2) + _varint(len(body)) + body
    return body, ".".join(f.name for f in path)


CORRUPT = b"\xff\xff\xff"  # a tag whose varint never ends
DEEP_GROUPS = _varint(999 << 3 | 3) * 150 + _varint(999 << 3 | 4) * 150  # unknown field 999, groups 150 deep


def test_the_wire_walker_names_the_field_and_the_damage() -> None:
    from genmedia.v1 import job_service_pb2

    request = job_service_pb2.CreateJobRequest.DESCRIPTOR
    body, path = bad_utf8(request)
    assert path == "request_id"
    nested = _varint(1 << 3 | 2) + _varint(6) + _varint(3 << 3 | 2) + _varint(4) + _varint(1 << 3 | 2) + b"\x02\xc3\x28"
    fault = find_fault(request, nested)
    assert fault is not None and str(fault) == "field spec.video.prompt is not valid UTF-8", fault
    assert str(find_fault(request, CORRUPT)) == "the body has a tag whose varint is cut short or longer than 10 bytes"
    assert str(find_fault(request, DEEP_GROUPS)) == "field #999 nests messages or groups more than 100 deep"
    assert find_fault(request, body) is not None and find_fault(request, b"") is None
    assert find_fault(request, b"\x38\x01" * 100_000 + b"\xff") is None  # past MAX_FIELDS: the parser's words stand


async def _send(channel: grpc.aio.Channel, method: descriptor.MethodDescriptor, body: bytes) -> grpc.aio.AioRpcError:
    name = f"/{method.containing_service.full_name}/{method.name}"
    if method.client_streaming:
        call = channel.stream_stream(name)(iter([body]), timeout=10)
    elif method.server_streaming:
        call = channel.unary_stream(name)(body, timeout=10)
    else:
        call = channel.unary_unary(name)(body, timeout=10)
    try:
        if method.client_streaming or method.server_streaming:
            async for _ in call:
                pass
        else:
            await call
    except grpc.aio.AioRpcError as err:
        return err
    raise AssertionError(f"{name} accepted a corrupt body")


async def test_every_rpc_refuses_bodies_that_are_not_protobuf(temporal: WorkflowEnvironment, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    configure_env(monkeypatch, tmp_path)
    caplog.set_level(logging.INFO)
    pool = symbol_database.Default().pool
    async with job_services(tmp_path) as stack:
        await add_api(stack, temporal)
        started, refused = time.monotonic(), []
        for server, service_name in SERVICES.items():
            async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.servers[server].port}") as channel:
                for method in pool.FindServiceByName(service_name).methods:
                    bodies = [(CORRUPT, ""), (DEEP_GROUPS, "#999")]
                    if (utf8 := bad_utf8(method.input_type)) is not None:
                        bodies.append(utf8)
                    for body, field in bodies:
                        err = await _send(channel, method, body)
                        where = f"{method.full_name} {body[:8]!r}"
                        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (where, err.code(), err.details())
                        assert method.input_type.full_name in err.details(), (where, err.details())
                        reason, violations = details_of(err)
                        assert reason == "MALFORMED_REQUEST", where
                        assert [f for f, _ in violations] == ([field] if field else []), (where, violations)
                        refused.append(where)
        elapsed = time.monotonic() - started
    assert len(refused) > 60  # every RPC of the four services, two or three bodies each
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in records if r.levelno >= logging.ERROR or r.exc_info], [r.getMessage() for r in records]
    warnings = [r for r in records if r.name == "genmedia.serving.decoding"]
    # One warning per WARN_EVERY seconds per server at most (each server counts its own).
    assert 1 <= len(warnings) <= len(SERVICES) * (1 + int(elapsed // WARN_EVERY)), len(warnings)
