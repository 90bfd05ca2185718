"""Reading and checking the ``RETRY_*`` settings of one application."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any, Final

from doozer.types import is_async_callable

from ._policy import Policy

#: Keyword argument of ``Retry()`` -> the setting it overrides.
KEYWORDS: Final = {
    "threshold": "RETRY_THRESHOLD",
    "delay": "RETRY_DELAY",
    "backoff": "RETRY_BACKOFF",
    "timeout": "RETRY_TIMEOUT",
    "exceptions": "RETRY_EXCEPTIONS",
    "callback": "RETRY_CALLBACK",
}


class FromSettings(enum.Enum):
    """The type of :data:`FROM_SETTINGS`: "not given, read the setting"."""

    TOKEN = 0

    def __repr__(self) -> str:  # shown in the rendered signature of Retry()
        return "<from settings>"


FROM_SETTINGS: Final = FromSettings.TOKEN


def resolve(
    settings: Mapping[str, Any], defaults: Mapping[str, Any], overrides: Mapping[str, Any]
) -> Policy:
    """Build the policy for one application: overrides, else settings, else defaults.

    :raises TypeError: the callback or the exceptions are of the wrong kind.
    :raises ValueError: a number is negative, not a number, or not finite.
    """
    sources: dict[str, str] = {}

    def get(keyword: str) -> Any:
        name = KEYWORDS[keyword]
        if keyword in overrides:
            sources[keyword] = f"passed as Retry({keyword}=...)"
            return overrides[keyword]
        sources[keyword] = "from app.settings"
        if name in settings:
            return settings[name]
        return defaults.get(name)

    def fail(keyword: str, value: object, expected: str, error: type[Exception]) -> Exception:
        return error(f"{KEYWORDS[keyword]} must be {expected}, got {value!r} ({sources[keyword]})")

    callback = get("callback")
    if callback is not None and not is_async_callable(callback):
        raise fail(
            "callback", callback, "a coroutine function: async def f(app, message)", TypeError
        )

    exceptions = get("exceptions")
    if not _is_exception_types(exceptions):
        raise fail("exceptions", exceptions, "an exception class or a tuple of them", TypeError)

    delay, backoff = get("delay"), get("backoff")
    if not (_is_number(delay) and math.isfinite(delay) and delay >= 0):
        raise fail("delay", delay, "a number of seconds >= 0", ValueError)
    if not (_is_number(backoff) and math.isfinite(backoff) and backoff >= 0):
        raise fail("backoff", backoff, "a number >= 0 (the delay's factor per retry)", ValueError)

    threshold = get("threshold")
    if threshold is not None and not (
        isinstance(threshold, int) and not isinstance(threshold, bool) and threshold >= 0
    ):
        raise fail("threshold", threshold, "a whole number of retries >= 0, or None", ValueError)

    timeout = get("timeout")
    if timeout is not None and not (_is_number(timeout) and timeout >= 0):
        raise fail("timeout", timeout, "a number of seconds >= 0, or None", ValueError)

    return Policy(callback, exceptions, threshold, delay, backoff, timeout)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_exception_class(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, Exception)


def _is_exception_types(value: object) -> bool:
    if isinstance(value, tuple):
        return all(_is_exception_class(item) for item in value)
    return _is_exception_class(value)
