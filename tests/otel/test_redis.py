"""Tracing across a real Redis Streams hop: one application publishes, another consumes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from doozer import Application
from doozer.contrib.otel import OpenTelemetry
from doozer.redis import RedisStreams

from ..redis.conftest import URL
from ..redis.support import Streams
from .support import Telemetry


@pytest.fixture
def streams() -> Iterator[Streams]:
    handle = Streams(URL, f"doozer-test-otel-{uuid.uuid4().hex[:10]}")
    try:
        yield handle
    finally:
        handle.cleanup()


def redis_app(
    name: str, telemetry: Telemetry, settings: dict[str, Any], callback: Any
) -> tuple[Application, RedisStreams]:
    app = Application(name, {"REDIS_URL": URL, **settings}, callback=callback)
    redis = RedisStreams(app)
    app.consumer = redis.consumer()
    OpenTelemetry(
        app, tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    return app, redis


async def test_one_trace_across_a_redis_hop_and_an_error_span_for_a_failure(
    telemetry: Telemetry, streams: Streams
) -> None:
    middle, out = f"{streams.prefix}.middle", streams.outbound
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

    first, redis = redis_app(
        "first",
        telemetry,
        {"REDIS_INBOUND_STREAM": streams.inbound, "REDIS_OUTBOUND_STREAM": middle},
        forward,
    )
    first.result_postprocessor(redis.publish_result)
    second, _ = redis_app(
        "second",
        telemetry,
        {"REDIS_INBOUND_STREAM": middle, "REDIS_DEAD_LETTER_STREAM": out},
        finish,
    )
    streams.add([b"good", b"bad"])
    tasks = [asyncio.ensure_future(app.serve()) for app in (first, second)]
    await asyncio.wait_for(done.wait(), 20)
    for app in (first, second):
        app.stop()
    await asyncio.gather(*tasks)

    spans = telemetry.spans()
    by_trace: dict[int, list[Any]] = {}
    for span in spans:
        by_trace.setdefault(span.context.trace_id, []).append(span)
    assert len(by_trace) == 2  # one trace per original entry
    for trace_spans in by_trace.values():
        named = {s.name: s for s in trace_spans}
        upstream = named[f"process {streams.inbound}"]
        sent = named[f"send {middle}"]
        downstream = named[f"process {middle}"]
        assert upstream.parent is None
        assert sent.parent is not None
        assert sent.parent.span_id == upstream.context.span_id
        assert downstream.parent is not None
        assert downstream.parent.span_id == sent.context.span_id
        assert downstream.parent.is_remote  # it came through Redis
        assert (upstream.kind, sent.kind, downstream.kind) == (
            SpanKind.CONSUMER,
            SpanKind.PRODUCER,
            SpanKind.CONSUMER,
        )
        attributes = dict(downstream.attributes or {})
        entry_id = attributes.pop("messaging.message.id")
        assert isinstance(entry_id, str)
        assert entry_id.split("-")[0].isdigit()
        assert attributes.pop("doozer.outcome") in ("succeeded", "failed")
        attributes.pop("error.type", None)
        assert attributes == {
            "messaging.system": "redis",
            "messaging.operation.name": "process",
            "messaging.operation.type": "process",
            "messaging.destination.name": middle,
            "messaging.consumer.group.name": "second",
            "server.address": "127.0.0.1",
            "server.port": 6379,
            "doozer.message.attempt": 1,
        }
        assert dict(sent.attributes or {}) == {
            "messaging.system": "redis",
            "messaging.operation.name": "send",
            "messaging.operation.type": "send",
            "messaging.destination.name": middle,
        }

    (failed,) = [s for s in spans if s.status.status_code is StatusCode.ERROR]
    assert failed.name == f"process {middle}"
    assert failed.attributes is not None
    assert failed.attributes["error.type"] == "ValueError"
    # The dead letter is published in the failed message's trace, with its context.
    (dead,) = telemetry.spans(f"send {out}")
    assert dead.context.trace_id == failed.context.trace_id
    ((_, fields),) = streams.entries(out)
    assert fields[b"body"] == b"bad!"
    traceparent = fields[b"traceparent"].decode()
    assert traceparent.split("-")[1:3] == [
        f"{dead.context.trace_id:032x}",
        f"{dead.context.span_id:016x}",
    ]
