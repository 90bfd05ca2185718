"""What Retry's failure policy decides for a failed plain message, and where it keeps count.

The policy is called directly, on a running application (its plain-message
retries are timers of the application). Deliveries are tested through
:mod:`doozer.testing` in ``test_retry_deliveries.py``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import types
from typing import Any

import pytest

import doozer.contrib.retry._policy as policy_module
from doozer import Application
from doozer.contrib.retry import LONGEST_DELAY, Retry, RetryableException
from doozer.outcomes import RetryLater

from .support import MakeApp, fail, running

APP_LOGGER = "retry-test"


class FakeTime:
    """Stands in for the ``time`` module: ``time()`` returns what the test sets."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(policy_module, "time", fake)
    return fake


async def retried(app: Application, message: Any, exc: Exception | None = None) -> bool:
    outcome = await fail(app, message, exc)
    assert outcome is None or isinstance(outcome, RetryLater)
    return outcome is not None


async def retries_until_exhausted(app: Application, message: Any, limit: int = 100) -> int:
    count = 0
    while await retried(app, message):
        count += 1
        assert count < limit, "never stopped retrying"
    return count


# -- the outcome ---------------------------------------------------------------


async def test_a_retry_is_a_retry_later_outcome(make_app: MakeApp, clock: FakeTime) -> None:
    app = make_app(RETRY_DELAY=3, RETRY_BACKOFF=2)
    Retry(app)
    message: dict[str, Any] = {"id": 1}
    exc = RetryableException("busy")
    async with running(app):
        first = await fail(app, message, exc)
        clock.now += 3
        second = await fail(app, message, exc)
    assert first == RetryLater(3.0, 2, exc, 1_000_000.0)
    assert second == RetryLater(6.0, 3, exc, 1_000_000.0)  # first_failure kept
    assert message["_retry"] == {"count": 2, "start_time": 1_000_000.0, "delay": 6.0}


# -- threshold -----------------------------------------------------------------


@pytest.mark.parametrize("threshold", [1, 2, 5])
async def test_threshold_is_the_number_of_retries(
    make_app: MakeApp, republished: list[Any], threshold: int
) -> None:
    app = make_app(RETRY_THRESHOLD=threshold)
    Retry(app)
    message: dict[str, Any] = {"id": 1}
    async with running(app):
        for attempt in range(1, threshold + 1):
            outcome = await fail(app, message)
            assert isinstance(outcome, RetryLater)
            assert outcome.attempt == attempt + 1
            assert message["_retry"]["count"] == attempt
        assert not await retried(app, message)
        assert not await retried(app, message)  # still exhausted
    assert message["_retry"]["count"] == threshold
    assert republished == [message] * threshold


async def test_threshold_zero_never_retries(make_app: MakeApp, republished: list[Any]) -> None:
    app = make_app(RETRY_THRESHOLD=0)
    Retry(app)
    message: dict[str, Any] = {"id": 1}
    async with running(app):
        assert not await retried(app, message)
    assert message == {"id": 1}  # nothing recorded
    assert republished == []


async def test_no_limits_retry_forever(make_app: MakeApp, republished: list[Any]) -> None:
    app = make_app()
    Retry(app)
    message: dict[str, Any] = {}
    async with running(app):
        for _ in range(200):
            assert await retried(app, message)
    assert message["_retry"]["count"] == 200
    assert len(republished) == 200


async def test_a_republished_message_continues_its_count(make_app: MakeApp) -> None:
    app = make_app(RETRY_THRESHOLD=3)
    Retry(app)
    arrived: dict[str, Any] = {
        "id": 1,
        "_retry": {"count": 2, "start_time": time.time() - 1, "delay": 0},
    }
    async with running(app):
        outcome = await fail(app, arrived)
        assert isinstance(outcome, RetryLater)
        assert outcome.attempt == 4
        assert not await retried(app, arrived)
    assert arrived["_retry"]["count"] == 3


# -- timeout -------------------------------------------------------------------


async def test_timeout_is_in_seconds_from_the_first_failure(
    make_app: MakeApp, clock: FakeTime
) -> None:
    app = make_app(RETRY_TIMEOUT=10)
    Retry(app)
    message: dict[str, Any] = {}
    first_failure = clock.now
    async with running(app):
        assert await retried(app, message)
        assert message["_retry"]["start_time"] == first_failure
        clock.now += 5
        assert await retried(app, message)
        clock.now = first_failure + 9.9  # milliseconds would have given up long ago
        assert await retried(app, message)
        assert message["_retry"]["start_time"] == first_failure  # not reset by retries
        clock.now = first_failure + 10
        assert not await retried(app, message)
    assert message["_retry"]["count"] == 3


