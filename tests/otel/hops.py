"""What the cross-hop tests of every transport share: two traced applications in a row.

The first application forwards each message's body with ``!`` appended; the
second finishes it, failing ``b"bad!"`` (so it is dead-lettered). Each test
names the transport's own queues, streams or subjects and checks what only
its transport adds; the shape of the traces is checked here once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from doozer import Application
from doozer.contrib.otel import OpenTelemetry

from .support import Telemetry


class Transport(Protocol):
    def consumer(self) -> Any: ...


T = TypeVar("T", bound=Transport)


def traced_app(
    name: str,
    telemetry: Telemetry,
    transport: Callable[[Application], T],
    settings: dict[str, Any],
    callback: Any,
) -> tuple[Application, T]:
    """An application consuming through *transport*, traced into *telemetry*."""
    app = Application(name, settings, callback=callback)
    extension = transport(app)
    app.consumer = extension.consumer()
    OpenTelemetry(
        app, tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    return app, extension


class Hops:
    """The two applications' callbacks, and running both until two messages finished."""

    def __init__(self) -> None:
        self.finished: list[bytes] = []
        self._done = asyncio.Event()

    async def forward(self, app: Application, message: Any) -> list[bytes]:
        return [message.body + b"!"]

    async def finish(self, app: Application, message: Any) -> None:
        self.finished.append(message.body)
        if len(self.finished) == 2:
            self._done.set()
        if message.body == b"bad!":
            raise ValueError("bad order")

    async def serve(self, apps: Sequence[Application], timeout: float = 20) -> None:
        tasks = [asyncio.ensure_future(app.serve()) for app in apps]
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
        finally:
            for app in apps:
                app.stop()
            await asyncio.gather(*tasks)


def check_traces(
    spans: Sequence[ReadableSpan], *, inbound: str, middle: str, system: str
) -> list[tuple[str, dict[str, Any]]]:
    """Check one trace per original message: process inbound -> send middle -> process middle.

    :returns: per trace, the downstream span's outcome and its other attributes
        (``error.type`` left out), for the test to check what its transport adds.
    """
    by_trace: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        assert span.context is not None
        by_trace.setdefault(span.context.trace_id, []).append(span)
    assert len(by_trace) == 2  # one trace per original message
    downstreams = []
    for trace_spans in by_trace.values():
        named = {s.name: s for s in trace_spans}
        upstream = named[f"process {inbound}"]
        sent = named[f"send {middle}"]
        downstream = named[f"process {middle}"]
        assert upstream.context is not None
        assert sent.context is not None
        assert upstream.parent is None
        assert sent.parent is not None
        assert sent.parent.span_id == upstream.context.span_id
        assert downstream.parent is not None
        assert downstream.parent.span_id == sent.context.span_id
        assert downstream.parent.is_remote  # it came through the broker
        assert (upstream.kind, sent.kind, downstream.kind) == (
            SpanKind.CONSUMER,
            SpanKind.PRODUCER,
            SpanKind.CONSUMER,
        )
        assert dict(sent.attributes or {}) == {
            "messaging.system": system,
            "messaging.operation.name": "send",
            "messaging.operation.type": "send",
            "messaging.destination.name": middle,
        }
        attributes = dict(downstream.attributes or {})
        outcome = attributes.pop("doozer.outcome", "succeeded")
        assert outcome in ("succeeded", "failed")
        attributes.pop("error.type", None)
        downstreams.append((str(outcome), attributes))
    return downstreams


def check_dead_letter_span(
    telemetry: Telemetry, spans: Sequence[ReadableSpan], *, middle: str, dead: str
) -> list[str]:
    """Check the failure's error span and that the dead letter was sent in its trace.

    :returns: the trace id and span id (hex) the dead letter's ``traceparent`` must carry.
    """
    (failed,) = [s for s in spans if s.status.status_code is StatusCode.ERROR]
    assert failed.name == f"process {middle}"
    assert failed.attributes is not None
    assert failed.attributes["error.type"] == "ValueError"
    assert failed.attributes["doozer.outcome"] == "failed"
    (sent,) = telemetry.spans(f"send {dead}")
    assert sent.context is not None
    assert failed.context is not None
    assert sent.context.trace_id == failed.context.trace_id
    return [f"{sent.context.trace_id:032x}", f"{sent.context.span_id:016x}"]
