"""Tracing across a real RabbitMQ hop: one application publishes, another consumes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from doozer.amqp import AMQP

from ..amqp.support import URL, Broker
from .hops import Hops, check_dead_letter_span, check_traces, traced_app
from .support import Telemetry


@pytest.fixture
def broker() -> Iterator[Broker]:
    """Uniquely named queues for one test, deleted after it."""
    handle = Broker(URL, f"doozer-test-otel-{uuid.uuid4().hex[:10]}")
    try:
        yield handle
    finally:
        handle.cleanup()


def test_one_trace_across_a_rabbitmq_hop_and_an_error_span_for_a_failure(
    telemetry: Telemetry, broker: Broker
) -> None:
    inbound, outbound = broker.name(), broker.name(".out")
    # Both queues declared as their consumers declare them.
    broker.declare_inbound(inbound)
    broker.declare_inbound(outbound)
    hops = Hops()
    first, amqp = traced_app(
        "first",
        telemetry,
        AMQP,
        {"AMQP_URL": URL, "AMQP_INBOUND_QUEUE": inbound, "AMQP_OUTBOUND_ROUTING_KEY": outbound},
        hops.forward,
    )
    first.result_postprocessor(amqp.publish_result)
    second, _ = traced_app(
        "second", telemetry, AMQP, {"AMQP_URL": URL, "AMQP_INBOUND_QUEUE": outbound}, hops.finish
    )
    for body in (b"good", b"bad"):
        broker.publish(inbound, [body], correlation_id=f"order-{body.decode()}")
    asyncio.run(hops.serve([first, second]))

    spans = telemetry.spans()
    for outcome, attributes in check_traces(
        spans, inbound=inbound, middle=outbound, system="rabbitmq"
    ):
        assert isinstance(attributes.pop("messaging.rabbitmq.message.delivery_tag"), int)
        message_id = attributes.pop("messaging.message.id")
        assert isinstance(message_id, str)
        assert message_id
        order = "order-good" if outcome == "succeeded" else "order-bad"
        assert attributes == {
            "messaging.system": "rabbitmq",
            "messaging.operation.name": "process",
            "messaging.operation.type": "process",
            # Published to the default exchange with the queue's name as routing key.
            "messaging.destination.name": outbound,
            "messaging.rabbitmq.destination.routing_key": outbound,
            # The result kept the inbound message's correlation id.
            "messaging.message.conversation_id": order,
            "server.address": "127.0.0.1",
            "server.port": 5672,
            "doozer.message.attempt": 1,
        }

    # The dead letter is published in the failed message's trace, with its context.
    ids = check_dead_letter_span(telemetry, spans, middle=outbound, dead=f"{outbound}.dead")
    (letter,) = broker.drain(f"{outbound}.dead")
    assert letter.body == b"bad!"
    traceparent = letter.headers["traceparent"]
    if isinstance(traceparent, bytes):
        traceparent = traceparent.decode()
    assert traceparent.split("-")[1:3] == ids
    assert broker.drain(outbound) == []
    assert broker.counts(inbound) == (0, 0)
