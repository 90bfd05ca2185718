"""The consumer on its own: cancellation safety and handing messages back."""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import pytest

from doozer import Application
from doozer.amqp import AMQP, Message

from .support import Broker


def open_app(broker: Broker, **settings: Any) -> tuple[Application, AMQP]:
    async def process(app: Application, message: Message) -> None: ...

    app = Application(
        broker.name("-app"),
        {"AMQP_URL": broker.url, "AMQP_INBOUND_QUEUE": broker.name(), **settings},
        callback=process,
    )
    amqp = AMQP(app)
    app.consumer = amqp.consumer()
    return app, amqp


async def start(app: Application) -> None:
    """Run the startup callbacks (AMQP's opens the connection), as serve() does."""
    for startup in app.callbacks.startup:
        await startup(app)


async def stop(app: Application) -> None:
    """Run the teardown callbacks (AMQP's closes the connection)."""
    for teardown in app.callbacks.teardown:
        await teardown(app)


async def ready(broker: Broker) -> int:
    connection = await aio_pika.connect(broker.url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(broker.name(), passive=True)
        return queue.declaration_result.message_count or 0
    finally:
        await connection.close()


def test_a_cancelled_read_takes_nothing_and_pauses(broker: Broker) -> None:
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [b"a"])
    app, amqp = open_app(broker, AMQP_PREFETCH_COUNT=10)
    consumer = amqp.consumer()

    async def main() -> None:
        await start(app)
        try:
            first = await consumer.read()
            assert first.body == b"a"
            await first.ack()
            waiting = asyncio.create_task(consumer.read())
            await asyncio.sleep(0.1)
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            await amqp.producer(routing_key=broker.name()).publish(b"b")
            await asyncio.sleep(0.3)
            assert await ready(broker) == 1  # paused: the broker kept it
            second = await asyncio.wait_for(consumer.read(), 5)  # resumes
            assert second.body == b"b"
            await second.ack()
        finally:
            await stop(app)

    asyncio.run(main())
    assert broker.counts(broker.name()) == (0, 0)


def test_unread_messages_go_back_when_closing(broker: Broker) -> None:
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [str(n).encode() for n in range(8)])
    app, amqp = open_app(broker, AMQP_PREFETCH_COUNT=5)
    consumer = amqp.consumer()

    async def main() -> list[int]:
        await start(app)
        try:
            message = await consumer.read()
            await message.ack()
            await asyncio.sleep(0.2)
            held = consumer.pending
            await consumer.close()
            return [held, await ready(broker)]
        finally:
            await stop(app)

    held, returned = asyncio.run(main())
    assert held == 5  # the prefetch count (the one read was acknowledged)
    assert returned == 7
    got = broker.drain(broker.name())
    assert sorted(int(m.body) for m in got) == list(range(1, 8))


def test_settling_a_message_twice_is_refused(broker: Broker) -> None:
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [b"once"])
    app, amqp = open_app(broker)

    async def main() -> None:
        await start(app)
        try:
            message = await amqp.consumer().read()
            await message.nack(requeue=True)
            assert message.settled
            with pytest.raises(RuntimeError, match="settled already"):
                await message.ack()
        finally:
            await stop(app)

    asyncio.run(main())
    assert [m.body for m in broker.drain(broker.name())] == [b"once"]
