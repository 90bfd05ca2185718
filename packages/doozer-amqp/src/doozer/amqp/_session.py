"""One consuming channel, and the acknowledgements owed on it (batched)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, Protocol

from ._link import LOST


class UnderlyingChannel(Protocol):
    """What a session needs of aiormq's channel."""

    @property
    def is_closed(self) -> bool: ...

    async def basic_ack(self, delivery_tag: int, multiple: bool = False) -> Any: ...

    async def basic_nack(
        self, delivery_tag: int, multiple: bool = False, requeue: bool = True
    ) -> Any: ...

    async def basic_reject(self, delivery_tag: int, *, requeue: bool = True) -> Any: ...


class Session:
    """The deliveries of one consuming channel, from the broker to their settlement.

    Positive acknowledgements are batched: a finished tag waits until
    *batch_size* tags finished or *interval* seconds passed, then the
    longest run of finished tags that no unfinished tag precedes is
    acknowledged with one ``basic.ack(multiple=True)``, and the finished
    tags after a gap one by one. A tag whose message is not finished is
    never acknowledged. Negative acknowledgements go at once.

    Once the channel is closed or replaced the session is *lost*: its
    deliveries can no longer be settled, the broker delivers them again.
    """

    def __init__(
        self,
        channel: UnderlyingChannel,
        generation: int,
        batch_size: int,
        interval: float,
        described: Mapping[str, str | int] | None = None,
        queue: str = "",
    ) -> None:
        self.channel = channel
        #: What the deliveries of this channel share, for their ``messaging_attributes``.
        self.described: Mapping[str, str | int] = described or {}
        #: The queue consumed on this channel.
        self.queue = queue
        self.generation = generation
        self.batch_size = batch_size
        self.interval = interval
        self.lost = False
        self._outstanding: set[int] = set()  # delivered, not finished
        self._finished: set[int] = set()  # finished, acknowledgement owed
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        # One flush at a time: a multiple ack sent by a second flush while the
        # first one waits could cover a tag the first is about to ack alone, and
        # acknowledging a tag twice closes the channel.
        self._flush_lock = asyncio.Lock()

    @property
    def stale(self) -> bool:
        """Whether the channel is gone (closed, lost or replaced)."""
        return self.lost or self.channel.is_closed

    @property
    def owed(self) -> int:
        """How many finished deliveries wait for their acknowledgement."""
        return len(self._finished)

    def delivered(self, tag: int) -> None:
        """Record a delivery from the broker."""
        self._outstanding.add(tag)

    def returned(self, tag: int) -> None:
        """Forget a delivery that was handed back without this session's help."""
        self._outstanding.discard(tag)

    async def ack(self, tag: int) -> None:
        """Acknowledge *tag*, now or with the next batch."""
        if self.stale:
            raise ConnectionError("the consuming channel is closed")
        self._outstanding.discard(tag)
        if self.batch_size <= 1:
            await self.channel.basic_ack(tag)
            return
        self._finished.add(tag)
        if len(self._finished) >= self.batch_size:
            await self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._on_timer)

    async def nack(self, tag: int, requeue: bool) -> None:
        """Return *tag* to its queue (*requeue*) or have the broker dead-letter it."""
        if self.stale:
            raise ConnectionError("the consuming channel is closed")
        self._outstanding.discard(tag)
        await self.channel.basic_nack(tag, requeue=requeue)

    async def reject(self, tag: int) -> None:
        """Reject *tag*: the broker dead-letters it."""
        if self.stale:
            raise ConnectionError("the consuming channel is closed")
        self._outstanding.discard(tag)
        await self.channel.basic_reject(tag, requeue=False)

    async def flush(self) -> None:
        """Send every acknowledgement owed (before the channel closes, say)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        async with self._flush_lock:
            await self._flush()

    async def _flush(self) -> None:
        if not self._finished or self.stale:
            return
        finished, self._finished = self._finished, set()
        frontier = min(self._outstanding) if self._outstanding else None
        covered = [tag for tag in finished if frontier is None or tag < frontier]
        after_gap = sorted(finished.difference(covered))
        if covered:
            last = max(covered)
            await self.channel.basic_ack(last, multiple=len(covered) > 1)
        for tag in after_gap:
            await self.channel.basic_ack(tag)

    def _on_timer(self) -> None:
        self._timer = None
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush_quietly())

    async def _flush_quietly(self) -> None:
        with contextlib.suppress(*LOST):
            await self.flush()

    async def close(self) -> None:
        """Flush what is owed (if the channel is still open), then mark the session lost."""
        try:
            with contextlib.suppress(*LOST):
                await self.flush()
        finally:
            self.lost = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