async def test_timeout_zero_never_retries(make_app: MakeApp, clock: FakeTime) -> None:
    app = make_app(RETRY_TIMEOUT=0)
    Retry(app)
    async with running(app):
        assert not await retried(app, {})


async def test_timeout_counts_from_a_failure_in_another_process(make_app: MakeApp) -> None:
    app = make_app(RETRY_TIMEOUT=30)
    Retry(app)
    recent = {"_retry": {"count": 9, "start_time": time.time() - 20, "delay": 0}}
    stale = {"_retry": {"count": 1, "start_time": time.time() - 31, "delay": 0}}
    async with running(app):
        assert await retried(app, recent)
        assert not await retried(app, stale)


async def test_whichever_limit_comes_first_stops(make_app: MakeApp, clock: FakeTime) -> None:
    by_count = make_app(RETRY_THRESHOLD=2, RETRY_TIMEOUT=100)
    Retry(by_count)
    async with running(by_count):
        assert await retries_until_exhausted(by_count, {}) == 2

    by_time = make_app(RETRY_THRESHOLD=100, RETRY_TIMEOUT=5)
    Retry(by_time)
    message: dict[str, Any] = {}
    async with running(by_time):
        for _ in range(3):
            assert await retried(by_time, message)
            clock.now += 2
        assert not await retried(by_time, message)  # 6 s after the first failure
    assert message["_retry"]["count"] == 3


# -- delay and backoff ---------------------------------------------------------


@pytest.mark.parametrize(
    ("backoff", "expected"),
    [(1, [0.04, 0.04, 0.04]), (2, [0.02, 0.04, 0.08]), (0.5, [0.08, 0.04, 0.02]), (0, [1, 0, 0])],
)
async def test_delay_grows_by_backoff_per_retry(
    make_app: MakeApp, backoff: float, expected: list[float]
) -> None:
    app = make_app(RETRY_DELAY=expected[0], RETRY_BACKOFF=backoff)
    Retry(app)
    message: dict[str, Any] = {}
    async with running(app):
        for delay in expected:
            outcome = await fail(app, message)
            assert isinstance(outcome, RetryLater)
            assert outcome.delay == pytest.approx(delay)
            assert message["_retry"]["delay"] == pytest.approx(delay)


async def test_backoff_formula_with_the_recorded_delay(make_app: MakeApp) -> None:
    app = make_app(RETRY_DELAY=0.001, RETRY_BACKOFF=3)
    Retry(app)
    message: dict[str, Any] = {}
    async with running(app):
        for retries_so_far in range(5):
            assert await retried(app, message)
            assert message["_retry"]["delay"] == pytest.approx(0.001 * 3**retries_so_far)


@pytest.mark.parametrize(
    ("delay", "backoff", "expected"),
    [(0, 2, 0.0), (0.0, 2.0, 0.0), (5, 0, 0.0), (1, 2, LONGEST_DELAY), (1.0, 2.0, LONGEST_DELAY)],
)
async def test_delays_after_very_many_retries_do_not_overflow(
    make_app: MakeApp, delay: float, backoff: float, expected: float
) -> None:
    """RETRY_DELAY 0 with a backoff, retried forever: no OverflowError after ~1,000 retries."""
    app = make_app(RETRY_DELAY=delay, RETRY_BACKOFF=backoff)
    Retry(app)
    message: dict[str, Any] = {"_retry": {"count": 5000, "start_time": time.time(), "delay": 0}}
    async with running(app):
        outcome = await fail(app, message)
        assert isinstance(outcome, RetryLater)
        assert outcome.delay == expected
        assert outcome.attempt == 5002


async def test_deciding_never_waits_out_the_delay(
    make_app: MakeApp, republished: list[Any]
) -> None:
    """The policy returns at once: the delay is a timer's, not the worker's."""
    app = make_app(RETRY_DELAY=60)
    Retry(app)
    message: dict[str, Any] = {}
    async with running(app):
        start = time.monotonic()
        assert await retried(app, message)
        assert time.monotonic() - start < 30  # a sleeping policy would take 60 s
        assert republished == []  # the timer has not fired
    assert republished == [message]  # the stop handed it over at once


# -- which exceptions ----------------------------------------------------------


class Special(RetryableException):
    pass


