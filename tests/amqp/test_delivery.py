"""Consuming, acknowledging, dead-lettering and retrying, in this process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from doozer import Abort, Application
from doozer.amqp import (
    AMQP,
    ATTEMPT_HEADER,
    ERROR_HEADER,
    ERROR_TYPE_HEADER,
    FAILED_AT_HEADER,
    FIRST_FAILURE_HEADER,
    ORIGINAL_ROUTING_KEY_HEADER,
    RETRY_HEADER,
    Message,
)
from doozer.contrib.retry import Retry, RetryableException

from .support import Broker, run_app, stop_soon, unacknowledged


def make_app(broker: Broker, callback: Any, **settings: Any) -> tuple[Application, AMQP]:
    app = Application(
        broker.name("-app"),
        {
            "AMQP_URL": broker.url,
            "AMQP_INBOUND_QUEUE": broker.name(),
            "AMQP_PREFETCH_COUNT": 4,
            **settings,
        },
        callback=callback,
    )
    broker.queues.update((broker.name(), broker.name(".dead")))
    amqp = AMQP(app)
    app.consumer = amqp.consumer()
    return app, amqp


def test_round_trip(broker: Broker) -> None:
    out = broker.name(".out")
    broker.declare(out)
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [b"one", b"two", b"three"], {"lang": "en"}, message_id="m")
    seen: list[Message] = []

    async def shout(app: Application, message: Message) -> list[bytes]:
        seen.append(message)
        if len(seen) == 3:
            stop_soon(app)
        return [message.body.upper()]

    app, amqp = make_app(broker, shout, AMQP_OUTBOUND_ROUTING_KEY=out)
    app.result_postprocessor(amqp.publish_result)
    run_app(app)

    assert sorted(m.body for m in seen) == [b"one", b"three", b"two"]
    first = seen[0]
    assert first.headers == {"lang": "en"}
    assert first.routing_key == broker.name()
    assert first.message_id == "m"
    assert not first.redelivered
    assert all(m.settled for m in seen)
    assert sorted(got.body for got in broker.drain(out)) == [b"ONE", b"THREE", b"TWO"]
    assert broker.counts(broker.name()) == (0, 0)  # all acknowledged, consumer gone
    assert broker.drain(broker.name(".dead")) == []


def test_a_message_is_unacknowledged_while_processed(broker: Broker) -> None:
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [b"slow"])
    during: list[int] = []

    async def process(app: Application, message: Message) -> None:
        during.append(await asyncio.to_thread(unacknowledged, broker.name()))
        stop_soon(app)

    app, _ = make_app(broker, process)
    run_app(app, timeout=60)
    assert during == [1]
    assert unacknowledged(broker.name()) == 0
    assert broker.counts(broker.name()) == (0, 0)


def test_an_aborted_message_is_acknowledged(broker: Broker) -> None:
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [b"ignore me"])

    async def process(app: Application, message: Message) -> None:
        stop_soon(app)
        raise Abort("message.ignored", message)

    app, _ = make_app(broker, process)
    run_app(app)
    assert broker.counts(broker.name()) == (0, 0)
    assert broker.drain(broker.name(".dead")) == []


def test_an_unfinished_message_goes_back_to_the_queue(broker: Broker) -> None:
    # An exception in a result postprocessor stops the application and the
    # message is never acknowledged: the broker keeps it.
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [b"doomed"])

    async def process(app: Application, message: Message) -> list[bytes]:
        return [message.body]

    app, _ = make_app(broker, process)

    @app.result_postprocessor
    async def explode(app: Application, result: bytes) -> bytes:
        raise RuntimeError("the output is down")

    with pytest.raises(RuntimeError, match="the output is down"):
        run_app(app)
    got = broker.drain(broker.name())
    assert [(m.body, m.redelivered) for m in got] == [(b"doomed", True)]
    assert broker.drain(broker.name(".dead")) == []


def test_a_failed_message_is_dead_lettered_with_the_reason(broker: Broker) -> None:
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [b"1", b"2", b"3"], {"trace": "abc"})
    calls: list[bytes] = []

    async def process(app: Application, message: Message) -> None:
        calls.append(message.body)
        if len(calls) == 3:
            stop_soon(app)
        if message.body == b"2":
            raise ValueError("two is not allowed")

    app, _ = make_app(broker, process)
    run_app(app)
    assert sorted(calls) == [b"1", b"2", b"3"]  # processed once: no poison loop
    assert broker.counts(broker.name()) == (0, 0)
    [dead] = broker.drain(broker.name(".dead"))
    assert dead.body == b"2"
    assert dead.headers["trace"] == "abc"
    assert dead.headers[ERROR_HEADER] == "ValueError: two is not allowed"
    assert dead.headers[ERROR_TYPE_HEADER] == "builtins.ValueError"
    assert dead.headers[ORIGINAL_ROUTING_KEY_HEADER] == broker.name()
    assert FAILED_AT_HEADER in dead.headers


def test_failures_are_found_behind_a_replacing_preprocessor(broker: Broker) -> None:
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [b"x"])

    async def process(app: Application, message: dict[str, Any]) -> None:
        stop_soon(app)
        raise KeyError(message["text"])

    app, _ = make_app(broker, process)

    @app.message_preprocessor
    async def decode(app: Application, message: Message) -> dict[str, Any]:
        return {"text": message.body.decode()}

    run_app(app)
    [dead] = broker.drain(broker.name(".dead"))
    assert dead.headers[ERROR_HEADER] == "KeyError: 'x'"


def test_rejected_messages_are_dead_lettered_by_the_broker(broker: Broker) -> None:
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [b"bad"])

    async def process(app: Application, message: Message) -> None:
        await message.reject()
        stop_soon(app)

    app, _ = make_app(broker, process)
    run_app(app)
    [dead] = broker.drain(broker.name(".dead"))
    assert dead.body == b"bad"
    assert dead.headers["x-death"][0]["reason"] == "rejected"


def test_retry_state_travels_in_headers(broker: Broker) -> None:
    broker.declare_inbound(broker.name())
    broker.queues.update(broker.name(f".delay.{ms}") for ms in (200, 400))
    broker.publish(broker.name(), [b"flaky"], {"trace": "abc"})
    deliveries: list[tuple[float, int, float | None, dict[str, Any]]] = []

    async def process(app: Application, message: Message) -> None:
        deliveries.append(
            (time.monotonic(), message.attempt, message.first_failure, dict(message.headers))
        )
        if len(deliveries) == 3:
            stop_soon(app)
        raise RetryableException("not yet")

    app, amqp = make_app(broker, process)
    Retry(app, callback=amqp.republish, threshold=2, delay=0.2, backoff=2)
    run_app(app)

    attempts = [attempt for _, attempt, _, _ in deliveries]
    assert attempts == [1, 2, 3]
    first_failures = [first for _, _, first, _ in deliveries]
    assert first_failures[0] is None
    assert first_failures[1] == first_failures[2]
    assert first_failures[1] is not None
    assert abs(first_failures[1] - time.time()) < 30
    headers = deliveries[2][3]
    assert headers["trace"] == "abc"
    assert headers[ATTEMPT_HEADER] == "3"
    assert float(headers[FIRST_FAILURE_HEADER]) == first_failures[1]
    assert RETRY_HEADER not in headers  # no longer written
    times = [when for when, _, _, _ in deliveries]
    assert times[1] - times[0] >= 0.2
    assert times[2] - times[1] >= 0.4
    # Retries exhausted: the third failure is dead-lettered, with the attempt.
    [dead] = broker.drain(broker.name(".dead"))
    assert dead.headers[ERROR_HEADER] == "RetryableException: not yet"
    assert dead.headers[ATTEMPT_HEADER] == "3"
    assert broker.counts(broker.name()) == (0, 0)


def test_retry_through_a_replacing_preprocessor(broker: Broker) -> None:
    # Retry reads the attempt from the delivery, whatever the preprocessors
    # made of it: the payload carries no retry state.
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [b"7"])
    seen: list[dict[str, Any]] = []

    async def process(app: Application, message: dict[str, Any]) -> None:
        seen.append(message)
        if len(seen) == 2:
            stop_soon(app)
            return
        raise RetryableException("again")

    app, _ = make_app(broker, process)

    @app.message_preprocessor
    async def decode(app: Application, message: Message) -> dict[str, Any]:
        return {"number": int(message.body), "attempt": message.attempt}

    Retry(app, threshold=3)
    run_app(app)
    assert seen == [{"number": 7, "attempt": 1}, {"number": 7, "attempt": 2}]
    assert broker.counts(broker.name()) == (0, 0)
    assert broker.drain(broker.name(".dead")) == []


def test_inbound_exchange_bindings(broker: Broker) -> None:
    exchange = broker.name("-events")
    broker.exchanges.add(exchange)
    received: list[str | None] = []

    async def process(app: Application, message: Message) -> None:
        received.append(message.routing_key)
        if len(received) == 2:
            stop_soon(app)

    app, amqp = make_app(
        broker,
        process,
        AMQP_INBOUND_EXCHANGE=exchange,
        AMQP_INBOUND_ROUTING_KEYS=["order.*", "invoice.paid"],
    )

    @app.startup
    async def publish(app: Application) -> None:
        producer = amqp.producer(exchange=exchange)
        for key in ("order.new", "invoice.sent", "invoice.paid"):
            await producer.publish(b"event", routing_key=key, mandatory=False)

    run_app(app)
    assert sorted(key or "" for key in received) == ["invoice.paid", "order.new"]


def test_an_unreachable_broker_fails_at_startup(broker: Broker) -> None:
    async def process(app: Application, message: Message) -> None: ...

    app, _ = make_app(
        broker, process, AMQP_URL="amqp://guest:guest@127.0.0.1:1/", AMQP_CONNECT_TIMEOUT=0
    )
    with pytest.raises(ConnectionError, match="cannot connect to the AMQP broker"):
        run_app(app)
