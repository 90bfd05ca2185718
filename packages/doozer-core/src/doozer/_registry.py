"""Where an application keeps its callbacks, each kind in the order it runs."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Generic, TypeVar, overload

from .types import (
    AcknowledgementCallback,
    ErrorCallback,
    FailurePolicy,
    LifecycleCallback,
    MessageCallback,
    MessageObserver,
    MessageWrapper,
    OutcomeCallback,
    PublishWrapper,
    ResultCallback,
    is_async_callable,
)

__all__ = ["CallbackList", "Callbacks", "check_async_callable", "describe"]

T = TypeVar("T")

# Ties between equal orders go by registration, across every list of every app.
_registration = count()


class CallbackList(Sequence[T], Generic[T]):
    """The callbacks of one kind, in the order they run.

    Sorted by the *order* each was registered with (lower first, default
    0), then by registration. Extensions pick an order so that where their
    callbacks run does not depend on the order extensions are initialized
    in: negative to run before the application's own callbacks, positive
    to run after them (see :ref:`hook-order`).
    """

    __slots__ = ("_callbacks", "_keys")

    def __init__(self) -> None:
        self._keys: list[tuple[int, int]] = []
        self._callbacks: list[T] = []

    def add(self, callback: T, order: int = 0) -> None:
        """Insert *callback* after every callback of a lower or equal order."""
        key = (order, next(_registration))
        index = bisect.bisect(self._keys, key)
        self._keys.insert(index, key)
        self._callbacks.insert(index, callback)

    def remove(self, callback: T) -> None:
        """Remove the first occurrence of *callback*.

        :raises ValueError: if it is not registered.
        """
        index = self._callbacks.index(callback)
        del self._keys[index], self._callbacks[index]

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...
    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        return self._callbacks[index]

    def __len__(self) -> int:
        return len(self._callbacks)

    def __iter__(self) -> Iterator[T]:
        return iter(self._callbacks)

    def __repr__(self) -> str:
        return f"CallbackList({self._callbacks!r})"


@dataclass
class Callbacks:
    """The registered callbacks of an application, one :class:`CallbackList` per kind."""

    startup: CallbackList[LifecycleCallback] = field(default_factory=CallbackList)
    message_wrapper: CallbackList[MessageWrapper] = field(default_factory=CallbackList)
    message_preprocessor: CallbackList[MessageCallback] = field(default_factory=CallbackList)
    result_postprocessor: CallbackList[ResultCallback] = field(default_factory=CallbackList)
    failure_policy: CallbackList[FailurePolicy] = field(default_factory=CallbackList)
    error: CallbackList[ErrorCallback] = field(default_factory=CallbackList)
    message_acknowledgement: CallbackList[AcknowledgementCallback] = field(
        default_factory=CallbackList
    )
    message_outcome: CallbackList[OutcomeCallback] = field(default_factory=CallbackList)
    message_observer: CallbackList[MessageObserver] = field(default_factory=CallbackList)
    publish_wrapper: CallbackList[PublishWrapper] = field(default_factory=CallbackList)
    teardown: CallbackList[LifecycleCallback] = field(default_factory=CallbackList)


def describe(obj: object) -> str:
    """A short name of a callable for error messages."""
    name = getattr(obj, "__qualname__", None) or getattr(type(obj), "__qualname__", None)
    return repr(name) if name else repr(obj)


def check_async_callable(kind: str, callback: Any) -> None:
    """Raise the one-line TypeError for a callback that does not return an awaitable."""
    if not is_async_callable(callback):
        raise TypeError(
            f"{kind} {describe(callback)} must be a coroutine function (defined with "
            f"'async def'), a functools.partial or functools.wraps wrapper of one, or an "
            f"object with 'async def __call__'; got {type(callback).__name__}"
        )
