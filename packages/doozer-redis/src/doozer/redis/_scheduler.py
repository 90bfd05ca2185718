"""Delayed retries: a sorted set of entries, moved back into the stream when due."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ._connection import ClosedError, Connection
from ._scripts import MOVE_DUE

__all__ = ["RetryScheduler"]

#: The most entries moved back in one step.
MOVE_BATCH = 500


class RetryScheduler:
    """Moves due retries from the sorted set *key* back into *stream*.

    Every consumer runs one. It sleeps until the next retry is due, as the
    server tells it, and wakes early when this process schedules a retry;
    it looks again at least every *max_wait* seconds, for retries that a
    consumer which has since died scheduled. Moving is one script, so two
    schedulers never move an entry twice.
    """

    def __init__(
        self, connection: Connection, key: str, stream: str, max_wait: float, logger: logging.Logger
    ) -> None:
        self.connection = connection
        self.key = key
        self.stream = stream
        self.max_wait = max_wait
        self.logger = logger
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def wake(self) -> None:
        """Look at the sorted set now (a retry was just scheduled)."""
        self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        script = self.connection.client.register_script(MOVE_DUE)
        while True:
            self._wake.clear()  # before looking: a wake() from now on is not lost
            try:
                moved, wait_ms = await self.connection.call(
                    lambda client: script(keys=[self.key, self.stream], args=[MOVE_BATCH]),
                    "moving due retries",
                )
            except ClosedError:
                return
            if moved:
                self.logger.debug("Moved %d due retr(ies) back into %r", moved, self.stream)
                if moved >= MOVE_BATCH:
                    continue
            wait = self.max_wait if wait_ms < 0 else min(wait_ms / 1000, self.max_wait)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
