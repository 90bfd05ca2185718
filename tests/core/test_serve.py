"""Embedding: serve() in a running loop, stop() from anywhere, call_later()."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from doozer import Application
from doozer.outcomes import Outcome
from doozer.testing import MemoryQueue

from .support import QueueConsumer, echo


async def test_serve_runs_in_the_running_loop_until_stopped() -> None:
    consumer = QueueConsumer()
    done: list[Any] = []

    async def callback(app: Application, message: Any) -> None:
        done.append(message)
        if message == "last":
            app.stop()

    app = Application("svc", consumer=consumer, callback=callback)
    for message in ("a", "b", "last"):
        consumer.queue.put_nowait(message)
    assert not app.running
    await app.serve(num_workers=2)
    assert sorted(done) == ["a", "b", "last"]
    assert not app.running


async def test_state_while_running() -> None:
    consumer = QueueConsumer()
    app = Application("svc", consumer=consumer, callback=echo)
    states: list[tuple[bool, bool, bool]] = []

    @app.startup
    async def at_startup(app: Application) -> None:
        states.append((app.running, app.consuming, app.stopping))

    @app.teardown
    async def at_teardown(app: Application) -> None:
        states.append((app.running, app.consuming, app.stopping))

    task = asyncio.ensure_future(app.serve())
    await asyncio.sleep(0.05)
    states.append((app.running, app.consuming, app.stopping))
    app.stop()
    await task
    assert states == [(True, False, False), (True, True, False), (True, False, True)]


async def test_stop_when_not_running_does_nothing() -> None:
    Application("svc").stop()


async def test_run_forever_inside_a_running_loop_points_to_serve() -> None:
    app = Application("svc", consumer=QueueConsumer(), callback=echo)
    with pytest.raises(RuntimeError, match=r"running event loop: use 'await app.serve\(\)'"):
        app.run_forever()


async def test_serving_twice_at_once_is_refused() -> None:
    app = Application("svc", consumer=QueueConsumer(), callback=echo)
    task = asyncio.ensure_future(app.serve())
    await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError, match="is running already"):
        await app.serve()
    app.stop()
    await task


async def test_cancelling_serve_is_a_forced_stop_that_still_tears_down() -> None:
    app = Application("svc", consumer=QueueConsumer(), callback=echo)
    torn_down: list[bool] = []

    @app.teardown
    async def teardown(app: Application) -> None:
        torn_down.append(True)

    task = asyncio.ensure_future(app.serve())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert torn_down == [True]


class TestCallLater:
    async def test_runs_after_the_delay_and_the_app_waits_for_it(self) -> None:
        ran: list[float] = []
        queue = MemoryQueue([1], close=True)

        async def later(started: float) -> None:
            ran.append(time.monotonic() - started)

        async def callback(app: Application, message: Any) -> None:
            app.call_later(0.2, later, time.monotonic())

        app = Application("svc", consumer=queue, callback=callback)
        await app.serve()
        assert len(ran) == 1
        assert ran[0] >= 0.2

    async def test_a_stop_runs_pending_calls_at_once(self) -> None:
        ran: list[str] = []

        async def later(what: str) -> None:
            ran.append(what)

        async def callback(app: Application, message: Any) -> None:
            app.call_later(45, later, message)
            app.stop()

        consumer = QueueConsumer()
        consumer.queue.put_nowait("retry me")
        app = Application("svc", consumer=consumer, callback=callback)
        started = time.monotonic()
        await app.serve()
        assert ran == ["retry me"]
        assert time.monotonic() - started < 5

    async def test_an_exception_in_a_later_call_stops_the_application(self) -> None:
        async def later() -> None:
            raise LookupError("later")

        async def callback(app: Application, message: Any) -> None:
            app.call_later(0, later)

        consumer = QueueConsumer()
        consumer.queue.put_nowait("x")
        app = Application("svc", consumer=consumer, callback=callback)
        with pytest.raises(LookupError, match="later"):
            await app.serve()

    def test_needs_a_running_application(self) -> None:
        async def later() -> None: ...

        with pytest.raises(RuntimeError, match="not running"):
            Application("svc").call_later(1, later)

    def test_needs_an_async_callable(self) -> None:
        with pytest.raises(TypeError, match="call_later callback"):
            Application("svc").call_later(1, print)


async def test_start_and_stop_are_logged_with_counts(caplog: pytest.LogCaptureFixture) -> None:
    async def callback(app: Application, message: Any) -> None:
        if message.body == "bad":
            raise ValueError(message.body)

    app = Application("svc", consumer=MemoryQueue(["a", "bad", "b"], close=True), callback=callback)
    outcomes: list[Outcome] = []

    @app.message_outcome
    async def record(app: Application, message: Any, outcome: Outcome) -> None:
        outcomes.append(outcome)

    with caplog.at_level("INFO", logger="svc"):
        await app.serve(num_workers=3)
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        m.startswith("Started 'svc' with 3 worker(s), consuming from <MemoryQueue")
        for m in messages
    )
    assert (
        "Stopped 'svc' after 3 message(s) (1 failed, 2 succeeded): the consumer ended consumption"
        in messages
    )
