"""The in-process bus: fan-out per job, a full subscriber is dropped without holding anyone up, no leaks."""

from __future__ import annotations

import asyncio

import pytest

from genmedia.v1 import common_pb2 as pb
from services.progress.bus import HEARTBEAT, Bus


def event(job_id: str, sequence: int) -> pb.JobEvent:
    return pb.JobEvent(job_id=job_id, sequence=sequence, type=pb.EVENT_TYPE_PROGRESS)


async def drain(subscription, count: int) -> list[int]:
    return [(await subscription.get()).event.sequence for _ in range(count)]


async def test_each_subscriber_of_a_job_gets_its_events_and_only_those():
    bus = Bus(buffer=10)
    with bus.subscribe("a") as first, bus.subscribe("a") as second, bus.subscribe("b") as other:
        for sequence in (1, 2, 3):
            bus.publish(event("a", sequence))
        bus.publish(event("b", 7))
        assert await drain(first, 3) == await drain(second, 3) == [1, 2, 3]
        assert await drain(other, 1) == [7]


async def test_a_full_subscriber_is_dropped_and_told_while_others_keep_receiving():
    bus = Bus(buffer=3)
    with bus.subscribe("a") as slow, bus.subscribe("a") as fast:
        received = []
        for sequence in range(1, 11):
            bus.publish(event("a", sequence))  # synchronous: a publisher can never wait for a watcher
            received += await drain(fast, 1)
        assert received == list(range(1, 11))
        assert slow.dropped and await slow.get() is None
        assert bus.subscribers("a") == 1


async def test_leaving_the_block_unsubscribes_even_when_cancelled():
    bus = Bus(buffer=3)

    async def watch() -> None:
        with bus.subscribe("a") as subscription:
            await subscription.get()

    task = asyncio.create_task(watch())
    await asyncio.sleep(0)
    during = bus.subscribers("a")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (during, bus.subscribers()) == (1, 0)


def test_a_buffer_below_one_is_refused():
    with pytest.raises(ValueError, match="buffer"):
        Bus(buffer=0)


async def test_get_answers_heartbeat_when_due_events_first_and_once_per_setting():
    bus = Bus(buffer=10)
    clock = asyncio.get_running_loop()
    with bus.subscribe("a") as subscription:
        subscription.heartbeat_at(clock.time() + 0.05)
        started = clock.time()
        assert await subscription.get() is HEARTBEAT
        assert clock.time() - started >= 0.04
        subscription.heartbeat_at(clock.time())  # due at once, but queued events come before it
        await asyncio.sleep(0.01)
        bus.publish(event("a", 1))
        assert (await subscription.get()).event.sequence == 1
        assert await subscription.get() is HEARTBEAT
        subscription.heartbeat_at(clock.time() + 30)
        bus.publish(event("a", 2))
        assert (await asyncio.wait_for(subscription.get(), 1)).event.sequence == 2
        with pytest.raises(TimeoutError):  # no heartbeat before its time
            await asyncio.wait_for(subscription.get(), 0.05)
        subscription.heartbeat_at(clock.time() + 0.01)
        subscription.close()  # (leaving the block does it): the timer is cancelled
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(subscription.get(), 0.05)
