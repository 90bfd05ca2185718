"""The scenarios measured inside this process: throughput, latency, concurrency.

Each function runs one implementation once and returns what it measured.
Rates are taken from the first ``read()`` to the last acknowledgement, so
loop creation, startup and teardown are left out for every implementation.
"""

from __future__ import annotations

import gc
from typing import Any

from . import implementations, workload
from .implementations import Pipeline
from .sizes import (
    HENSON_CONCURRENCY_MESSAGES,
    HENSON_LATENCY_MESSAGES,
    HENSON_MESSAGES_PER_WORKER,
    Sizes,
    bounded,
)
from .stats import percentile


def _run(name: str, consumer: Any, pipeline: Pipeline, workers: int) -> None:
    gc.collect()  # start every run from the same heap, not the last run's garbage
    implementations.run(name, consumer, pipeline, workers)


def throughput(name: str, sizes: Sizes, workers: int) -> dict[str, float]:
    """Messages per second through an instant consumer and instant coroutines."""
    count = bounded(name, sizes.throughput_messages, HENSON_MESSAGES_PER_WORKER * workers)
    consumer = workload.InstantConsumer(count, implementations.abort_class(name))
    acks = workload.Acknowledgements(count)
    pipeline = Pipeline(workload.callback, (), [workload.postprocess], [acks.acknowledge])
    _run(name, consumer, pipeline, workers)
    acks.check(name)
    return {
        "messages": count,
        "rate": count / (acks.finished - consumer.started),
        "cpu_rate": count / (acks.finished_cpu - consumer.started_cpu),
    }


def latency(name: str, sizes: Sizes) -> dict[str, Any]:
    """Seconds from ``read()`` returning to the acknowledgement starting, per message."""
    count = bounded(name, sizes.latency_messages, HENSON_LATENCY_MESSAGES)
    consumer = workload.PacedConsumer(
        count, implementations.abort_class(name), sizes.latency_interval
    )
    acks = workload.LatencyAcknowledgements(consumer)
    pipeline = Pipeline(workload.callback, (), [workload.postprocess], [acks.acknowledge])
    _run(name, consumer, pipeline, sizes.latency_workers)
    acks.check(name)
    samples = acks.latencies
    return {
        "messages": count,
        "p50": percentile(samples, 50),
        "p99": percentile(samples, 99),
        "max": max(samples),
        "samples": samples,
    }


def concurrency(name: str, sizes: Sizes) -> dict[str, float]:
    """Messages per second when the callback waits; the ideal is workers / sleep."""
    count = bounded(name, sizes.concurrency_messages, HENSON_CONCURRENCY_MESSAGES)
    consumer = workload.InstantConsumer(count, implementations.abort_class(name))
    acks = workload.Acknowledgements(count)
    callback = workload.sleeping_callback(sizes.concurrency_sleep)
    pipeline = Pipeline(callback, (), [workload.postprocess], [acks.acknowledge])
    _run(name, consumer, pipeline, sizes.concurrency_workers)
    acks.check(name)
    rate = count / (acks.finished - consumer.started)
    ideal = sizes.concurrency_workers / sizes.concurrency_sleep
    return {"messages": count, "rate": rate, "ideal": ideal, "of_ideal": rate / ideal}
