"""Tracing across a real RabbitMQ hop: one application publishes, another consumes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from doozer import Application
from doozer.amqp import AMQP
from doozer.contrib.otel import OpenTelemetry

from ..amqp.support import URL, Broker
from .support import Telemetry


@pytest.fixture
def broker() -> Iterator[Broker]:
    """Uniquely named queues for one test, deleted after it."""
    handle = Broker(URL, f"doozer-test-otel-{uuid.uuid4().hex[:10]}")
    try:
        yield handle
    finally:
        handle.cleanup()


def amqp_app(
    name: str, telemetry: Telemetry, settings: dict[str, Any], callback: Any
) -> tuple[Application, AMQP]:
    app = Application(name, {"AMQP_URL": URL, **settings}, callback=callback)
    amqp = AMQP(app)
    app.consumer = amqp.consumer()
    OpenTelemetry(
        app, tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    return app, amqp


def test_one_trace_across_a_rabbitmq_hop_and_an_error_span_for_a_failure(
    telemetry: Telemetry, broker: Broker
) -> None:
    inbound, outbound = broker.name(), broker.name(".out")
    # Both queues declared as their consumers declare them.
    broker.declare_inbound(inbound)
    broker.declare_inbound(outbound)
    finished: list[bytes] = []
    done = asyncio.Event()

    async def forward(app: Application, message: Any) -> list[bytes]:
        return [message.body + b"!"]

    async def finish(app: Application, message: Any) -> None:
        finished.append(message.body)
        if len(finished) == 2:
            done.set()
        if message.body == b"bad!":
            raise ValueError("bad order")

    first, amqp = amqp_app(
        "first",
        telemetry,
        {"AMQP_INBOUND_QUEUE": inbound, "AMQP_OUTBOUND_ROUTING_KEY": outbound},
        forward,
    )
    first.result_postprocessor(amqp.publish_result)
    second, _ = amqp_app("second", telemetry, {"AMQP_INBOUND_QUEUE": outbound}, finish)
    for body in (b"good", b"bad"):
        broker.publish(inbound, [body], correlation_id=f"order-{body.decode()}")

    async def main() -> None:
        tasks = [asyncio.ensure_future(app.serve()) for app in (first, second)]
        try:
            await asyncio.wait_for(done.wait(), 20)
        finally:
            for app in (first, second):
                app.stop()
            await asyncio.gather(*tasks)

    asyncio.run(main())

    spans = telemetry.spans()
    by_trace: dict[int, list[Any]] = {}
    for span in spans:
        by_trace.setdefault(span.context.trace_id, []).append(span)
    assert len(by_trace) == 2  # one trace per original message
    for trace_spans in by_trace.values():
        named = {s.name: s for s in trace_spans}
        upstream = named[f"process {inbound}"]
        sent = named[f"send {outbound}"]
        downstream = named[f"process {outbound}"]
        assert upstream.parent is None
        assert sent.parent is not None
        assert sent.parent.span_id == upstream.context.span_id
        assert downstream.parent is not None
        assert downstream.parent.span_id == sent.context.span_id
        assert downstream.parent.is_remote  # it came through RabbitMQ
        assert (upstream.kind, sent.kind, downstream.kind) == (
            SpanKind.CONSUMER,
            SpanKind.PRODUCER,
            SpanKind.CONSUMER,
        )
        attributes = dict(downstream.attributes or {})
        assert isinstance(attributes.pop("messaging.rabbitmq.message.delivery_tag"), int)
        message_id = attributes.pop("messaging.message.id")
        assert isinstance(message_id, str)
        assert message_id
        outcome = attributes.pop("doozer.outcome")
        assert outcome in ("succeeded", "failed")
        attributes.pop("error.type", None)
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
        assert dict(sent.attributes or {}) == {
            "messaging.system": "rabbitmq",
            "messaging.operation.name": "send",
            "messaging.operation.type": "send",
            "messaging.destination.name": outbound,
        }

    (failed,) = [s for s in spans if s.status.status_code is StatusCode.ERROR]
    assert failed.name == f"process {outbound}"
    assert failed.attributes is not None
    assert failed.attributes["error.type"] == "ValueError"
    assert failed.attributes["doozer.outcome"] == "failed"
    # The dead letter is published in the failed message's trace, with its context.
    (dead,) = telemetry.spans(f"send {outbound}.dead")
    assert dead.context.trace_id == failed.context.trace_id
    (letter,) = broker.drain(f"{outbound}.dead")
    assert letter.body == b"bad!"
    traceparent = letter.headers["traceparent"]
    if isinstance(traceparent, bytes):
        traceparent = traceparent.decode()
    assert traceparent.split("-")[1:3] == [
        f"{dead.context.trace_id:032x}",
        f"{dead.context.span_id:016x}",
    ]
    assert broker.drain(outbound) == []
    assert broker.counts(inbound) == (0, 0)
