"""Retry with plain messages in a running application: RETRY_CALLBACK, called by a timer.

The consumer here is deliberately not a :mod:`doozer.testing` queue: plain
messages (no ``settle``) are the point. It is an :class:`asyncio.Queue`
that RETRY_CALLBACK puts messages back on; the tests stop the application
with ``app.stop()`` once every message is finished.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import signal
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from doozer import Application
from doozer.contrib.retry import Retry, RetryableException
from doozer.outcomes import Failed, Outcome, RetryLater, Unfinished

from ..support.processes import Process
from .support import TIMER_RESOLUTION

APP_LOGGER = "retry-run"


class Inbox:
    """A plain consumer: whatever is put on its queue, until the application stops."""

    def __init__(self, messages: list[Any]) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        for message in messages:
            self.queue.put_nowait(message)

    async def read(self) -> Any:
        return await self.queue.get()


class Service:
    """An app over an :class:`Inbox` whose callback fails message ``id`` ``fail_times[id]`` times.

    RETRY_CALLBACK puts the message back in the inbox; the app stops itself
    once *expected* messages are finished (succeeded or failed).
    """

    def __init__(
        self, messages: list[Any], fail_times: dict[Any, int], expected: int, **retry: Any
    ) -> None:
        self.inbox = Inbox(messages)
        self.fail_times = fail_times
        self.attempts: Counter[Any] = Counter()
        self.done: list[Any] = []
        self.final_errors: list[tuple[Any, Exception]] = []
        self.outcomes: list[Outcome] = []
        #: (what happened, time.monotonic()) in order: attempts, failures, republishing.
        self.timeline: list[tuple[str, float]] = []
        self.app = app = Application(APP_LOGGER, consumer=self.inbox, callback=self.process)
        retry.setdefault("callback", self.republish)
        Retry(app, **retry)

        @app.error
        async def final_failure(app: Application, message: Any, exc: Exception) -> None:
            self.final_errors.append((message, exc))

        @app.message_outcome
        async def count(app: Application, message: Any, outcome: Outcome) -> None:
            self.outcomes.append(outcome)
            if sum(o.finished for o in self.outcomes) == expected:
                app.stop()

    async def process(self, app: Application, message: dict[str, Any]) -> None:
        self.attempts[message["id"]] += 1
        self.note(f"{message['id']}#{self.attempts[message['id']]}")
        if self.attempts[message["id"]] <= self.fail_times.get(message["id"], 0):
            self.note(f"{message['id']} failed")
            raise RetryableException(f"message {message['id']} not ready")
        self.done.append(message)

    async def republish(self, app: Application, message: Any) -> None:
        self.note(f"republish {message['id']}")
        self.inbox.queue.put_nowait(message)

    def note(self, what: str) -> None:
        self.timeline.append((what, time.monotonic()))

    def events(self) -> list[str]:
        return [what for what, _ in self.timeline]

    def when(self, what: str) -> float:
        [at] = [at for event, at in self.timeline if event == what]
        return at

    def run(self, num_workers: int = 1) -> None:
        self.app.run_forever(num_workers=num_workers)


@pytest.mark.parametrize("num_workers", [1, 3])
def test_failing_messages_are_retried_until_they_succeed(num_workers: int) -> None:
    service = Service([{"id": n} for n in range(6)], {1: 2, 4: 3}, expected=6, threshold=5)
    service.run(num_workers)
    assert sorted(m["id"] for m in service.done) == [0, 1, 2, 3, 4, 5]
    assert service.attempts == {0: 1, 1: 3, 2: 1, 3: 1, 4: 4, 5: 1}
    assert service.final_errors == []  # error callbacks see final failures only
    assert Counter(o.name for o in service.outcomes) == Counter(succeeded=6, retry_later=5)
    done = {m["id"]: m for m in service.done}
    assert done[1]["_retry"]["count"] == 2
    assert done[4]["_retry"]["count"] == 3
    assert "_retry" not in done[0]


def test_the_final_failure_reaches_the_error_callbacks_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = Service([{"id": "doomed"}, {"id": "fine"}], {"doomed": 100}, expected=2, threshold=2)
    with caplog.at_level(logging.WARNING, logger=APP_LOGGER):
        service.run()
    assert service.attempts == {"doomed": 3, "fine": 1}
    [(message, exc)] = service.final_errors
    assert message["id"] == "doomed"
    assert message["_retry"]["count"] == 2
    assert isinstance(exc, RetryableException)
    assert [o.name for o in service.outcomes if o.name != "succeeded"] == [
        "retry_later",
        "retry_later",
        "failed",
    ]
    assert "Retries exhausted for message" in caplog.text
    assert "doomed" in caplog.text


def test_no_worker_waits_out_the_delay() -> None:
    """One worker, a 0.5 s delay: the other messages are processed during it."""
    messages = [{"id": "late"}, {"id": "a"}, {"id": "b"}]
    service = Service(messages, {"late": 1}, expected=3, delay=0.5)
    service.run(num_workers=1)
    # A sleeping worker would republish before it takes "a".
    assert service.events() == ["late#1", "late failed", "a#1", "b#1", "republish late", "late#2"]
    assert service.when("republish late") - service.when("late failed") >= 0.5 - TIMER_RESOLUTION


async def test_a_stop_hands_a_pending_retry_to_retry_callback_at_once() -> None:
    """A stop during a 45 s delay: RETRY_CALLBACK gets the message now, before teardown."""
    service = Service([{"id": "late"}], {"late": 1}, expected=1, delay=45)
    service.app.settings["SHUTDOWN_TIMEOUT"] = 10  # serve() raises TimeoutError if it is reached

    @service.app.message_outcome
    async def stop_on_retry(app: Application, message: Any, outcome: Outcome) -> None:
        if isinstance(outcome, RetryLater):
            app.stop()

    @service.app.teardown
    async def teardown(app: Application) -> None:
        service.note("teardown")

    await asyncio.wait_for(service.app.serve(), 20)
    assert service.events() == ["late#1", "late failed", "republish late", "teardown"]
    [message] = [service.inbox.queue.get_nowait()]  # back with its broker, state and all
    assert message["_retry"] == {"count": 1, "start_time": message["_retry"]["start_time"],
                                 "delay": 45.0}  # fmt: skip
    assert service.when("republish late") - service.when("late failed") < 10


@pytest.mark.slow
def test_sigterm_during_a_long_delay_exits_cleanly(tmp_path: Path) -> None:
    """The 1.x failure: SIGTERM during a 45 s delay ran into SHUTDOWN_TIMEOUT and exited 1."""
    (tmp_path / "delayed.py").write_text(
        textwrap.dedent(
            """
            import asyncio, sys

            from doozer import Application
            from doozer.contrib.retry import Retry, RetryableException


            class Inbox:
                def __init__(self):
                    self.queue = asyncio.Queue()
                    self.queue.put_nowait({"id": 1})

                async def read(self):
                    return await self.queue.get()


            async def callback(app, message):
                print("attempt", message.get("_retry", {}).get("count", 0) + 1, flush=True)
                raise RetryableException("not yet")


            async def republish(app, message):
                print("republished", message["_retry"]["count"], flush=True)


            app = Application("delayed", {"SHUTDOWN_TIMEOUT": 10}, consumer=Inbox(),
                              callback=callback)
            Retry(app, callback=republish, delay=45)
            app.run_forever()
            print("exited cleanly", flush=True)
            """
        )
    )
    process = Process(["delayed.py"], tmp_path)
    try:
        process.wait_for("attempt 1", stream="stdout")
        started = time.monotonic()
        process.signal(signal.SIGTERM)
        assert process.finish() == 0, process.output("stderr")
        elapsed = time.monotonic() - started
    finally:
        process.kill()
    assert process.stdout == ["attempt 1", "republished 1", "exited cleanly"]
    assert "SHUTDOWN_TIMEOUT" not in process.output("stderr")
    assert elapsed < 10  # well before SHUTDOWN_TIMEOUT, let alone the 45 s delay


def test_without_retry_callback_a_plain_message_fails(caplog: pytest.LogCaptureFixture) -> None:
    service = Service([{"id": "m-1"}], {"m-1": 1}, expected=1, callback=None, threshold=3)
    with caplog.at_level(logging.WARNING, logger=APP_LOGGER):
        service.run()
    assert service.attempts == {"m-1": 1}
    [outcome] = service.outcomes
    assert isinstance(outcome, Failed)
    [(message, exc)] = service.final_errors
    assert message == {"id": "m-1"}
    assert exc is outcome.exception
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "Cannot retry message {'id': 'm-1'}" in error.getMessage()
    assert "RETRY_CALLBACK is not set" in error.getMessage()


def test_a_final_failure_without_error_callbacks_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fail_always(app: Application, message: Any) -> None:
        raise RetryableException("database busy")

    async def republish(app: Application, message: Any) -> None:
        app.consumer.queue.put_nowait(message)

    seen: list[Outcome] = []
    app = Application(APP_LOGGER, consumer=Inbox([{"id": 1}]), callback=fail_always)
    Retry(app, callback=republish, threshold=1)

    @app.message_outcome
    async def stop_when_failed(app: Application, message: Any, outcome: Outcome) -> None:
        seen.append(outcome)
        if outcome.finished:
            app.stop()

    with caplog.at_level(logging.WARNING, logger=APP_LOGGER):
        app.run_forever()
    assert [o.name for o in seen] == ["retry_later", "failed"]
    warning, error = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "Retries exhausted" in warning.getMessage()
    assert warning.exc_info is None
    assert error.levelno == logging.ERROR
    assert error.exc_info is not None
    assert "database busy" in caplog.text


def test_a_message_that_cannot_carry_state_stops_the_application() -> None:
    seen: list[Outcome] = []

    async def fail_always(app: Application, message: Any) -> None:
        raise RetryableException

    async def republish(app: Application, message: Any) -> None:
        raise AssertionError("never scheduled")

    app = Application(APP_LOGGER, consumer=Inbox(["text"]), callback=fail_always)
    Retry(app, callback=republish)

    @app.message_outcome
    async def record(app: Application, message: Any, outcome: Outcome) -> None:
        seen.append(outcome)

    with pytest.raises(TypeError, match="cannot keep its retry state on a message of type str"):
        app.run_forever()
    [outcome] = seen
    assert isinstance(outcome, Unfinished)


def test_state_survives_serialization_with_delay_and_backoff() -> None:
    """Like a real broker: bytes on the wire, decoded by a preprocessor, re-encoded to retry."""
    inbox = Inbox([json.dumps({"id": "x"}).encode()])
    attempts: list[float] = []
    published: list[bytes] = []

    async def callback(app: Application, message: dict[str, Any]) -> None:
        attempts.append(time.monotonic())
        if len(attempts) <= 3:
            raise RetryableException
        app.stop()

    async def republish(app: Application, message: dict[str, Any]) -> None:
        published.append(json.dumps(message).encode())
        inbox.queue.put_nowait(published[-1])

    app = Application("retry-wire", consumer=inbox, callback=callback)
    app.settings.from_mapping(
        {"RETRY_CALLBACK": republish, "RETRY_DELAY": 0.02, "RETRY_BACKOFF": 2, "RETRY_THRESHOLD": 3}
    )

    @app.message_preprocessor
    async def decode(app: Application, message: bytes) -> Any:
        return json.loads(message)

    Retry(app)
    app.run_forever()

    assert len(attempts) == 4  # three retries, then success within the threshold
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    for gap, delay in zip(gaps, [0.02, 0.04, 0.08], strict=True):
        assert gap >= delay - TIMER_RESOLUTION
    last = json.loads(published[-1])
    assert last["_retry"]["count"] == 3
    assert last["_retry"]["delay"] == pytest.approx(0.08)
