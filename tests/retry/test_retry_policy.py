"""What Retry's error callback does with a failed message."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import types
from typing import Any

import pytest

import doozer.contrib.retry._policy as policy_module
from doozer import Application
from doozer.contrib.retry import Retry, RetryableException

from .support import MakeApp, fail

APP_LOGGER = "retry-test"


class FakeClock:
    """Stands in for the ``time`` module: ``time()`` returns what the test sets."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(policy_module, "time", fake)
    return fake


async def retries_until_exhausted(app: Application, message: Any, limit: int = 100) -> int:
    count = 0
    while await fail(app, message):
        count += 1
        assert count < limit, "never stopped retrying"
    return count


# -- threshold ---------------------------------------------------------------


@pytest.mark.parametrize("threshold", [1, 2, 5])
async def test_threshold_is_the_number_of_retries(
    make_app: MakeApp, republished: list[Any], threshold: int
) -> None:
    app = make_app(RETRY_THRESHOLD=threshold)
    Retry(app)
    message: dict[str, Any] = {"id": 1}
    for attempt in range(1, threshold + 1):
        assert await fail(app, message)
        assert message["_retry"]["count"] == attempt
    assert not await fail(app, message)
    assert not await fail(app, message)  # still exhausted
    assert message["_retry"]["count"] == threshold
    assert republished == [message] * threshold


async def test_threshold_zero_never_retries(make_app: MakeApp, republished: list[Any]) -> None:
    app = make_app(RETRY_THRESHOLD=0)
    Retry(app)
    message: dict[str, Any] = {"id": 1}
    assert not await fail(app, message)
    assert message == {"id": 1}  # nothing recorded
    assert republished == []


async def test_no_limits_retry_forever(make_app: MakeApp, republished: list[Any]) -> None:
    app = make_app()
    Retry(app)
    message: dict[str, Any] = {}
    for _ in range(200):
        assert await fail(app, message)
    assert message["_retry"]["count"] == 200
    assert len(republished) == 200


async def test_a_republished_message_continues_its_count(make_app: MakeApp) -> None:
    app = make_app(RETRY_THRESHOLD=3)
    Retry(app)
    arrived: dict[str, Any] = {
        "id": 1,
        "_retry": {"count": 2, "start_time": time.time() - 1, "delay": 0},
    }
    assert await fail(app, arrived)
    assert not await fail(app, arrived)
    assert arrived["_retry"]["count"] == 3


# -- timeout -----------------------------------------------------------------


async def test_timeout_is_in_seconds_from_the_first_failure(
    make_app: MakeApp, clock: FakeClock
) -> None:
    app = make_app(RETRY_TIMEOUT=10)
    Retry(app)
    message: dict[str, Any] = {}
    first_failure = clock.now
    assert await fail(app, message)
    assert message["_retry"]["start_time"] == first_failure
    clock.now += 5
    assert await fail(app, message)
    clock.now = first_failure + 9.9  # milliseconds would have given up long ago
    assert await fail(app, message)
    assert message["_retry"]["start_time"] == first_failure  # not reset by retries
    clock.now = first_failure + 10
    assert not await fail(app, message)
    assert message["_retry"]["count"] == 3


async def test_timeout_zero_never_retries(make_app: MakeApp, clock: FakeClock) -> None:
    app = make_app(RETRY_TIMEOUT=0)
    Retry(app)
    assert not await fail(app, {})


async def test_timeout_counts_from_a_failure_in_another_process(make_app: MakeApp) -> None:
    app = make_app(RETRY_TIMEOUT=30)
    Retry(app)
    recent = {"_retry": {"count": 9, "start_time": time.time() - 20, "delay": 0}}
    stale = {"_retry": {"count": 1, "start_time": time.time() - 31, "delay": 0}}
    assert await fail(app, recent)
    assert not await fail(app, stale)


async def test_whichever_limit_comes_first_stops(make_app: MakeApp, clock: FakeClock) -> None:
    by_count = make_app(RETRY_THRESHOLD=2, RETRY_TIMEOUT=100)
    Retry(by_count)
    assert await retries_until_exhausted(by_count, {}) == 2

    by_time = make_app(RETRY_THRESHOLD=100, RETRY_TIMEOUT=5)
    Retry(by_time)
    message: dict[str, Any] = {}
    for _ in range(3):
        assert await fail(by_time, message)
        clock.now += 2
    assert not await fail(by_time, message)  # 6 s after the first failure
    assert message["_retry"]["count"] == 3


# -- delay and backoff -------------------------------------------------------


async def timed(app: Application, message: Any) -> float:
    start = time.monotonic()
    assert await fail(app, message)
    return time.monotonic() - start


@pytest.mark.parametrize(
    ("backoff", "expected"),
    [(1, [0.04, 0.04, 0.04]), (2, [0.02, 0.04, 0.08]), (0.5, [0.08, 0.04, 0.02])],
)
async def test_delay_grows_by_backoff_per_retry(
    make_app: MakeApp, backoff: float, expected: list[float]
) -> None:
    app = make_app(RETRY_DELAY=expected[0], RETRY_BACKOFF=backoff)
    Retry(app)
    message: dict[str, Any] = {}
    for delay in expected:
        elapsed = await timed(app, message)
        assert message["_retry"]["delay"] == pytest.approx(delay)
        assert delay * 0.9 <= elapsed < delay + 0.2


