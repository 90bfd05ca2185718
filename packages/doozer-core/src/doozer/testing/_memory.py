"""An in-memory broker queue whose messages are deliveries."""

from __future__ import annotations

import asyncio
import itertools
import reprlib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import headers as names
from ..exceptions import Abort
from ..outcomes import Aborted, Failed, Outcome, RetryLater, Succeeded, Unfinished
from ._clock import Clock, RealClock, VirtualClock

__all__ = ["Event", "MemoryDelivery", "MemoryQueue", "Record"]


@dataclass(frozen=True)
class Event:
    """One thing that happened to a message, at a time of the queue's clock.

    ``kind`` is one of ``"published"``, ``"delivered"``, ``"acknowledged"``,
    ``"retried"`` (``detail`` is the delay), ``"dead_lettered"`` (``detail`` is
    the reason) and ``"returned"`` (``detail`` is why).
    """

    #: What happened.
    kind: str
    #: When, on the queue's clock.
    time: float
    #: The attempt of the delivery it happened to.
    attempt: int
    #: The delay of a retry, the reason of a dead letter or of a return.
    detail: Any = None


@dataclass
class Record:
    """Everything that happened to one message put on a :class:`MemoryQueue`."""

    #: The message's number on its queue, from 0 in the order they were put.
    id: int
    #: The body it was put with.
    body: Any
    #: The headers it was put with.
    headers: dict[str, Any]
    #: The outcome of each delivery, in order.
    outcomes: list[Outcome] = field(default_factory=list)
    #: What happened to it, in order.
    events: list[Event] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome | None:
        """The outcome of its last delivery (None if it was never settled)."""
        return self.outcomes[-1] if self.outcomes else None

    @property
    def state(self) -> str:
        """Where it is now: the kind of its last event (``"published"`` if never read)."""
        return self.events[-1].kind

    def kinds(self) -> list[str]:
        """The kinds of its events, in order (handy in assertions)."""
        return [event.kind for event in self.events]


class MemoryDelivery:
    """One delivery of a message from a :class:`MemoryQueue`: a :class:`~doozer.types.Delivery`."""

    __slots__ = (
        "_queue",
        "_redelivered",
        "_settled",
        "attempt",
        "body",
        "first_failure",
        "headers",
        "record",
    )

    def __init__(self, queue: MemoryQueue, record: Record, attempt: int, redelivered: bool) -> None:
        #: The message body.
        self.body = record.body
        #: The message headers (a copy: changing it changes nothing on the queue).
        self.headers: dict[str, Any] = dict(record.headers)
        #: Which attempt at processing it this is (1 for the first).
        self.attempt = attempt
        #: When it first failed, if this is a retry.
        self.first_failure: float | None = _first_failure(record.headers)
        #: Its :class:`Record` on the queue.
        self.record = record
        self._queue = queue
        self._settled = False
        self._redelivered = redelivered

    @property
    def redelivered(self) -> bool:
        """Whether the queue delivered this message before."""
        return self._redelivered

    def __repr__(self) -> str:
        return (
            f"<MemoryDelivery #{self.record.id} attempt={self.attempt} {reprlib.repr(self.body)}>"
        )

    async def settle(self, outcome: Outcome) -> None:
        """Record *outcome* and do what a broker would (see :class:`MemoryQueue`).

        :raises RuntimeError: if the delivery was settled already.
        """
        if self._settled:
            raise RuntimeError(f"{self!r} was settled twice (with {outcome!r})")
        self._settled = True
        self._queue._settle(self, outcome)


