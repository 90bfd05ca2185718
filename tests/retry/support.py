"""Helpers shared by the retry tests (deliveries come from :mod:`doozer.testing`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from doozer import Application
from doozer.contrib.retry import RetryableException
from doozer.outcomes import Outcome
from doozer.testing import MemoryQueue

#: How early a timer may fire: uvloop's (libuv's) timers count whole milliseconds,
#: so a 0.5 s delay can end up to 1 ms before 0.5 s measured with time.monotonic().
TIMER_RESOLUTION = 0.001

#: The ``make_app`` fixture: ``make_app(**settings)`` builds an application.
MakeApp = Callable[..., Application]


async def do_nothing(app: Application, message: Any) -> None:
    """A callback for applications whose messages the test never sends."""


@asynccontextmanager
async def running(app: Application) -> AsyncIterator[None]:
    """Serve *app* while the body runs, then stop it gracefully.

    Its consumer is an open, empty :class:`~doozer.testing.MemoryQueue`: the
    application waits for messages that never come, so the test can call
    its failure policy directly (``app.call_later`` needs a running
    application). A stop hands every pending retry to ``RETRY_CALLBACK``.
    """
    started = asyncio.Event()

    async def mark_started(app: Application) -> None:
        started.set()

    app.startup(mark_started)
    app.consumer = MemoryQueue()
    if app.callback is None:
        app.callback = do_nothing
    serving = asyncio.create_task(app.serve())
    await asyncio.wait_for(started.wait(), 5)
    try:
        yield
    finally:
        app.stop()
        await asyncio.wait_for(serving, 5)


async def fail(app: Application, message: Any, exc: Exception | None = None) -> Outcome | None:
    """Ask Retry what becomes of *message* (plain: original and processed alike) after *exc*."""
    [policy] = app.callbacks.failure_policy
    return await policy(app, message, message, RetryableException("boom") if exc is None else exc)
