"""The header names every Doozer transport uses for what it adds to a message.

They are the same on every broker, so a message that moves between
transports (or a tool that reads dead letters) finds them in one place.
"""

from __future__ import annotations

__all__ = ["ATTEMPT", "ERROR", "ERROR_TYPE", "FAILED_AT", "FIRST_FAILURE"]

#: A retried message: the number of the attempt it is (2 for the first retry).
ATTEMPT = "x-doozer-attempt"
#: A retried message: when it first failed, seconds since the epoch (a decimal string).
FIRST_FAILURE = "x-doozer-first-failure"
#: A dead letter: ``"ExceptionType: message"`` of the failure, or the reason it was dropped.
ERROR = "x-doozer-error"
#: A dead letter: the failure's exception class, as ``module.QualifiedName``.
ERROR_TYPE = "x-doozer-error-type"
#: A dead letter: when the message failed (ISO 8601, UTC).
FAILED_AT = "x-doozer-failed-at"
