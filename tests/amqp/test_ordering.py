"""Per-key ordering over RabbitMQ, in a real ``doozer run`` process with 8 workers."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.ordering import disorder, most_at_once, read
from tests.support.processes import Process, wait_until

from .support import Broker

ROOT = Path(__file__).resolve().parents[2]
KEYS = [f"account-{n}" for n in range(10)]
PER_KEY = 40


def run(broker: Broker, output: Path, ordered: bool) -> list[tuple[str, str, int]]:
    """Process KEYS x PER_KEY interleaved messages; return the service's lines."""
    broker.declare_inbound(broker.name())
    bodies = [f"{key}:{seq}".encode() for seq in range(PER_KEY) for key in KEYS]
    broker.publish(broker.name(), bodies)
    option = ["--ordering-key", "tests.support.ordering_service:key"] if ordered else []
    service = Process(
        ["-m", "doozer", "run", "-w", "8", *option, "tests.support.ordering_service:make"],
        cwd=ROOT,
        env={
            "DOOZER_TEST_TRANSPORT": "amqp",
            "DOOZER_TEST_URL": broker.url,
            "DOOZER_TEST_SOURCE": broker.name(),
            "DOOZER_TEST_OUTPUT": str(output),
        },
    )
    try:
        wait_until(
            lambda: sum(e == "end" for e, _, _ in read(output)) == len(bodies),
            "every message is processed",
            timeout=60,
        )
        service.signal(signal.SIGTERM)
        assert service.finish() == 0, service.output("stderr")
    finally:
        service.kill()
    return read(output)


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
