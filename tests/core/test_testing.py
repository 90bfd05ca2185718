"""doozer.testing: the in-memory transport is faithful, and its clocks behave."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from doozer import Abort, Application
from doozer import headers as names
from doozer.outcomes import SUCCEEDED, Aborted, RetryLater, Unfinished
from doozer.testing import MemoryQueue, VirtualClock, run_until_drained, serve_until_drained

from .support import echo


async def test_a_closed_queue_ends_consumption_once_idle() -> None:
    queue = MemoryQueue(["a"], close=True)
    delivery = await queue.read()
    reader = asyncio.ensure_future(queue.read())
    await asyncio.sleep(0.01)
    assert not reader.done()  # a message in flight may still come back
    await delivery.settle(SUCCEEDED)
    with pytest.raises(Abort, match=r"queue\.drained"):
        await reader


async def test_a_cancelled_read_takes_nothing() -> None:
    queue = MemoryQueue()
    reader = asyncio.ensure_future(queue.read())
    await asyncio.sleep(0.01)
    reader.cancel()
    queue.put("kept")
    assert (await queue.read()).body == "kept"


async def test_settling_twice_is_an_error() -> None:
    delivery = await MemoryQueue(["a"]).read()
    await delivery.settle(SUCCEEDED)
    with pytest.raises(RuntimeError, match="settled twice"):
        await delivery.settle(Aborted("again"))


async def test_unfinished_goes_back_to_the_front_flagged_redelivered() -> None:
    queue = MemoryQueue(["first", "second"])
    delivery = await queue.read()
    assert (delivery.attempt, delivery.redelivered) == (1, False)
    await delivery.settle(Unfinished("forced stop"))
    again = await queue.read()
    assert (again.body, again.attempt, again.redelivered) == ("first", 1, True)
    assert queue.records[0].kinds() == ["published", "delivered", "returned", "delivered"]


async def test_a_retry_is_redelivered_after_its_delay_with_its_attempt_in_headers() -> None:
    clock = VirtualClock(start=1000.0, autojump=False)
    queue = MemoryQueue(["a"], clock=clock)
    delivery = await queue.read()
    await delivery.settle(RetryLater(30.0, 2, ValueError("x"), first_failure=999.5))
    reader = asyncio.ensure_future(queue.read())
    await asyncio.sleep(0.01)
    assert not reader.done()
    clock.advance(29.9)
    await asyncio.sleep(0.01)
    assert not reader.done()
    clock.advance(0.1)
    again = await reader
    assert (again.attempt, again.redelivered, again.first_failure) == (2, True, 999.5)
    assert again.headers[names.ATTEMPT] == "2"
    retried, delivered = queue.records[0].events[2:4]
    assert (retried.kind, retried.time, retried.detail) == ("retried", 1000.0, 30.0)
    assert (delivered.kind, delivered.time) == ("delivered", 1030.0)


def test_the_virtual_clock_skips_idle_waits_for_retries() -> None:
    async def fail_twice(app: Application, message: Any) -> None:
        if message.attempt < 3:
            raise ValueError("not yet")

    app = Application("svc", callback=fail_twice)

    @app.failure_policy
    async def hourly(app: Application, original: Any, message: Any, exc: Exception) -> Any:
        return RetryLater(3600.0, original.attempt + 1, exc, first_failure=0.0)

    started = time.monotonic()
    report = run_until_drained(app, ["m"])
    assert time.monotonic() - started < 5
    record = report.records[0]
    assert record.outcome is SUCCEEDED
    assert record.events[-1].time - record.events[0].time == pytest.approx(7200.0)


def test_the_real_clock_holds_the_delay() -> None:
    async def fail_once(app: Application, message: Any) -> None:
        if message.attempt == 1:
            raise ValueError("not yet")

    app = Application("svc", callback=fail_once)

    @app.failure_policy
    async def shortly(app: Application, original: Any, message: Any, exc: Exception) -> Any:
        return RetryLater(0.3, 2, exc, first_failure=time.time()) if original.attempt == 1 else None

    report = run_until_drained(app, ["m"], clock="real")
    retried, delivered = report.records[0].events[2:4]
    assert (retried.kind, delivered.kind) == ("retried", "delivered")
    assert delivered.time - retried.time >= 0.3


def test_run_until_drained_restores_the_consumer_and_counts() -> None:
    original = object()
    app = Application("svc", consumer=original, callback=echo)
    report = run_until_drained(app, range(5), num_workers=3)
    assert app.consumer is original
    assert report.count() == {"succeeded": 5}
    assert [r.body for r in report.records] == [0, 1, 2, 3, 4]


async def test_serve_until_drained_takes_a_queue_of_ones_own() -> None:
    queue = MemoryQueue(clock="real")
    queue.put("a", headers={"k": "v"})
    seen: list[Any] = []

    async def callback(app: Application, message: Any) -> None:
        seen.append(message.headers)

    report = await serve_until_drained(Application("svc", callback=callback), queue)
    assert report.queue is queue
    assert seen == [{"k": "v"}]
    with pytest.raises(RuntimeError, match="closed"):
        queue.put("late")


def test_bad_clock() -> None:
    with pytest.raises(ValueError, match="clock must be 'virtual', 'real' or a Clock"):
        MemoryQueue(clock="fast")
    with pytest.raises(ValueError, match="cannot go back"):
        VirtualClock().advance(-1)
