"""Per-key ordering over RabbitMQ, in a real ``doozer run`` process with 8 workers."""

from __future__ import annotations

import signal
from collections import defaultdict
from pathlib import Path

import pytest

from tests.support.processes import Process, wait_until

from .support import Broker

ROOT = Path(__file__).resolve().parents[2]
KEYS = [f"account-{n}" for n in range(10)]
PER_KEY = 40


def run(broker: Broker, output: Path, ordered: bool) -> list[tuple[str, str, int]]:
    """Process KEYS x PER_KEY interleaved messages; return the (event, key, seq) lines."""
    broker.declare_inbound(broker.name())
    bodies = [f"{key}:{seq}".encode() for seq in range(PER_KEY) for key in KEYS]
    broker.publish(broker.name(), bodies)
    option = ["--ordering-key", "tests.amqp.ordering_service:key"] if ordered else []
    service = Process(
        ["-m", "doozer", "run", "-w", "8", *option, "tests.amqp.ordering_service:app"],
        cwd=ROOT,
        env={
            "DOOZER_TEST_AMQP_URL": broker.url,
            "DOOZER_TEST_QUEUE": broker.name(),
            "DOOZER_TEST_OUTPUT": str(output),
        },
    )

    def ended() -> bool:
        return output.exists() and output.read_text().count("end ") == len(bodies)

    try:
        wait_until(ended, "every message is processed", timeout=60)
        service.signal(signal.SIGTERM)
        assert service.finish() == 0, service.output("stderr")
    finally:
        service.kill()
    return [
        (event, name, int(seq))
        for event, name, seq in (line.split() for line in output.read_text().splitlines())
    ]


def overlaps_or_disorders(lines: list[tuple[str, str, int]]) -> dict[str, list[str]]:
    """Per key, what breaks "one at a time, in order" (empty lists: ordered)."""
    problems: dict[str, list[str]] = defaultdict(list)
    running: dict[str, int | None] = defaultdict(lambda: None)
    expected: dict[str, int] = defaultdict(int)
    for event, name, seq in lines:
        if event == "start":
            if running[name] is not None:
                problems[name].append(f"{seq} started while {running[name]} ran")
            if seq != expected[name]:
                problems[name].append(f"{seq} started when {expected[name]} was next")
            running[name] = seq
        else:
            running[name] = None
            expected[name] = seq + 1
    return {name: found for name, found in problems.items() if found}


@pytest.mark.slow
def test_equal_keys_run_one_at_a_time_in_order(broker: Broker, tmp_path: Path) -> None:
    lines = run(broker, tmp_path / "out", ordered=True)
    assert overlaps_or_disorders(lines) == {}
    # ... while different keys ran side by side: 8 workers were used at once.
    running, most = 0, 0
    for event, _, _ in lines:
        running += 1 if event == "start" else -1
        most = max(most, running)
    assert most > 1


@pytest.mark.slow
def test_without_an_ordering_key_the_same_stream_is_not_ordered(
    broker: Broker, tmp_path: Path
) -> None:
    # The control: the check above can fail on this workload.
    assert overlaps_or_disorders(run(broker, tmp_path / "out", ordered=False)) != {}
