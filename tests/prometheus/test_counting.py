"""What the message observer counts, read through the extension's registry (no HTTP)."""

from __future__ import annotations

from doozer import Abort, Application
from doozer.contrib.prometheus import Prometheus
from doozer.testing import MemoryDelivery, run_until_drained


async def process(app: Application, message: MemoryDelivery) -> None:
    if message.body == "abort":
        raise Abort("test", message)
    if message.body == "fail":
        raise KeyError(message.body)


def test_counters_continue_across_runs_of_one_application() -> None:
    app = Application("twice", {"PROMETHEUS_PORT": 0, "PROMETHEUS_HOST": "127.0.0.1"})
    app.callback = process
    prometheus = Prometheus(app)
    labels = {"application": "twice", "destination": ""}

    def sample(name: str, **more: str) -> float | None:
        return prometheus.registry.get_sample_value(name, {**labels, **more})

    run_until_drained(app, ["ok", "fail", "abort"], num_workers=2)
    assert sample("doozer_messages_received_total") == 3
    run_until_drained(app, ["ok", "ok"], num_workers=2)
    # messages_read starts from 0 again with the second run; the counter does not.
    assert sample("doozer_messages_received_total") == 5
    assert sample("doozer_messages_finished_total", outcome="succeeded") == 3
    assert sample("doozer_messages_finished_total", outcome="failed") == 1
    assert sample("doozer_messages_finished_total", outcome="aborted") == 1
    assert sample("doozer_exceptions_total", type="KeyError") == 1
    assert sample("doozer_messages_dead_lettered_total") == 1  # a MemoryDelivery failed
    assert sample("doozer_message_processing_duration_seconds_count") == 5
    assert sample("doozer_messages_in_progress") == 0
