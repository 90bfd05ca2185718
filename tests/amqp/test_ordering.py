"""Per-key ordering over RabbitMQ, in a real ``doozer run`` process with 8 workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.ordering import disorder, interleaved, most_at_once, run_service

from .support import Broker


def run(broker: Broker, output: Path, ordered: bool) -> list[tuple[str, str, int]]:
    broker.declare_inbound(broker.name())
    bodies = interleaved()
    broker.publish(broker.name(), bodies)
    return run_service("amqp", broker.url, broker.name(), output, len(bodies), ordered=ordered)


@pytest.mark.slow
def test_equal_keys_run_one_at_a_time_in_order(broker: Broker, tmp_path: Path) -> None:
    lines = run(broker, tmp_path / "out", ordered=True)
    assert disorder(lines) == {}
    assert most_at_once(lines) > 1  # ... while different keys ran side by side


@pytest.mark.slow
def test_without_an_ordering_key_the_same_stream_is_not_ordered(
    broker: Broker, tmp_path: Path
) -> None:
    # The control: the check above can fail on this workload.
    assert disorder(run(broker, tmp_path / "out", ordered=False)) != {}
