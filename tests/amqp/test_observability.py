"""What tracing builds on: messages' OpenTelemetry attributes, and publish wrappers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import pytest

from doozer import Application
from doozer.amqp import AMQP, ERROR_HEADER, Message, Producer, UnroutableError
from doozer.outcomes import RetryLater

from .support import Broker, run_app, stop_soon

SERVER = {"messaging.system": "rabbitmq", "server.address": "127.0.0.1", "server.port": 5672}


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


def test_messaging_attributes_follow_the_conventions(broker: Broker) -> None:
    queue, exchange = broker.name(), broker.name("-events")
    broker.exchanges.add(exchange)
    seen: dict[bytes, dict[str, Any]] = {}

    async def process(app: Application, message: Message) -> None:
        attributes = message.messaging_attributes
        assert message.messaging_attributes is attributes  # made once
        seen[message.body] = dict(attributes)
        if len(seen) == 2:
            stop_soon(app)

    app, amqp = make_app(
        broker, process, AMQP_INBOUND_EXCHANGE=exchange, AMQP_INBOUND_ROUTING_KEYS=["order.*"]
    )

    @app.startup
    async def publish(app: Application) -> None:
        await amqp.producer(exchange=exchange).publish(
            b"routed", "order.new", message_id="m-1", correlation_id="c-1"
        )
        await amqp.producer().publish(b"direct", queue)

    run_app(app)
    routed, direct = seen[b"routed"], seen[b"direct"]
    assert isinstance(routed.pop("messaging.rabbitmq.message.delivery_tag"), int)
    assert routed == {
        **SERVER,
        # exchange:routing key:queue, as consumers name a destination.
        "messaging.destination.name": f"{exchange}:order.new:{queue}",
        "messaging.rabbitmq.destination.routing_key": "order.new",
        "messaging.message.id": "m-1",
        "messaging.message.conversation_id": "c-1",
    }
    assert isinstance(direct.pop("messaging.rabbitmq.message.delivery_tag"), int)
    assert len(str(direct.pop("messaging.message.id"))) == 32  # aiormq makes one up
    assert direct == {
        **SERVER,
        # The default exchange ("") is left out; the routing key is the queue's name.
        "messaging.destination.name": queue,
        "messaging.rabbitmq.destination.routing_key": queue,
    }


class Recorder:
    """A publish wrapper: records each destination and adds a header."""

    def __init__(self) -> None:
        self.destinations: list[str] = []

    async def __call__(
        self,
        app: Application,
        destination: str,
        headers: MutableMapping[str, Any],
        publish: Callable[[], Awaitable[Any]],
    ) -> Any:
        self.destinations.append(destination)
        headers["x-wrapped"] = destination
        return await publish()


def test_results_dead_letters_and_retries_go_through_the_publish_wrappers(
    broker: Broker,
) -> None:
    queue, out = broker.name(), broker.name(".out")
    delay_queue = broker.name(".delay.50")
    broker.declare_inbound(queue)
    broker.declare(out)
    broker.queues.add(delay_queue)
    broker.publish(queue, [b"ok", b"bad", b"again"])
    finished: set[bytes] = set()

    async def process(app: Application, message: Message) -> list[bytes]:
        if message.body == b"bad":
            finished.add(message.body)
            raise ValueError("bad input")
        if message.body == b"again" and message.attempt == 1:
            raise LookupError("not yet")
        assert message.headers.get("x-wrapped") == (delay_queue if message.attempt > 1 else None)
        finished.add(message.body)
        if len(finished) == 3:
            stop_soon(app)
        return [message.body.upper()]

    app, amqp = make_app(broker, process, AMQP_OUTBOUND_ROUTING_KEY=out)
    app.result_postprocessor(amqp.publish_result)
    recorder = Recorder()
    app.publish_wrapper(recorder)

    @app.failure_policy
    async def retry(app: Application, original: Any, message: Any, exc: Exception) -> Any:
        if isinstance(exc, LookupError):
            return RetryLater(0.05, original.attempt + 1, exc, time.time())
        return None

    run_app(app)
    assert sorted(recorder.destinations) == sorted([out, broker.name(".dead"), delay_queue, out])
    results = broker.drain(out)
    assert sorted(got.body for got in results) == [b"AGAIN", b"OK"]
    assert all(got.headers["x-wrapped"] == out for got in results)
    (dead,) = broker.drain(broker.name(".dead"))
    assert dead.body == b"bad"
    assert dead.headers["x-wrapped"] == broker.name(".dead")
    assert dead.headers[ERROR_HEADER] == "ValueError: bad input"
    # The copy retried through the delay queue carried the wrapper's header
    # back to the inbound queue (checked in process()).


@pytest.mark.parametrize(
    ("exchange", "routing_key", "destination"),
    [
        ("", "orders", "orders"),
        ("events", "order.new", "events:order.new"),
        ("events", "", "events"),
        ("", "", "amq.default"),
    ],
)
async def test_producers_name_destinations_as_the_conventions_do(
    exchange: str, routing_key: str, destination: str
) -> None:
    app = Application("naming", {"AMQP_INBOUND_QUEUE": "q"})
    named: list[str] = []

    @app.publish_wrapper
    async def stop_before_sending(
        app: Application,
        where: str,
        headers: MutableMapping[str, Any],
        publish: Callable[[], Awaitable[Any]],
    ) -> Any:
        named.append(where)
        raise UnroutableError("not sent: this test only looks at the name")

    producer = AMQP(app).producer(exchange, routing_key)
    assert isinstance(producer, Producer)
    with pytest.raises(UnroutableError, match="not sent"):
        await producer.publish(b"x")
    assert named == [destination]
