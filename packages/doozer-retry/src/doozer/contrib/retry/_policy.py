"""What Retry decides for a failed message, and where it keeps count."""

from __future__ import annotations

import reprlib
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from doozer.outcomes import RetryLater
from doozer.types import is_delivery

if TYPE_CHECKING:
    from doozer import Application

#: Where a plain message carries its retry state: a key of a mapping, else an attribute.
STATE_KEY = "_retry"

#: The delay once the backoff formula overflows a float: 30 days, finite so
#: that every broker and timer can still hold it.
LONGEST_DELAY = 30 * 24 * 3600.0

#: ``RETRY_CALLBACK``: ``async def callback(app, message)``, which retries a plain message.
RetryCallback: TypeAlias = Callable[["Application", Any], Awaitable[Any]]
#: ``RETRY_EXCEPTIONS``: an exception class or a tuple of them.
ExceptionTypes: TypeAlias = type[Exception] | tuple[type[Exception], ...]


@dataclass(frozen=True)
class Policy:
    """The checked retry settings of one application, and its failure policy."""

    callback: RetryCallback | None
    exceptions: ExceptionTypes
    threshold: int | None
    delay: float
    backoff: float
    timeout: float | None

    def delay_before(self, retries_so_far: int) -> float:
        """Seconds to wait before the retry that follows *retries_so_far* retries."""
        if self.delay == 0 or (self.backoff == 0 and retries_so_far > 0):
            return 0.0  # however many retries: no power to overflow
        try:
            return float(self.delay * self.backoff**retries_so_far)
        except OverflowError:  # backoff > 1 after ~1,000 retries: forever, in effect
            return LONGEST_DELAY

    async def decide(
        self, app: Application, original: Any, message: Any, exc: Exception
    ) -> RetryLater | None:
        """Retry later, or None to let the error callbacks handle a final failure."""
        if not isinstance(exc, self.exceptions):
            return None
        now = time.time()
        delivery = is_delivery(original)
        if delivery:
            retries = max(int(getattr(original, "attempt", 1)) - 1, 0)
            first_failure = getattr(original, "first_failure", None) or now
            state = None
        else:
            state = _load(message)
            retries = int(state.get("count", 0)) if state else 0
            first_failure = float(state.get("start_time", now)) if state else now
        limit = self._limit_reached(retries, first_failure, now)
        if limit is not None:
            app.logger.warning(
                "Retries exhausted for message %s after %d retry attempt(s) (%s): %r",
                _short(original if delivery else message),
                retries,
                limit,
                exc,
            )
            return None
        delay = self.delay_before(retries)
        if not delivery:
            if self.callback is None:
                app.logger.error(
                    "Cannot retry message %s: it is a plain message and RETRY_CALLBACK is not "
                    "set (a delivery from a Doozer transport retries on its broker)",
                    _short(message),
                )
                return None
            _attach(message, {"count": retries + 1, "start_time": first_failure, "delay": delay})
            # The message counts as in flight until the callback ran; a stop
            # hands it over at once instead of waiting out the delay.
            app.call_later(delay, self.callback, app, message)
        return RetryLater(delay, retries + 2, exc, first_failure)

    def _limit_reached(self, retries: int, first_failure: float, now: float) -> str | None:
        if self.threshold is not None and retries >= self.threshold:
            return f"RETRY_THRESHOLD is {self.threshold}"
        if self.timeout is not None and now - first_failure >= self.timeout:
            return f"RETRY_TIMEOUT of {self.timeout} s since the first failure"
        return None


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


def _attach(message: Any, state: dict[str, Any]) -> None:
    if isinstance(message, MutableMapping):
        message[STATE_KEY] = state
        return
    try:
        setattr(message, STATE_KEY, state)
    except (AttributeError, TypeError):
        raise TypeError(
            f"Retry cannot keep its retry state on a message of type {type(message).__name__}: "
            f"make plain messages mutable mappings (e.g. dict) or objects with a writable "
            f"{STATE_KEY!r} attribute, for instance in a message preprocessor, or read "
            f"deliveries from a Doozer transport, which keep it in headers"
        ) from None
