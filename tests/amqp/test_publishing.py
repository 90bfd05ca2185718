"""Publishing results, dead letters that cannot be published, and lost read-ahead."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from doozer import Application
from doozer.amqp import AMQP, Message, Result, UnroutableError

from .support import Broker, run_app, stop_soon


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


def test_the_outbound_queue_is_declared_on_an_empty_broker(broker: Broker) -> None:
    # The documentation's example, with nothing declared beforehand.
    out = broker.name(".out")
    broker.queues.add(out)

    async def shout(app: Application, message: Message) -> list[bytes]:
        stop_soon(app)
        return [message.body.upper()]

    app, amqp = make_app(broker, shout, AMQP_OUTBOUND_ROUTING_KEY=out, AMQP_OUTBOUND_QUEUE=out)
    app.result_postprocessor(amqp.publish_result)

    @app.startup
    async def feed(app: Application) -> None:
        await amqp.producer(routing_key=broker.name()).publish(b"hello")

    run_app(app)
    assert [got.body for got in broker.drain(out)] == [b"HELLO"]


def test_the_outbound_queue_is_bound_to_the_outbound_exchange(broker: Broker) -> None:
    exchange, out = broker.name("-results"), broker.name(".out")
    broker.exchanges.add(exchange)
    broker.queues.add(out)
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [b"x"])

    async def process(app: Application, message: Message) -> list[bytes]:
        stop_soon(app)
        return [b"done"]

    app, amqp = make_app(
        broker,
        process,
        AMQP_OUTBOUND_EXCHANGE=exchange,
        AMQP_OUTBOUND_ROUTING_KEY="jobs.done",
        AMQP_OUTBOUND_QUEUE=out,
    )
    app.result_postprocessor(amqp.publish_result)
    run_app(app)
    [got] = broker.drain(out)
    assert (got.body, got.routing_key) == (b"done", "jobs.done")


def test_an_unroutable_result_is_one_line_naming_exchange_and_key(broker: Broker) -> None:
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [b"x"])

    async def process(app: Application, message: Message) -> list[bytes]:
        return [b"lost?"]

    app, amqp = make_app(broker, process, AMQP_OUTBOUND_ROUTING_KEY=broker.name(".nowhere"))
    app.result_postprocessor(amqp.publish_result)
    with pytest.raises(UnroutableError) as caught:
        run_app(app)
    text = str(caught.value)
    assert "\n" not in text
    assert f"exchange '' with routing key '{broker.name('.nowhere')}'" in text
    assert "AMQP_OUTBOUND_QUEUE" in text
    # Unfinished: back in its queue, not lost and not dead-lettered.
    assert [m.body for m in broker.drain(broker.name())] == [b"x"]
    assert broker.drain(broker.name(".dead")) == []


def test_results_carry_properties_and_the_inbound_correlation_id(broker: Broker) -> None:
    out = broker.name(".out")
    broker.declare(out)
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [b"a"], correlation_id="req-1")

    async def process(app: Application, message: Message) -> list[Any]:
        stop_soon(app)
        return [
            b"plain",
            Result(
                '{"ok": true}',
                headers={"kind": "answer"},
                content_type="application/json",
                message_id="m-2",
            ),
            Result(b"own", correlation_id="req-other"),
        ]

    app, amqp = make_app(broker, process, AMQP_OUTBOUND_ROUTING_KEY=out)
    app.result_postprocessor(amqp.publish_result)
    seen: list[Any] = []

    async def collect(channel: Any) -> None:
        queue = await channel.get_queue(out, ensure=False)
        while (message := await queue.get(fail=False)) is not None:
            await message.ack()
            seen.append(message)

    run_app(app)
    broker.run(collect)
    by_body = {m.body: m for m in seen}
    assert set(by_body) == {b"plain", b'{"ok": true}', b"own"}
    assert by_body[b"plain"].correlation_id == "req-1"
    json = by_body[b'{"ok": true}']
    assert (json.correlation_id, json.content_type, json.message_id) == (
        "req-1",
        "application/json",
        "m-2",
    )
    assert json.headers == {"kind": "answer"}
    assert by_body[b"own"].correlation_id == "req-other"


def test_a_dead_letter_that_cannot_be_published_is_rejected(broker: Broker) -> None:
    # The dead-letter queue is gone (deleted by an operator): publishing the
    # dead letter is returned unroutable. The message is rejected instead, so
    # the inbound queue's own dead-letter route takes it, and the app goes on.
    fallback = broker.name(".fallback")
    broker.declare(fallback)
    calls: list[bytes] = []

    async def process(app: Application, message: Message) -> None:
        calls.append(message.body)
        if message.body == b"bad":
            raise ValueError("poison")
        stop_soon(app)

    app, amqp = make_app(
        broker,
        process,
        AMQP_INBOUND_QUEUE_ARGUMENTS={"x-dead-letter-routing-key": fallback},
    )

    @app.startup
    async def sabotage(app: Application) -> None:
        await asyncio.to_thread(delete_queue, broker, broker.name(".dead"))
        await amqp.producer(routing_key=broker.name()).publish(b"bad")
        await amqp.producer(routing_key=broker.name()).publish(b"good")

    run_app(app, workers=1)
    assert calls == [b"bad", b"good"]  # once each: the app did not stop
    [rejected] = broker.drain(fallback)
    assert rejected.body == b"bad"
    assert rejected.headers["x-death"][0]["reason"] == "rejected"
    assert broker.counts(broker.name()) == (0, 0)


def delete_queue(broker: Broker, name: str) -> None:
    async def delete(channel: Any) -> None:
        await channel.queue_delete(name)

    broker.run(delete)


def test_read_ahead_lost_with_the_connection_is_logged_as_returned(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.support.faults import FaultProxy

    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [str(n).encode() for n in range(6)])
    seen: list[tuple[bytes, bool]] = []

    with FaultProxy(5672) as proxy:

        async def process(app: Application, message: Message) -> None:
            seen.append((message.body, message.redelivered))
            if len(seen) == 1:
                await asyncio.to_thread(proxy.cut)
                await asyncio.sleep(0.5)  # the loss is noticed meanwhile
            if len({body for body, _ in seen}) == 6:
                stop_soon(app)

        app, _ = make_app(
            broker,
            process,
            AMQP_URL=f"amqp://guest:guest@127.0.0.1:{proxy.port}/",
            AMQP_PREFETCH_COUNT=6,
            AMQP_RECONNECT_DELAY=0.1,
        )
        with caplog.at_level(logging.INFO, logger=app.name):
            run_app(app, workers=1)
    text = caplog.text
    assert "to the broker unprocessed" in text
    # Only the message in flight could not be acknowledged.
    assert text.count("Could not acknowledge") == 1
    assert sorted({body for body, _ in seen}) == [str(n).encode() for n in range(6)]
    first = seen[0][0]
    assert [flag for body, flag in seen if body == first] == [False, True]
    assert sum(1 for body, _ in seen if body != first) == 5  # the others once each
    assert "guest:guest@" not in text
    assert broker.counts(broker.name()) == (0, 0)


def test_batched_acks_bound_the_duplicates_of_a_cut_connection(broker: Broker) -> None:
    from tests.support.faults import FaultProxy

    broker.declare_inbound(broker.name())
    total, prefetch = 200, 8
    broker.publish(broker.name(), [str(n).encode() for n in range(total)])
    seen: list[tuple[int, bool]] = []

    with FaultProxy(5672) as proxy:

        async def process(app: Application, message: Message) -> None:
            seen.append((int(message.body), message.redelivered))
            if len(seen) == total // 2:
                await asyncio.to_thread(proxy.cut)
            if len({n for n, _ in seen}) == total:
                stop_soon(app)

        app, _ = make_app(
            broker,
            process,
            AMQP_URL=f"amqp://guest:guest@127.0.0.1:{proxy.port}/",
            AMQP_PREFETCH_COUNT=prefetch,
            AMQP_ACK_BATCH_SIZE=32,  # at most prefetch / 2 = 4 are used
            AMQP_ACK_BATCH_INTERVAL=60,  # only full batches: the most owed at a cut
            AMQP_RECONNECT_DELAY=0.1,
        )
        run_app(app, workers=2)
    numbers = [n for n, _ in seen]
    assert set(numbers) == set(range(total))  # none lost
    twice = {n for n in numbers if numbers.count(n) > 1}
    assert len(twice) <= prefetch  # at most the prefetch count per lost connection
    last_of = {n: flag for n, flag in seen}  # the last delivery of each number
    assert all(last_of[n] for n in twice)  # the second one came flagged redelivered
    assert broker.counts(broker.name()) == (0, 0)