async def test_backoff_formula_with_the_recorded_delay(make_app: MakeApp) -> None:
    app = make_app(RETRY_DELAY=0.001, RETRY_BACKOFF=3)
    Retry(app)
    message: dict[str, Any] = {}
    for attempts_so_far in range(5):
        assert await fail(app, message)
        assert message["_retry"]["delay"] == pytest.approx(0.001 * 3**attempts_so_far)


async def test_no_delay_means_no_wait(make_app: MakeApp, monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_sleep(delay: float) -> None:
        raise AssertionError(f"slept {delay} s")

    app = make_app(RETRY_BACKOFF=2)
    Retry(app)
    monkeypatch.setattr(asyncio, "sleep", no_sleep)
    message: dict[str, Any] = {}
    assert await fail(app, message)
    assert await fail(app, message)
    assert message["_retry"]["delay"] == 0


async def test_the_final_failure_does_not_wait(make_app: MakeApp) -> None:
    app = make_app(RETRY_THRESHOLD=1, RETRY_DELAY=5)
    Retry(app)
    message = {"_retry": {"count": 1, "start_time": time.time(), "delay": 5}}
    assert not await asyncio.wait_for(fail(app, message), 1)


# -- which exceptions --------------------------------------------------------


class Special(RetryableException):
    pass


@pytest.mark.parametrize(
    ("exceptions", "retried", "not_retried"),
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
    retried: list[Exception],
    not_retried: list[Exception],
) -> None:
    app = make_app(RETRY_EXCEPTIONS=exceptions)
    Retry(app)
    for exc in not_retried:
        message: dict[str, Any] = {}
        assert not await fail(app, message, exc)
        assert message == {}
    assert republished == []
    for exc in retried:
        assert await fail(app, {}, exc)
    assert len(republished) == len(retried)


# -- where the state lives ---------------------------------------------------


class Envelope:
    def __init__(self, body: str) -> None:
        self.body = body


@dataclasses.dataclass
class Record:
    body: str


@pytest.mark.parametrize(
    "message",
    [Envelope("x"), Record("x"), types.SimpleNamespace(body="x")],
    ids=lambda message: type(message).__name__,
)
async def test_objects_carry_the_state_as_an_attribute(make_app: MakeApp, message: Any) -> None:
    app = make_app(RETRY_THRESHOLD=2)
    Retry(app)
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
    app = make_app(RETRY_DELAY=5)  # the error comes before the wait
    Retry(app)
    name = type(message).__name__
    with pytest.raises(
        TypeError, match=rf"cannot keep its retry state on a message of type {name}:"
    ):
        await asyncio.wait_for(fail(app, message), 1)
    assert republished == []


async def test_never_retrying_needs_no_state(make_app: MakeApp) -> None:
    app = make_app(RETRY_THRESHOLD=0)
    Retry(app)
    assert not await fail(app, "text")


async def test_malformed_state_is_a_type_error(make_app: MakeApp) -> None:
    app = make_app()
    Retry(app)
    with pytest.raises(TypeError, match=r"'_retry' retry state of message .* must be a mapping"):
        await fail(app, {"_retry": 3})


# -- logging -----------------------------------------------------------------


async def test_exhaustion_is_logged_as_a_warning(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(RETRY_THRESHOLD=2)
    Retry(app)

    @app.error
    async def later(app: Application, message: Any, exc: Exception) -> None:
        pass

    message: dict[str, Any] = {"id": "m-17"}
    with caplog.at_level(logging.DEBUG, logger=APP_LOGGER):
        await retries_until_exhausted(app, message)
    [record] = [r for r in caplog.records if r.name == APP_LOGGER]
    assert record.levelno == logging.WARNING
    assert "Retries exhausted" in record.getMessage()
    assert "m-17" in record.getMessage()
    assert "after 2 retry attempt(s)" in record.getMessage()
    assert record.exc_info is None  # the later error callback deals with it


async def test_exhaustion_keeps_the_traceback_when_retry_is_the_only_error_callback(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(RETRY_THRESHOLD=0)
    Retry(app)
    with caplog.at_level(logging.WARNING, logger=APP_LOGGER):
        await fail(app, {}, RetryableException("database busy"))
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.exc_info is not None
    assert "database busy" in caplog.text


async def test_other_exceptions_are_logged_when_no_error_callback_follows(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    Retry(app)
    with caplog.at_level(logging.WARNING, logger=APP_LOGGER):
        assert not await fail(app, {"id": 3}, ValueError("bad input"))
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert "Error processing message" in record.getMessage()
    assert record.exc_info is not None
    assert "bad input" in caplog.text

    @app.error
    async def later(app: Application, message: Any, exc: Exception) -> None:
        pass

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=APP_LOGGER):
        assert not await fail(app, {"id": 3}, ValueError("bad input"))
    assert caplog.records == []  # the later error callback handles it
