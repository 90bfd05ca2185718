"""An in-memory broker and helpers shared by the retry tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from doozer import Abort, Application
from doozer.contrib.retry import RetryableException

_DRAINED = object()

#: The ``make_app`` fixture: ``make_app(**settings)`` builds an application.
MakeApp = Callable[..., Application]


class Broker:
    """A consumer over an in-memory queue that republished messages go back to.

    It ends consumption (``read()`` raises Abort) once every message published
    to it has been acknowledged, so a run ends when the last retry is done.
    A read that waits longer than *read_timeout* raises TimeoutError, which
    stops the application: a broken test fails instead of hanging.
    """

    def __init__(self, messages: Iterable[Any] = (), read_timeout: float = 5.0) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.read_timeout = read_timeout
        self.published: list[Any] = []
        self.read_messages: list[Any] = []
        self.acknowledged: list[Any] = []
        self._unfinished = 0
        for message in messages:
            self.publish(message)

    def publish(self, message: Any) -> None:
        self._unfinished += 1
        self.published.append(message)
        self.queue.put_nowait(message)

    def acknowledge(self, message: Any) -> None:
        self.acknowledged.append(message)
        self._unfinished -= 1
        if self._unfinished == 0:
            self.queue.put_nowait(_DRAINED)

    async def read(self) -> Any:
        message = await asyncio.wait_for(self.queue.get(), self.read_timeout)
        if message is _DRAINED:
            raise Abort("broker.drained", None)
        self.read_messages.append(message)
        return message


def wire(app: Application, broker: Broker) -> None:
    """Make *broker* the consumer of *app*, acknowledging every message."""
    app.consumer = broker

    @app.message_acknowledgement
    async def acknowledge(app: Application, message: Any) -> None:
        broker.acknowledge(message)


async def fail(app: Application, message: Any, exc: Exception | None = None) -> bool:
    """Call Retry's error callback as the core would; True if it retried the message."""
    retry_callback = app.callbacks.error[0]
    try:
        await retry_callback(app, message, RetryableException("boom") if exc is None else exc)
    except Abort as abort:
        reason, aborted = abort.reason, abort.message
    else:
        return False
    assert reason == "message.retried"
    assert aborted is message
    return True
