"""Per-key ordering under random keys, durations, failures, aborts, retries and stops."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doozer import Abort, Application
from doozer.outcomes import RetryLater, Unfinished
from doozer.testing import MemoryDelivery, MemoryQueue

BEHAVIOURS = ("succeed", "succeed", "succeed", "raise", "abort", "retry", "bad_key")


class InjectedError(Exception):
    """Raised by a callback or key function told to."""


@dataclass(frozen=True)
class Message:
    id: int
    key: int | None
    yields: int  # how long the callback takes, in event-loop turns
    behaviour: str


@st.composite
def streams(draw: st.DrawFn) -> list[Message]:
    size = draw(st.integers(1, 40))
    keys = st.one_of(st.none(), st.integers(0, draw(st.integers(0, 6))))
    return [
        Message(i, draw(keys), draw(st.integers(0, 6)), draw(st.sampled_from(BEHAVIOURS)))
        for i in range(size)
    ]


class Observing(MemoryQueue):
    """The memory queue, noting each delivery in read order and the read-ahead at each read."""

    def __init__(self, app: Application, messages: list[Message]) -> None:
        super().__init__(messages)
        self.app = app
        self.reads: list[MemoryDelivery] = []
        self.read_ahead: list[int] = []

    async def read(self) -> MemoryDelivery:
        self.read_ahead.append(self.app.read_ahead)
        delivery = await super().read()
        self.reads.append(delivery)
        return delivery


def key_of(delivery: MemoryDelivery) -> Hashable:
    message: Message = delivery.body
    if message.behaviour == "bad_key" and delivery.attempt == 1:
        raise InjectedError(f"no key for {message.id}")
    return message.key


def run(stream: list[Message], workers: int, stop_after: int | None, force: bool) -> None:
    started: list[MemoryDelivery] = []
    active: Counter[Hashable] = Counter()
    overlaps: list[Hashable] = []
    outcomes: Counter[int] = Counter()
    reached = asyncio.Event()  # set once the forced stop may come

    async def callback(app: Application, delivery: MemoryDelivery) -> None:
        message: Message = delivery.body
        started.append(delivery)
        if len(started) == (stop_after or 1):
            reached.set()
        active[message.key] += 1
        if message.key is not None and active[message.key] > 1:
            overlaps.append(message.key)
        try:
            for _ in range(message.yields):
                await asyncio.sleep(0)
            if stop_after is not None and len(started) == stop_after:
                app.stop()
            if delivery.attempt == 1 and message.behaviour in ("raise", "retry"):
                raise InjectedError(f"message {message.id}")
            if message.behaviour == "abort":
                raise Abort("test.abort", message.id)
        finally:
            active[message.key] -= 1

    async def retry(app: Application, original: Any, message: Any, exc: Exception) -> Any:
        if original.body.behaviour in ("retry", "bad_key") and original.attempt == 1:
            return RetryLater(5.0, 2, exc, 0.0)
        return None

    async def error(app: Application, message: Any, exc: Exception) -> None:
        pass

    async def count(app: Application, delivery: MemoryDelivery, outcome: Any) -> None:
        outcomes[id(delivery)] += 1

    app = Application("props", callback=callback, ordering_key=key_of)
    app.failure_policy(retry)
    app.error(error)
    app.message_outcome(count)
    queue = Observing(app, stream)
    queue.close()
    app.consumer = queue

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(app.serve(workers))
        if force:
            waiting = asyncio.get_running_loop().create_task(reached.wait())
            await asyncio.wait([task, waiting], return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            assert force

    asyncio.run(main())

    # Equal keys: started in the order they were read, never two at once.
    assert not overlaps
    # A forced stop may cut a message of a key short: its line is returned, not started.
    by_key_read: defaultdict[Hashable, list[int]] = defaultdict(list)
    for delivery in queue.reads:
        if delivery.body.behaviour != "bad_key" or delivery.attempt > 1:
            by_key_read[delivery.body.key].append(id(delivery))
    by_key_started: defaultdict[Hashable, list[int]] = defaultdict(list)
    for delivery in started:
        by_key_started[delivery.body.key].append(id(delivery))
    for key, ids in by_key_started.items():
        if key is not None:
            assert ids == by_key_read[key][: len(ids)]
    # Every delivery read got exactly one outcome, settled once (MemoryDelivery
    # raises on a second settle); none is left unsettled.
    assert all(outcomes[id(d)] == 1 for d in queue.reads)
    assert sum(len(r.outcomes) for r in queue.records) == len(queue.reads)
    # Nothing dropped: without a forced stop nothing is left unfinished, and
    # every message read ends acknowledged or dead-lettered (or waits for a retry
    # the stop did not wait for).
    if not force:
        assert not any(isinstance(r.outcome, Unfinished) for r in queue.records)
        if stop_after is None:
            assert all(r.state in ("acknowledged", "dead_lettered") for r in queue.records)
    # Bounded: never more than `workers` read and not started (seen between reads).
    assert max(queue.read_ahead) <= workers


@pytest.mark.slow
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stream=streams(),
    workers=st.integers(1, 8),
    stop_after=st.one_of(st.none(), st.integers(1, 30)),
    force=st.booleans(),
)
def test_ordering_holds_for_any_stream(
    stream: list[Message], workers: int, stop_after: int | None, force: bool
) -> None:
    run(stream, workers, stop_after, force)
