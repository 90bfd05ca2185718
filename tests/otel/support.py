"""Helpers for the doozer-otel tests: an SDK pipeline kept in memory, described deliveries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from doozer.outcomes import Outcome
from doozer.testing import MemoryDelivery, MemoryQueue


@dataclass
class Telemetry:
    """A tracer provider and a meter provider whose output a test can read."""

    tracer_provider: TracerProvider = field(default_factory=TracerProvider)
    exporter: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    reader: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)
    meter_provider: MeterProvider = field(init=False)

    def __post_init__(self) -> None:
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """Finished spans, in the order they ended (those called *name* only, if given)."""
        return [s for s in self.exporter.get_finished_spans() if name is None or s.name == name]

    def points(self, metric: str) -> list[Any]:
        """The data points of *metric* collected now."""
        data = self.reader.get_metrics_data()
        assert data is not None
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for m in scope.metrics
            if m.name == metric
            for point in m.data.data_points
        ]

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


#: What a transport would describe a delivery from the queue "orders" with.
ATTRIBUTES: Mapping[str, str | int] = {
    "messaging.system": "rabbitmq",
    "messaging.destination.name": "orders",
    "messaging.consumer.group.name": "billing",
    "server.address": "broker.example",
    "server.port": 5672,
}


class Described:
    """A memory delivery with ``messaging_attributes``, as a real transport's has."""

    def __init__(self, delivery: MemoryDelivery, attributes: Mapping[str, str | int]) -> None:
        self.delivery = delivery
        self.body = delivery.body
        self.headers = delivery.headers
        self.attempt = delivery.attempt
        self.redelivered = delivery.redelivered
        self.first_failure = delivery.first_failure
        self.messaging_attributes = {
            **attributes,
            "messaging.message.id": f"m-{delivery.record.id}",
        }

    async def settle(self, outcome: Outcome) -> None:
        await self.delivery.settle(outcome)


class DescribedQueue(MemoryQueue):
    """A memory queue whose deliveries carry :data:`ATTRIBUTES`."""

    def __init__(self, messages: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(messages, **kwargs)

    async def read(self) -> Any:
        return Described(await super().read(), ATTRIBUTES)
