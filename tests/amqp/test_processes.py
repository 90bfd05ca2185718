"""Real ``python -m doozer run`` processes sharing a queue: signals, kills, scaling."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.support.processes import Process, wait_until, written_lines

from .support import Broker

ROOT = Path(__file__).resolve().parents[2]


def start(
    broker: Broker,
    output: Path,
    workers: int,
    delay: float = 0,
    prefetch: int = 4,
    close_at: int | None = None,
    retry_delay: float | None = None,
    url: str | None = None,
) -> Process:
    process = Process(
        ["-m", "doozer", "run", "-v", "-w", str(workers), "tests.amqp.service:app"],
        cwd=ROOT,
        env={
            "DOOZER_TEST_AMQP_URL": url or broker.url,
            "DOOZER_TEST_QUEUE": broker.name(),
            "DOOZER_TEST_OUTPUT": str(output),
            "DOOZER_TEST_DELAY": str(delay),
            "DOOZER_TEST_PREFETCH": str(prefetch),
            "DOOZER_TEST_CLOSE_AT": "" if close_at is None else str(close_at),
            "DOOZER_TEST_RETRY_DELAY": "" if retry_delay is None else str(retry_delay),
        },
    )
    process.wait_for("consuming", timeout=20)
    return process


def processed(output: Path) -> list[tuple[int, bool]]:
    """(body, redelivered) of each message a process finished, in order."""
    lines = written_lines(output)
    return [(int(body), flag == "1") for body, flag in (line.split() for line in lines)]


def test_sigterm_drains(broker: Broker, tmp_path: Path) -> None:
    broker.declare_inbound(broker.name())
    total = 40
    broker.publish(broker.name(), [str(n).encode() for n in range(total)])
    output = tmp_path / "out"
    service = start(broker, output, workers=2, delay=0.3, prefetch=10)
    try:
        wait_until(lambda: len(processed(output)) >= 2, "two processed messages", timeout=10)
        service.signal(signal.SIGTERM)
        assert service.finish(timeout=15) == 0
    finally:
        service.kill()
    done = [body for body, _ in processed(output)]
    assert len(done) == len(set(done))
    assert len(done) < total
    # What was read was finished and acknowledged; the rest (prefetched or
    # not) is back in the queue, none lost and none twice.
    left = [int(m.body) for m in broker.drain(broker.name())]
    assert sorted(done + left) == list(range(total))
    assert any("Returned" in line and "unread message(s)" in line for line in service.stderr)
    assert broker.drain(broker.name(".dead")) == []


@pytest.mark.slow
def test_sigkill_of_one_of_two_consumers(broker: Broker, tmp_path: Path) -> None:
    broker.declare_inbound(broker.name())
    total, prefetch = 10_000, 8
    broker.publish(broker.name(), [str(n).encode() for n in range(total)])
    victim_output, survivor_output = tmp_path / "victim", tmp_path / "survivor"
    victim = start(broker, victim_output, workers=4, prefetch=prefetch)
    survivor = start(broker, survivor_output, workers=4, prefetch=prefetch)
    try:
        wait_until(lambda: len(processed(victim_output)) >= 1000, "the victim to work", timeout=60)
        victim.signal(signal.SIGKILL)
        victim.finish(timeout=10)

        def all_done() -> bool:
            seen = {n for n, _ in processed(victim_output) + processed(survivor_output)}
            return len(seen) == total

        wait_until(all_done, "every message to be processed", timeout=120)
        survivor.signal(signal.SIGTERM)
        assert survivor.finish(timeout=15) == 0
    finally:
        victim.kill()
        survivor.kill()

    by_victim = processed(victim_output)
    by_survivor = processed(survivor_output)
    assert 1000 <= len(by_victim) < total
    survivor_counts = Counter(n for n, _ in by_survivor)
    victim_counts = Counter(n for n, _ in by_victim)
    assert max(survivor_counts.values()) == 1
    assert max(victim_counts.values()) == 1
    assert set(survivor_counts) | set(victim_counts) == set(range(total))
    # Duplicates: only what the victim had in flight (processed, not yet
    # acknowledged) when it was killed, and the broker flagged them.
    twice = set(survivor_counts) & set(victim_counts)
    assert len(twice) <= prefetch
    assert all(redelivered for n, redelivered in by_survivor if n in twice)
    assert broker.counts(broker.name()) == (0, 0)
    assert broker.drain(broker.name(".dead")) == []


@pytest.mark.slow
def test_three_processes_share_a_queue(broker: Broker, tmp_path: Path) -> None:
    broker.declare_inbound(broker.name())
    outputs = [tmp_path / f"out{n}" for n in range(3)]
    services = [start(broker, output, workers=2, delay=0.01, prefetch=2) for output in outputs]
    total = 600
    try:
        broker.publish(broker.name(), [str(n).encode() for n in range(total)])
        wait_until(
            lambda: sum(len(processed(o)) for o in outputs) >= total, "all messages", timeout=60
        )
        for service in services:
            service.signal(signal.SIGTERM)
        assert [service.finish(timeout=15) for service in services] == [0, 0, 0]
    finally:
        for service in services:
            service.kill()
    shares = [[n for n, _ in processed(output)] for output in outputs]
    assert sorted(n for share in shares for n in share) == list(range(total))  # each once
    assert all(len(share) > total / 10 for share in shares), [len(s) for s in shares]
    assert broker.counts(broker.name()) == (0, 0)


def test_reconnects_after_the_server_closes_the_connection(broker: Broker, tmp_path: Path) -> None:
    broker.declare_inbound(broker.name())
    total = 30
    broker.publish(broker.name(), [str(n).encode() for n in range(total)])
    output = tmp_path / "out"
    # While processing message 5, the service has the broker close its
    # connection (as `rabbitmqctl close_connection` does to a chosen one).
    service = start(broker, output, workers=2, delay=0.05, prefetch=4, close_at=5)
    try:
        service.wait_for("closed 1 connection(s)", timeout=20)
        service.wait_for("Lost the AMQP connection", timeout=10)
        service.wait_for("Reconnected to", timeout=20)
        everything = set(range(total))
        wait_until(lambda: {n for n, _ in processed(output)} == everything, "all", timeout=30)
        service.signal(signal.SIGTERM)
        assert service.finish(timeout=15) == 0
    finally:
        service.kill()
    done = processed(output)
    counts = Counter(n for n, _ in done)
    # In flight at the loss, or finished with their acknowledgement still in
    # the batch: processed again, flagged as redelivered, at most the prefetch
    # count. Those only read ahead were skipped, not processed twice.
    again = {n for n, c in counts.items() if c > 1}
    assert 5 in again
    assert len(again) <= 4  # the prefetch count
    assert again <= {n for n, redelivered in done if redelivered}
    assert any("Could not acknowledge" in line for line in service.stderr)
    assert broker.counts(broker.name()) == (0, 0)
    assert broker.drain(broker.name(".dead")) == []
