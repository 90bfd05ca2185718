"""Per-key ordering over NATS JetStream, in a real ``doozer run`` process with 8 workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.ordering import disorder, interleaved, most_at_once, run_service

from .support import Streams


@pytest.mark.slow
def test_equal_keys_run_one_at_a_time_in_order(streams: Streams, tmp_path: Path) -> None:
    bodies = interleaved()
    streams.run(streams.publish(bodies))
    lines = run_service("nats", streams.url, streams.stream, tmp_path / "out", len(bodies))
    assert disorder(lines) == {}
    assert most_at_once(lines) > 1
