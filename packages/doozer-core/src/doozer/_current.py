"""The message a worker is processing, for code that is not handed it."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

__all__ = ["CURRENT", "current_message"]

#: Set by the engine's workers to each message they take, when the application
#: tracks it. A worker is a task, so its context is its own (and tasks the
#: callbacks start inherit it).
CURRENT: ContextVar[Any] = ContextVar("doozer_current_message", default=None)


def current_message() -> Any:
    """The message being processed in this context, as the consumer returned it, or None.

    Kept only for applications whose
    :attr:`~doozer.Application.track_current_message` is true (a context
    variable set per message costs about 4 % of the engine's own time;
    :class:`~doozer.contrib.logging.Logging` turns it on); None otherwise.

    It is set from the moment a worker takes the message until it has been
    settled (its outcome reported to its transport), so that the message
    wrappers, the preprocessors, the callback, the postprocessors, the error
    and acknowledgement callbacks, the outcome callbacks, and the transport
    settling it all see it; tasks started meanwhile keep seeing it. Useful
    where a message is not passed: a log processor, a helper deep in a call
    stack. Outside processing (startup, teardown, the consumer's ``read``) it
    is None.
    """
    return CURRENT.get()
