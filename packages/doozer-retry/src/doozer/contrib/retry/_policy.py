"""What Retry does with a failed message, and where it keeps count."""

from __future__ import annotations

import asyncio
import reprlib
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from doozer import Abort

if TYPE_CHECKING:
    from doozer import Application

#: Where a message carries its retry state: a key of a mapping, else an attribute.
STATE_KEY = "_retry"

#: ``RETRY_CALLBACK``: ``async def callback(app, message)``, which retries the message.
RetryCallback: TypeAlias = Callable[["Application", Any], Awaitable[Any]]
#: ``RETRY_EXCEPTIONS``: an exception class or a tuple of them.
ExceptionTypes: TypeAlias = type[Exception] | tuple[type[Exception], ...]


@dataclass(frozen=True)
class Policy:
    """The checked retry settings of one application, and its error callback."""

    callback: RetryCallback
    exceptions: ExceptionTypes
    threshold: int | None
    delay: float
    backoff: float
    timeout: float | None

    async def on_error(self, app: Application, message: Any, exc: Exception) -> None:
        """Retry *message* and raise Abort, or return to let later callbacks run."""
        if not isinstance(exc, self.exceptions):
            if self._is_last(app):  # nobody else will report it (the core would have)
                app.logger.error("Error processing message %s", _short(message), exc_info=exc)
            return
        state = _load(message)
        fresh = state is None
        if state is None:
            state = {"count": 0, "start_time": time.time(), "delay": 0}
        count = state.setdefault("count", 0)
        limit = self._limit_reached(count, state.setdefault("start_time", time.time()))
        if limit is not None:
            app.logger.warning(
                "Retries exhausted for message %s after %d retry attempt(s) (%s): %r",
                _short(message),
                count,
                limit,
                exc,
                exc_info=exc if self._is_last(app) else None,
            )
            return
        if fresh:
            _attach(message, state)  # before waiting: an unfit message fails at once
        delay = self.delay * self.backoff**count
        if delay > 0:
            await asyncio.sleep(delay)
        state["count"] = count + 1
        state["delay"] = delay
        await self.callback(app, message)
        raise Abort("message.retried", message)

    def _limit_reached(self, count: int, start_time: float) -> str | None:
        if self.threshold is not None and count >= self.threshold:
            return f"RETRY_THRESHOLD is {self.threshold}"
        if self.timeout is not None and time.time() - start_time >= self.timeout:
            return f"RETRY_TIMEOUT of {self.timeout} s since the first failure"
        return None

    def _is_last(self, app: Application) -> bool:
        errors = app.callbacks.error
        return not errors or errors[-1] == self.on_error


def _short(message: Any) -> str:
    return reprlib.repr(message)


def _load(message: Any) -> MutableMapping[str, Any] | None:
    if isinstance(message, MutableMapping):
        state = message.get(STATE_KEY)
    else:
        state = getattr(message, STATE_KEY, None)
    if state is None or isinstance(state, MutableMapping):
        return state
    raise TypeError(
        f"the {STATE_KEY!r} retry state of message {_short(message)} must be a mapping "
        f"with 'count', 'start_time' and 'delay', not {type(state).__name__}"
    )


def _attach(message: Any, state: MutableMapping[str, Any]) -> None:
    if isinstance(message, MutableMapping):
        message[STATE_KEY] = state
        return
    try:
        setattr(message, STATE_KEY, state)
    except (AttributeError, TypeError):
        raise TypeError(
            f"Retry cannot keep its retry state on a message of type {type(message).__name__}: "
            f"make messages mutable mappings (e.g. dict) or objects with a writable "
            f"{STATE_KEY!r} attribute, for instance in a message preprocessor"
        ) from None
