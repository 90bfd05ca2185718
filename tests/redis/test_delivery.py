"""One application in this process against the real Redis: how entries are settled."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from doozer import Application
from doozer import headers as names
from doozer.outcomes import Outcome, RetryLater
from doozer.redis import Message, RedisStreams

from .support import Streams


def make_app(streams: Streams, callback: Any, **settings: Any) -> tuple[Application, RedisStreams]:
    app = Application(
        "redis-test",
        {
            "REDIS_URL": streams.url,
            "REDIS_INBOUND_STREAM": streams.inbound,
            "REDIS_OUTBOUND_STREAM": streams.outbound,
            "REDIS_CLAIM_IDLE": 5,
            **settings,
        },
        callback=callback,
    )
    redis = RedisStreams(app)
    app.consumer = redis.consumer()
    return app, redis


async def serve_until(app: Application, done: asyncio.Event, workers: int = 2) -> None:
    async def stop_when_done() -> None:
        await done.wait()
        app.stop()

    stopper = asyncio.create_task(stop_when_done())
    try:
        await asyncio.wait_for(app.serve(workers), 30)
    finally:
        stopper.cancel()


async def test_round_trip(streams: Streams) -> None:
    streams.add([b"a", b"b", b"c"])
    done = asyncio.Event()
    seen: list[Message] = []

    async def shout(app: Application, message: Message) -> list[bytes]:
        seen.append(message)
        if len(seen) == 3:
            done.set()
        assert message.body is not None
        return [message.body.upper()]

    app, redis = make_app(streams, shout)
    app.result_postprocessor(redis.publish_result)
    await serve_until(app, done)
    assert sorted(streams.bodies(streams.outbound)) == [b"A", b"B", b"C"]
    first = seen[0]
    assert first.stream == streams.inbound
    assert first.fields == {b"body": first.body}
    assert first.deliveries == 1
    assert first.attempt == 1
    assert not first.redelivered
    assert streams.pending("redis-test") == 0  # all acknowledged


async def test_results_trim_the_outbound_stream_to_about_redis_maxlen(streams: Streams) -> None:
    streams.add([str(n).encode() for n in range(100)])
    done = asyncio.Event()
    handled = 0

    async def fan_out(app: Application, message: Message) -> list[bytes]:
        nonlocal handled
        handled += 1
        if handled == 100:
            done.set()
        assert message.body is not None
        return [message.body + b"-" + str(part).encode() for part in range(10)]

    app, redis = make_app(streams, fan_out, REDIS_MAXLEN=50)
    app.result_postprocessor(redis.publish_result)
    await serve_until(app, done, workers=1)
    kept = streams.bodies(streams.outbound)
    # MAXLEN ~ trims whole nodes of the stream (100 entries each by default):
    # about 50 are kept, never fewer, and the newest are those kept.
    assert 50 <= len(kept) < 50 + 100 < 1000
    assert kept[-1] == b"99-9"
    assert kept == [f"{n // 10}-{n % 10}".encode() for n in range(1000 - len(kept), 1000)]


async def test_acknowledged_only_after_processing(streams: Streams) -> None:
    streams.add([b"slow"])
    done = asyncio.Event()
    pending_during: list[int] = []

    async def slow(app: Application, message: Message) -> None:
        pending_during.append(streams.pending("redis-test"))
        done.set()

    app, _ = make_app(streams, slow)
    outcomes: list[str] = []

    @app.message_outcome
    async def record(app: Application, message: Any, outcome: Outcome) -> None:
        outcomes.append(outcome.name)

    await serve_until(app, done)
    assert pending_during == [1]
    assert outcomes == ["succeeded"]
    assert streams.pending("redis-test") == 0


async def test_failed_entry_is_dead_lettered_with_the_reason(streams: Streams) -> None:
    streams.add([b"good", b"bad"])
    done = asyncio.Event()
    count = 0

    async def picky(app: Application, message: Message) -> None:
        nonlocal count
        count += 1
        if count == 2:
            done.set()
        if message.body == b"bad":
            raise ValueError("no bad bodies here")

    app, _ = make_app(streams, picky)
    errors: list[Exception] = []

    @app.error
    async def on_error(app: Application, message: Any, exc: Exception) -> None:
        errors.append(exc)

    await serve_until(app, done)
    dead = streams.entries(streams.dead)
    assert len(dead) == 1
    fields = dead[0][1]
    assert fields[b"body"] == b"bad"
    assert fields[names.ERROR.encode()] == b"ValueError: no bad bodies here"
    assert fields[names.ERROR_TYPE.encode()] == b"builtins.ValueError"
    assert fields[names.FAILED_AT.encode()].startswith(b"20")
    assert fields[b"x-doozer-original-stream"] == streams.inbound.encode()
    assert len(errors) == 1
    assert streams.pending("redis-test") == 0


async def test_delayed_retry_holds_the_delay_not_a_worker(streams: Streams) -> None:
    streams.add([b"flaky"])
    done = asyncio.Event()
    attempts: list[tuple[int, float, float | None]] = []
    others: list[float] = []
    delay = 1.0

    async def callback(app: Application, message: Message) -> None:
        if message.body == b"flaky":
            attempts.append((message.attempt, time.monotonic(), message.first_failure))
            if message.attempt == 1:
                # While it waits, the only worker processes other entries.
                streams.add([b"other-1", b"other-2"])
                raise ConnectionError("try again")
            done.set()
        else:
            others.append(time.monotonic())

    async def retry(app: Application, original: Any, message: Any, exc: Exception) -> Outcome:
        return RetryLater(delay, original.attempt + 1, exc, time.time())

    app, _ = make_app(streams, callback)
    app.failure_policy(retry)
    await serve_until(app, done, workers=1)
    (first, at1, ff1), (second, at2, ff2) = attempts
    assert (first, second) == (1, 2)
    assert ff1 is None
    assert ff2 is not None
    assert at2 - at1 >= delay * 0.9  # the server held it (its clock, to the ms)
    assert len(others) == 2
    assert all(at1 < t < at2 for t in others)
    assert streams.client.zcard(streams.retry) == 0
    assert streams.pending("redis-test") == 0


async def test_stop_hands_back_read_ahead_entries_without_counting_them(streams: Streams) -> None:
    streams.add([str(n).encode() for n in range(20)])
    done = asyncio.Event()
    processed: list[bytes] = []

    async def first_only(app: Application, message: Message) -> None:
        assert message.body is not None
        processed.append(message.body)
        done.set()

    app, _ = make_app(streams, first_only, REDIS_BATCH=10, REDIS_CONSUMER="first")
    await serve_until(app, done, workers=1)
    # The rest of the batch read ahead is back, claimable now, not counted.
    pending = streams.client.xpending_range(streams.inbound, "redis-test", "-", "+", 100)
    assert len(pending) + len(processed) == 10
    assert all(row["times_delivered"] == 0 for row in pending)
    assert all(row["time_since_delivered"] > 10_000_000 for row in pending)

    rest: list[bytes] = []
    done2 = asyncio.Event()

    async def collect(app: Application, message: Message) -> None:
        assert message.body is not None
        rest.append(message.body)
        if len(rest) + len(processed) == 20:
            done2.set()

    app2, _ = make_app(streams, collect, REDIS_CONSUMER="second")
    started = time.monotonic()
    await serve_until(app2, done2)
    assert time.monotonic() - started < 5  # claimed at once, not after REDIS_CLAIM_IDLE
    assert sorted(processed + rest, key=int) == [str(n).encode() for n in range(20)]


def test_bad_url_is_one_line_at_init_app() -> None:
    app = Application("bad", {"REDIS_URL": "redis://user:hunter2@localhost:notaport/0"})
    with pytest.raises(ValueError, match="REDIS_URL") as caught:
        RedisStreams(app)
    message = str(caught.value)
    assert "\n" not in message
    assert "REDIS_URL" in message
    assert "hunter2" not in message
    assert "***" in message


@pytest.mark.parametrize(
    "url", ["http://localhost:6379", "localhost:6379", "redis://:pw@/0", "redis://h:1/x"]
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="REDIS_URL"):
        RedisStreams(Application("bad", {"REDIS_URL": url}))


async def test_unreachable_server_is_one_line_naming_the_masked_url() -> None:
    app = Application(
        "gone",
        {
            "REDIS_URL": "redis://user:hunter2@127.0.0.1:1/0",
            "REDIS_INBOUND_STREAM": "nowhere",
            "REDIS_CONNECT_TIMEOUT": 0.3,
            "REDIS_RECONNECT_DELAY": 0.1,
        },
    )
    redis = RedisStreams(app)
    with pytest.raises(ConnectionError) as caught:
        await redis.connection.open()
    message = str(caught.value)
    assert "\n" not in message
    assert "redis://user:***@127.0.0.1:1/0" in message
    assert "REDIS_CONNECT_TIMEOUT" in message
    assert "hunter2" not in message


def test_reprs_hide_the_password(streams: Streams) -> None:
    url = "redis://user:hunter2@127.0.0.1:6379/0"
    app = Application("masked", {"REDIS_URL": url, "REDIS_INBOUND_STREAM": streams.inbound})
    redis = RedisStreams(app)
    shown = " ".join(
        [
            repr(redis.consumer()),
            repr(redis.connection),
            repr(redis.producer("x")),
            repr(app.settings),
        ]
    )
    assert "hunter2" not in shown
    assert "***" in shown


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="REDIS_MAX_DELIVERIES"):
        RedisStreams(Application("a", {"REDIS_MAX_DELIVERIES": 0}))
    with pytest.raises(ValueError, match="REDIS_CLAIM_IDLE"):
        RedisStreams(Application("a", {"REDIS_CLAIM_IDLE": "soon"}))
    with pytest.raises(TypeError, match="REDIS_INBOUND_STREAM"):
        RedisStreams(Application("a", {"REDIS_INBOUND_STREAM": 3}))
    with pytest.raises(KeyError, match="REDIS_INBOUND_STREAM"):
        RedisStreams(Application("a")).consumer()
