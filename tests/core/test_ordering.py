"""Per-key ordering (``ordering_key``): one rule per test, through doozer.testing."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable
from typing import Any

import pytest

from doozer import Abort, Application
from doozer.outcomes import SUCCEEDED, Failed, Outcome, RetryLater, Unfinished
from doozer.testing import MemoryDelivery, MemoryQueue, run_until_drained


def body_key(message: MemoryDelivery) -> Hashable:
    key: Hashable = message.body[0]
    return key


class Tracker:
    """A callback that records starts and ends, and how many of one key overlap."""

    def __init__(self, yields: int = 3) -> None:
        self.yields = yields
        self.started: list[Any] = []
        self.active: Counter[Any] = Counter()
        self.peak_per_key: Counter[Any] = Counter()
        self.running = 0
        self.peak = 0

    async def __call__(self, app: Application, message: MemoryDelivery) -> None:
        key = message.body[0]
        self.started.append(message.body)
        self.active[key] += 1
        self.running += 1
        self.peak_per_key[key] = max(self.peak_per_key[key], self.active[key])
        self.peak = max(self.peak, self.running)
        for _ in range(self.yields):
            await asyncio.sleep(0)
        self.active[key] -= 1
        self.running -= 1


def app_with(callback: Any, **kwargs: Any) -> Application:
    return Application("ordered", callback=callback, **kwargs)


def test_equal_keys_run_in_read_order_and_never_together() -> None:
    tracker = Tracker()
    messages = [(key, n) for n in range(20) for key in "abc"]
    report = run_until_drained(app_with(tracker, ordering_key=body_key), messages, num_workers=5)
    assert report.count() == {"succeeded": 60}
    for key in "abc":
        assert [m for m in tracker.started if m[0] == key] == [(key, n) for n in range(20)]
        assert tracker.peak_per_key[key] == 1
    assert tracker.peak == 3  # three keys: three at once, no more


def test_without_an_ordering_key_equal_keys_overlap() -> None:
    # The control experiment for the test above.
    tracker = Tracker()
    run_until_drained(app_with(tracker), [("a", n) for n in range(20)], num_workers=5)
    assert tracker.peak_per_key["a"] == 5


def test_other_keys_and_none_keep_every_worker_busy() -> None:
    tracker = Tracker(yields=5)
    messages = [(n, n) for n in range(30)] + [(None, n) for n in range(30)]
    app = app_with(tracker, ordering_key=body_key)
    report = run_until_drained(app, messages, num_workers=6)
    assert report.count() == {"succeeded": 60}
    assert tracker.peak == 6
    assert tracker.peak_per_key[None] == 6  # None: no ordering at all


def test_the_key_is_computed_once_from_what_the_consumer_returned() -> None:
    seen: list[Any] = []
    acknowledged: list[Any] = []

    def key(message: Any) -> Hashable:
        seen.append(message)
        return "k"

    async def preprocess(app: Application, message: Any) -> Any:
        return ("changed", message)

    async def acknowledge(app: Application, message: Any) -> None:
        acknowledged.append(message)

    app = app_with(Tracker(), ordering_key=key)
    app.message_preprocessor(preprocess)
    app.message_acknowledgement(acknowledge)
    # A hot key at one worker: messages wait in the line, and are not asked again.
    run_until_drained(app, [("k", n) for n in range(10)], num_workers=1)
    assert len(seen) == 10
    assert all(isinstance(m, MemoryDelivery) for m in seen)
    assert [id(m) for m in seen] == [id(m) for m in acknowledged]


class BoomError(Exception):
    """Raised by a key function."""


def failing_key(message: MemoryDelivery) -> Hashable:
    if message.body[1] == 2:
        raise BoomError(f"no key for {message.body}")
    return body_key(message)


def test_a_key_function_error_is_that_message_s_failure() -> None:
    errors: list[tuple[Any, BaseException]] = []
    wrapped: list[Any] = []

    async def on_error(app: Application, message: Any, exc: Exception) -> None:
        errors.append((message.body, exc))

    async def wrapper(app: Application, message: Any, process: Any) -> Outcome:
        wrapped.append(message.body)
        outcome: Outcome = await process()
        return outcome

    app = app_with(Tracker(), ordering_key=failing_key)
    app.error(on_error)
    app.message_wrapper(wrapper)
    report = run_until_drained(app, [("a", n) for n in range(5)], num_workers=2)
    assert [o.name for o in report.outcomes if o is not None] == [
        "succeeded", "succeeded", "failed", "succeeded", "succeeded"
    ]  # fmt: skip
    failed = report.outcomes[2]
    assert isinstance(failed, Failed)
    assert isinstance(failed.exception, BoomError)
    assert errors == [(("a", 2), failed.exception)]
    assert sorted(wrapped) == [("a", n) for n in range(5)]
    assert report.records[2].kinds() == ["published", "delivered", "dead_lettered"]


def test_failure_policies_decide_a_key_function_error_too() -> None:
    async def retry_once(app: Application, original: Any, message: Any, exc: Exception) -> Any:
        if original.attempt == 1:
            return RetryLater(1.0, 2, exc, 0.0)
        return None

    calls = Counter[int]()

    def key(message: MemoryDelivery) -> Hashable:
        calls[message.attempt] += 1
        if message.attempt == 1:
            raise BoomError("first attempt")
        return "k"

    app = app_with(Tracker(), ordering_key=key)
    app.failure_policy(retry_once)
    report = run_until_drained(app, [("a", 0)])
    assert report.records[0].kinds() == [
        "published", "delivered", "retried", "delivered", "acknowledged"
    ]  # fmt: skip
    assert calls == {1: 1, 2: 1}


def test_an_unhashable_key_fails_the_message_with_a_clear_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def listy(message: MemoryDelivery) -> Any:
        return [message.body[0]] if message.body[1] == 1 else message.body[0]

    report = run_until_drained(app_with(Tracker(), ordering_key=listy), [("a", 0), ("a", 1)])
    outcome = report.outcomes[1]
    assert isinstance(outcome, Failed)
    assert isinstance(outcome.exception, TypeError)
    assert "returned an unhashable list" in str(outcome.exception)
    assert "listy'" in str(outcome.exception)
    assert report.outcomes[0] == SUCCEEDED


class SampledQueue(MemoryQueue):
    """A memory queue that notes the application's read-ahead at every read."""

    def __init__(self, app: Application, messages: Any) -> None:
        super().__init__(messages)
        self.app = app
        self.samples: list[int] = []

    async def read(self) -> MemoryDelivery:
        self.samples.append(self.app.read_ahead)
        return await super().read()


