"""Reading the inbound queue: deliveries wait in a local queue until read."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractQueue
from aiormq.abc import AbstractChannel as UnderlyingChannel
from aiormq.abc import DeliveredMessage

from ._aiormq_compat import on_consumer_cancel
from ._link import LOST, Link
from ._message import Message, Settle, describe_server
from ._session import Session

if TYPE_CHECKING:
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

    def __init__(
        self,
        link: Link,
        settings: Settings,
        settle: Settle,
        logger: logging.Logger,
        prefetch_count: Callable[[], int],
    ) -> None:
        self._link = link
        self._settings = settings
        self._settle = settle
        self._logger = logger
        self._prefetch_count = prefetch_count
        #: What every message's ``messaging_attributes`` share (OpenTelemetry conventions).
        self.described: dict[str, str | int] = describe_server(settings.url)
        self.reset()

    def reset(self) -> None:
        """Start afresh (each time the application starts, on its own event loop)."""
        self._waiting: asyncio.Queue[Message] = asyncio.Queue()
        self._channel: AbstractChannel | None = None
        self._session: Session | None = None
        self._underlay: UnderlyingChannel | None = None
        self._tag: str | None = None
        self._started = False
        self._cancelled = False  # by the broker, and not consuming again yet
        self._paused = False
        self._pausing: asyncio.Task[None] | None = None
        self._recovering: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} queue={self._settings.inbound_queue!r}>"

    @property
    def destination(self) -> str:
        """What it consumes: the name of ``AMQP_INBOUND_QUEUE``."""
        return self._settings.inbound_queue or ""

    @property
    def ready(self) -> bool:
        """Whether it is connected and consuming right now.

        False before the application started, while the connection is
        being opened again, after the broker cancelled consuming (the queue
        was deleted, say) until it consumes again, and while paused.
        """
        session = self._session
        return (
            self._tag is not None
            and not self._cancelled
            and not self._paused
            and session is not None
            and not session.stale
            and self._link.ready
        )

    @property
    def state(self) -> str:
        """A few words on why it is (not) :attr:`ready`: "consuming", "reconnecting: <cause>"..."""
        if not self._started:
            return "not started"
        if not self._link.ready:
            return self._link.state
        if self._cancelled:
            return (
                "consumer cancelled by the broker (was the queue deleted, or did its node fail "
                "over?); declaring the queue again"
            )
        if self._paused:
            return "paused: handing back what was read ahead"
        session = self._session
        if session is None or session.stale:
            return "reconnecting: the consuming channel closed"
        return "consuming" if self._tag is not None else "not consuming"

    @property
    def reconnects(self) -> int:
        """How many times the connection was opened again since the application started."""
        return self._link.reconnects

    @property
    def pending(self) -> int:
        """How many messages the broker sent ahead that wait here to be read."""
        return self._waiting.qsize()

    async def read(self) -> Message:
        """Return the next message, waiting for one if need be."""
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
            self._logger.info(
                "Returned %r to the broker unprocessed: the connection it came on was lost",
                message,
            )

    # -- called by the link on every (re)connection -------------------------

    async def attach(self, connection: AbstractConnection, generation: int) -> None:
        """Open the consuming channel on a new connection, declare, and consume."""
        settings = self._settings
        await self._detach()
        channel = await connection.channel(publisher_confirms=False)
        prefetch = self._prefetch_count()
        await channel.set_qos(prefetch_count=prefetch)
        await self._declare(channel)
        underlay = await channel.get_underlay_channel()
        session = Session(
            underlay,
            generation,
            # A batch must fill up before the prefetch window does, or the
            # broker waits for acknowledgements that wait for more messages.
            min(settings.ack_batch_size, max(1, prefetch // 2)),
            settings.ack_batch_interval,
            self.described,
            settings.inbound_queue or "",
        )
        link = self._link

        def on_close(_sender: object, exc: BaseException | None = None) -> None:
            session.lost = True
            link.reconnect(generation, f"the consuming channel closed: {exc!r}")

        async def on_cancel(_frame: object) -> None:
            # Runs in the channel's reader: declaring from here would wait for
            # the reader itself, so recover in a task of its own.
            if self._session is session and not session.stale:
                self._cancelled = True
                self._recovering = asyncio.get_running_loop().create_task(
                    self._recover(channel, session)
                )

        channel.close_callbacks.add(on_close)
        on_consumer_cancel(underlay, on_cancel)
        self._channel, self._underlay, self._session = channel, underlay, session
        self._tag = None
        self._cancelled = False
        self._started = True
        if not self._paused:
            await self._consume()

    async def _declare(self, channel: AbstractChannel) -> AbstractQueue:
        settings = self._settings
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
        return queue

    async def _recover(self, channel: AbstractChannel, session: Session) -> None:
        """After the broker cancelled our consumer: declare again and resume."""
        self._logger.warning(
            "The broker cancelled consuming from queue %r (was it deleted, or did its node "
            "fail over?); declaring it again and resuming",
            self._settings.inbound_queue,
        )
        self._tag = None
        try:
            await self._declare(channel)
            if not self._paused and self._session is session and self._tag is None:
                await self._consume()
        except Exception as exc:
            self._link.reconnect(session.generation, f"resuming after a cancel failed: {exc!r}")
            return
        self._logger.warning("Consuming from queue %r again", self._settings.inbound_queue)

    async def _detach(self) -> None:
        """Let go of the previous channel: flush its acknowledgements if it is still open."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        # Whatever still waits here came on the old channel, which the broker
        # took back with it: drop it before the broker delivers it again.
        dropped = 0
        while not self._waiting.empty():
            self._waiting.get_nowait()
            dropped += 1
        if dropped:
            self._logger.info(
                "Returned %d read-ahead message(s) to the broker unprocessed: the connection "
                "they came on was lost",
                dropped,
            )

    async def _consume(self) -> None:
        assert self._underlay is not None
        assert self._session is not None
        session = self._session
        underlay = self._underlay
        waiting = self._waiting
        settle = self._settle

        async def deliver(delivered: DeliveredMessage) -> None:
            tag = delivered.delivery_tag or 0
            if self._paused or session.stale:
                with contextlib.suppress(*LOST):
                    await underlay.basic_nack(tag, requeue=True)
                return
            session.delivered(tag)
            waiting.put_nowait(Message(delivered, session, settle))

        consuming = await underlay.basic_consume(self._settings.inbound_queue or "", deliver)
        self._tag = consuming.consumer_tag
        self._cancelled = False

    # -- pausing -------------------------------------------------------------

    def _pause(self) -> None:
        if self._paused:
            return
        self._paused = True
        self._pausing = asyncio.get_running_loop().create_task(self._stop_consuming())

    async def _stop_consuming(self) -> None:
        underlay, tag = self._underlay, self._tag
        self._tag = None
        try:
            if underlay is not None and tag is not None and not underlay.is_closed:
                await underlay.basic_cancel(tag)
            returned = 0
            while not self._waiting.empty():
                message = self._waiting.get_nowait()
                if not message.stale and not message.settled:
                    await message.nack(requeue=True)
                    returned += 1
            if returned:
                self._logger.info(
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
        if self._link.ready and self._tag is None and self._underlay is not None:
            await self._consume()

    async def close(self) -> None:
        """Stop consuming, hand back unread messages, send the acknowledgements owed."""
        self._pause()
        if self._pausing is not None:
            await self._pausing
        session, self._session = self._session, None
        if session is not None:
            await session.close()
