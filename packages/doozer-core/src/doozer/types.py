"""Type aliases and protocols for code that plugs into Doozer."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from .base import Application
    from .outcomes import Outcome

__all__ = [
    "AcknowledgementCallback",
    "Callback",
    "Consumer",
    "Delivery",
    "ErrorCallback",
    "FailurePolicy",
    "LifecycleCallback",
    "MessageCallback",
    "MessageObserver",
    "MessageWrapper",
    "OutcomeCallback",
    "PublishWrapper",
    "ResultCallback",
    "is_async_callable",
    "is_delivery",
    "is_delivery_type",
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


@runtime_checkable
class Delivery(Protocol):
    """A message that knows how to tell its source what became of it.

    A consumer's ``read()`` may return deliveries instead of plain
    messages. The engine settles each delivery exactly once, after its
    acknowledgement callbacks ran, with the message's
    :class:`~doozer.outcomes.Outcome`; a transport maps it onto its broker:

    ============================================  ======================================
    outcome                                       what a transport does
    ============================================  ======================================
    :class:`~doozer.outcomes.Succeeded`,          acknowledge
    :class:`~doozer.outcomes.Aborted`
    :class:`~doozer.outcomes.Failed`              dead-letter, with the reason in headers
    :class:`~doozer.outcomes.RetryLater`          redeliver after the delay (broker side),
                                                  carrying the attempt in headers
    :class:`~doozer.outcomes.Unfinished`          return to the broker at once
    ============================================  ======================================

    Any object with these members is a delivery; :func:`is_delivery` tells.
    Objects without a ``settle`` method are plain messages and keep the
    1.2 behaviour: nothing is settled, the acknowledgement callbacks do
    whatever the consumer needs.
    """

    @property
    def headers(self) -> Mapping[str, Any]:
        """The message's headers (broker-neutral: str keys)."""
        ...

    @property
    def attempt(self) -> int:
        """Which attempt at processing this message this is (1 for the first)."""
        ...

    @property
    def redelivered(self) -> bool:
        """Whether the broker delivered the message before (to this or another consumer)."""
        ...

    @property
    def first_failure(self) -> float | None:
        """When the message first failed (seconds since the epoch), if it is a retry."""
        ...

    async def settle(self, outcome: Outcome) -> None:
        """Tell the broker what became of the message; called exactly once."""
        ...


def is_delivery(message: object) -> bool:
    """Whether *message* is a :class:`Delivery` (has an async ``settle`` method)."""
    return is_delivery_type(type(message))


def is_async_callable(obj: object) -> bool:
    """Whether calling *obj* returns an awaitable, judged without calling it.

    True for coroutine functions and methods, for functions that
    :func:`functools.wraps` a coroutine function, for
    :func:`functools.partial` objects of any of those, and for objects
    whose class defines ``async def __call__``.
    """
    while isinstance(obj, functools.partial):
        obj = obj.func
    if inspect.iscoroutinefunction(obj):
        return True
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        # A decorator's wrapper: look through __wrapped__ (functools.wraps).
        unwrapped = inspect.unwrap(obj)
        return unwrapped is not obj and is_async_callable(unwrapped)
    if callable(obj) and not isinstance(obj, type):
        return inspect.iscoroutinefunction(type(obj).__call__)
    return False


_settling_types: dict[type, bool] = {}


def is_delivery_type(kind: type) -> bool:
    """Whether instances of *kind* are :class:`Delivery` objects (``async def settle``).

    The engine asks once per message; the answer is remembered per type.
    """
    try:
        return _settling_types[kind]
    except KeyError:
        answer = inspect.iscoroutinefunction(getattr(kind, "settle", None))
        if len(_settling_types) < 1024:  # types made on the fly must not grow it forever
            _settling_types[kind] = answer
        return answer


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
#: Message wrappers: ``async def f(app, message, process) -> Outcome``, where
#: ``await process()`` runs the message's callbacks and settles it.
MessageWrapper = Callable[
    ["Application", Any, Callable[[], Awaitable["Outcome"]]], Awaitable["Outcome"]
]
#: Failure policies: ``async def f(app, original, message, exception) -> Outcome | None``,
#: *original* as the consumer returned it, *message* as the preprocessors left it.
FailurePolicy = Callable[["Application", Any, Any, Exception], Awaitable["Outcome | None"]]
#: Outcome callbacks: ``async def f(app, original_message, outcome)``.
OutcomeCallback = Callable[["Application", Any, "Outcome"], Awaitable[Any]]
#: Message observers: ``def f(app, original_message, outcome, duration)``, a plain
#: function called inline once per message (*duration* in seconds).
MessageObserver = Callable[["Application", Any, "Outcome", float], object]
#: Publish wrappers: ``async def f(app, destination, headers, publish)``, where
#: *headers* is the mutable mapping the message will carry and ``await publish()``
#: sends it (see :meth:`doozer.Application.publishing`).
PublishWrapper = Callable[
    ["Application", str, "MutableMapping[str, Any]", Callable[[], Awaitable[Any]]], Awaitable[Any]
]
