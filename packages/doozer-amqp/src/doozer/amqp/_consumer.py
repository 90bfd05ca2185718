"""Reading the inbound queue: deliveries wait in a local queue until read."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue

from ._link import LOST
from ._message import Message

if TYPE_CHECKING:
    from ._extension import AMQP
    from ._settings import Settings

__all__ = ["Consumer"]


class Consumer:
    """Reads messages from ``AMQP_INBOUND_QUEUE``; made by :meth:`AMQP.consumer`.

    The broker pushes up to ``AMQP_PREFETCH_COUNT`` unacknowledged messages
    ahead; they wait here until :meth:`read` takes them. A cancelled
    :meth:`read` takes nothing, and it also pauses consumption: the broker
    stops delivering, and the messages waiting here go back to the queue
    for other consumers (this is how a stopping application hands back what
    it had not started). The next :meth:`read` resumes consumption.
    """

    def __init__(self, amqp: AMQP, settings: Settings) -> None:
        self._amqp = amqp
        self._settings = settings
        self._reset()

    def _reset(self) -> None:
        """Start afresh (each time the application starts, on its own event loop)."""
        self._waiting: asyncio.Queue[Message] = asyncio.Queue()
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._generation = 0
        self._paused = False
        self._pausing: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} queue={self._settings.inbound_queue!r}>"

    async def read(self) -> Message:
        """Return the next message, waiting for one if need be.

        :raises ConnectionError: if the application's AMQP connection is not open.
        """
        if self._paused:
            await self._resume()
        while True:
            try:
                message = await self._waiting.get()
            except asyncio.CancelledError:
                self._pause()
                raise
            if not message.stale:
                return message
            # Came on a connection that is gone: the broker redelivers it.

    def _is_current(self, generation: int) -> bool:
        channel = self._channel
        return generation == self._generation and channel is not None and not channel.is_closed

    # -- called by the link on every (re)connection -------------------------

    async def _setup(self, connection: AbstractConnection, generation: int) -> None:
        settings = self._settings
        channel = await connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=self._amqp.prefetch_count)
        await channel.declare_queue(settings.dead_letter_queue, durable=True)
        arguments: dict[str, Any] = {
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": settings.dead_letter_queue,
            **settings.inbound_queue_arguments,
        }
        queue = await channel.declare_queue(
            settings.inbound_queue, durable=True, arguments=arguments
        )
        if settings.inbound_exchange:
            exchange = await channel.declare_exchange(
                settings.inbound_exchange, settings.exchange_type, durable=True
            )
            for key in settings.inbound_routing_keys:
                await queue.bind(exchange, key)
        link = self._amqp._live_link

        def on_close(_sender: object, exc: BaseException | None = None) -> None:
            link.reconnect(generation, f"the consuming channel closed: {exc!r}")

        channel.close_callbacks.add(on_close)
        # Whatever still waits here came on the old connection, which took
        # it back with it: drop it before the broker delivers it again.
        while not self._waiting.empty():
            self._waiting.get_nowait()
        self._channel, self._queue, self._generation = channel, queue, generation
        self._tag = None
        if not self._paused:
            await self._consume()

    async def _consume(self) -> None:
        assert self._queue is not None
        generation = self._generation
        waiting = self._waiting

        async def deliver(incoming: AbstractIncomingMessage) -> None:
            if self._paused or generation != self._generation:
                with contextlib.suppress(*LOST):
                    await incoming.nack(requeue=True)
                return
            waiting.put_nowait(Message(incoming, self, generation))

        self._tag = await self._queue.consume(deliver)

    # -- pausing -------------------------------------------------------------

    def _pause(self) -> None:
        if self._paused:
            return
        self._paused = True
        self._pausing = asyncio.get_running_loop().create_task(self._stop_consuming())

    async def _stop_consuming(self) -> None:
        queue, tag = self._queue, self._tag
        self._tag = None
        try:
            if queue is not None and tag is not None:
                await queue.cancel(tag)
            returned = 0
            while not self._waiting.empty():
                message = self._waiting.get_nowait()
                if not message.stale and not message.settled:
                    await message.nack(requeue=True)
                    returned += 1
            if returned:
                self._amqp.app.logger.info(
                    "Returned %d unread message(s) to the queue %r",
                    returned,
                    self._settings.inbound_queue,
                )
        except LOST:
            pass  # the broker takes them back with the connection

    async def _resume(self) -> None:
        if self._pausing is not None:
            await self._pausing
            self._pausing = None
        self._paused = False
        if self._amqp._live_link.ready and self._tag is None:
            await self._consume()

    async def _close(self) -> None:
        """Stop consuming and hand back unread messages (at teardown)."""
        self._pause()
        if self._pausing is not None:
            await self._pausing
