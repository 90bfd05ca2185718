"""Waiting between tries: delays that double up to a cap, within a deadline.

The transports and extensions connect at startup by trying again and again
until a deadline (``*_CONNECT_TIMEOUT``), waiting longer after each failure,
and keep reconnecting the same way when a connection is lost. :class:`Backoff`
is that schedule; what counts as a failure, what is logged and the one-line
error at the end stay with each of them::

    backoff = Backoff(min_delay=0.5, max_delay=30, timeout=settings.connect_timeout)
    while True:
        try:
            await connect()
            break
        except OSError as exc:
            wait = backoff.next_wait()
            if wait is None:
                raise ConnectionError(f"cannot connect ... ({exc})") from None
            logger.warning("Cannot connect (%s); trying again in %.1f s", exc, wait)
            await backoff.sleep(wait)

Importing it imports no asyncio (``import doozer`` stays light).
"""

from __future__ import annotations

import math
import time

__all__ = ["Backoff"]


class Backoff:
    """The waits between tries: *min_delay*, then doubled per failure, at most *max_delay*.

    :param min_delay: the first wait, in seconds.
    :param max_delay: the longest wait, in seconds.
    :param timeout: seconds from now after which :meth:`next_wait` says to
        give up; None never gives up (reconnecting after a loss).
    """

    def __init__(self, min_delay: float, max_delay: float, timeout: float | None = None) -> None:
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self._deadline = math.inf if timeout is None else time.monotonic() + timeout
        self._delay = min_delay
        #: The number of the try being made: 1, then one more per :meth:`next_wait`.
        self.attempt = 1

    @property
    def left(self) -> float:
        """Seconds until the deadline (``inf`` without one; negative once it passed)."""
        return self._deadline - time.monotonic()

    def next_wait(self) -> float | None:
        """After a failed try: how long to wait before the next one, or None to give up.

        The wait is :meth:`next_delay`, shortened to end at the deadline;
        None once the deadline has passed.
        """
        left = self.left
        if left <= 0:
            return None
        return min(self.next_delay(), left)

    def next_delay(self) -> float:
        """After a failed try: the wait before the next one, whatever the deadline.

        The current delay; it doubles (up to *max_delay*) for the time after.
        """
        delay = self._delay
        self._delay = min(delay * 2, self.max_delay)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Start again from *min_delay* (after a success); the deadline stays."""
        self._delay = self.min_delay
        self.attempt = 1

    @staticmethod
    async def sleep(seconds: float) -> None:
        """Wait *seconds* (:func:`asyncio.sleep`, imported only when a wait is due)."""
        import asyncio

        await asyncio.sleep(seconds)
