"""The JSON log of a real ``doozer run`` process reading a real Redis stream."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import Process, wait_until

from ..redis.conftest import URL
from ..redis.support import Streams

ROOT = Path(__file__).resolve().parents[2]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def streams() -> Iterator[Streams]:
    handle = Streams(URL, f"doozer-test-logging-{uuid.uuid4().hex[:10]}")
    try:
        yield handle
    finally:
        handle.cleanup()


def run_service(streams: Streams, *options: str, **env: str) -> list[dict[str, Any]]:
    """Run the service over three entries, stop it, return its stdout as JSON records."""
    for body in (b"one", b"bad", b"two"):
        streams.client.xadd(
            streams.inbound,
            {"body": body, "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
        )
    service = Process(
        ["-m", "doozer", "run", *options, "tests.logging.service:app"],
        cwd=ROOT,
        env={"DOOZER_TEST_REDIS_URL": streams.url, "DOOZER_TEST_STREAM": streams.inbound, **env},
    )
    try:
        wait_until(
            lambda: (
                sum('"handled"' in line for line in service.stdout) >= 3
                and any("failed" in line for line in service.stdout)
            ),
            "three entries handled",
            timeout=30,
        )
        service.signal(15)
        assert service.finish() == 0, service.output("stderr")
    finally:
        service.kill()
    # Every line parses, or this fails naming it.
    records = [json.loads(line) for line in service.stdout]
    assert all(isinstance(record, dict) for record in records)
    return records


def check(records: list[dict[str, Any]], streams: Streams) -> None:
    handled = [r for r in records if r["event"] == "handled"]
    assert sorted(r["body"] for r in handled) == ["bad", "one", "two"]
    ids = {fields_id for fields_id, _ in streams.entries(streams.inbound)}
    for record in handled:
        assert record["message_id"] in ids
        assert record["destination"] == streams.inbound
        assert record["attempt"] == 1
        assert record["trace_id"] == TRACE_ID  # continued from the entry's traceparent
        assert len(record["span_id"]) == 16
        assert record["logger"] == "service"
        assert record["timestamp"].endswith("Z")
    events = [r["event"] for r in records]
    assert any(e.startswith("Connected to Redis at redis://127.0.0.1:6379") for e in events)
    assert any(e.startswith("Started 'logging-service'") for e in events)
    assert any(e.startswith("Stopped 'logging-service' after 3 message(s)") for e in events)
    (error,) = [r for r in records if r["level"] == "error"]
    assert error["event"].startswith("Error processing message")
    assert error["trace_id"] == TRACE_ID
    assert error["exception"][0]["exc_type"] == "ValueError"
    # The dead letter is logged when the message is settled, after its context ended.
    (dead,) = [r for r in records if r["level"] == "warning" and "failed" in r["event"]]
    assert dead["logger"] == "logging-service"


@pytest.mark.slow
def test_every_line_of_a_real_run_is_json_with_message_and_trace_ids(
    streams: Streams,
) -> None:
    check(run_service(streams, DOOZER_TEST_LOG_FORMAT="json"), streams)
