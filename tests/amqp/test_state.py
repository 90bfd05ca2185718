"""What the consumer tells health probes: ready, state, reconnects, destination.

The connection is cut through a fault proxy the test owns; the broker
cancels the consumer when the test deletes its own queue.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Callable

import aio_pika

from doozer import Application
from doozer.amqp import AMQP, Consumer, Message
from tests.support.faults import FaultProxy

from .support import Broker


def make_app(broker: Broker, url: str, seen: list[bytes]) -> tuple[Application, Consumer]:
    async def process(app: Application, message: Message) -> None:
        seen.append(message.body)

    app = Application(
        broker.name("-app"),
        {
            "AMQP_URL": url,
            "AMQP_INBOUND_QUEUE": broker.name(),
            "AMQP_RECONNECT_DELAY": 0.1,
            "AMQP_RECONNECT_MAX_DELAY": 0.5,
        },
        callback=process,
    )
    broker.queues.update((broker.name(), broker.name(".dead")))
    amqp = AMQP(app)
    consumer = amqp.consumer()
    app.consumer = consumer
    return app, consumer


async def until(predicate: Callable[[], bool], what: str, timeout: float = 20) -> None:
    """Wait until *predicate()* holds, looking every 10 ms; fail after *timeout* seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.01)


def proxied(url: str, port: int) -> str:
    parts = urllib.parse.urlsplit(url)
    login = parts.netloc.rpartition("@")[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{login}@127.0.0.1:{port}"))


def test_ready_and_state_across_a_cut_connection(broker: Broker) -> None:
    upstream = urllib.parse.urlsplit(broker.url)
    seen: list[bytes] = []
    with FaultProxy(upstream.port or 5672, upstream.hostname or "127.0.0.1") as proxy:
        url = proxied(broker.url, proxy.port)
        app, consumer = make_app(broker, url, seen)
        password = urllib.parse.urlsplit(url).password
        assert password
        assert repr(consumer) == f"<Consumer queue={broker.name()!r}>"
        assert consumer.destination == broker.name()
        assert (consumer.ready, consumer.state, consumer.reconnects) == (False, "not started", 0)

        async def main() -> None:
            serving = asyncio.create_task(app.serve(num_workers=2))
            try:
                await until(lambda: consumer.ready, "the consumer is ready")
                assert (consumer.state, consumer.reconnects) == ("consuming", 0)

                proxy.refuse(1.0)  # cut the connection; refuse new ones for a second
                await until(lambda: not consumer.ready, "the cut is noticed")
                state = consumer.state
                assert state.startswith("reconnecting: "), state
                assert f":{password}@" not in state

                await until(lambda: consumer.ready, "the consumer is ready again")
                assert (consumer.state, consumer.reconnects) == ("consuming", 1)
                # Ready means consuming: a message published now is processed.
                connection = await aio_pika.connect(broker.url)
                async with connection:
                    channel = await connection.channel()
                    await channel.default_exchange.publish(
                        aio_pika.Message(b"after the cut"), routing_key=broker.name()
                    )
                await until(lambda: seen == [b"after the cut"], "the message is processed")
            finally:
                app.stop()
                await serving
            assert not consumer.ready
            assert consumer.state == "closed"

        asyncio.run(main())


class Snapshots(logging.Handler):
    """Records (ready, state) of the consumer whenever a matching line is logged."""

    def __init__(self, consumer: Consumer, *starts: str) -> None:
        super().__init__()
        self.consumer = consumer
        self.starts = starts
        self.taken: dict[str, tuple[bool, str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        for start in self.starts:
            if str(record.msg).startswith(start):
                self.taken[start] = (self.consumer.ready, self.consumer.state)


def test_a_broker_cancel_is_not_ready_until_consuming_again(broker: Broker) -> None:
    seen: list[bytes] = []
    app, consumer = make_app(broker, broker.url, seen)
    cancelled, again = "The broker cancelled consuming", "Consuming from queue"
    snapshots = Snapshots(consumer, cancelled, again)

    async def main() -> None:
        app.logger.addHandler(snapshots)
        serving = asyncio.create_task(app.serve(num_workers=2))
        try:
            await until(lambda: consumer.ready, "the consumer is ready")
            connection = await aio_pika.connect(broker.url)
            async with connection:
                channel = await connection.channel()
                await channel.queue_delete(broker.name())
                await until(lambda: again in snapshots.taken, "consuming again")
                await until(lambda: consumer.ready, "the consumer is ready again")
                await channel.default_exchange.publish(
                    aio_pika.Message(b"after the cancel"), routing_key=broker.name()
                )
            await until(lambda: seen == [b"after the cancel"], "the message is processed")
        finally:
            app.logger.removeHandler(snapshots)
            app.stop()
            await serving

    asyncio.run(main())
    ready, state = snapshots.taken[cancelled]
    assert not ready
    assert state.startswith("consumer cancelled by the broker"), state
    assert snapshots.taken[again] == (True, "consuming")
    assert consumer.reconnects == 0  # the connection stayed up


def test_states_before_and_after_a_run(broker: Broker) -> None:
    app, consumer = make_app(broker, broker.url, [])
    states: list[tuple[bool, str]] = []

    @app.startup
    async def started(app: Application) -> None:  # after AMQP's startup (order -1000)
        states.append((consumer.ready, consumer.state))
        app.stop()

    async def main() -> None:
        await app.serve(num_workers=1)

    asyncio.run(main())
    assert states == [(True, "consuming")]
    assert (consumer.ready, consumer.state) == (False, "closed")
