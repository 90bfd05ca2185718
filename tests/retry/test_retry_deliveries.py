"""Retry with deliveries: :mod:`doozer.testing`'s MemoryQueue redelivers after the delay.

The retry state (attempt, first failure) travels in the delivery's headers;
the payload is never touched, no worker waits, no RETRY_CALLBACK is needed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import Counter
from typing import Any

import pytest

import doozer.contrib.retry._policy as policy_module
from doozer import Application, headers
from doozer.contrib.retry import Retry, RetryableException
from doozer.outcomes import SUCCEEDED, Failed, Outcome, RetryLater
from doozer.testing import MemoryDelivery, MemoryQueue, VirtualClock, run_until_drained

from .support import TIMER_RESOLUTION

APP_LOGGER = "retry-deliveries"


class Service:
    """An application whose callback fails message ``id`` ``fail_times[id]`` times.

    It records every attempt (as the delivery saw it), every error callback
    call and every outcome the ``message_outcome`` hook saw.
    """

    def __init__(self, fail_times: dict[Any, int], exc: Exception | None = None, **retry: Any):
        self.fail_times = fail_times
        self.exc = exc
        self.attempts: list[tuple[Any, int, float | None]] = []
        self.final_errors: list[tuple[Any, Exception]] = []
        self.seen: list[Outcome] = []
        self.app = app = Application(APP_LOGGER, callback=self.process)
        Retry(app, **retry)

        @app.message_preprocessor
        async def decode(app: Application, delivery: MemoryDelivery) -> dict[str, Any]:
            # What the callback gets is a decoded copy: Retry must look at the delivery.
            self.attempts.append((json.loads(delivery.body)["id"], delivery.attempt,
                                  delivery.first_failure))  # fmt: skip
            return dict(json.loads(delivery.body))

        @app.error
        async def final_failure(app: Application, message: Any, exc: Exception) -> None:
            self.final_errors.append((message, exc))

        @app.message_outcome
        async def seen(app: Application, message: Any, outcome: Outcome) -> None:
            self.seen.append(outcome)

    async def process(self, app: Application, message: dict[str, Any]) -> None:
        tries = sum(1 for id_, _, _ in self.attempts if id_ == message["id"])
        if tries <= self.fail_times.get(message["id"], 0):
            raise self.exc or RetryableException(f"message {message['id']} not ready")

    def attempts_of(self, id_: Any) -> list[int]:
        return [attempt for i, attempt, _ in self.attempts if i == id_]


def bodies(*ids: Any) -> list[bytes]:
    return [json.dumps({"id": id_}).encode() for id_ in ids]


@pytest.fixture
def wall_is_virtual(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    """A virtual clock that Retry reads too, so RETRY_TIMEOUT sees delays pass."""
    clock = VirtualClock()
    monkeypatch.setattr(policy_module, "time", clock_as_time_module(clock))
    return clock


def clock_as_time_module(clock: VirtualClock) -> Any:
    class Time:
        @staticmethod
        def time() -> float:
            return clock.now()

    return Time


@pytest.mark.parametrize("num_workers", [1, 3])
def test_deliveries_are_redelivered_until_they_succeed(num_workers: int) -> None:
    service = Service({1: 2, 4: 3}, threshold=5)
    report = run_until_drained(service.app, bodies(*range(6)), num_workers=num_workers)
    assert report.outcomes == [SUCCEEDED] * 6
    assert service.final_errors == []
    assert service.attempts_of(1) == [1, 2, 3]
    assert service.attempts_of(4) == [1, 2, 3, 4]
    assert service.attempts_of(0) == [1]
    one = report.records[1]
    assert one.kinds() == [
        "published", "delivered", "retried", "delivered", "retried", "delivered", "acknowledged",
    ]  # fmt: skip
    assert [event.attempt for event in one.events] == [1, 1, 1, 2, 2, 3, 3]
    retry_outcomes = one.outcomes[:-1]
    assert [(o.name, o.attempt) for o in retry_outcomes if isinstance(o, RetryLater)] == [
        ("retry_later", 2),
        ("retry_later", 3),
    ]
    assert one.headers[headers.ATTEMPT] == "3"
    assert headers.ATTEMPT not in report.records[0].headers
    # The payload is never touched: the state lives in headers.
    assert [record.body for record in report.records] == bodies(*range(6))
    assert report.count() == Counter(succeeded=6)
    assert Counter(o.name for o in service.seen) == Counter(succeeded=6, retry_later=5)


def test_delays_follow_the_backoff_on_the_virtual_clock() -> None:
    service = Service({"x": 3}, delay=1, backoff=2, threshold=5)
    report = run_until_drained(service.app, bodies("x"))
    [record] = report.records
    assert [e.detail for e in record.events if e.kind == "retried"] == [1.0, 2.0, 4.0]
    delivered = [e.time for e in record.events if e.kind == "delivered"]
    assert [later - earlier for earlier, later in itertools.pairwise(delivered)] == [1, 2, 4]
    assert record.outcome == SUCCEEDED


def test_threshold_exhaustion_dead_letters_once(caplog: pytest.LogCaptureFixture) -> None:
    service = Service({"doomed": 100}, threshold=2, delay=5)
    with caplog.at_level(logging.WARNING, logger=APP_LOGGER):
        report = run_until_drained(service.app, bodies("doomed", "fine"))
    doomed, fine = report.records
    assert fine.outcomes == [SUCCEEDED]
    assert [o.name for o in doomed.outcomes] == ["retry_later", "retry_later", "failed"]
    assert isinstance(doomed.outcome, Failed)
    assert isinstance(doomed.outcome.exception, RetryableException)
    assert doomed.state == "dead_lettered"
    assert report.queue.dead_letters == [doomed]
    assert doomed.headers[headers.ERROR] == "RetryableException: message doomed not ready"
    assert doomed.headers[headers.ERROR_TYPE] == "doozer.contrib.retry.RetryableException"
    assert service.attempts_of("doomed") == [1, 2, 3]
    # The error callbacks saw the final failure only, exactly once.
    [(message, exc)] = service.final_errors
    assert message == {"id": "doomed"}
    assert exc is doomed.outcome.exception
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "Retries exhausted" in warnings[0]
    assert "after 2 retry attempt(s)" in warnings[0]


def test_timeout_counts_from_the_first_failure_in_headers(wall_is_virtual: VirtualClock) -> None:
    start = wall_is_virtual.now()
    service = Service({"slow": 100}, delay=10, timeout=25)
    report = run_until_drained(service.app, MemoryQueue(bodies("slow"), clock=wall_is_virtual))
    [record] = report.records
    # Failures at +0, +10, +20 are retried; the one at +30 is past the 25 s.
    assert [o.name for o in record.outcomes] == ["retry_later"] * 3 + ["failed"]
    assert [o.first_failure for o in record.outcomes if isinstance(o, RetryLater)] == [start] * 3
    assert record.headers[headers.FIRST_FAILURE] == repr(start)
    # Each redelivery read the first failure back from its headers.
    assert [ff for _, _, ff in service.attempts] == [None, start, start, start]
    assert [e.time - start for e in record.events if e.kind == "delivered"] == [0, 10, 20, 30]
    assert len(service.final_errors) == 1


def test_a_first_failure_from_another_process_is_honoured() -> None:
    service = Service({"recent": 100, "stale": 100}, timeout=30, threshold=1)
    queue = MemoryQueue()
    queue.put(bodies("recent")[0], {headers.FIRST_FAILURE: repr(time.time() - 20)})
    queue.put(bodies("stale")[0], {headers.FIRST_FAILURE: repr(time.time() - 31)})
    report = run_until_drained(service.app, queue)
    recent, stale = report.records
    assert [o.name for o in recent.outcomes] == ["retry_later", "failed"]  # then the threshold
    assert [o.name for o in stale.outcomes] == ["failed"]  # 31 s > RETRY_TIMEOUT at once
    assert stale.kinds() == ["published", "delivered", "dead_lettered"]


def test_other_exceptions_fail_at_once() -> None:
    service = Service({1: 1}, exc=ValueError("bad input"), exceptions=KeyError, threshold=5)
    report = run_until_drained(service.app, bodies(1))
    [record] = report.records
    assert record.kinds() == ["published", "delivered", "dead_lettered"]
    assert isinstance(record.outcome, Failed)
    assert record.headers[headers.ERROR] == "ValueError: bad input"
    assert headers.ATTEMPT not in record.headers
    [(_, exc)] = service.final_errors
    assert isinstance(exc, ValueError)


def test_deliveries_never_call_retry_callback() -> None:
    called: list[Any] = []

    async def republish(app: Application, message: Any) -> None:
        called.append(message)

    service = Service({1: 2}, callback=republish)
    report = run_until_drained(service.app, bodies(1))
    assert report.outcomes == [SUCCEEDED]
    assert called == []


def test_the_worker_is_free_during_the_delay_in_real_time() -> None:
    """clock="real": the redelivery waits the 0.3 s; the one worker serves others meanwhile."""
    service = Service({"late": 1}, delay=0.3)
    finished: dict[Any, float] = {}

    @service.app.message_outcome
    async def stamp(app: Application, message: MemoryDelivery, outcome: Outcome) -> None:
        if outcome.finished:
            finished[json.loads(message.body)["id"]] = time.monotonic()

    report = run_until_drained(service.app, bodies("late", "a", "b"), clock="real")
    late = report.records[0]
    [retried] = [e.time for e in late.events if e.kind == "retried"]
    [_, redelivered] = [e.time for e in late.events if e.kind == "delivered"]
    assert redelivered - retried >= 0.3 - TIMER_RESOLUTION
    assert report.outcomes == [SUCCEEDED] * 3
    assert finished["a"] < finished["late"]
    assert finished["b"] < finished["late"]


async def test_a_stop_during_the_delay_leaves_the_message_with_its_broker() -> None:
    service = Service({1: 1}, delay=45)
    queue = MemoryQueue(bodies(1), clock="real")
    service.app.consumer = queue

    @service.app.message_outcome
    async def stop_on_retry(app: Application, message: Any, outcome: Outcome) -> None:
        if isinstance(outcome, RetryLater):
            app.stop()

    service.app.settings["SHUTDOWN_TIMEOUT"] = 10
    await asyncio.wait_for(service.app.serve(), 20)  # TimeoutError if it waited for the delay
    [record] = queue.records
    assert record.kinds() == ["published", "delivered", "retried"]  # scheduled on the broker
    assert record.headers[headers.ATTEMPT] == "2"
