"""The clocks a :class:`~doozer.testing.MemoryQueue` schedules redeliveries on."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable

__all__ = ["Clock", "RealClock", "VirtualClock"]


class Clock:
    """What a memory queue needs of a clock: the time, and calls at a later time."""

    def now(self) -> float:
        """The current time, in seconds."""
        raise NotImplementedError

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        """Call *callback* once *delay* seconds have passed on this clock."""
        raise NotImplementedError

    def jump(self) -> bool:
        """Move to the next pending call and make it (virtual clocks only).

        :returns: whether there was one.
        """
        return False


class RealClock(Clock):
    """Wall-clock time: a retry delay of 2 s takes 2 s (timers of the running loop)."""

    def now(self) -> float:
        return time.time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        asyncio.get_running_loop().call_later(delay, callback)


class VirtualClock(Clock):
    """Time that moves only when told to, or when nothing else can happen.

    :meth:`advance` moves it by hand. A queue on a virtual clock also calls
    :meth:`jump` when the application is idle (nothing to read, nothing in
    flight) but redeliveries are scheduled: a retry delay of an hour then
    takes no time in a test, and the recorded times still show the hour.

    :param start: the time it shows first (seconds since the epoch).
    :param autojump: whether an idle queue may move it (else only :meth:`advance` does).
    """

    def __init__(self, start: float = 1_700_000_000.0, *, autojump: bool = True) -> None:
        self._now = start
        self.autojump = autojump
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._due, (self._now + max(delay, 0.0), next(self._order), callback))

    def advance(self, seconds: float) -> None:
        """Move the time forward by *seconds*, making every call that falls due."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds!r})")
        target = self._now + seconds
        while self._due and self._due[0][0] <= target:
            when, _, callback = heapq.heappop(self._due)
            self._now = max(self._now, when)
            callback()
        self._now = target

    def jump(self) -> bool:
        if not self._due or not self.autojump:
            return False
        self.advance(self._due[0][0] - self._now)
        return True
