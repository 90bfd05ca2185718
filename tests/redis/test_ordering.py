"""Per-key ordering over Redis Streams, in a real ``doozer run`` process with 8 workers."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.ordering import disorder, most_at_once, read
from tests.support.processes import Process, wait_until

from .support import Streams

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_equal_keys_run_one_at_a_time_in_order(streams: Streams, tmp_path: Path) -> None:
    bodies = [f"account-{key}:{seq}".encode() for seq in range(40) for key in range(10)]
    streams.add(bodies)
    output = tmp_path / "out"
    service = Process(
        [
            *("-m", "doozer", "run", "-w", "8"),
            *(
                "--ordering-key",
                "tests.support.ordering_service:key",
                "tests.support.ordering_service:make",
            ),
        ],
        cwd=ROOT,
        env={
            "DOOZER_TEST_TRANSPORT": "redis",
            "DOOZER_TEST_URL": streams.url,
            "DOOZER_TEST_SOURCE": streams.inbound,
            "DOOZER_TEST_OUTPUT": str(output),
        },
    )
    try:
        wait_until(
            lambda: sum(e == "end" for e, _, _ in read(output)) == len(bodies),
            "every entry is processed",
            timeout=60,
        )
        service.signal(signal.SIGTERM)
        assert service.finish() == 0, service.output("stderr")
    finally:
        service.kill()
    lines = read(output)
    assert disorder(lines) == {}
    assert most_at_once(lines) > 1
