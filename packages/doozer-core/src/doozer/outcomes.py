"""What became of a message: one :class:`Outcome` per message, as a value.

The engine computes exactly one outcome for every message it reads, after
the message's callbacks ran. It settles a :class:`~doozer.types.Delivery`
with it, then hands it to the ``message_outcome`` callbacks
(:meth:`doozer.Application.message_outcome`), so extensions and user code
learn a message's fate without looking inside the engine::

    from doozer.outcomes import Failed, RetryLater

    @app.message_outcome
    async def count(app, message, outcome):
        match outcome:
            case Failed(exception=exc):
                failures[type(exc).__name__] += 1
            case RetryLater(delay=delay):
                retried.append(delay)

Outcomes are immutable; :data:`doozer.outcomes.SUCCEEDED` is the one
instance of :class:`Succeeded`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "SUCCEEDED",
    "Aborted",
    "Failed",
    "Outcome",
    "RetryLater",
    "Succeeded",
    "Unfinished",
]


class Outcome:
    """Base class of every outcome; :attr:`name` names its kind."""

    __slots__ = ()

    #: The kind of outcome, in lower case: ``"succeeded"``, ``"aborted"``,
    #: ``"failed"``, ``"retry_later"`` or ``"unfinished"``.
    name: ClassVar[str]
    #: Whether the message is done with: False only for :class:`RetryLater`
    #: (it comes back) and :class:`Unfinished` (it goes back to its source).
    finished: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class Succeeded(Outcome):
    """The callback returned and every result went through the postprocessors."""

    name: ClassVar[str] = "succeeded"


@dataclass(frozen=True, slots=True)
class Aborted(Outcome):
    """A preprocessor or the callback raised :class:`~doozer.Abort`: skipped on purpose."""

    name: ClassVar[str] = "aborted"

    #: The abort's reason (``Abort.reason``).
    reason: str


@dataclass(frozen=True, slots=True)
class Failed(Outcome):
    """A preprocessor or the callback raised, and the error callbacks ran.

    The message is finished: a transport dead-letters it.
    """

    name: ClassVar[str] = "failed"

    #: What was raised.
    exception: BaseException


@dataclass(frozen=True, slots=True)
class RetryLater(Outcome):
    """The message failed and should be processed again after :attr:`delay`.

    Decided by a failure policy (:meth:`doozer.Application.failure_policy`),
    for instance :class:`doozer.contrib.retry.Retry`. A delivery delays the
    message on its broker's side; a plain message is handed to the policy's
    callback by a timer. Either way no worker waits.
    """

    name: ClassVar[str] = "retry_later"
    finished: ClassVar[bool] = False

    #: Seconds to wait before the message is processed again.
    delay: float
    #: The number of the coming attempt (2 for the first retry).
    attempt: int
    #: What the failed attempt raised.
    exception: BaseException
    #: When the message first failed (seconds since the epoch), carried to the
    #: next attempt so a time limit on retries can be kept.
    first_failure: float


@dataclass(frozen=True, slots=True)
class Unfinished(Outcome):
    """The application stopped before the message finished.

    Either an unhandled exception (from a postprocessor, an error or
    acknowledgement callback) stopped the application while processing it,
    or a forced stop cancelled it. It must go back to where it came from: a
    transport returns it to its broker.
    """

    name: ClassVar[str] = "unfinished"
    finished: ClassVar[bool] = False

    #: Why, in a few words (``"forced stop"``, or the unhandled exception's summary).
    reason: str
    #: The unhandled exception, if that is what stopped it.
    exception: BaseException | None = None


#: The outcome of every message that succeeded.
SUCCEEDED = Succeeded()
