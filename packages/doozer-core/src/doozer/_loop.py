"""The event loop :meth:`doozer.Application.run_forever` owns, and its signals."""

from __future__ import annotations

import asyncio
import importlib
import signal
import threading
from collections.abc import Callable

__all__ = ["close_loop", "handle_signals", "new_event_loop", "running_loop"]


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop's when it is installed."""
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def handle_signals(
    loop: asyncio.AbstractEventLoop, handler: Callable[[int], None]
) -> Callable[[], None]:
    """Route SIGINT and SIGTERM to *handler*; return what undoes it."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler_before = signal.getsignal(signum)
        try:
            loop.add_signal_handler(signum, handler, signum)
        except (NotImplementedError, RuntimeError):  # Windows, or no signal support
            continue
        previous[signum] = handler_before

    def restore() -> None:
        for signum, handler_before in previous.items():
            loop.remove_signal_handler(signum)
            if handler_before is not None:  # None: set outside Python, cannot restore
                signal.signal(signum, handler_before)

    return restore


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on *loop*, shut down its generators and executor, close it."""
    try:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
