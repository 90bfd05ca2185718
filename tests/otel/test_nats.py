"""Tracing across a real NATS JetStream hop: one application publishes, another consumes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from doozer.nats import JetStream

from ..nats.conftest import URL
from ..nats.support import Streams
from .hops import Hops, check_dead_letter_span, check_traces, traced_app
from .support import Telemetry


@pytest.fixture
def streams() -> Iterator[Streams]:
    handle = Streams(URL, f"doozer_test_otel_{uuid.uuid4().hex[:10]}")
    handle.run(handle.create())
    try:
        yield handle
    finally:
        handle.run(handle.delete())


@pytest.mark.slow
async def test_one_trace_across_a_nats_hop_and_an_error_span_for_a_failure(
    telemetry: Telemetry, streams: Streams
) -> None:
    hops = Hops()
    first, nats = traced_app(
        "first", telemetry, JetStream, streams.settings(NATS_DURABLE="first"), hops.forward
    )
    first.result_postprocessor(nats.publish_result)
    second, _ = traced_app(
        "second",
        telemetry,
        JetStream,
        streams.settings(NATS_DURABLE="second", NATS_INBOUND_SUBJECT=streams.outbound),
        hops.finish,
    )
    await streams.publish([b"good", b"bad"])
    await hops.serve([first, second])

    spans = telemetry.spans()
    for _outcome, attributes in check_traces(
        spans, inbound=streams.inbound, middle=streams.outbound, system="nats"
    ):
        sequence = attributes.pop("messaging.message.id")
        assert isinstance(sequence, str)
        assert sequence.isdigit()
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

    # The dead letter is published in the failed message's trace, with its context.
    ids = check_dead_letter_span(
        telemetry, spans, middle=streams.outbound, dead=streams.dead_subject
    )
    (letter,) = await streams.dead_letters()
    assert letter.data == b"bad!"
    assert letter.headers["traceparent"].split("-")[1:3] == ids
