"""Reading a stream through a durable pull consumer, and settling what was read."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from doozer.outcomes import Failed, Outcome, RetryLater, Unfinished

from ._connection import Connection, summary
from ._dead import DeadLetters
from ._message import Message
from ._setup import ensure_consumer

if TYPE_CHECKING:
    from doozer import Application
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

__all__ = ["Consumer", "Source"]

#: How long one pull request waits on the server for messages (its long poll).
PULL_EXPIRES = 5.0
#: A pull request the server did not end this long after it expired was lost
#: (a reconnection): it no longer counts.
_PULL_GRACE = 2.0
#: How long closing may spend on the dead letters still being written.
_CLOSE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Source:
    """Where a consumer reads, and what it does with messages that fail."""

    stream: str
    subjects: tuple[str, ...]
    filter_subject: str | None
    durable: str
    dead_letter_subject: str
    dead_letter_stream: str
    ack_wait: float
    max_deliver: int


class _Pull:
    __slots__ = ("expires_at", "remaining")

    def __init__(self, remaining: int, expires_at: float) -> None:
        self.remaining = remaining
        self.expires_at = expires_at


class Consumer:
    """Reads one stream as a durable JetStream pull consumer; made by :meth:`JetStream.consumer`.

    Messages are pulled in batches of ``NATS_BATCH`` (the server holds each
    pull request open until messages come: a long poll, no polling here).
    :meth:`read` returns :class:`Message` deliveries; the ones read ahead or
    being processed are kept alive with in-progress acknowledgements, so
    JetStream does not redeliver them while they are held. A cancelled
    :meth:`read` (the application stopping) takes nothing, stops pulling,
    and hands what was pulled but not read back to JetStream at once.
    """

    def __init__(
        self,
        connection: Connection,
        source: Source,
        logger: logging.Logger,
        stopping: Callable[[], bool] = lambda: False,
        app: Application | None = None,
    ) -> None:
        self.connection = connection
        #: What every message's ``messaging_attributes`` share (OpenTelemetry conventions).
        self.described: dict[str, str | int] = {
            "messaging.system": "nats",
            "messaging.consumer.group.name": source.durable,
        }
        self._stopping = stopping
        self.source = source
        self.logger = logger
        #: How many messages are pulled ahead at most (set when the application starts).
        self.batch = 1
        self._dead = DeadLetters(connection, source, logger, app)
        self._buffer: deque[Message] = deque()
        self._held: dict[int, Message] = {}  # by stream sequence: read, not settled yet
        self._pulls: dict[int, _Pull] = {}  # open pull requests, oldest first
        self._pull_count = 0
        self._no_pulls = asyncio.Event()
        self._arrived = asyncio.Event()
        self._subscription: Subscription | None = None
        self._inbox = ""
        self._keeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._paused = False
        self._started = False
        self._problem: str | None = None
        connection.on_reconnect(self._after_reconnect)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.destination} durable={self.source.durable!r}>"

    @property
    def destination(self) -> str:
        """What it consumes: ``stream`` or ``stream/filter subject``."""
        source = self.source
        return (
            f"{source.stream}/{source.filter_subject}" if source.filter_subject else source.stream
        )

    @property
    def ready(self) -> bool:
        """Whether it is connected and pulling messages right now."""
        return (
            self._started
            and self._problem is None
            and not self._holding_back
            and self.connection.connected
        )

    @property
    def state(self) -> str:
        """A few words on why it is (not) :attr:`ready`."""
        if not self._started:
            return "not started"
        if self._problem is not None:
            return self._problem
        if not self.connection.connected:
            return self.connection.state
        return "paused: handing back what was pulled" if self._paused else "connected"

    @property
    def reconnects(self) -> int:
        """How many times the connection was re-established since the application started."""
        return self.connection.reconnects

    @property
    def pending(self) -> int:
        """Messages pulled and waiting here to be read."""
        return len(self._buffer)

    # -- life cycle (driven by the extension) --------------------------------

    async def start(self, batch: int) -> None:
        """Create the streams and the durable consumer if missing, and start pulling."""
        self.batch = batch
        self._describe_server()
        self._buffer.clear()
        self._held.clear()
        self._pulls.clear()
        self._paused = False
        self._problem = None
        self._arrived = asyncio.Event()
        self._no_pulls = asyncio.Event()
        self._no_pulls.set()
        await ensure_consumer(self.connection.js, self.source, self.logger)
        client = self.connection.client
        self._inbox = client.new_inbox()
        self._subscription = await client.subscribe(f"{self._inbox}.*", cb=self._on_message)
        self._keeper = asyncio.get_running_loop().create_task(self._keep())
        self._started = True
        await self._refill()

    async def close(self) -> None:
        """Stop pulling, hand back what was not read, and finish the dead letters."""
        self._paused = True
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._keeper = None
        await self._hand_back_buffer()
        # Unsubscribing with pull requests open would lose what they still
        # deliver (until ack_wait): let them end (they expire), handing back
        # whatever comes.
        if self._pulls:
            wait = max(pull.expires_at for pull in self._pulls.values()) - time.monotonic()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._no_pulls.wait(), max(wait, 0.01))
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            try:
                await subscription.unsubscribe()
            except Exception as exc:
                self.logger.debug("Could not unsubscribe: %s", summary(exc))
        await self._hand_back_buffer()
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=_CLOSE_TIMEOUT)
            for task in pending:
                task.cancel()
        self._started = False

    # -- reading ---------------------------------------------------------------

    async def read(self) -> Message:
        """Return the next message, waiting (on the server's long poll) until there is one."""
        if self._paused:
            self._paused = False
            await self._refill()
        buffer = self._buffer
        while not buffer:
            self._arrived.clear()
            try:
                await self._arrived.wait()
            except asyncio.CancelledError:
                self._pause()
                raise
        message = buffer.popleft()
        self._held[message.sequence] = message
        if len(buffer) <= self.batch // 2 and not self._paused:
            await self._refill()
        return message

    def _pause(self) -> None:
        # The reader was cancelled: the application stops. What was pulled and
        # not read goes back at once; what still arrives goes back too.
        self._paused = True
        self._spawn(self._hand_back_buffer())

    @property
    def _holding_back(self) -> bool:
        return self._paused or self._stopping()

    def _forget(self, number: int) -> None:
        self._pulls.pop(number, None)
        if not self._pulls:
            self._no_pulls.set()

    async def _refill(self) -> None:
        """Ask for as many messages as the buffer has room for, if that is enough."""
        if self._subscription is None or self._holding_back or not self.connection.connected:
            return
        outstanding = sum(pull.remaining for pull in self._pulls.values())
        room = self.batch - len(self._buffer) - outstanding
        if room < max(self.batch // 2, 1):
            return
        self._pull_count += 1
        number = self._pull_count
        self._pulls[number] = _Pull(room, time.monotonic() + PULL_EXPIRES + _PULL_GRACE)
        self._no_pulls.clear()
        request = {"batch": room, "expires": int(PULL_EXPIRES * 1e9)}
        source = self.source
        try:
            await self.connection.client.publish(
                f"$JS.API.CONSUMER.MSG.NEXT.{source.stream}.{source.durable}",
                json.dumps(request).encode(),
                reply=f"{self._inbox}.{number}",
            )
        except Exception as exc:  # lost meanwhile: the reconnection asks again
            self._forget(number)
            self.logger.debug("Could not ask for messages: %s", summary(exc))

    async def _on_message(self, msg: Msg) -> None:
        if not msg.reply:  # a status: the end of a pull request, or a heartbeat
            await self._on_status(msg)
            return
        for number, pull in self._pulls.items():  # the server serves requests in order
            pull.remaining -= 1
            if pull.remaining <= 0:
                self._forget(number)
            break
        message = Message(msg, self._settle, self.described)
        if self._holding_back:
            await self._nak(message)
        elif message.deliveries > self.source.max_deliver:
            self._spawn(self._dead.crashed(message))
        else:
            self._buffer.append(message)
            self._arrived.set()

    async def _on_status(self, msg: Msg) -> None:
        headers = msg.headers or {}
        status = headers.get("Status", "")
        if status == "100":
            return
        number = int(msg.subject.rpartition(".")[2] or 0)
        self._forget(number)
        description = headers.get("Description", "")
        if status == "409" and "deleted" in description.lower():
            self._problem = "consumer deleted on the server: recreating it"
            self.logger.warning(
                "The durable consumer %r of %r was deleted; recreating it",
                self.source.durable,
                self.source.stream,
            )
            self._spawn(self._recreate())
            return
        if status not in ("404", "408", "409"):
            self.logger.warning("JetStream answered a pull with %s %s", status, description)
        await self._refill()

    async def _recreate(self) -> None:
        try:
            await ensure_consumer(self.connection.js, self.source, self.logger)
        except Exception as exc:
            self._problem = f"consumer deleted on the server; recreating it failed: {summary(exc)}"
            self.logger.error("Could not recreate the durable consumer: %s", summary(exc))
            return
        self._problem = None
        await self._refill()

    def _describe_server(self) -> None:
        # The server this connection reached (it may change at a reconnection).
        url = self.connection.client.connected_url
        if url is not None and url.hostname:
            self.described["server.address"] = url.hostname
            self.described["server.port"] = url.port or 4222

    async def _after_reconnect(self) -> None:
        self._describe_server()
        # Pull requests do not survive a reconnection for sure: ask afresh.
        self._pulls.clear()
        self._no_pulls.set()
        await self._refill()

    async def _keep(self) -> None:
        """Keep held messages alive, forget lost pull requests, ask for more: one task."""
        quiet = self.source.ack_wait / 3
        while True:
            await asyncio.sleep(min(quiet, PULL_EXPIRES))
            now = time.monotonic()
            for message in (*self._buffer, *self._held.values()):
                if now - message.arrived >= quiet and not message.msg.is_acked:
                    message.arrived = now
                    try:
                        await message.msg.in_progress()
                    except Exception as exc:
                        self.logger.debug("Could not keep %r alive: %s", message, summary(exc))
            for number, pull in list(self._pulls.items()):
                if pull.expires_at < now:
                    self._forget(number)
            if self._stopping() and self._buffer:
                await self._hand_back_buffer()
            await self._refill()

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- settling ------------------------------------------------------------

    async def _settle(self, message: Message, outcome: Outcome) -> None:
        msg = message.msg
        try:
            if msg.is_acked:  # settled by the application itself
                return
            if outcome.finished and not isinstance(outcome, Failed):
                await msg.ack()
            elif isinstance(outcome, Failed):
                await self._dead.failed(message, outcome.exception)
            elif isinstance(outcome, RetryLater):
                if message.deliveries >= self.source.max_deliver:
                    await self._dead.exhausted(message, outcome.exception)
                else:
                    await msg.nak(delay=outcome.delay)
            elif isinstance(outcome, Unfinished):
                await msg.nak()
        except Exception as exc:
            # The connection is gone for good: JetStream redelivers it after ack_wait.
            self.logger.warning(
                "Could not settle %r (%s): JetStream redelivers it", message, summary(exc)
            )
        finally:
            self._held.pop(message.sequence, None)
            if self._buffer and self._stopping():  # the application stops: hand back at once
                await self._hand_back_buffer()

    async def _nak(self, message: Message) -> None:
        try:
            await message.msg.nak()
        except Exception as exc:
            self.logger.debug("Could not hand back %r: %s", message, summary(exc))

    async def _hand_back_buffer(self) -> None:
        returned = 0
        while self._buffer:
            await self._nak(self._buffer.popleft())
            returned += 1
        if returned:
            self.logger.info(
                "Handed %d pulled but unprocessed message(s) of %r back to JetStream",
                returned,
                self.source.stream,
            )
