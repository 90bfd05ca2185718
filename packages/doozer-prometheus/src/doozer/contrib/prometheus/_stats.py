"""What the hooks count, on the event loop, and how a scrape reads it.

The hooks run once per message on the event loop thread, so they only bump
plain numbers (no lock, no prometheus-client object per message): that is
what keeps the extension's cost small next to Doozer's own. A scrape, on
the HTTP server's thread, copies those numbers into metric families. A
scrape may see a message half counted (its duration observed, its outcome
not yet): the next scrape sees it whole, and counters never go down.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from doozer.outcomes import Outcome, Unfinished
from doozer.types import is_delivery

if TYPE_CHECKING:
    from doozer import Application

#: Outcome names as the ``outcome`` label shows them.
OUTCOME_LABELS = {
    "succeeded": "succeeded",
    "aborted": "aborted",
    "failed": "failed",
    "retry_later": "retried",
    "unfinished": "unfinished",
}


class Histogram:
    """Bucket counts and a sum, for :class:`HistogramMetricFamily`."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bucket (le).
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def family(self, name: str, documentation: str, labels: list[str]) -> HistogramMetricFamily:
        counts = list(self.counts)  # one copy, so buckets and count agree
        total = self.total
        cumulative, buckets = 0, []
        for bound, count in zip((*map(repr, self.bounds), "+Inf"), counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        family = HistogramMetricFamily(
            name, documentation, labels=["application", "destination"], unit="seconds"
        )
        family.add_metric(labels, buckets, total)
        return family


class Stats:
    """The numbers behind the metrics and the liveness probe, for one application."""

    def __init__(self, app: Application, buckets: Sequence[float]) -> None:
        self.app = app
        self.received = 0
        self.in_progress = 0
        self.outcomes: Counter[str] = Counter(dict.fromkeys(OUTCOME_LABELS.values(), 0))
        self.dead_lettered = 0
        self.exceptions: Counter[str] = Counter()
        self.durations = Histogram(buckets)
        self.results = 0
        #: perf_counter() of the last time a worker started or finished a message.
        self.last_progress = perf_counter()
        # Messages whose wrapper ended with (or raised into) an unfinished outcome;
        # an unfinished outcome for any other message means it was never started.
        self._unfinished_started: set[int] = set()

    # -- hooks (event loop thread) ---------------------------------------

    async def wrap(self, app: Application, message: Any, process: Callable[[], Any]) -> Outcome:
        """The message wrapper: received, in progress, duration."""
        self.received += 1
        self.in_progress += 1
        self.last_progress = start = perf_counter()
        try:
            outcome: Outcome = await process()
        except BaseException:  # the engine settles it as unfinished
            self._unfinished_started.add(id(message))
            self._done(start)
            raise
        # Inline (not _done): this runs for every message.
        self.in_progress -= 1
        self.last_progress = end = perf_counter()
        durations = self.durations
        durations.counts[bisect.bisect_left(durations.bounds, end - start)] += 1
        durations.total += end - start
        if type(outcome) is Unfinished:
            self._unfinished_started.add(id(message))
        return outcome

    def _done(self, start: float) -> None:
        self.in_progress -= 1
        self.last_progress = end = perf_counter()
        self.durations.observe(end - start)

    async def count_outcome(self, app: Application, message: Any, outcome: Outcome) -> None:
        """The outcome callback: finished by outcome, dead letters, exceptions."""
        name = outcome.name
        self.outcomes[OUTCOME_LABELS[name]] += 1
        if name == "succeeded" or name == "aborted":
            return
        if name == "unfinished":
            try:
                self._unfinished_started.remove(id(message))
            except KeyError:  # read ahead, never started: abandoned at a forced stop
                self.received += 1
        elif name == "failed" and is_delivery(message):
            # A delivery's transport dead-letters a failed message (the Delivery contract).
            self.dead_lettered += 1
        exception = getattr(outcome, "exception", None)
        if exception is not None:
            self.exceptions[_type_name(type(exception))] += 1

    async def count_result(self, app: Application, result: Any) -> Any:
        """The last result postprocessor: the result went through every one."""
        self.results += 1
        return result

    # -- scraping (HTTP thread) ------------------------------------------

    def collect(self) -> Iterator[Metric]:
        """The metric families, as a prometheus-client collector yields them."""
        app = self.app
        consumer = app.consumer
        destination = getattr(consumer, "destination", None)
        labels = [app.name, destination if isinstance(destination, str) else ""]
        names = ["application", "destination"]

        def counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
            family = CounterMetricFamily(name, documentation, labels=names)
            family.add_metric(labels, value)
            return family

        def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, documentation, labels=names)
            family.add_metric(labels, value)
            return family

        yield counter("doozer_messages_received", "Messages read from the consumer.", self.received)
        finished = CounterMetricFamily(
            "doozer_messages_finished",
            "Messages whose processing ended, by outcome (a retried message once per attempt).",
            labels=[*names, "outcome"],
        )
        for outcome, count in sorted(self.outcomes.items()):
            finished.add_metric([*labels, outcome], count)
        yield finished
        yield counter(
            "doozer_messages_dead_lettered",
            "Failed deliveries, which their transport dead-letters.",
            self.dead_lettered,
        )
        exceptions = CounterMetricFamily(
            "doozer_exceptions",
            "Exceptions that failed a message or made it retry, by type.",
            labels=[*names, "type"],
        )
        for kind, count in sorted(self.exceptions.copy().items()):
            exceptions.add_metric([*labels, kind], count)
        yield exceptions
        yield gauge("doozer_messages_in_progress", "Messages being processed.", self.in_progress)
        yield gauge(
            "doozer_messages_read_ahead",
            "Messages read from the consumer and waiting for a worker.",
            app.read_ahead,
        )
        yield gauge("doozer_workers", "Workers of the running application.", app.num_workers or 0)
        yield self.durations.family(
            "doozer_message_processing_duration",
            "Time from a worker taking a message to its outcome, in seconds.",
            labels,
        )
        yield counter(
            "doozer_results_published",
            "Results that went through every result postprocessor "
            "(a transport's publish_result is one).",
            self.results,
        )
        ready = getattr(consumer, "ready", None)
        if isinstance(ready, bool):
            yield gauge(
                "doozer_transport_ready",
                "1 when the transport is connected and consuming, else 0.",
                float(ready),
            )
        reconnects = getattr(consumer, "reconnects", None)
        if isinstance(reconnects, int) and not isinstance(reconnects, bool):
            yield counter(
                "doozer_transport_reconnects",
                "Times the transport reconnected to its broker.",
                reconnects,
            )


def _type_name(kind: type) -> str:
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"
