"""Producer spans around publishes, and the messaging metrics (doozer.testing, no broker)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from doozer import Application
from doozer.contrib.otel import OpenTelemetry
from doozer.testing import run_until_drained

from .support import DescribedQueue, Telemetry
from .test_spans import PARENT_ID, TRACE_ID, TRACEPARENT

Sent = list[dict[str, Any]]


async def nothing(app: Application, message: Any) -> None:
    return None


def traced(telemetry: Telemetry, callback: Any) -> Application:
    app = Application("traced", callback=callback)
    OpenTelemetry(
        app, tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    return app


async def send(app: Application, destination: str, headers: dict[str, Any], sent: Sent) -> str:
    async def publish() -> str:
        sent.append(dict(headers))  # what a transport puts on the broker message
        return "id-1"

    return await app.publishing(destination, headers, publish)


def test_a_publish_inside_a_message_is_a_child_producer_span(telemetry: Telemetry) -> None:
    sent: Sent = []

    async def callback(app: Application, message: Any) -> None:
        assert await send(app, "results", {"x-custom": "kept"}, sent) == "id-1"

    run_until_drained(traced(telemetry, callback), DescribedQueue([b"a"]))
    send_span, process_span = telemetry.spans()
    assert send_span.name == "send results"
    assert send_span.kind is SpanKind.PRODUCER
    assert send_span.parent is not None
    assert send_span.parent.span_id == process_span.context.span_id
    assert dict(send_span.attributes or {}) == {
        "messaging.destination.name": "results",
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
    }
    (headers,) = sent
    assert headers["x-custom"] == "kept"
    ids = f"{send_span.context.trace_id:032x}-{send_span.context.span_id:016x}"
    assert headers["traceparent"].startswith(f"00-{ids}-")  # then the flags: sampled


async def test_a_publish_outside_a_span_continues_the_trace_its_headers_carry(
    telemetry: Telemetry,
) -> None:
    # A transport dead-letters or retries at settlement, after the message's span ended.
    app = traced(telemetry, nothing)
    sent: Sent = []
    await send(app, "orders.dead", {"traceparent": TRACEPARENT}, sent)
    await send(app, "fresh", {}, sent)
    continued, fresh = telemetry.spans()
    assert continued.context.trace_id == TRACE_ID
    assert continued.parent is not None
    assert continued.parent.span_id == PARENT_ID
    assert sent[0]["traceparent"].split("-")[2] == f"{continued.context.span_id:016x}"
    assert fresh.parent is None
    assert sent[1]["traceparent"].split("-")[1] == f"{fresh.context.trace_id:032x}"


async def test_a_failed_publish_ends_its_span_with_the_error(telemetry: Telemetry) -> None:
    app = traced(telemetry, nothing)

    async def refuse() -> None:
        raise ConnectionError("broker gone")

    with pytest.raises(ConnectionError):
        await app.publishing("results", {}, refuse)
    (span,) = telemetry.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "ConnectionError"


async def test_the_messaging_system_of_the_only_transport_names_send_spans(
    telemetry: Telemetry,
) -> None:
    app = traced(telemetry, nothing)
    app.extensions["redisstreams"] = object()  # what RedisStreams(app) registers

    async def publish() -> None:
        return None

    await app.publishing("results", {}, publish)
    (span,) = telemetry.spans()
    assert span.attributes is not None
    assert span.attributes["messaging.system"] == "redis"


def test_metrics_count_and_time_messages_with_low_cardinality_attributes(
    telemetry: Telemetry,
) -> None:
    async def callback(app: Application, message: Any) -> None:
        if message.body == b"bad":
            raise KeyError("order")

    run_until_drained(traced(telemetry, callback), DescribedQueue([b"a", b"b", b"bad"]))
    base = {
        "messaging.system": "rabbitmq",
        "messaging.destination.name": "orders",
        "messaging.consumer.group.name": "billing",
        "server.address": "broker.example",
        "server.port": 5672,
        "messaging.operation.name": "process",
    }
    counts = {
        tuple(sorted(p.attributes.items())): p.value
        for p in telemetry.points("messaging.client.consumed.messages")
    }
    assert counts == {
        tuple(sorted(base.items())): 2,
        tuple(sorted({**base, "error.type": "KeyError"}.items())): 1,
    }
    durations = telemetry.points("messaging.process.duration")
    assert sorted(p.count for p in durations) == [1, 2]
    assert all(p.sum >= 0 for p in durations)
    assert all("messaging.message.id" not in p.attributes for p in durations)


def test_the_consumed_messages_counter_is_cumulative_across_collections(
    telemetry: Telemetry,
) -> None:
    app = traced(telemetry, nothing)
    run_until_drained(app, DescribedQueue([b"a", b"b"]))
    assert [p.value for p in telemetry.points("messaging.client.consumed.messages")] == [2]
    run_until_drained(app, DescribedQueue([b"c"]))
    assert [p.value for p in telemetry.points("messaging.client.consumed.messages")] == [3]
