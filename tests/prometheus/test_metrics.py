"""/metrics of a real service: the counters match what happened to a known stream."""

from __future__ import annotations

import signal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import wait_until

from .support import get, running, scrape, value

pytestmark = pytest.mark.slow

STREAM = ["ok", "abort", "fail", "ok", "retry", "abort", "ok"]


def finished(port: int) -> float:
    samples = scrape(port)
    return sum(v for (name, _), v in samples.items() if name == "doozer_messages_finished_total")


def test_counters_match_the_outcomes_of_a_known_stream() -> None:
    with running(STREAM, workers=2) as (process, port):
        # 7 messages, one of them read twice (retried once, then failed): 8 outcomes.
        wait_until(lambda: finished(port) == 8, "the service finished the stream")
        samples = scrape(port)
        outcomes = {
            outcome: value(samples, "doozer_messages_finished_total", outcome=outcome)
            for outcome in ("succeeded", "aborted", "failed", "retried", "unfinished")
        }
        assert outcomes == {
            "succeeded": 3,
            "aborted": 2,
            "failed": 2,  # "fail", and "retry" once its one retry failed too
            "retried": 1,
            "unfinished": 0,
        }
        assert value(samples, "doozer_messages_received_total") == 8
        assert value(samples, "doozer_messages_dead_lettered_total") == 2
        assert value(samples, "doozer_exceptions_total", type="ValueError") == 1
        retryable = "doozer.contrib.retry.RetryableException"
        assert value(samples, "doozer_exceptions_total", type=retryable) == 2
        assert value(samples, "doozer_messages_in_progress") == 0
        assert value(samples, "doozer_messages_read_ahead") == 0
        assert value(samples, "doozer_workers") == 2
        assert value(samples, "doozer_message_processing_duration_seconds_count") == 8
        assert value(samples, "doozer_message_processing_duration_seconds_bucket", le="+Inf") == 8
        process.signal(signal.SIGTERM)
        assert process.finish() == 0


def test_metrics_output_parses_and_follows_the_naming_conventions() -> None:
    with running(["ok", "sleep:0.2"]) as (process, port):
        process.wait_for("done sleep:0.2")
        status, text = get(port, "/metrics")
        assert status == 200
        families = {family.name: family for family in text_string_to_metric_families(text)}
        ours = {name: family for name, family in families.items() if name.startswith("doozer_")}
        assert {name: family.type for name, family in ours.items()} == {
            "doozer_messages_received": "counter",
            "doozer_messages_finished": "counter",
            "doozer_messages_dead_lettered": "counter",
            "doozer_exceptions": "counter",
            "doozer_messages_in_progress": "gauge",
            "doozer_messages_read_ahead": "gauge",
            "doozer_workers": "gauge",
            "doozer_message_processing_duration_seconds": "histogram",
        }
        # Counters are exposed with _total, the duration in seconds.
        assert "doozer_messages_received_total{" in text
        samples = scrape(port)
        total = value(samples, "doozer_message_processing_duration_seconds_sum")
        assert 0.2 <= total < 5
        assert value(samples, "doozer_message_processing_duration_seconds_bucket", le="0.1") == 1
        # prometheus-client's default registry is served too.
        assert "process_cpu_seconds" in families
        assert get(port, "/nothing-here")[0] == 404
        process.signal(signal.SIGTERM)
        assert process.finish() == 0


def test_in_progress_is_what_workers_hold_and_read_ahead_what_waits() -> None:
    # One worker on a long message: the two next ones are read and wait
    # (one in the queue, one held by the reader until there is room).
    with running(["sleep:3", "ok", "ok"], workers=1) as (process, port):
        process.wait_for("started sleep:3")

        def gauges() -> tuple[float, float, float, float]:
            samples = scrape(port)
            return (
                value(samples, "doozer_messages_received_total"),
                value(samples, "doozer_messages_read_ahead"),
                value(samples, "doozer_messages_in_progress"),
                sum(v for (n, _), v in samples.items() if n == "doozer_messages_finished_total"),
            )

        wait_until(lambda: gauges() == (3, 2, 1, 0), "one message in progress, two waiting")
        process.wait_for("done ok", count=2)
        wait_until(lambda: gauges() == (3, 0, 0, 3), "all three finished")
        process.signal(signal.SIGTERM)
        assert process.finish() == 0