@pytest.mark.parametrize(
    ("exceptions", "retryable", "not_retryable"),
    [
        (RetryableException, [RetryableException(), Special()], [Exception(), ValueError()]),
        (KeyError, [KeyError(), KeyError("x")], [RetryableException(), LookupError()]),
        (LookupError, [KeyError(), IndexError()], [ValueError()]),
        ((KeyError, ValueError), [KeyError(), ValueError()], [TypeError(), RetryableException()]),
        ((), [], [RetryableException(), ValueError()]),
    ],
)
async def test_only_the_configured_exceptions_are_retried(
    make_app: MakeApp,
    republished: list[Any],
    exceptions: Any,
    retryable: list[Exception],
    not_retryable: list[Exception],
) -> None:
    app = make_app(RETRY_EXCEPTIONS=exceptions)
    Retry(app)
    async with running(app):
        for exc in not_retryable:
            message: dict[str, Any] = {}
            assert not await retried(app, message, exc)
            assert message == {}
        for exc in retryable:
            assert await retried(app, {}, exc)
    assert len(republished) == len(retryable)


# -- where the state lives -----------------------------------------------------


class Envelope:
    def __init__(self, body: str) -> None:
        self.body = body


@dataclasses.dataclass
class Letter:
    body: str


@pytest.mark.parametrize(
    "message",
    [Envelope("x"), Letter("x"), types.SimpleNamespace(body="x")],
    ids=lambda message: type(message).__name__,
)
async def test_objects_carry_the_state_as_an_attribute(make_app: MakeApp, message: Any) -> None:
    app = make_app(RETRY_THRESHOLD=2)
    Retry(app)
    async with running(app):
        assert await retries_until_exhausted(app, message) == 2
    assert message._retry["count"] == 2
    assert set(message._retry) == {"count", "start_time", "delay"}


@dataclasses.dataclass(frozen=True)
class Frozen:
    body: str


class Slotted:
    __slots__ = ("body",)

    def __init__(self) -> None:
        self.body = "x"


@pytest.mark.parametrize(
    "message",
    [
        "text",
        b"bytes",
        42,
        ("a", "tuple"),
        frozenset(),
        types.MappingProxyType({}),
        Frozen("x"),
        Slotted(),
    ],
    ids=lambda message: type(message).__name__,
)
async def test_messages_that_cannot_carry_state_are_a_type_error(
    make_app: MakeApp, republished: list[Any], message: Any
) -> None:
    app = make_app()
    Retry(app)
    name = type(message).__name__
    async with running(app):
        with pytest.raises(
            TypeError, match=rf"cannot keep its retry state on a message of type {name}:"
        ):
            await fail(app, message)
    assert republished == []  # nothing was scheduled


async def test_never_retrying_needs_no_state(make_app: MakeApp) -> None:
    app = make_app(RETRY_THRESHOLD=0)
    Retry(app)
    async with running(app):
        assert not await retried(app, "text")


async def test_malformed_state_is_a_type_error(make_app: MakeApp) -> None:
    app = make_app()
    Retry(app)
    async with running(app):
        with pytest.raises(
            TypeError, match=r"'_retry' retry state of message .* must be a mapping"
        ):
            await fail(app, {"_retry": 3})


# -- without RETRY_CALLBACK ----------------------------------------------------


async def test_a_plain_message_without_retry_callback_is_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Application(APP_LOGGER)
    Retry(app)
    message: dict[str, Any] = {"id": "m-3"}
    async with running(app):
        with caplog.at_level(logging.WARNING, logger=APP_LOGGER):
            assert not await retried(app, message)
    assert message == {"id": "m-3"}  # no state attached to a message nobody retries
    [record] = [r for r in caplog.records if r.name == APP_LOGGER]
    assert record.levelno == logging.ERROR
    assert "Cannot retry message" in record.getMessage()
    assert "m-3" in record.getMessage()
    assert "RETRY_CALLBACK is not set" in record.getMessage()


# -- logging -------------------------------------------------------------------


async def test_exhaustion_is_logged_as_a_warning(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(RETRY_THRESHOLD=2)
    Retry(app)
    message: dict[str, Any] = {"id": "m-17"}
    async with running(app):
        with caplog.at_level(logging.DEBUG, logger=APP_LOGGER):
            await retries_until_exhausted(app, message)
    [record] = [r for r in caplog.records if r.name == APP_LOGGER and r.levelno >= logging.WARNING]
    assert record.levelno == logging.WARNING
    assert "Retries exhausted" in record.getMessage()
    assert "m-17" in record.getMessage()
    assert "after 2 retry attempt(s)" in record.getMessage()
    assert "RETRY_THRESHOLD is 2" in record.getMessage()
    assert record.exc_info is None  # the error callbacks (or the core) report the failure


async def test_other_exceptions_are_left_to_the_error_callbacks_silently(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    Retry(app)
    async with running(app):
        with caplog.at_level(logging.DEBUG, logger=APP_LOGGER):
            assert not await retried(app, {"id": 3}, ValueError("bad input"))
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
