"""``doozer run --processes 3`` on Redis Streams and NATS JetStream: a SIGKILL loses nothing.

The children run the transports' own test services (``tests.redis.service``,
``tests.nats.service``), which append a line per processed message to one
shared file. What a killed child held comes back (Redis: claimed by another
consumer once idle; NATS: redelivered after the ack wait) and is processed.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.nats.support import Streams as NatsStreams
from tests.redis.support import Streams as RedisStreams
from tests.support.processes import Process, doozer, wait_until, written_lines

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("DOOZER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("DOOZER_TEST_NATS_URL", "nats://127.0.0.1:4222")
TOTAL = 10_000


@pytest.fixture
def redis_streams() -> Iterator[RedisStreams]:
    handle = RedisStreams(REDIS_URL, f"doozer-test-{uuid.uuid4().hex[:10]}")
    try:
        yield handle
    finally:
        handle.cleanup()


@pytest.fixture
def nats_streams() -> Iterator[NatsStreams]:
    handle = NatsStreams(NATS_URL, f"doozer_test_{uuid.uuid4().hex[:10]}")
    handle.run(handle.create())
    try:
        yield handle
    finally:
        handle.run(handle.delete())


def supervise(module: str, env: dict[str, str]) -> Process:
    return doozer("run", "-v", "--processes", "3", "-w", "4", module, cwd=ROOT, env=env)


def kill_one_then_finish(supervisor: Process, progress: Path, all_done: Callable[[], bool]) -> int:
    """Kill child 2 after 1,000 lines of *progress*; wait until it is back and all is done."""
    supervisor.wait_for("consuming", count=3)
    victim = int(supervisor.wait_for_match(r"Started child 2 of 3 \(pid (\d+)\)", "stderr")[1])
    wait_until(lambda: _lines(progress) >= 1000, "1,000 messages processed", 60)
    os.kill(victim, signal.SIGKILL)
    supervisor.wait_for(f"Child 2 (pid {victim}) was killed by SIGKILL", stream="stderr")
    supervisor.wait_for("consuming", count=4)  # its replacement
    wait_until(all_done, "every message processed and acknowledged", 180)
    supervisor.signal(signal.SIGTERM)
    return supervisor.finish(timeout=30)


def _lines(path: Path) -> int:
    return len(written_lines(path))


@pytest.mark.slow
def test_redis_streams(redis_streams: RedisStreams, tmp_path: Path) -> None:
    redis_streams.add([str(n).encode() for n in range(TOTAL)])
    output = tmp_path / "processed"
    supervisor = supervise(
        "tests.redis.service:app",
        {
            "DOOZER_TEST_REDIS_URL": redis_streams.url,
            "DOOZER_TEST_STREAM": redis_streams.inbound,
            "DOOZER_TEST_OUTPUT": str(output),
            "DOOZER_TEST_CLAIM_IDLE": "1",
        },
    )

    def processed() -> set[str]:
        return {line.split()[0] for line in written_lines(output)}

    def all_done() -> bool:
        return len(processed()) == TOTAL and redis_streams.pending("redis-service") == 0

    try:
        assert kill_one_then_finish(supervisor, output, all_done) == 0, supervisor.stderr
    finally:
        supervisor.kill()
    assert processed() == {str(n) for n in range(TOTAL)}
    assert redis_streams.entries(redis_streams.dead) == []


@pytest.mark.slow
def test_nats_jetstream(nats_streams: NatsStreams, tmp_path: Path) -> None:
    nats_streams.run(nats_streams.publish([str(n).encode() for n in range(TOTAL)]))
    output = tmp_path / "processed"
    supervisor = supervise(
        "tests.nats.service:app",
        {
            "DOOZER_TEST_NATS_URL": nats_streams.url,
            "DOOZER_TEST_STREAM": nats_streams.stream,
            "DOOZER_TEST_OUTPUT": str(output),
            "DOOZER_TEST_ACK_WAIT": "2",
        },
    )

    def processed() -> set[str]:
        return {line.split()[1] for line in written_lines(output) if line.startswith("done ")}

    async def settled() -> bool:
        info = await nats_streams.consumer()
        return bool(info.num_ack_pending == 0 and info.num_pending == 0)

    def all_done() -> bool:
        return len(processed()) == TOTAL and nats_streams.run(settled())

    try:
        assert kill_one_then_finish(supervisor, output, all_done) == 0, supervisor.stderr
    finally:
        supervisor.kill()
    assert processed() == {str(n) for n in range(TOTAL)}
    assert nats_streams.run(nats_streams.dead_letters()) == []
