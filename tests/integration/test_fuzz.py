"""Property-based fuzzing of every RPC of the running services: over 10,000 random and malformed requests
(hypothesis builds them from the request messages' descriptors) must never produce UNKNOWN or INTERNAL,
every refusal must carry a BadRequest or an ErrorInfo, and every service must stay healthy."""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor, symbol_database
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.testing import WorkflowEnvironment

from genmedia.v1 import (
    image_service_pb2_grpc,
    job_service_pb2_grpc,
    progress_service_pb2_grpc,
    video_service_pb2_grpc,
)
from tests.integration.jobstack import configure_env, job_services
from tests.integration.test_security import ALICE, INTERNAL, ROOT, guard

pytestmark = pytest.mark.timeout(600)

PER_RPC = 440  # x 26 RPCs (one has no fields: 1 request): over 10,000 requests
NASTY = ["", "\x00", "é🦊" * 300, "x" * 5000, "../../etc/passwd", "\n\t", "a" * 201,
         "00000000-0000-0000-0000-000000000000", "file:///etc/passwd", "JOB_STATE_RUNNING", "-1", "☃"]
Fd = descriptor.FieldDescriptor


@functools.cache  # a strategy per field, built once: building one anew for each draw took most of the time
def _scalar(field: descriptor.FieldDescriptor) -> st.SearchStrategy:
    t = field.type
    if t == Fd.TYPE_STRING:
        return st.one_of(st.text(max_size=60), st.sampled_from(NASTY))
    if t == Fd.TYPE_BYTES:
        return st.binary(max_size=64)
    if t == Fd.TYPE_BOOL:
        return st.booleans()
    if t in (Fd.TYPE_INT32, Fd.TYPE_SINT32, Fd.TYPE_SFIXED32):
        return st.one_of(st.integers(-(2**31), 2**31 - 1), st.integers(-3, 3000))
    if t in (Fd.TYPE_INT64, Fd.TYPE_SINT64, Fd.TYPE_SFIXED64):
        return st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-3, 3000))
    if t in (Fd.TYPE_UINT32, Fd.TYPE_FIXED32):
        return st.integers(0, 2**32 - 1)
    if t in (Fd.TYPE_UINT64, Fd.TYPE_FIXED64):
        return st.integers(0, 2**64 - 1)
    if t == Fd.TYPE_DOUBLE:
        return st.floats(allow_nan=True, allow_infinity=True)
    if t == Fd.TYPE_FLOAT:
        return st.floats(allow_nan=True, allow_infinity=True, width=32)
    if t == Fd.TYPE_ENUM:
        return st.one_of(st.sampled_from([v.number for v in field.enum_type.values]), st.integers(-5, 50))
    raise AssertionError(f"unhandled field type {t} of {field.full_name}")


@functools.cache
def _value(field: descriptor.FieldDescriptor, depth: int) -> st.SearchStrategy:
    if field.type == Fd.TYPE_MESSAGE:
        return message_dicts(field.message_type, depth + 1)
    return _scalar(field)


@st.composite
def message_dicts(draw, desc: descriptor.Descriptor, depth: int = 0) -> dict:
    """Dicts of field -> value for a message: any subset of its fields, any values, nested 3 deep.

    Drawn field by field (a composite) rather than as one fixed_dictionaries strategy: hypothesis builds the
    repr of a strategy, and the nested request messages made that repr hundreds of kB per message."""
    if depth > 3:
        return {}
    values = {}
    for field in desc.fields:
        if draw(st.booleans()):
            values[field.name] = draw(_field(field, depth))
    return values


@functools.cache
def _field(field: descriptor.FieldDescriptor, depth: int) -> st.SearchStrategy:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
        return st.dictionaries(_scalar(key), _value(value, depth), max_size=4)
    if field.is_repeated:
        return st.lists(_value(field, depth), max_size=4)
    return _value(field, depth)


