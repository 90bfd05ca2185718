"""Exceptions that steer how Doozer handles a message."""

from __future__ import annotations

from typing import Any

__all__ = ["Abort", "exception_chain"]


class Abort(Exception):  # noqa: N818 - the public name is part of the 1.x API
    """Stop processing a message, or a result, on purpose.

    Where it is raised decides what stops:

    * in the consumer's ``read()``: consumption ends and the application
      shuts down normally;
    * in a message preprocessor or the callback: that message is finished
      (its acknowledgement callbacks still run);
    * in a result postprocessor: only that result is dropped;
    * in an error callback: the remaining error callbacks are skipped.

    Aborts are expected, so they are logged at ``DEBUG``, never as errors.

    :param reason: why processing stopped, preferably in ``noun.verb`` form
        (``"provider.ignored"``).
    :param message: the message (or result) that was being processed.
    """

    def __init__(self, reason: str, message: Any) -> None:
        super().__init__(reason, message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.reason


def exception_chain(exc: BaseException) -> list[BaseException]:
    """*exc*, then what caused it (``__cause__``, else ``__context__``), and so on, each once.

    For transports telling a lasting failure (a certificate that does not
    verify, refused credentials) from a passing one, whatever a client
    library wrapped it in.
    """
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain
