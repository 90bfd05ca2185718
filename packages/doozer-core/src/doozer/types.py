"""Type aliases and protocols for code that plugs into Doozer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from .base import Application

__all__ = [
    "AcknowledgementCallback",
    "Callback",
    "Consumer",
    "ErrorCallback",
    "LifecycleCallback",
    "MessageCallback",
    "ResultCallback",
]

T_co = TypeVar("T_co", covariant=True)


class Consumer(Protocol[T_co]):
    """Anything with a coroutine method ``read()`` that returns a message.

    ``read()`` may be cancelled when the application stops; a cancelled
    read must not consume a message (as with :meth:`asyncio.Queue.get`).
    Raising :class:`doozer.Abort` from ``read()`` ends consumption.
    """

    async def read(self) -> T_co:
        """Return the next message."""
        ...


#: ``startup`` and ``teardown`` callbacks: ``async def f(app)``.
LifecycleCallback = Callable[["Application"], Awaitable[Any]]
#: Message preprocessors: ``async def f(app, message) -> message``.
MessageCallback = Callable[["Application", Any], Awaitable[Any]]
#: The application's callback: ``async def f(app, message) -> results | None``.
Callback = Callable[["Application", Any], Awaitable["Iterable[Any] | None"]]
#: Result postprocessors: ``async def f(app, result) -> result``.
ResultCallback = Callable[["Application", Any], Awaitable[Any]]
#: Error callbacks: ``async def f(app, message, exception)``.
ErrorCallback = Callable[["Application", Any, Exception], Awaitable[Any]]
#: Acknowledgement callbacks: ``async def f(app, original_message)``.
AcknowledgementCallback = Callable[["Application", Any], Awaitable[Any]]
