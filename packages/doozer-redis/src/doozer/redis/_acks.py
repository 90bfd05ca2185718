"""Acknowledgements sent in batches, in the background."""

from __future__ import annotations

import asyncio
import logging

from ._connection import ClosedError, Connection

__all__ = ["Acknowledger"]

#: The most ids in one XACK.
MAX_BATCH = 1000


class Acknowledger:
    """Collects finished entries' ids and acknowledges them together.

    Ids that come in while an XACK is on its way go in the next one, so
    under load one round trip acknowledges many entries; alone, an entry is
    acknowledged at once. XACK is idempotent, so a batch whose reply was
    lost is simply sent again.
    """

    def __init__(self, connection: Connection, stream: str, group: str, logger: logging.Logger):
        self.connection = connection
        self.stream = stream
        self.group = group
        self.logger = logger
        self._ids: list[str] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._closing = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    def add(self, entry_id: str) -> None:
        """Acknowledge *entry_id* soon."""
        self._ids.append(entry_id)
        self._wake.set()

    @property
    def waiting(self) -> int:
        """How many ids are not acknowledged yet."""
        return len(self._ids)

    async def close(self) -> None:
        """Send every id collected so far, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._ids:
                batch, self._ids = self._ids[:MAX_BATCH], self._ids[MAX_BATCH:]
                try:
                    await self.connection.execute(
                        "XACK", self.stream, self.group, *batch, what="acknowledging entries"
                    )
                except ClosedError:
                    self.logger.warning(
                        "Could not acknowledge %d entr(ies) of %r: the connection is closed; "
                        "they are delivered again",
                        len(batch) + len(self._ids),
                        self.stream,
                    )
                    return
            if self._closing:
                return