def test_a_hot_key_pauses_reading_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    tracker = Tracker(yields=10)
    app = app_with(tracker, ordering_key=body_key)
    queue = SampledQueue(app, [("hot", n) for n in range(50)] + [("cold", 0)])
    with caplog.at_level(logging.DEBUG, logger="ordered"):
        report = run_until_drained(app, queue, num_workers=4)
    assert report.count() == {"succeeded": 51}
    assert max(queue.samples) <= 4  # never more than num_workers read and not started
    assert "Reading paused: the 4 message(s) read ahead all wait for busy keys ('hot')" in (
        caplog.text
    )
    assert [m for m in tracker.started if m[0] == "hot"] == [("hot", n) for n in range(50)]


def test_read_ahead_counts_messages_waiting_on_a_busy_key() -> None:
    seen: list[int] = []

    async def callback(app: Application, message: MemoryDelivery) -> None:
        if message.body == ("k", 0):
            for _ in range(20):  # let the reader fill the line
                await asyncio.sleep(0)
            seen.append(app.read_ahead)

    app = app_with(callback, ordering_key=body_key)
    run_until_drained(app, [("k", n) for n in range(10)], num_workers=3)
    assert seen == [3 + 1]  # three in the line, one held by the waiting reader


async def test_a_graceful_stop_finishes_the_messages_waiting_on_a_busy_key() -> None:
    order: list[Any] = []

    async def callback(app: Application, message: MemoryDelivery) -> None:
        if message.body == ("k", 0):
            for _ in range(20):
                await asyncio.sleep(0)
            app.stop()
        order.append(message.body)

    queue = MemoryQueue([("k", n) for n in range(10)])
    app = app_with(callback, consumer=queue, ordering_key=body_key)
    await app.serve(3)
    delivered = [r for r in queue.records if "delivered" in r.kinds()]
    assert len(delivered) >= 4  # the line filled before the stop
    assert all(r.outcomes == [SUCCEEDED] for r in delivered)
    assert order == [r.body for r in delivered]
    assert all(r.kinds() == ["published"] for r in queue.records[len(delivered) :])


async def test_a_forced_stop_returns_the_messages_waiting_on_a_busy_key() -> None:
    started = asyncio.Event()

    async def callback(app: Application, message: MemoryDelivery) -> None:
        started.set()
        await asyncio.Event().wait()  # never finishes

    queue = MemoryQueue([("other", 0)] + [("k", n) for n in range(10)])
    app = app_with(callback, consumer=queue, ordering_key=body_key)
    task = asyncio.get_running_loop().create_task(app.serve(3))
    await started.wait()
    for _ in range(20):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    delivered = [r for r in queue.records if r.outcomes]
    assert len(delivered) >= 4
    reasons: Counter[str] = Counter()
    for record in delivered:  # settled once each (a second settle raises)
        assert len(record.outcomes) == 1
        assert isinstance(record.outcomes[0], Unfinished)
        reasons[record.outcomes[0].reason] += 1
    assert reasons["cancelled by a forced stop"] == 2  # ('other', 0) and ('k', 0)
    assert reasons["not started before a forced stop"] == len(delivered) - 2