class MemoryQueue:
    """A faithful in-memory broker queue, and the consumer that reads it.

    Give it to an application as its consumer. Its messages are
    :class:`MemoryDelivery` objects, settled as a real transport would:

    * succeeded or aborted: acknowledged (gone);
    * failed: dead-lettered, with the reason in the :data:`doozer.headers.ERROR`
      header (:attr:`dead_letters`);
    * retry later: redelivered after the delay, on the queue's clock, as
      the attempt the outcome names (:data:`doozer.headers.ATTEMPT`);
    * unfinished: returned to the front of the queue, flagged redelivered.

    Every message has a :class:`Record` of what happened to it
    (:attr:`records`). A closed queue ends consumption (``read()`` raises
    :class:`~doozer.Abort`) once nothing is left to read, in flight or
    waiting for a retry.

    :param messages: bodies to put on the queue at once.
    :param clock: ``"virtual"`` (the default: retry delays take no time,
        see :class:`VirtualClock`), ``"real"``, or a :class:`Clock`.
    :param close: close the queue once *messages* are put.
    """

    def __init__(
        self,
        messages: Iterable[Any] = (),
        *,
        clock: str | Clock = "virtual",
        close: bool = False,
    ) -> None:
        if isinstance(clock, str):
            if clock not in ("virtual", "real"):
                raise ValueError(f"clock must be 'virtual', 'real' or a Clock, not {clock!r}")
            clock = VirtualClock() if clock == "virtual" else RealClock()
        #: The clock redeliveries are scheduled on.
        self.clock: Clock = clock
        #: One :class:`Record` per message put, in order.
        self.records: list[Record] = []
        self._ready: deque[MemoryDelivery] = deque()
        self._ids = itertools.count()
        self._in_flight = 0
        self._scheduled = 0
        self._closed = False
        self._changed: asyncio.Event | None = None
        for body in messages:
            self.put(body)
        if close:
            self.close()

    def __repr__(self) -> str:
        return f"<MemoryQueue {len(self._ready)} ready, {self._in_flight} in flight>"

    # -- publishing ------------------------------------------------------

    def put(self, body: Any, headers: Mapping[str, Any] | None = None) -> Record:
        """Publish a message; return its record.

        :raises RuntimeError: if the queue is closed.
        """
        if self._closed:
            raise RuntimeError("the queue is closed: put messages before close()")
        record = Record(next(self._ids), body, dict(headers or {}))
        self.records.append(record)
        self._event(record, "published", 1)
        # A message published again by a retry carries its attempt, as on a broker.
        attempt = int(record.headers.get(names.ATTEMPT, 1))
        self._ready.append(MemoryDelivery(self, record, attempt, redelivered=False))
        self._wake()
        return record

    def close(self) -> None:
        """Publish no more: consumption ends once every message is done with."""
        self._closed = True
        self._wake()

    # -- what happened ---------------------------------------------------

    @property
    def dead_letters(self) -> list[Record]:
        """The records of the messages that ended dead-lettered."""
        return [r for r in self.records if r.state == "dead_lettered"]

    @property
    def idle(self) -> bool:
        """Whether nothing is ready, in flight or waiting for a retry."""
        return not self._ready and not self._in_flight and not self._scheduled

    # -- the consumer ----------------------------------------------------

    async def read(self) -> MemoryDelivery:
        """Return the next delivery, waiting for one; cancellation takes nothing.

        :raises Abort: once the queue is closed and idle.
        """
        while True:
            if self._ready:
                delivery = self._ready.popleft()
                self._in_flight += 1
                self._event(delivery.record, "delivered", delivery.attempt)
                return delivery
            if not self._in_flight and self._scheduled and self.clock.jump():
                continue  # a virtual clock skipped the idle wait for a retry
            if self._closed and self.idle:
                raise Abort("queue.drained", None)
            self._changed = asyncio.Event()
            await self._changed.wait()

    # -- what a broker does -----------------------------------------------

    def _settle(self, delivery: MemoryDelivery, outcome: Outcome) -> None:
        record, attempt = delivery.record, delivery.attempt
        record.outcomes.append(outcome)
        self._in_flight -= 1
        if isinstance(outcome, (Succeeded, Aborted)):
            self._event(record, "acknowledged", attempt)
        elif isinstance(outcome, Failed):
            exc = outcome.exception
            reason = f"{type(exc).__name__}: {exc}"
            record.headers[names.ERROR] = reason
            record.headers[names.ERROR_TYPE] = _qualified_name(type(exc))
            self._event(record, "dead_lettered", attempt, reason)
        elif isinstance(outcome, RetryLater):
            self._event(record, "retried", attempt, outcome.delay)
            record.headers[names.ATTEMPT] = str(outcome.attempt)
            record.headers[names.FIRST_FAILURE] = repr(outcome.first_failure)
            self._scheduled += 1
            self.clock.call_later(outcome.delay, lambda: self._redeliver(record, outcome.attempt))
        elif isinstance(outcome, Unfinished):
            self._event(record, "returned", attempt, outcome.reason)
            self._ready.appendleft(MemoryDelivery(self, record, attempt, redelivered=True))
        else:
            raise TypeError(f"{delivery!r} settled with {outcome!r}, which is not an outcome")
        self._wake()

    def _redeliver(self, record: Record, attempt: int) -> None:
        self._scheduled -= 1
        self._ready.append(MemoryDelivery(self, record, attempt, redelivered=True))
        self._wake()

    def _event(self, record: Record, kind: str, attempt: int, detail: Any = None) -> None:
        record.events.append(Event(kind, self.clock.now(), attempt, detail))

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None


def _first_failure(headers: Mapping[str, Any]) -> float | None:
    value = headers.get(names.FIRST_FAILURE)
    return None if value is None else float(value)


def _qualified_name(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"
