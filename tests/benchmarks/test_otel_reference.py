"""The tracing benchmark's hand-written reference emits what OpenTelemetry(app) emits.

Its ratio is only fair if both produce the same telemetry: the same spans
(name, kind, parent, the conventions' attributes) and the same duration series.
"""

from __future__ import annotations

from typing import Any

from benchmarks.observability_otel import trace_by_hand
from doozer import Application
from doozer.contrib.otel import OpenTelemetry
from doozer.testing import run_until_drained

from ..otel.support import DescribedQueue, Telemetry

#: What Doozer adds beyond the conventions (the reference has no reason to).
DOOZER_ONLY = {"doozer.message.attempt"}


async def nothing(app: Application, message: Any) -> None:
    pass


def telemetry_of(instrument: str) -> tuple[list[Any], list[Any]]:
    telemetry = Telemetry()
    app = Application("reference", callback=nothing)
    if instrument == "doozer":
        OpenTelemetry(
            app, tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
        )
    else:
        trace_by_hand(app, telemetry.tracer_provider, telemetry.meter_provider)
    run_until_drained(app, DescribedQueue([b"a", b"b"]))
    spans = [
        (
            span.name,
            span.kind,
            span.parent,
            {k: v for k, v in (span.attributes or {}).items() if k not in DOOZER_ONLY},
        )
        for span in telemetry.spans()
    ]
    points = [
        (dict(point.attributes), point.count)
        for point in telemetry.points("messaging.process.duration")
    ]
    telemetry.shutdown()
    return spans, points


def test_the_hand_written_reference_emits_the_same_spans_and_durations() -> None:
    doozer_spans, doozer_points = telemetry_of("doozer")
    hand_spans, hand_points = telemetry_of("hand")
    assert len(doozer_spans) == 2
    assert hand_spans == doozer_spans
    assert hand_points == doozer_points == [(hand_points[0][0], 2)]