def test_an_unfinished_message_takes_its_line_back_with_it() -> None:
    async def acknowledge(app: Application, message: MemoryDelivery) -> None:
        if message.body == ("k", 0):
            raise RuntimeError("acknowledgement broke")

    async def callback(app: Application, message: MemoryDelivery) -> None:
        for _ in range(10):
            await asyncio.sleep(0)

    app = app_with(callback, ordering_key=body_key)
    app.message_acknowledgement(acknowledge)
    queue = MemoryQueue([("k", n) for n in range(6)])
    with pytest.raises(RuntimeError, match="acknowledgement broke"):
        run_until_drained(app, queue, num_workers=3)
    first = queue.records[0]
    assert isinstance(first.outcomes[0], Unfinished)
    waiting = [r for r in queue.records[1:] if r.outcomes]
    assert waiting  # others of its key had been read
    for record in waiting:  # returned, so the broker redelivers them after ('k', 0)
        assert record.outcomes[0] == Unfinished("returned after an unfinished message of its key")
        assert record.kinds()[:3] == ["published", "delivered", "returned"]


def test_relaxed_retries_let_the_key_s_later_messages_go_ahead() -> None:
    done: list[Any] = []

    async def callback(app: Application, message: MemoryDelivery) -> None:
        if message.body == ("k", 0) and message.attempt == 1:
            raise BoomError("try again")
        done.append(message.body)

    async def retry(app: Application, original: Any, message: Any, exc: Exception) -> Any:
        return RetryLater(60.0, original.attempt + 1, exc, 0.0)

    app = app_with(callback, ordering_key=body_key)
    app.failure_policy(retry)
    report = run_until_drained(app, [("k", 0), ("k", 1), ("k", 2)], num_workers=2)
    assert done == [("k", 1), ("k", 2), ("k", 0)]
    first, second, _ = report.records
    assert first.kinds() == ["published", "delivered", "retried", "delivered", "acknowledged"]
    assert [o.name for o in first.outcomes] == ["retry_later", "succeeded"]
    # On the queue's clock: ('k', 1) was done long before ('k', 0) came back.
    assert second.events[-1].time + 60 == first.events[-1].time


@pytest.mark.parametrize(
    ("value", "error"),
    [("strict", "'strict' is not supported"), ("loose", "must be 'relaxed', got 'loose'")],
)
def test_ordering_retries_accepts_only_relaxed(value: str, error: str) -> None:
    app = app_with(Tracker(), ordering_key=body_key, settings={"ORDERING_RETRIES": value})
    with pytest.raises(ValueError, match=error):
        run_until_drained(app, [("a", 0)])
    app.ordering_key = None  # the setting matters only with a key
    assert run_until_drained(app, [("a", 0)]).count() == {"succeeded": 1}


async def async_key(message: Any) -> Any:
    return message


@pytest.mark.parametrize(("key", "kind"), [(async_key, "a coroutine function"), ("body", "str")])
def test_an_ordering_key_must_be_a_plain_function(key: Any, kind: str) -> None:
    with pytest.raises(TypeError, match=f"must be a plain function .* not {kind}$"):
        app_with(Tracker(), ordering_key=key)
    app = app_with(Tracker())
    with pytest.raises(TypeError, match=f"not {kind}$"):
        run_until_drained_with_key(app, key)


def run_until_drained_with_key(app: Application, key: Any) -> None:
    app.consumer = MemoryQueue([("a", 0)], close=True)
    asyncio.run(app.serve(1, ordering_key=key))


def test_the_argument_of_serve_overrides_the_application_s_key() -> None:
    tracker = Tracker()
    app = app_with(tracker, ordering_key=lambda message: None)  # unordered

    async def main() -> None:
        app.consumer = MemoryQueue([("a", n) for n in range(10)], close=True)
        await app.serve(4, ordering_key=body_key)

    asyncio.run(main())
    assert tracker.peak_per_key["a"] == 1


def test_run_forever_takes_an_ordering_key() -> None:
    tracker = Tracker()
    app = app_with(tracker, consumer=MemoryQueue([("a", n) for n in range(10)], close=True))
    app.run_forever(4, ordering_key=body_key)
    assert tracker.peak_per_key["a"] == 1
    assert [m[1] for m in tracker.started] == list(range(10))


async def test_plain_messages_can_be_ordered_too() -> None:
    # Not only deliveries: any consumer's messages.
    class Plain:
        def __init__(self) -> None:
            self.items = [("a", n) for n in range(8)]

        async def read(self) -> Any:
            if not self.items:
                raise Abort("done", None)
            return self.items.pop(0)

    per_key: defaultdict[str, list[int]] = defaultdict(list)

    async def callback(app: Application, message: Any) -> None:
        await asyncio.sleep(0)
        per_key[message[0]].append(message[1])

    key: Callable[[Any], Hashable] = lambda message: message[0]  # noqa: E731
    await Application("plain", consumer=Plain(), callback=callback, ordering_key=key).serve(4)
    assert per_key == {"a": list(range(8))}
