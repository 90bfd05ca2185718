"""Calls an application makes later (:meth:`doozer.Application.call_later`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ._registry import describe

__all__ = ["LaterCalls"]


class LaterCalls:
    """Timers whose calls count as work in flight, and can be hurried.

    A pending call waits on a timer (no task, no worker); when it is due it
    runs in a task of its own. :meth:`hurry` runs every pending call now.
    """

    def __init__(self, on_error: Callable[[BaseException, str], None]) -> None:
        self._on_error = on_error
        self._pending: dict[asyncio.TimerHandle, tuple[Callable[..., Any], tuple[Any, ...]]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._idle: asyncio.Event | None = None

    def __len__(self) -> int:
        """How many calls are pending or running."""
        return len(self._pending) + len(self._running)

    def add(self, delay: float, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def due() -> None:
            del self._pending[handle]
            self._start(callback, args)

        handle = loop.call_later(max(delay, 0), due)
        self._pending[handle] = (callback, args)

    def hurry(self) -> None:
        """Run every pending call now."""
        pending, self._pending = self._pending, {}
        for handle, (callback, args) in pending.items():
            handle.cancel()
            self._start(callback, args)

    async def wait(self, timeout: float | None = None) -> None:
        """Return once no call is pending or running (or after *timeout* seconds)."""
        while self:
            self._idle = asyncio.Event()
            try:
                await asyncio.wait_for(self._idle.wait(), timeout)
            except asyncio.TimeoutError:
                for task in self._running:
                    task.cancel()
                return
            finally:
                self._idle = None

    def _start(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        task = asyncio.get_running_loop().create_task(self._call(callback, args))
        self._running.add(task)
        task.add_done_callback(self._done)

    async def _call(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            await callback(*args)
        except Exception as exc:
            self._on_error(exc, f"in {describe(callback)}, called later")

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if not self and self._idle is not None:
            self._idle.set()
