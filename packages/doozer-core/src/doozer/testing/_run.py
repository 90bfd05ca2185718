"""Run an application over a memory queue until its input is drained."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..outcomes import Outcome
from ._clock import Clock
from ._memory import MemoryQueue, Record

if TYPE_CHECKING:
    from ..base import Application

__all__ = ["Report", "run_until_drained", "serve_until_drained"]


@dataclass
class Report:
    """What became of the messages of one :func:`run_until_drained`."""

    #: The queue the application consumed (its records, its clock).
    queue: MemoryQueue

    @property
    def records(self) -> list[Record]:
        """One record per message, in the order they were put."""
        return self.queue.records

    @property
    def outcomes(self) -> list[Outcome | None]:
        """The final outcome of each message, in the order they were put."""
        return [record.outcome for record in self.records]

    def count(self) -> Counter[str]:
        """How many messages ended with each outcome (by :attr:`doozer.outcomes.Outcome.name`)."""
        return Counter(o.name if o is not None else "unsettled" for o in self.outcomes)


async def serve_until_drained(
    app: Application,
    messages: Iterable[Any] | MemoryQueue = (),
    *,
    num_workers: int = 1,
    clock: str | Clock = "virtual",
) -> Report:
    """Serve *app* over a closed :class:`MemoryQueue` of *messages* until it is drained.

    The application's consumer is replaced for the run (and restored
    after): it reads :class:`~doozer.testing.MemoryDelivery` objects, whose
    ``body`` is each message. Retries are redelivered on *clock* (virtual by
    default: no waiting). The run ends when every message is acknowledged
    or dead-lettered, and teardown ran.

    :param messages: message bodies, or a queue of your own (it gets closed).
    :raises Exception: whatever stopped the application, as
        :meth:`~doozer.Application.serve` does.
    """
    queue = messages if isinstance(messages, MemoryQueue) else MemoryQueue(messages, clock=clock)
    queue.close()
    consumer, app.consumer = app.consumer, queue
    try:
        await app.serve(num_workers)
    finally:
        app.consumer = consumer
    return Report(queue)


def run_until_drained(
    app: Application,
    messages: Iterable[Any] | MemoryQueue = (),
    *,
    num_workers: int = 1,
    clock: str | Clock = "virtual",
) -> Report:
    """:func:`serve_until_drained` on an event loop of its own, for synchronous tests."""
    return asyncio.run(serve_until_drained(app, messages, num_workers=num_workers, clock=clock))
