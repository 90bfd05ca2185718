"""Tracing across a real NATS JetStream hop: one application publishes, another consumes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from doozer import Application
from doozer.contrib.otel import OpenTelemetry
from doozer.nats import JetStream

from ..nats.conftest import URL
from ..nats.support import Streams
from .support import Telemetry


@pytest.fixture
def streams() -> Iterator[Streams]:
    handle = Streams(URL, f"doozer_test_otel_{uuid.uuid4().hex[:10]}")
    handle.run(handle.create())
    try:
        yield handle
    finally:
        handle.run(handle.delete())


def nats_app(
    name: str, telemetry: Telemetry, settings: dict[str, Any], callback: Any
) -> tuple[Application, JetStream]:
    app = Application(name, settings, callback=callback)
    nats = JetStream(app)
    app.consumer = nats.consumer()
    OpenTelemetry(
        app, tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    return app, nats


@pytest.mark.slow
async def test_one_trace_across_a_nats_hop_and_an_error_span_for_a_failure(
    telemetry: Telemetry, streams: Streams
) -> None:
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

    first, nats = nats_app("first", telemetry, streams.settings(NATS_DURABLE="first"), forward)
    first.result_postprocessor(nats.publish_result)
    second, _ = nats_app(
        "second",
        telemetry,
        streams.settings(NATS_DURABLE="second", NATS_INBOUND_SUBJECT=streams.outbound),
        finish,
    )
    await streams.publish([b"good", b"bad"])
    tasks = [asyncio.ensure_future(app.serve()) for app in (first, second)]
    await asyncio.wait_for(done.wait(), 20)
    for app in (first, second):
        app.stop()
    await asyncio.gather(*tasks)

    spans = telemetry.spans()
    by_trace: dict[int, list[Any]] = {}
    for span in spans:
        by_trace.setdefault(span.context.trace_id, []).append(span)
    assert len(by_trace) == 2  # one trace per original message
    for trace_spans in by_trace.values():
        named = {s.name: s for s in trace_spans}
        upstream = named[f"process {streams.inbound}"]
        sent = named[f"send {streams.outbound}"]
        downstream = named[f"process {streams.outbound}"]
        assert upstream.parent is None
        assert sent.parent is not None
        assert sent.parent.span_id == upstream.context.span_id
        assert downstream.parent is not None
        assert downstream.parent.span_id == sent.context.span_id
        assert downstream.parent.is_remote  # it came through NATS
        assert (upstream.kind, sent.kind, downstream.kind) == (
            SpanKind.CONSUMER,
            SpanKind.PRODUCER,
            SpanKind.CONSUMER,
        )
        attributes = dict(downstream.attributes or {})
        sequence = attributes.pop("messaging.message.id")
        assert isinstance(sequence, str)
        assert sequence.isdigit()
        assert attributes.pop("doozer.outcome") in ("succeeded", "failed")
        attributes.pop("error.type", None)
        assert attributes == {
            "messaging.system": "nats",
            "messaging.operation.name": "process",
            "messaging.operation.type": "process",
            "messaging.destination.name": streams.outbound,
            "messaging.consumer.group.name": "second",
            "server.address": "127.0.0.1",
            "server.port": 4222,
            "doozer.message.attempt": 1,
        }
        assert dict(sent.attributes or {}) == {
            "messaging.system": "nats",
            "messaging.operation.name": "send",
            "messaging.operation.type": "send",
            "messaging.destination.name": streams.outbound,
        }

    (failed,) = [s for s in spans if s.status.status_code is StatusCode.ERROR]
    assert failed.name == f"process {streams.outbound}"
    assert failed.attributes is not None
    assert failed.attributes["error.type"] == "ValueError"
    # The dead letter is published in the failed message's trace, with its context.
    (dead,) = telemetry.spans(f"send {streams.dead_subject}")
    assert dead.context.trace_id == failed.context.trace_id
    (letter,) = await streams.dead_letters()
    assert letter.data == b"bad!"
    assert letter.headers["traceparent"].split("-")[1:3] == [
        f"{dead.context.trace_id:032x}",
        f"{dead.context.span_id:016x}",
    ]
