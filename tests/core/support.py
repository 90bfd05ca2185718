"""Consumers and callbacks shared by the core tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from doozer import Abort, Application


class ListConsumer:
    """Return the given messages, then end consumption with Abort."""

    def __init__(self, messages: Iterable[Any]) -> None:
        self._messages = iter(messages)
        self.read_count = 0

    async def read(self) -> Any:
        try:
            message = next(self._messages)
        except StopIteration:
            raise Abort("consumer.exhausted", None) from None
        self.read_count += 1
        return message


class QueueConsumer:
    """Return what is put in its queue; ``None`` ends consumption."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    async def read(self) -> Any:
        message = await self.queue.get()
        if message is None:
            raise Abort("consumer.closed", None)
        return message


async def echo(app: Application, message: Any) -> list[Any]:
    return [message]
