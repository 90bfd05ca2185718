"""When the parent context is read from the headers, and when it is not (doozer.testing)."""

from __future__ import annotations

from collections.abc import Set
from typing import Any

from opentelemetry.context import Context
from opentelemetry.propagators.textmap import CarrierT, Getter, default_getter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from doozer import Application
from doozer.contrib.otel import OpenTelemetry
from doozer.testing import run_until_drained

from .support import DescribedQueue, Telemetry

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
TRACEPARENT = f"00-{TRACE_ID:032x}-00f067aa0ba902b7-01"


class Counting(TraceContextTextMapPropagator):
    """W3C trace context that counts extractions; its header names can be replaced."""

    def __init__(self, names: Set[str] | None = None) -> None:
        self.extractions = 0
        self.names = names

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        self.extractions += 1
        return super().extract(carrier, context, getter)

    @property
    def fields(self) -> set[str]:
        return set(super().fields if self.names is None else self.names)


def run(telemetry: Telemetry, propagator: Counting, queue: DescribedQueue) -> None:
    async def succeed(app: Application, message: Any) -> None:
        return None

    app = Application("extracting", callback=succeed)
    OpenTelemetry(
        app,
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        propagator=propagator,
    )
    run_until_drained(app, queue)


def test_headers_without_trace_context_are_not_extracted(telemetry: Telemetry) -> None:
    propagator = Counting()
    queue = DescribedQueue()
    queue.put(b"plain", {"content-type": "application/json"})
    queue.put(b"none", {})
    queue.put(b"traced", {"traceparent": TRACEPARENT})
    run(telemetry, propagator, queue)
    plain, none, traced = telemetry.spans()
    assert propagator.extractions == 1  # only the message that carries a traceparent
    assert plain.parent is None
    assert none.parent is None
    assert traced.context.trace_id == TRACE_ID


def test_a_propagator_that_names_no_fields_is_always_asked(telemetry: Telemetry) -> None:
    propagator = Counting(names=set())
    queue = DescribedQueue()
    queue.put(b"plain", {"content-type": "application/json"})
    queue.put(b"traced", {"traceparent": TRACEPARENT})
    run(telemetry, propagator, queue)
    plain, traced = telemetry.spans()
    assert propagator.extractions == 2
    assert plain.parent is None
    assert traced.context.trace_id == TRACE_ID
