"""One application in the test's loop against the real NATS server: what happens to messages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from doozer import Application
from doozer.nats import JetStream, Message
from doozer.outcomes import RetryLater
from tests.support.faults import FaultProxy

from .support import Streams

Callback = Callable[[Application, Message], Awaitable[Any]]


def make_app(
    streams: Streams, callback: Callback, **settings: Any
) -> tuple[Application, JetStream]:
    app = Application("nats-test", streams.settings(**settings), callback=callback)
    extension = JetStream(app)
    app.consumer = extension.consumer()
    return app, extension


async def until(condition: Callable[[], Any], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not await _value(condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting until {what}")
        await asyncio.sleep(0.05)


async def _value(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value


class Running:
    """``async with Running(app, workers)``: serve in a task, stop and wait on the way out."""

    def __init__(self, app: Application, workers: int = 2) -> None:
        self.app = app
        self.workers = workers
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        self.task = asyncio.get_running_loop().create_task(self.app.serve(self.workers))
        await until(lambda: self.app.consuming or self.task.done(), "the app consumes")  # type: ignore[union-attr]
        if self.task.done():
            await self.task
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.app.stop()
        await asyncio.wait_for(self.task, 20)


async def test_round_trip(streams: Streams) -> None:
    async def shout(app: Application, message: Message) -> list[bytes]:
        return [message.body.upper()]

    app, nats = make_app(streams, shout)
    app.result_postprocessor(nats.publish_result)
    await streams.publish([b"a", b"b", b"c"])
    async with Running(app):
        await until(
            lambda: _count(streams.messages(streams.outbound), 3), "3 results are published"
        )
        info = await streams.consumer()
        await until(lambda: _acked(streams), "every message is acknowledged")
    bodies = sorted(m.data for m in await streams.messages(streams.outbound))
    assert bodies == [b"A", b"B", b"C"]
    assert info.config.ack_wait == 30
    assert nats.consumer().ready is False  # stopped


async def _count(messages: Awaitable[list[Any]], wanted: int) -> bool:
    return len(await messages) >= wanted


async def _acked(streams: Streams) -> bool:
    info = await streams.consumer()
    return bool(info.num_ack_pending == 0 and info.num_pending == 0)


async def test_acknowledged_only_after_processing(streams: Streams) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def hold(app: Application, message: Message) -> None:
        started.set()
        await release.wait()

    app, nats = make_app(streams, hold)
    await streams.publish([b"held"])
    async with Running(app, workers=1):
        await asyncio.wait_for(started.wait(), 10)
        assert nats.consumer().ready
        assert nats.consumer().state == "connected"
        await asyncio.sleep(0.3)  # an early acknowledgement would have arrived by now
        info = await streams.consumer()
        assert info.num_ack_pending == 1, "acknowledged before the callback finished"
        release.set()
        await until(lambda: _acked(streams), "the message is acknowledged")


async def test_failed_message_is_dead_lettered_with_the_reason(streams: Streams) -> None:
    async def fail(app: Application, message: Message) -> None:
        if message.body == b"poison":
            raise ValueError("cannot digest poison")

    app, _ = make_app(streams, fail)
    await streams.publish([b"fine", b"poison", b"fine too"])
    async with Running(app):
        await until(lambda: _count(streams.dead_letters(), 1), "a dead letter")
        await until(lambda: _acked(streams), "every message is settled")
    (dead,) = await streams.dead_letters()
    assert dead.data == b"poison"
    headers = dead.headers
    assert headers["x-doozer-error"] == "ValueError: cannot digest poison"
    assert headers["x-doozer-error-type"] == "builtins.ValueError"
    assert headers["x-doozer-failed-at"].endswith("+00:00")
    assert headers["x-doozer-original-subject"] == streams.inbound


async def test_retry_later_holds_the_delay_on_the_server_not_the_worker(streams: Streams) -> None:
    seen: list[tuple[bytes, int, float]] = []

    async def flaky(app: Application, message: Message) -> None:
        seen.append((message.body, message.attempt, time.monotonic()))
        if message.body == b"flaky" and message.attempt == 1:
            raise ConnectionError("try again")

    async def later(app: Application, original: Any, message: Any, exc: Exception) -> Any:
        return RetryLater(1.5, original.attempt + 1, exc, time.time())

    app, _ = make_app(streams, flaky)
    app.failure_policy(later)
    await streams.publish([b"flaky"])
    async with Running(app, workers=1):
        await until(lambda: len(seen) == 1, "the first attempt")
        await streams.publish([b"next"])
        await until(lambda: len(seen) == 3, "the retry", timeout=10)
    (first, one, t1), (second, _, t2), (third, two, t3) = seen
    assert (first, one) == (b"flaky", 1)
    assert second == b"next"
    assert t2 - t1 < 1.0, "the only worker waited out the delay"
    assert (third, two) == (b"flaky", 2)
    assert t3 - t1 >= 1.4, "redelivered before the delay"


async def test_failing_again_at_max_deliver_is_dead_lettered(streams: Streams) -> None:
    attempts: list[int] = []

    async def always(app: Application, message: Message) -> None:
        attempts.append(message.attempt)
        raise KeyError("still broken")

    async def later(app: Application, original: Any, message: Any, exc: Exception) -> Any:
        return RetryLater(0.1, original.attempt + 1, exc, time.time())

    app, _ = make_app(streams, always, NATS_MAX_DELIVER=3)
    app.failure_policy(later)
    await streams.publish([b"doomed"])
    async with Running(app, workers=1):
        await until(lambda: _count(streams.dead_letters(), 1), "a dead letter")
    assert attempts == [1, 2, 3]
    (dead,) = await streams.dead_letters()
    assert "failed on delivery 3 of NATS_MAX_DELIVER (3)" in dead.headers["x-doozer-error"]
    assert dead.headers["x-doozer-error-type"] == "builtins.KeyError"


async def test_a_long_message_is_kept_alive_past_ack_wait(streams: Streams) -> None:
    calls: list[int] = []

    async def slow(app: Application, message: Message) -> None:
        calls.append(message.deliveries)
        await asyncio.sleep(5)  # 2.5 times ack_wait

    app, _ = make_app(streams, slow, NATS_ACK_WAIT=2)
    await streams.publish([b"long"])
    async with Running(app, workers=1):
        await until(lambda: _acked(streams), "the long message is acknowledged", timeout=20)
    info = await streams.consumer()
    assert calls == [1], "JetStream redelivered a message a worker held"
    assert info.num_redelivered == 0


@pytest.mark.slow
async def test_connection_cut_twice_mid_stream_loses_nothing(streams: Streams) -> None:
    total = 3000
    done: list[bytes] = []

    async def record(app: Application, message: Message) -> None:
        await asyncio.sleep(0.001)
        done.append(message.body)

    await streams.publish([str(n).encode() for n in range(total)])
    with FaultProxy(4222) as proxy:
        app, nats = make_app(
            streams, record, NATS_URL=f"nats://127.0.0.1:{proxy.port}", NATS_ACK_WAIT=3
        )
        async with Running(app, workers=4):
            for cut, after in enumerate((300, 1200)):
                await until(_at_least(done, after), f"{after} messages")
                await asyncio.get_running_loop().run_in_executor(None, proxy.cut)
                await until(_reconnected(nats, cut + 1), "a reconnection")
            await until(lambda: len(set(done)) >= total, "every message", timeout=60)
            await until(lambda: _acked(streams), "every acknowledgement", timeout=20)
            assert nats.consumer().ready
    assert set(done) == {str(n).encode() for n in range(total)}
    assert nats.consumer().reconnects == 2


@pytest.mark.slow
async def test_a_server_that_hangs_mid_stream_is_noticed_and_nothing_is_lost(
    streams: Streams,
) -> None:
    total = 1500
    done: list[bytes] = []

    async def record(app: Application, message: Message) -> None:
        await asyncio.sleep(0.001)
        done.append(message.body)

    await streams.publish([str(n).encode() for n in range(total)])
    loop = asyncio.get_running_loop()
    with FaultProxy(4222) as proxy:
        app, nats = make_app(
            streams, record, NATS_URL=f"nats://127.0.0.1:{proxy.port}", NATS_ACK_WAIT=3
        )
        async with Running(app, workers=4):
            await until(_at_least(done, 300), "300 messages")
            await loop.run_in_executor(None, proxy.freeze)  # open, and silent
            # Unanswered pings: noticed after about PING_INTERVAL * (MAX_PINGS + 1) = 15 s.
            await until(lambda: not nats.consumer().ready, "the hang to be noticed", timeout=40)
            await loop.run_in_executor(None, proxy.thaw)
            await until(_reconnected(nats, 1), "a reconnection", timeout=30)
            await until(lambda: len(set(done)) >= total, "every message", timeout=60)
            await until(lambda: _acked(streams), "every acknowledgement", timeout=20)
            assert nats.consumer().ready
    assert set(done) == {str(n).encode() for n in range(total)}


def _at_least(done: list[bytes], wanted: int) -> Callable[[], bool]:
    return lambda: len(set(done)) >= wanted


def _reconnected(nats: JetStream, times: int) -> Callable[[], bool]:
    return lambda: nats.consumer().reconnects >= times
