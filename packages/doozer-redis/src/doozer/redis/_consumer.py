"""Reading a stream with a consumer group, and settling what was read."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from doozer import headers as names
from doozer.outcomes import Failed, Outcome, RetryLater, Unfinished
from redis.exceptions import ResponseError

from ._acks import Acknowledger
from ._connection import MAX_BLOCK, ClosedError, Connection
from ._message import Message, fields_of, headers_of
from ._scheduler import RetryScheduler
from ._scripts import CLAIM, DEAD_LETTER, HAND_BACK, RETRY_LATER, TOUCH

if TYPE_CHECKING:
    from doozer import Application

__all__ = ["Consumer", "Group"]

_MAX_REASON = 4000
#: A handed-back entry's idle time (ms): more than any REDIS_CLAIM_IDLE.
_HANDED_BACK_IDLE = 10**11
#: How long closing may spend handing entries back before leaving them to be claimed.
_CLOSE_TIMEOUT = 5.0
_TOO_MANY = "given up after %d deliveries that did not finish (REDIS_MAX_DELIVERIES)"


@dataclass(frozen=True)
class Group:
    """Where a consumer reads, and what it does with entries that fail."""

    stream: str
    group: str
    dead_letter_stream: str
    retry_key: str
    max_deliveries: int
    claim_idle: float


class Consumer:
    """Reads entries of one stream as a member of a consumer group.

    Made by :meth:`RedisStreams.consumer`; its :meth:`read` returns
    :class:`Message` deliveries. Entries it holds (read ahead, or being
    processed) are kept fresh on the server, so other consumers claim
    only what a dead (or stuck) consumer left for longer than
    ``REDIS_CLAIM_IDLE``.
    """

    def __init__(
        self,
        connection: Connection,
        group: Group,
        logger: logging.Logger,
        app: Application | None = None,
    ) -> None:
        self.connection = connection
        self.group = group
        self.logger = logger
        #: The application whose publish wrappers see dead letters and retries, or None.
        self.app = app
        #: What every message's ``messaging_attributes`` share (OpenTelemetry conventions).
        self.described = _described(connection.url, group)
        #: The consumer's name in the group (set when the application starts).
        self.name: str | None = None
        self.batch = 1
        self._buffer: deque[Message] = deque()
        self._held: dict[str, Message] = {}  # returned by read(), not settled yet
        self._fetch: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._cursor = "0-0"
        self._next_sweep = 0.0
        self._acks: Acknowledger | None = None
        self._scheduler: RetryScheduler | None = None
        self._scripts: dict[str, Any] = {}
        self._suspects: set[str] = set()  # redelivered entries in hand
        self._calm = asyncio.Event()

    def __repr__(self) -> str:
        group = self.group
        return (
            f"<{type(self).__name__} stream={group.stream!r} group={group.group!r} "
            f"consumer={self.name!r} at {self.connection.where}>"
        )

    @property
    def sweep_interval(self) -> float:
        """Seconds between looks for entries left by other consumers."""
        return min(self.group.claim_idle / 2, MAX_BLOCK)

    # -- life cycle (driven by the extension) -------------------------------

    async def start(self, name: str, batch: int) -> None:
        """Create the group if missing and start the background tasks."""
        self.name = name
        self.batch = batch
        client = self.connection.client
        self._scripts = {
            script: client.register_script(source)
            for script, source in (
                ("claim", CLAIM),
                ("dead_letter", DEAD_LETTER),
                ("retry", RETRY_LATER),
                ("touch", TOUCH),
                ("hand_back", HAND_BACK),
            )
        }
        self._buffer.clear()
        self._held.clear()
        self._suspects.clear()
        self._cursor, self._next_sweep = "0-0", 0.0
        await self._create_group()
        group = self.group
        self._acks = Acknowledger(self.connection, group.stream, group.group, self.logger)
        self._acks.start()
        self._scheduler = RetryScheduler(
            self.connection, group.retry_key, group.stream, self.sweep_interval, self.logger
        )
        self._scheduler.start()
        self._keeper = asyncio.get_running_loop().create_task(self._keep_fresh())

    async def close(self) -> None:
        """Acknowledge what is finished, hand back what is not, stop the tasks."""
        for task in (self._fetch, self._keeper):
            if task is not None:
                task.cancel()
        for task in (self._fetch, self._keeper):
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)
        self._fetch = self._keeper = None
        if self._scheduler is not None:
            await self._scheduler.close()
        if self._acks is None:  # never started (a startup failed first): nothing to hand back
            return
        await self._acks.close()
        try:
            await asyncio.wait_for(self._hand_back_all(), _CLOSE_TIMEOUT)
        except (asyncio.TimeoutError, ClosedError) as exc:
            self.logger.warning(
                "Could not hand back unprocessed entries of %r (%r): other consumers claim "
                "them after REDIS_CLAIM_IDLE (%g s)",
                self.group.stream,
                exc,
                self.group.claim_idle,
            )

    async def _create_group(self) -> None:
        group = self.group
        try:
            await self.connection.execute(
                "XGROUP", "CREATE", group.stream, group.group, "0", "MKSTREAM",
                what="creating the consumer group",
            )  # fmt: skip
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        else:
            self.logger.info("Created the consumer group %r of %r", group.group, group.stream)

    # -- reading ------------------------------------------------------------

    async def read(self) -> Message:
        """Return the next entry: one another consumer left, or a new one.

        Waits (blocking on the server, never polling) until there is one.
        Cancelling it consumes nothing: what arrives later is kept for the
        next call, or handed back when the consumer closes.
        """
        # A redelivered entry may be what crashed its last consumer: until it
        # is settled, nothing else is taken in hand, so a crash it causes
        # again does not count a delivery against innocent entries.
        while self._suspects:
            self._calm.clear()
            await self._calm.wait()
        buffer = self._buffer
        while not buffer:
            if self._fetch is None or self._fetch.done():
                self._fetch = asyncio.get_running_loop().create_task(self._fetch_more())
            try:
                await asyncio.shield(self._fetch)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._fetch = None
                raise
        message = buffer.popleft()
        self._held[message.id] = message
        if message.deliveries > 1:
            self._suspects.add(message.id)
        return message

    async def _fetch_more(self) -> None:
        if time.monotonic() >= self._next_sweep:
            await self._claim()
            if self._buffer:
                return
        block = max(self._next_sweep - time.monotonic(), 0.001)
        group, name = self.group, self.name
        assert name is not None

        async def read(client: Any) -> Any:
            return await client.xreadgroup(
                group.group, name, {group.stream: ">"}, count=self.batch, block=int(block * 1000)
            )

        try:
            reply = await self.connection.call(read, f"reading {group.stream!r}")
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.logger.warning("The stream %r or its group is gone: creating it", group.stream)
            await self._create_group()
            return
        for _stream, entries in reply or ():
            for entry_id, fields in entries:
                if fields:
                    self._buffer.append(
                        Message(
                            self._settle, group.stream, _text(entry_id), fields, 1, self.described
                        )
                    )

    async def _claim(self) -> None:
        # One entry per call: a claimed entry is suspect (see read()), and
        # entries claimed with it would be counted as delivered for nothing.
        group, name = self.group, self.name
        reply = await self.connection.call(
            lambda client: self._scripts["claim"](
                keys=[group.stream, group.dead_letter_stream],
                args=[
                    group.group, name, int(group.claim_idle * 1000), self._cursor, 1,
                    group.max_deliveries, _TOO_MANY, _now_iso(),
                ],
            ),
            f"claiming idle entries of {group.stream!r}",
        )  # fmt: skip
        cursor, entries, dead = reply
        self._cursor = _text(cursor)
        more = self._cursor != "0-0"
        self._next_sweep = time.monotonic() + (0 if more else self.sweep_interval)
        if dead:
            self.logger.warning(
                "Moved %d entr(ies) of %r delivered more than REDIS_MAX_DELIVERIES (%d) times "
                "to the dead-letter stream %r",
                dead,
                group.stream,
                group.max_deliveries,
                group.dead_letter_stream,
            )
        for entry_id, flat, deliveries in entries:
            fields = dict(zip(flat[::2], flat[1::2], strict=False))
            self._buffer.append(
                Message(
                    self._settle,
                    group.stream,
                    _text(entry_id),
                    fields,
                    int(deliveries),
                    self.described,
                )
            )
        if entries:
            self.logger.info(
                "Claimed %d entr(ies) of %r left idle by other consumers",
                len(entries),
                group.stream,
            )

    async def _keep_fresh(self) -> None:
        # Entries in hand must not look abandoned to the other consumers.
        while True:
            await asyncio.sleep(self.sweep_interval)
            ids = [m.id for m in self._buffer] + list(self._held)
            if not ids:
                continue
            try:
                await self.connection.call(
                    functools.partial(self._touch, ids=ids), "refreshing entries in hand"
                )
            except ClosedError:
                return

    async def _touch(self, client: Any, ids: list[str]) -> Any:
        group = self.group
        return await self._scripts["touch"](
            keys=[group.stream], args=[group.group, self.name, *ids]
        )

    # -- settling -----------------------------------------------------------

    async def _settle(self, message: Message, outcome: Outcome) -> None:
        self._held.pop(message.id, None)
        if message.id in self._suspects:
            self._suspects.discard(message.id)
            if not self._suspects:
                self._calm.set()
        if outcome.finished and not isinstance(outcome, Failed):
            assert self._acks is not None
            self._acks.add(message.id)
        elif isinstance(outcome, Failed):
            await self._dead_letter(message, outcome.exception)
        elif isinstance(outcome, RetryLater):
            await self._retry_later(message, outcome)
        elif isinstance(outcome, Unfinished):
            await self._hand_back([(message.id, True)])

    async def _dead_letter(self, message: Message, exc: BaseException) -> None:
        kind = type(exc)
        group = self.group
        reason = {
            names.ERROR: f"{kind.__name__}: {exc}"[:_MAX_REASON],
            names.ERROR_TYPE: f"{kind.__module__}.{kind.__qualname__}",
            names.FAILED_AT: _now_iso(),
            "x-doozer-original-stream": group.stream,
            "x-doozer-original-id": message.id,
        }
        headers: dict[str, Any] = {**headers_of(message.fields), **reason}

        async def dead_letter() -> Any:
            fields = fields_of(message.body, headers)
            return await self.connection.call(
                lambda client: self._scripts["dead_letter"](
                    keys=[group.stream, group.dead_letter_stream],
                    args=[group.group, message.id, *fields],
                ),
                "dead-lettering an entry",
            )

        await self._publishing(group.dead_letter_stream, headers, dead_letter)
        self.logger.warning(
            "Entry %s of %r failed (%s); moved to the dead-letter stream %r",
            message.id,
            group.stream,
            reason[names.ERROR],
            group.dead_letter_stream,
        )

    async def _retry_later(self, message: Message, outcome: RetryLater) -> None:
        group = self.group
        headers: dict[str, Any] = {
            **headers_of(message.fields),
            names.ATTEMPT: str(outcome.attempt),
            names.FIRST_FAILURE: repr(float(outcome.first_failure)),
        }

        async def schedule() -> Any:
            fields = fields_of(message.body, headers)
            return await self.connection.call(
                lambda client: self._scripts["retry"](
                    keys=[group.stream, group.retry_key],
                    args=[group.group, message.id, max(int(outcome.delay * 1000), 0), *fields],
                ),
                "scheduling a retry",
            )

        await self._publishing(group.stream, headers, schedule)
        if self._scheduler is not None:
            self._scheduler.wake()

    async def _publishing(
        self, destination: str, headers: dict[str, Any], publish: Callable[[], Awaitable[Any]]
    ) -> None:
        # Through the application's publish wrappers (tracing), when there is one.
        if self.app is None:
            await publish()
        else:
            await self.app.publishing(destination, headers, publish)

    async def _hand_back(self, entries: list[tuple[str, bool]]) -> int:
        """Make entries claimable by any consumer now; *started* ones count as delivered."""
        if not entries:
            return 0
        group = self.group
        args: list[Any] = [group.group, self.name, _HANDED_BACK_IDLE]
        for entry_id, started in entries:
            args += [entry_id, int(started)]
        handed: int = await self.connection.call(
            lambda client: self._scripts["hand_back"](keys=[group.stream], args=args),
            "handing entries back",
        )
        return handed

    async def _hand_back_all(self) -> None:
        # Whatever is still pending for this consumer now was not finished:
        # read ahead, or lost in a read cancelled at the stop.
        group = self.group
        pending = await self.connection.call(
            lambda client: client.xpending_range(
                group.stream, group.group, "-", "+", 10_000, consumername=self.name
            ),
            "listing unfinished entries",
        )
        started = set(self._held)
        ids = [_text(row["message_id"]) for row in pending]
        entries = [(entry_id, entry_id in started) for entry_id in ids]
        handed = await self._hand_back(entries)
        self._buffer.clear()
        if handed:
            self.logger.info(
                "Handed back %d unprocessed entr(ies) of %r: the next claim sweep of another "
                "consumer takes them",
                handed,
                group.stream,
            )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _described(url: str, group: Group) -> dict[str, str | int]:
    parts = urlsplit(url)
    described: dict[str, str | int] = {
        "messaging.system": "redis",
        "messaging.destination.name": group.stream,
        "messaging.consumer.group.name": group.group,
    }
    if parts.scheme == "unix":
        described["server.address"] = parts.path
    elif parts.hostname:
        described["server.address"] = parts.hostname
        described["server.port"] = parts.port or 6379
    return described


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()
