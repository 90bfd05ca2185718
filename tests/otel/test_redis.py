"""Tracing across a real Redis Streams hop: one application publishes, another consumes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from doozer.redis import RedisStreams

from ..redis.conftest import URL
from ..redis.support import Streams
from .hops import Hops, check_dead_letter_span, check_traces, traced_app
from .support import Telemetry


@pytest.fixture
def streams() -> Iterator[Streams]:
    handle = Streams(URL, f"doozer-test-otel-{uuid.uuid4().hex[:10]}")
    try:
        yield handle
    finally:
        handle.cleanup()


async def test_one_trace_across_a_redis_hop_and_an_error_span_for_a_failure(
    telemetry: Telemetry, streams: Streams
) -> None:
    middle, out = f"{streams.prefix}.middle", streams.outbound
    hops = Hops()
    first, redis = traced_app(
        "first",
        telemetry,
        RedisStreams,
        {
            "REDIS_URL": URL,
            "REDIS_INBOUND_STREAM": streams.inbound,
            "REDIS_OUTBOUND_STREAM": middle,
        },
        hops.forward,
    )
    first.result_postprocessor(redis.publish_result)
    second, _ = traced_app(
        "second",
        telemetry,
        RedisStreams,
        {"REDIS_URL": URL, "REDIS_INBOUND_STREAM": middle, "REDIS_DEAD_LETTER_STREAM": out},
        hops.finish,
    )
    streams.add([b"good", b"bad"])
    await hops.serve([first, second])

    spans = telemetry.spans()
    for _outcome, attributes in check_traces(
        spans, inbound=streams.inbound, middle=middle, system="redis"
    ):
        entry_id = attributes.pop("messaging.message.id")
        assert isinstance(entry_id, str)
        assert entry_id.split("-")[0].isdigit()
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

    # The dead letter is published in the failed message's trace, with its context.
    ids = check_dead_letter_span(telemetry, spans, middle=middle, dead=out)
    ((_, fields),) = streams.entries(out)
    assert fields[b"body"] == b"bad!"
    assert fields[b"traceparent"].decode().split("-")[1:3] == ids
