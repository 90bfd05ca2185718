"""``doozer run --processes N`` on RabbitMQ: kills, signals and recycling lose nothing.

The children run ``tests.amqp.service:app`` (doozer-amqp), which appends
``<body> <redelivered>`` to one shared file per processed message.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest

from tests.amqp.support import URL, Broker
from tests.support.processes import Process, doozer, wait_until, written_lines

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def broker() -> Iterator[Broker]:
    """Uniquely named queues on the test broker, deleted after the test.

    Skipped when RabbitMQ is unreachable, unless DOOZER_REQUIRE_RABBITMQ=1 (as in CI).
    """

    async def probe() -> None:
        connection = await aio_pika.connect(URL, timeout=5)
        await connection.close()

    try:
        asyncio.run(probe())
    except Exception as error:
        reason = f"RabbitMQ is not reachable at {URL} ({type(error).__name__}: {error})"
        if os.environ.get("DOOZER_REQUIRE_RABBITMQ") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    handle = Broker(URL, f"doozer-test-{uuid.uuid4().hex[:10]}")
    try:
        yield handle
    finally:
        handle.cleanup()


def supervise(broker: Broker, output: Path, *options: str, prefetch: int = 8) -> Process:
    """``doozer run tests.amqp.service:app -v *options``, from the repository root."""
    return doozer(
        "run",
        "-v",
        *options,
        "tests.amqp.service:app",
        cwd=ROOT,
        env={
            "DOOZER_TEST_AMQP_URL": broker.url,
            "DOOZER_TEST_QUEUE": broker.name(),
            "DOOZER_TEST_OUTPUT": str(output),
            "DOOZER_TEST_PREFETCH": str(prefetch),
        },
    )


def processed(output: Path) -> list[tuple[int, bool]]:
    """(body, redelivered) of each message a child finished, in order."""
    lines = written_lines(output)
    return [(int(body), flag == "1") for body, flag in (line.split() for line in lines)]


def slot_pid(process: Process, slot: int, count: int = 1) -> int:
    pattern = rf"Started child {slot} of \d+ \(pid (\d+)\)"
    return int(process.wait_for_match(pattern, "stderr", count=count)[1])


def fill(broker: Broker, total: int) -> None:
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [str(n).encode() for n in range(total)])


@pytest.mark.slow
def test_a_killed_child_is_restarted_and_no_message_is_lost(broker: Broker, tmp_path: Path) -> None:
    total, prefetch = 10_000, 8
    fill(broker, total)
    output = tmp_path / "processed"
    supervisor = supervise(broker, output, "--processes", "3", "-w", "4", prefetch=prefetch)
    try:
        supervisor.wait_for("consuming", count=3)
        victim = slot_pid(supervisor, 2)
        wait_until(lambda: len(processed(output)) >= 2000, "2,000 messages processed", 60)
        os.kill(victim, signal.SIGKILL)
        supervisor.wait_for(f"Child 2 (pid {victim}) was killed by SIGKILL", stream="stderr")
        replacement = slot_pid(supervisor, 2, count=2)
        supervisor.wait_for("consuming", count=4)

        def all_seen() -> bool:
            return len({n for n, _ in processed(output)}) == total

        wait_until(all_seen, "every message processed", 120)
        supervisor.signal(signal.SIGTERM)
        assert supervisor.finish(timeout=30) == 0, supervisor.output("stderr")
    finally:
        supervisor.kill()
    assert replacement != victim
    done = processed(output)
    counts = Counter(n for n, _ in done)
    assert set(counts) == set(range(total))  # at least once
    # Twice only what the victim had read and not acknowledged; flagged by the broker.
    twice = {n for n, seen in counts.items() if seen > 1}
    assert max(counts.values()) <= 2
    assert len(twice) <= prefetch
    last_time = dict(done)  # the flag of each body's last processing
    assert all(last_time[n] for n in twice)
    assert broker.counts(broker.name()) == (0, 0)
    assert broker.drain(broker.name(".dead")) == []


def test_sigterm_under_load_acknowledges_every_message_read(broker: Broker, tmp_path: Path) -> None:
    total = 3000
    fill(broker, total)
    output = tmp_path / "processed"
    supervisor = supervise(broker, output, "--processes", "3", "-w", "4")
    try:
        supervisor.wait_for("consuming", count=3)
        wait_until(lambda: len(processed(output)) >= 300, "300 messages processed", 60)
        supervisor.signal(signal.SIGTERM)
        assert supervisor.finish(timeout=30) == 0, supervisor.output("stderr")
    finally:
        supervisor.kill()
    done = [n for n, _ in processed(output)]
    assert len(done) == len(set(done))  # none twice: each was acknowledged once finished
    left = [int(got.body) for got in broker.drain(broker.name())]
    assert sorted(done + left) == list(range(total))  # the rest went back, none lost
    assert broker.drain(broker.name(".dead")) == []
    stderr = supervisor.output("stderr")
    assert stderr.count("exited with status 0") == 3


@pytest.mark.slow
def test_recycling_loses_nothing(broker: Broker, tmp_path: Path) -> None:
    total, limit = 10_000, 1000
    fill(broker, total)
    output = tmp_path / "processed"
    supervisor = supervise(
        broker, output, "--processes", "2", "--max-messages-per-child", str(limit), "-w", "4"
    )
    try:
        wait_until(lambda: len(processed(output)) >= total, "every message processed", 120)
        supervisor.signal(signal.SIGTERM)
        assert supervisor.finish(timeout=30) == 0, supervisor.output("stderr")
    finally:
        supervisor.kill()
    counts = Counter(n for n, _ in processed(output))
    assert set(counts) == set(range(total))
    assert max(counts.values()) == 1  # a recycled child finished and acknowledged its messages
    assert broker.counts(broker.name()) == (0, 0)
    assert broker.drain(broker.name(".dead")) == []
    recycled = [line for line in supervisor.stderr if "messages: replacing it" in line]
    # 10,000 messages, 1,000 per child: about ten replacements. The first
    # lives were staggered (child 2's first limit is 500), so the children
    # were not replaced together.
    assert 8 <= len(recycled) <= 11, recycled
    assert any("Child 2 (pid" in line and "finished its 500 messages" in line for line in recycled)
    assert any("Child 1 (pid" in line and "finished its 1000 messages" in line for line in recycled)
