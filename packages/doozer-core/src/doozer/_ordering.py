"""Per-key ordering: messages with equal keys run one at a time, in read order.

Used by the engine only when an application runs with an ``ordering_key``
(without one, the engine's plain queue is all there is). The reader hands
each message to a :class:`KeyedLine`: a message whose key is free (or
None) is ready for any worker; one whose key is busy waits in its key's
line. A worker that finishes a keyed message takes the next one of the same
key itself, so a key never runs on two workers and never out of order.

What was read and not started (ready or waiting in a line) is bounded, as
in the plain engine: when the bound is reached the reader waits for room
(and says so in the debug log when everything read ahead waits on busy
keys, the backpressure a hot key causes).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any

from ._registry import describe
from .outcomes import Outcome, Unfinished
from .types import is_async_callable

__all__ = [
    "RETRY_MODES",
    "STOP",
    "KeyedLine",
    "check_ordering",
    "check_ordering_key",
    "work_in_order",
]

#: Put once per worker when there is nothing more to read.
STOP: Any = object()

#: The values the ``ORDERING_RETRIES`` setting accepts (see docs/ordering.rst).
RETRY_MODES = ("relaxed",)

OrderingKey = Callable[[Any], Hashable]
#: Takes a message (and the key function's error, if it raised) to its outcome.
Handle = Callable[[Any, "Exception | None"], Awaitable[Outcome]]


def check_ordering_key(ordering_key: object) -> None:
    """Raise the one-line TypeError for an ordering key that is not a plain function."""
    if ordering_key is None:
        return
    if not callable(ordering_key) or is_async_callable(ordering_key):
        kind = "a coroutine function" if callable(ordering_key) else type(ordering_key).__name__
        raise TypeError(
            f"ordering_key {describe(ordering_key)} must be a plain function that takes "
            f"the message and returns a hashable key (or None), not {kind}"
        )


def check_ordering(ordering_key: object, settings: Mapping[str, Any]) -> None:
    """Check an ordering key and the ``ORDERING_RETRIES`` setting before a run."""
    check_ordering_key(ordering_key)
    mode = settings.get("ORDERING_RETRIES", "relaxed")
    if mode == "strict":
        raise ValueError(
            "ORDERING_RETRIES='strict' is not supported: a retried message comes back as a new "
            "delivery, maybe to another process or never, so its key cannot wait for it safely; "
            "use 'relaxed' and see the 'Ordering' page of the docs for what to do instead"
        )
    if mode not in RETRY_MODES:
        raise ValueError(f"the ORDERING_RETRIES setting must be 'relaxed', got {mode!r}")


class KeyedLine:
    """The messages read ahead, ready or waiting behind a busy key.

    :param key_of: the application's ordering key function.
    :param limit: how many messages may be read and not started.
    :param give_back: settles messages unfinished (returns them to their source).
    :param stopping: whether the application is stopping.
    """

    def __init__(
        self,
        key_of: OrderingKey,
        limit: int,
        logger: logging.Logger,
        give_back: Callable[[list[Any]], Awaitable[None]],
        stopping: Callable[[], bool],
    ) -> None:
        self._key_of = key_of
        self._limit = limit
        self._logger = logger
        self._give_back = give_back
        self._stopping = stopping
        #: Keys whose line was given back: while stopping, what comes after goes back too.
        self._returned: set[Hashable] = set()
        self._ready: asyncio.Queue[Any] = asyncio.Queue()
        #: A key is busy while it has an entry here: its later messages, in read order.
        self._lines: dict[Hashable, deque[Any]] = {}
        self._room: asyncio.Future[None] | None = None
        #: Messages read and not started (ready, or waiting in a line).
        self.count = 0
        #: How often reading paused because everything read ahead waited on busy keys.
        self.pauses = 0

    def key(self, message: Any) -> tuple[Hashable, Exception | None]:
        """The message's key, or the error that computing it raised."""
        try:
            key = self._key_of(message)
        except Exception as exc:  # the message's failure (its traceback names the function)
            return None, exc
        try:
            hash(key)
        except Exception:
            return None, TypeError(
                f"the ordering key function {describe(self._key_of)} returned an unhashable "
                f"{type(key).__name__}: return a str, int, tuple or other hashable value, or None"
            )
        return key, None

    async def put(self, message: Any) -> None:
        """Take *message* from the reader: ready, or in its key's line once there is room."""
        if message is STOP:
            self._ready.put_nowait(STOP)
            return
        key, error = self.key(message)  # once, before waiting: never computed again
        while self.count >= self._limit:
            if self._ready.empty():
                self.pauses += 1
                self._logger.debug(
                    "Reading paused: the %d message(s) read ahead all wait for busy keys (%s)",
                    self.count,
                    ", ".join(repr(k) for k in list(self._lines)[:5]),
                )
            self._room = asyncio.get_running_loop().create_future()
            try:
                await self._room
            finally:
                self._room = None
        if key is not None and key in self._returned and self._stopping():
            await self._give_back([message])  # after the earlier ones of its key, not before
            return
        self.count += 1
        if key is not None:
            line = self._lines.get(key)
            if line is not None:
                line.append(message)
                return
            self._lines[key] = deque()
        self._ready.put_nowait((message, key, error))

    async def get(self) -> Any:
        """The next ready ``(message, key, error)``, or :data:`STOP`."""
        item = await self._ready.get()
        if item is not STOP:
            self._taken()
        return item

    def next_in_line(self, key: Hashable) -> Any:
        """The next message of *key* (now started), or STOP when its line is empty (key free)."""
        line = self._lines[key]
        if line:
            self._taken()
            return line.popleft()
        del self._lines[key]
        return STOP

    async def give_up_line(self, key: Hashable) -> None:
        """Give back what waits behind *key*, whose message ended unfinished (frees the key)."""
        line = self._lines.pop(key, deque())
        self._returned.add(key)
        self.count -= len(line)
        self._make_room()
        if line:
            await self._give_back(list(line))

    def unstarted(self) -> list[Any]:
        """Remove and return every message read and not started."""
        found = []
        while not self._ready.empty():
            item = self._ready.get_nowait()
            if item is not STOP:
                found.append(item[0])
        for line in self._lines.values():
            found.extend(line)
        self._lines.clear()
        self.count = 0
        return found

    def _taken(self) -> None:
        self.count -= 1
        self._make_room()

    def _make_room(self) -> None:
        if self._room is not None and not self._room.done():
            self._room.set_result(None)


async def work_in_order(line: KeyedLine, handle: Handle) -> None:
    """One worker: take a ready message, then its key's line, until STOP.

    *handle* processes and settles one message. When a keyed message ends
    unfinished (the application is stopping, or a wrapper said so), the
    messages of its line are returned unfinished too, so that its broker
    redelivers them after it rather than before.
    """
    get, next_in_line = line.get, line.next_in_line
    while (item := await get()) is not STOP:
        message, key, error = item
        outcome = await handle(message, error)
        while key is not None:
            if isinstance(outcome, Unfinished):
                await line.give_up_line(key)
                break
            message = next_in_line(key)
            if message is STOP:
                break
            outcome = await handle(message, None)
        del item, message, outcome  # a finished message can be freed while waiting