def fill(message, values: dict) -> None:
    for name, value in values.items():
        if value is None:
            continue
        field = message.DESCRIPTOR.fields_by_name[name]
        target = getattr(message, name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for k, v in value.items():
                if value_field.type == Fd.TYPE_MESSAGE:
                    fill(target[k], v)
                else:
                    target[k] = v
        elif field.is_repeated:
            for item in value:
                if field.type == Fd.TYPE_MESSAGE:
                    fill(target.add(), item)
                else:
                    try:
                        target.append(item)
                    except ValueError:
                        pass  # an enum number the runtime refuses to hold
        elif field.type == Fd.TYPE_MESSAGE:
            fill(target, value)
            target.SetInParent()
        else:
            try:
                setattr(message, name, value)
            except ValueError:
                pass


def requests_for(request_class, count: int) -> list:
    """`count` requests of a class, generated by hypothesis (deterministically, so a failure repeats)."""
    out: list = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(message_dicts(request_class.DESCRIPTOR))
    def collect(values: dict) -> None:
        message = request_class()
        fill(message, values)
        out.append(message)

    collect()
    return out


def serialized_requests(type_name: str, count: int) -> list[bytes]:
    """requests_for a message type named by its full name, serialized: what the generating process returns."""
    request_class = symbol_database.Default().GetSymbol(type_name)
    return [request.SerializeToString() for request in requests_for(request_class, count)]


INTERNAL_ONLY = {"ReportProgress", "ReportProgressBatch", "ReportProgressStream", "PurgeJobs", "RecordDelivery",
                 "GenerateImages", "RenderVideo"}


async def test_10000_random_requests_never_break_a_service(temporal: WorkflowEnvironment, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    configure_env(monkeypatch, tmp_path)
    checker = guard()
    async with job_services(tmp_path, guard=checker) as stack:
        from tests.integration.jobstack import add_api

        stack.settings = replace(stack.settings, internal_token=INTERNAL)
        await add_api(stack, temporal, guard=checker, token=ALICE)
        channels = {name: grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
                    for name, server in stack.servers.items()}
        stubs = [
            (job_service_pb2_grpc.JobServiceStub(channels["api"]), "genmedia.v1.JobService", "api"),
            (progress_service_pb2_grpc.ProgressServiceStub(channels["progress"]), "genmedia.v1.ProgressService",
             "progress"),
            (image_service_pb2_grpc.ImageServiceStub(channels["image"]), "genmedia.v1.ImageService", "image"),
            (video_service_pb2_grpc.VideoServiceStub(channels["video"]), "genmedia.v1.VideoService", "video"),
        ]
        pool = symbol_database.Default().pool
        methods = [(stub, method) for stub, service_name, _ in stubs
                   for method in pool.FindServiceByName(service_name).methods]
        outcomes: dict[tuple[str, str], int] = {}
        total = 0
        gate = asyncio.Semaphore(16)
        # Another process generates the next methods' requests while this one sends: generating is CPU-bound
        # Python, and this process also runs every service.
        makers = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        loop = asyncio.get_running_loop()
        made = [loop.run_in_executor(makers, serialized_requests, method.input_type.full_name, PER_RPC)
                for _, method in methods]
        try:
            for (stub, method), batch in zip(methods, made, strict=True):
                request_class = symbol_database.Default().GetSymbol(method.input_type.full_name)
                call = getattr(stub, method.name)
                requests = [request_class.FromString(data) for data in await batch]

                async def one(i: int, request, method=method, call=call) -> str:
                    who = INTERNAL if method.name in INTERNAL_ONLY else (ROOT, ALICE)[i % 2]
                    async with gate:
                        return await _send(call, request, method.server_streaming,
                                           (("authorization", f"Bearer {who}"),), method.client_streaming)

                # Concurrent, as real clients are: a quiet accepted watch costs its 0.5 s wait only once.
                for code in await asyncio.gather(*(one(i, r) for i, r in enumerate(requests))):
                    total += 1
                    outcomes[(method.name, code)] = outcomes.get((method.name, code), 0) + 1
            assert total >= 10_000
            bad = {k: n for k, n in outcomes.items() if k[1] in ("UNKNOWN", "INTERNAL", "MISSING_DETAILS")}
            assert not bad, (bad, outcomes)
            for name, channel in channels.items():  # ...and every service still serves
                health = health_pb2_grpc.HealthStub(channel)
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
        finally:
            makers.shutdown(cancel_futures=True)
            for channel in channels.values():
                await channel.close()


async def _send(call, request, streaming: bool, metadata, requests_stream: bool = False) -> str:
    try:
        if requests_stream:
            # The request as a stream of its own (then half-closed): every answer, then the stream's end.
            async for _ in call(iter([request]), metadata=metadata, timeout=3):
                pass
        elif streaming:
            # A stream that was accepted answers with a first message (or ends); one that was refused fails.
            stream = call(request, metadata=metadata, timeout=3)
            try:
                await asyncio.wait_for(stream.read(), 0.5)
            except TimeoutError:
                pass  # accepted, and quiet: a live watch
            finally:
                stream.cancel()
        else:
            await call(request, metadata=metadata, timeout=3)
        return "OK"
    except grpc.aio.AioRpcError as err:
        code = err.code()
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return code.name  # our own timeout (a valid watch or generation runs on): no details to expect
        status = rpc_status.from_call(err)
        kinds = {d.type_url.rsplit("/", 1)[-1] for d in status.details} if status else set()
        wanted = {error_details_pb2.BadRequest.DESCRIPTOR.full_name, error_details_pb2.ErrorInfo.DESCRIPTOR.full_name}
        if code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL) and not kinds & wanted:
            return "MISSING_DETAILS"
        return code.name
    except asyncio.CancelledError:
        raise
