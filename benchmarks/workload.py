"""The consumers and coroutines every implementation runs: the same objects for all three.

Each implementation ends consumption when ``read()`` raises its own ``Abort``
(``end``): that is the only thing that differs between them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from time import perf_counter, process_time
from typing import Any

End = Callable[[str, Any], BaseException]


class InstantConsumer:
    """Returns messages ``0 .. count-1`` at once; remembers when the first was read.

    Both clocks are kept: wall time, and this process's CPU time (what the
    implementation itself costs, even when other processes share the CPUs).
    """

    def __init__(self, count: int, end: End) -> None:
        self.count = count
        self.end = end
        self.next = 0
        self.started = 0.0
        self.started_cpu = 0.0

    async def read(self) -> int:
        index = self.next
        if index == self.count:
            raise self.end("benchmark.done", None)
        if index == 0:
            self.started = perf_counter()
            self.started_cpu = process_time()
        self.next = index + 1
        return index


class PacedConsumer(InstantConsumer):
    """Waits *interval* seconds before each message; stamps when ``read()`` returns."""

    def __init__(self, count: int, end: End, interval: float) -> None:
        super().__init__(count, end)
        self.interval = interval
        self.returned_at = [0.0] * count

    async def read(self) -> int:
        await asyncio.sleep(self.interval)
        index = await super().read()
        self.returned_at[index] = perf_counter()
        return index


class PayloadConsumer(InstantConsumer):
    """Returns a fresh ``bytes`` object of *size* bytes per message."""

    def __init__(self, count: int, end: End, size: int) -> None:
        super().__init__(count, end)
        self.size = size

    async def read(self) -> bytes:  # type: ignore[override]
        await super().read()
        return bytes(self.size)  # a new object each time, like a message off a socket


async def callback(app: Any, message: Any) -> list[Any]:
    """The application's callback: one result, the message itself."""
    return [message]


def sleeping_callback(seconds: float) -> Callable[[Any, Any], Any]:
    """A callback that awaits ``asyncio.sleep(seconds)`` (I/O stand-in) first."""

    async def sleep_then_return(app: Any, message: Any) -> list[Any]:
        await asyncio.sleep(seconds)
        return [message]

    return sleep_then_return


async def postprocess(app: Any, result: Any) -> Any:
    """The one result postprocessor: passes the result on."""
    return result


class Acknowledgements:
    """The acknowledgement callback: counts messages, notes when the last one was done.

    *on_count* maps a message count to a function called when that many
    messages were acknowledged (the memory scenario samples RSS there).
    """

    def __init__(self, expected: int, on_count: dict[int, Callable[[], None]] | None = None):
        self.expected = expected
        self.count = 0
        self.finished = 0.0
        self.finished_cpu = 0.0
        self.on_count = on_count or {}

    async def acknowledge(self, app: Any, message: Any) -> None:
        count = self.count = self.count + 1
        if count in self.on_count:
            self.on_count[count]()
        if count == self.expected:
            self.finished = perf_counter()
            self.finished_cpu = process_time()

    def check(self, name: str) -> None:
        """Fail loudly if *name* lost or duplicated a message: its numbers would be wrong."""
        if self.count != self.expected:
            raise RuntimeError(
                f"{name} acknowledged {self.count} messages, expected {self.expected}"
            )


class LatencyAcknowledgements(Acknowledgements):
    """Also records, per message, the time from ``read()`` returning to here."""

    def __init__(self, consumer: PacedConsumer) -> None:
        super().__init__(consumer.count)
        self.returned_at = consumer.returned_at
        self.latencies: list[float] = []

    async def acknowledge(self, app: Any, message: int) -> None:
        self.latencies.append(perf_counter() - self.returned_at[message])
        await super().acknowledge(app, message)
