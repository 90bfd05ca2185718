"""Retry in a real ``run_forever()``: messages go back to the consumer until they succeed."""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections import Counter
from typing import Any

import pytest

from doozer import Application
from doozer.contrib.retry import Retry, RetryableException

from .support import Broker, wire


def build(
    broker: Broker, fail_times: dict[Any, int], **retry: Any
) -> tuple[Application, dict[str, Any]]:
    """An app over *broker* whose callback fails message ``id`` ``fail_times[id]`` times.

    RETRY_CALLBACK publishes the message to *broker* again; a later error
    callback records final failures.
    """
    record: dict[str, Any] = {"attempts": Counter(), "done": [], "final_errors": []}

    async def callback(app: Application, message: dict[str, Any]) -> None:
        record["attempts"][message["id"]] += 1
        if record["attempts"][message["id"]] <= fail_times.get(message["id"], 0):
            raise RetryableException(f"message {message['id']} not ready")
        record["done"].append(message)

    async def republish(app: Application, message: Any) -> None:
        broker.publish(message)

    app = Application("retry-run", {"RETRY_CALLBACK": republish}, callback=callback)
    wire(app, broker)

    @app.error
    async def final_failure(app: Application, message: Any, exc: Exception) -> None:
        record["final_errors"].append((message, exc))

    Retry(app, **retry)
    return app, record


@pytest.mark.parametrize("num_workers", [1, 3])
def test_failing_messages_are_retried_until_they_succeed(num_workers: int) -> None:
    broker = Broker([{"id": n} for n in range(6)])
    app, record = build(broker, {1: 2, 4: 3}, threshold=5)
    app.run_forever(num_workers=num_workers)
    assert sorted(m["id"] for m in record["done"]) == [0, 1, 2, 3, 4, 5]
    assert record["attempts"] == {0: 1, 1: 3, 2: 1, 3: 1, 4: 4, 5: 1}
    assert record["final_errors"] == []  # shielded by Retry's Abort
    # every read was acknowledged once, failures included, as the very object read
    assert len(broker.acknowledged) == len(broker.read_messages) == 11
    assert Counter(map(id, broker.acknowledged)) == Counter(map(id, broker.read_messages))
    done = {m["id"]: m for m in record["done"]}
    assert done[1]["_retry"]["count"] == 2
    assert done[4]["_retry"]["count"] == 3
    assert "_retry" not in done[0]


def test_the_final_failure_reaches_the_later_error_callbacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = Broker([{"id": "doomed"}, {"id": "fine"}])
    app, record = build(broker, {"doomed": 100}, threshold=2)
    with caplog.at_level(logging.WARNING, logger="retry-run"):
        app.run_forever()
    assert record["attempts"] == {"doomed": 3, "fine": 1}
    [(message, exc)] = record["final_errors"]
    assert message["id"] == "doomed"
    assert message["_retry"]["count"] == 2
    assert isinstance(exc, RetryableException)
    assert len(broker.acknowledged) == 4
    assert "Retries exhausted for message" in caplog.text
    assert "doomed" in caplog.text


def test_other_exceptions_skip_retry() -> None:
    broker = Broker([{"id": 1}])
    app, record = build(broker, {1: 1}, exceptions=KeyError)
    app.run_forever()
    assert record["attempts"] == {1: 1}
    [(message, exc)] = record["final_errors"]
    assert isinstance(exc, RetryableException)
    assert "_retry" not in message
    assert broker.published == [{"id": 1}]


def test_timeout_in_a_real_run() -> None:
    broker = Broker([{"id": 1}])
    app, record = build(broker, {1: 1000}, delay=0.02, timeout=0.15)
    start = time.monotonic()
    app.run_forever()
    elapsed = time.monotonic() - start
    [(message, _)] = record["final_errors"]
    retries = message["_retry"]["count"]
    assert 0.15 <= elapsed < 2
    assert 2 <= retries <= 8  # about 0.15 / 0.02, whatever the scheduling noise
    assert record["attempts"][1] == retries + 1


def test_state_survives_serialization_with_delay_and_backoff() -> None:
    """Like a real broker: bytes on the wire, decoded by a preprocessor, re-encoded to retry."""
    broker = Broker([json.dumps({"id": "x"}).encode()])
    attempts: list[float] = []

    async def callback(app: Application, message: dict[str, Any]) -> None:
        attempts.append(time.monotonic())
        if len(attempts) <= 3:
            raise RetryableException

    async def republish(app: Application, message: dict[str, Any]) -> None:
        broker.publish(json.dumps(message).encode())

    app = Application("retry-wire", callback=callback)
    app.settings.from_mapping(
        {"RETRY_CALLBACK": republish, "RETRY_DELAY": 0.02, "RETRY_BACKOFF": 2, "RETRY_THRESHOLD": 3}
    )
    wire(app, broker)

    @app.message_preprocessor
    async def decode(app: Application, message: bytes) -> Any:
        return json.loads(message)

    Retry(app)
    app.run_forever()

    assert len(attempts) == 4  # three retries, then success within the threshold
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    for gap, delay in zip(gaps, [0.02, 0.04, 0.08], strict=True):
        assert delay * 0.9 <= gap < delay + 0.2
    last = json.loads(broker.published[-1])
    assert last["_retry"]["count"] == 3
    assert last["_retry"]["delay"] == pytest.approx(0.08)
    assert broker.acknowledged == broker.read_messages
