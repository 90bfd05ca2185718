"""The aiormq 6 / aiormq 7 differences, against the real broker, on whichever is installed."""

from __future__ import annotations

import asyncio
from importlib.metadata import version

import aio_pika
import pytest
from aiormq import spec

from doozer.amqp._aiormq_compat import (
    NATIVE_CANCEL_CALLBACKS,
    closed_by_broker_in_handshake,
    on_consumer_cancel,
)

from .support import Broker


def test_native_cancel_callbacks_come_with_aiormq_7() -> None:
    assert (int(version("aiormq").split(".")[0]) >= 7) == NATIVE_CANCEL_CALLBACKS


def test_only_the_brokers_cancel_is_told(broker: Broker) -> None:
    queue = broker.name()
    broker.declare(queue)
    told: list[spec.Basic.Cancel] = []

    async def on_cancel(frame: spec.Basic.Cancel) -> None:
        told.append(frame)

    async def main() -> None:
        connection = await aio_pika.connect(broker.url)
        async with connection:
            channel = await connection.channel()
            underlay = await channel.get_underlay_channel()
            on_consumer_cancel(underlay, on_cancel)

            async def ignore(_message: object) -> None: ...

            # Our own basic_cancel (answered by CancelOk) is not the broker's.
            ours = await underlay.basic_consume(queue, ignore)
            assert ours.consumer_tag is not None
            await underlay.basic_cancel(ours.consumer_tag)
            await asyncio.sleep(0.2)
            assert told == []
            # Deleting the queue makes the broker cancel the consumer.
            theirs = await underlay.basic_consume(queue, ignore)
            other = await connection.channel()
            await other.queue_delete(queue)
            for _ in range(100):
                if told:
                    break
                await asyncio.sleep(0.02)
            assert [frame.consumer_tag for frame in told] == [theirs.consumer_tag]
            assert not underlay.is_closed  # a cancel closes nothing

    asyncio.run(main())


def test_a_callback_error_is_logged_and_leaves_the_channel_open(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    queue = broker.name()
    broker.declare(queue)
    later: list[str] = []

    async def failing(frame: spec.Basic.Cancel) -> None:
        raise RuntimeError("callback bug")

    async def main() -> None:
        connection = await aio_pika.connect(broker.url)
        async with connection:
            channel = await connection.channel()
            underlay = await channel.get_underlay_channel()
            on_consumer_cancel(underlay, failing)

            async def ignore(_message: object) -> None: ...

            await underlay.basic_consume(queue, ignore)
            other = await connection.channel()
            await other.queue_delete(queue)
            await asyncio.sleep(0.3)
            assert not underlay.is_closed
            declared = await channel.declare_queue(queue, durable=True)  # the channel works
            later.append(declared.name)

    asyncio.run(main())
    assert later == [queue]
    assert any("consumer cancel callback" in record.getMessage() for record in caplog.records)


def test_an_unknown_virtual_host_is_a_close_in_the_handshake(broker: Broker) -> None:
    url = broker.url.rstrip("/") + "/doozer-no-such-vhost"

    async def main() -> BaseException:
        try:
            connection = await aio_pika.connect(url, timeout=10)
        except Exception as exc:
            return exc
        await connection.close()
        raise AssertionError("the broker opened a virtual host that does not exist")

    failure = asyncio.run(main())
    assert closed_by_broker_in_handshake(failure), repr(failure)
    assert not closed_by_broker_in_handshake(ConnectionRefusedError(111, "refused"))
