"""What the message observer counts, on the event loop, and how a scrape reads it.

The observer is a plain function the engine calls inline once per message,
right after settlement, with the outcome and the processing duration: it
only bumps plain numbers (no lock, no coroutine, no prometheus-client object
per message), which is what keeps the extension's cost small next to
Doozer's own. What the application already counts (messages read, read
ahead) is read from it at scrape time rather than counted again. A scrape,
on the HTTP server's thread, copies those numbers into metric families. A
scrape may see a message half counted (its outcome counted, its duration
not yet): the next scrape sees it whole, and every counter is one number
that only grows, so none ever goes down.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from doozer.outcomes import SUCCEEDED, Outcome
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

    def count(self) -> int:
        """How many values were observed."""
        return sum(list(self.counts))


def histogram_family(
    name: str, documentation: str, labels: list[str], parts: Sequence[Histogram]
) -> HistogramMetricFamily:
    """One histogram family adding up *parts* (which share their bounds)."""
    # One copy of each list, so that the buckets and the count agree.
    counts = [sum(column) for column in zip(*(list(part.counts) for part in parts), strict=True)]
    total = sum(part.total for part in parts)
    cumulative, buckets = 0, []
    for bound, count in zip((*map(repr, parts[0].bounds), "+Inf"), counts, strict=True):
        cumulative += count
        buckets.append((bound, cumulative))
    family = HistogramMetricFamily(
        name, documentation, labels=["application", "destination"], unit="seconds"
    )
    family.add_metric(labels, buckets, total)
    return family


class Stats:
    """The numbers behind the metrics and the liveness probe, for one application.

    Counters accumulate over the application's runs (a second
    :meth:`~doozer.Application.serve` continues them); the gauges are the
    current run's.
    """

    def __init__(self, app: Application, buckets: Sequence[float]) -> None:
        self.app = app
        #: The durations of the messages that succeeded, which also counts them.
        self.succeeded = Histogram(buckets)
        #: The durations of the others (but unfinished ones without a duration).
        self.others = Histogram(buckets)
        #: The other outcomes, by label.
        self.unsuccessful: Counter[str] = Counter(
            dict.fromkeys((label for label in OUTCOME_LABELS.values() if label != "succeeded"), 0)
        )
        self.dead_lettered = 0
        self.exceptions: Counter[str] = Counter()
        # Messages read and finished by earlier runs (app.messages_read starts
        # again from 0 with each run; the counters must not go down).
        self._received_before = 0
        self._finished_before = 0

    # -- the run (event loop thread) -------------------------------------

    def run_started(self) -> None:
        """Note where this run's counts start (a startup callback calls it)."""
        self._finished_before = self.finished()

    def run_ending(self) -> None:
        """Keep this run's reads in the counters (the last teardown callback calls it)."""
        self._received_before += self.app.messages_read

    def observer(self) -> Callable[[Application, Any, Outcome, float], None]:
        """The message observer: the outcome, and the duration of a message a worker took.

        A closure over what it updates: a success, nearly every message, then
        costs two comparisons, a bucket count and an addition, and no
        attribute look-up it can avoid. A message faster than the first
        bucket's bound skips the search for its bucket: that is when the
        extension's cost weighs most next to the message's own.
        """
        succeeded, counts, bounds = SUCCEEDED, self.succeeded.counts, self.succeeded.bounds
        histogram, position, other = self.succeeded, bisect.bisect_left, self._observe_other
        first = bounds[0]

        def observe(app: Application, message: Any, outcome: Outcome, duration: float) -> None:
            if outcome is succeeded:
                # bisect_left: a value equal to a bound belongs to that bucket (le).
                counts[0 if duration <= first else position(bounds, duration)] += 1
                histogram.total += duration
            else:
                other(message, outcome, duration)

        return observe

    def _observe_other(self, message: Any, outcome: Outcome, duration: float) -> None:
        name = outcome.name
        self.unsuccessful[OUTCOME_LABELS[name]] += 1
        if name == "failed" and is_delivery(message):
            # A delivery's transport dead-letters a failed message (the Delivery contract).
            self.dead_lettered += 1
        exception = getattr(outcome, "exception", None)
        if exception is not None:
            self.exceptions[_type_name(type(exception))] += 1
        # An unfinished message with no duration was handed back by a forced
        # stop without a (known) processing time: it has no place in the histogram.
        if duration or name != "unfinished":
            self.others.observe(duration)

    # -- reading (HTTP thread) -------------------------------------------

    def finished(self) -> int:
        """Messages finished so far, every outcome, every run."""
        return self.succeeded.count() + self.unsuccessful.copy().total()

    def received(self) -> int:
        """Messages read so far, every run."""
        return self._received_before + self.app.messages_read

    def in_progress(self) -> int:
        """Messages a worker took and that have no outcome yet (this run).

        Every message read is waiting in read-ahead, in a worker, or finished,
        so this is read - read ahead - finished. The three numbers are read
        one after the other while the event loop moves on: bounded to what
        can be true (0 to the number of workers).
        """
        app = self.app
        finished = self.finished() - self._finished_before
        read_ahead = app.read_ahead
        count = app.messages_read - read_ahead - finished
        return max(0, min(count, app.num_workers or 0))

    def started(self) -> int:
        """Messages a worker took this run (read, no longer read ahead)."""
        app = self.app
        return app.messages_read - app.read_ahead

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

        yield counter(
            "doozer_messages_received", "Messages read from the consumer.", self.received()
        )
        finished = CounterMetricFamily(
            "doozer_messages_finished",
            "Messages whose processing ended, by outcome (a retried message once per attempt).",
            labels=[*names, "outcome"],
        )
        counts = {**self.unsuccessful.copy(), "succeeded": self.succeeded.count()}
        for outcome, count in sorted(counts.items()):
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
        yield gauge("doozer_messages_in_progress", "Messages being processed.", self.in_progress())
        yield gauge(
            "doozer_messages_read_ahead",
            "Messages read from the consumer and waiting for a worker.",
            app.read_ahead,
        )
        yield gauge("doozer_workers", "Workers of the running application.", app.num_workers or 0)
        yield histogram_family(
            "doozer_message_processing_duration",
            "Time from a worker taking a message to its outcome, in seconds.",
            labels,
            (self.succeeded, self.others),
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
