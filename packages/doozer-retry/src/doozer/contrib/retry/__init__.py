"""Retry messages that fail to process, later, without holding a worker.

:class:`Retry` is an extension that registers a *failure policy*
(:meth:`doozer.Application.failure_policy`). When a preprocessor or the
callback raises one of the ``RETRY_EXCEPTIONS``, the message's outcome is
:class:`~doozer.outcomes.RetryLater`, with a delay of
``RETRY_DELAY * RETRY_BACKOFF ** retries_so_far``; the error callbacks do
not run. The worker is free at once:

* a **delivery** from a Doozer transport (or :mod:`doozer.testing`) is
  redelivered by its broker after the delay, carrying the attempt number
  and the time of its first failure in headers, so a crash during the
  delay loses nothing;
* a **plain message** is handed to ``RETRY_CALLBACK`` (which typically
  publishes it again) by a timer after the delay; until then it counts as
  in flight. A stop never waits out the delay: the callback gets the
  message at once.

Once ``RETRY_THRESHOLD`` or ``RETRY_TIMEOUT`` is reached, Retry logs a
warning and lets the error callbacks handle the failure: the outcome is
:class:`~doozer.outcomes.Failed` (a transport dead-letters the message).
Other exceptions go straight to the error callbacks.

.. code-block:: python

    from doozer import Application
    from doozer.contrib.retry import Retry, RetryableException


    async def process(app, message):
        raise RetryableException("the database is busy")


    app = Application("retrying", consumer=consumer, callback=process)
    Retry(app, threshold=5, delay=1, backoff=2)

Settings (read once, by :meth:`Retry.init_app`):

.. list-table::
   :header-rows: 1
   :widths: 22 58 20

   * - Setting
     - Meaning
     - Default
   * - ``RETRY_BACKOFF``
     - Factor applied to the delay per retry already made: the delay before
       a retry is ``RETRY_DELAY * RETRY_BACKOFF ** retries_so_far``.
     - ``1``
   * - ``RETRY_CALLBACK``
     - Coroutine function ``callback(app, message)`` that retries a *plain*
       message, typically by publishing it again. Deliveries do not need it.
     - (none)
   * - ``RETRY_DELAY``
     - Seconds to wait before the message is processed again.
     - ``0``
   * - ``RETRY_EXCEPTIONS``
     - The exception class, or tuple of classes, that cause a retry.
     - :class:`RetryableException`
   * - ``RETRY_THRESHOLD``
     - Most retries of one message; ``0`` never retries, ``None`` sets no
       count limit.
     - ``None``
   * - ``RETRY_TIMEOUT``
     - Seconds, from the message's first failure, during which it may be
       retried; ``None`` sets no time limit.
     - ``None``

Whichever of ``RETRY_THRESHOLD`` and ``RETRY_TIMEOUT`` is reached first
stops the retries; with both None a message is retried forever.

Where the count is kept: a delivery carries it in its headers
(:data:`doozer.headers.ATTEMPT` and :data:`doozer.headers.FIRST_FAILURE`),
never in the payload. A plain message has no headers, so there Retry keeps
it as before: a mutable mapping under the key ``"_retry"``, any other
object as its attribute ``_retry``; either way a ``dict`` with ``count``
(retries so far), ``start_time`` (:func:`time.time` of the first failure)
and ``delay`` (seconds waited before the last retry). A ``RETRY_CALLBACK``
that serializes the message must keep that entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from doozer import Extension

from .__about__ import __version__
from ._policy import LONGEST_DELAY, ExceptionTypes, RetryCallback
from ._settings import FROM_SETTINGS, FromSettings, resolve

if TYPE_CHECKING:
    from doozer import Application

__all__ = ["LONGEST_DELAY", "Retry", "RetryableException", "__version__"]


class RetryableException(Exception):  # noqa: N818 - the public name is part of the 1.x API
    """Raise it while processing a message to have the message retried.

    It is the default of ``RETRY_EXCEPTIONS``.
    """


class Retry(Extension):
    """An extension that retries messages that fail to process.

    Each keyword argument overrides the setting of the same name (``delay``
    overrides ``RETRY_DELAY``, and so on) for every application this
    instance initializes; leave it out to use the application's setting.

    :param app: the application to initialize, if known yet.
    :param threshold: most retries of one message, or None for no limit.
    :param delay: seconds to wait before the first retry.
    :param backoff: factor the delay grows by with each retry.
    :param timeout: seconds from the first failure during which a message
        may be retried, or None for no limit.
    :param exceptions: the exception class, or tuple of classes, to retry.
    :param callback: coroutine function ``callback(app, message)`` that
        retries a plain message (deliveries need none).
    """

    #: Where its failure policy sits among the application's (see :ref:`hook-order`).
    ORDER: ClassVar[int] = 0
    #: Settings and their defaults.
    DEFAULT_SETTINGS: ClassVar[Mapping[str, Any]] = {
        "RETRY_BACKOFF": 1,
        "RETRY_CALLBACK": None,
        "RETRY_DELAY": 0,
        "RETRY_EXCEPTIONS": RetryableException,
        "RETRY_THRESHOLD": None,
        "RETRY_TIMEOUT": None,
    }
    # What each setting means (reStructuredText); each keyword argument of
    # the same name overrides it.
    SETTINGS_DOCS: ClassVar[Mapping[str, str]] = {
        "RETRY_BACKOFF": (
            "The factor the delay grows by with each retry: the n-th retry waits "
            "``RETRY_DELAY * RETRY_BACKOFF ** (n - 1)`` seconds."
        ),
        "RETRY_CALLBACK": (
            "A coroutine function ``callback(app, message)`` that retries a plain message, "
            "typically by publishing it again; deliveries of a Doozer transport need none."
        ),
        "RETRY_DELAY": "Seconds to wait before the first retry.",
        "RETRY_EXCEPTIONS": (
            "The exception class, or tuple of classes, whose raising makes a message retried."
        ),
        "RETRY_THRESHOLD": "The most retries of one message. ``None``: no limit.",
        "RETRY_TIMEOUT": (
            "Seconds from a message's first failure during which it may be retried, across "
            "redeliveries and processes. ``None``: no limit."
        ),
    }

    def __init__(
        self,
        app: Application | None = None,
        *,
        threshold: int | FromSettings | None = FROM_SETTINGS,
        delay: float | FromSettings = FROM_SETTINGS,
        backoff: float | FromSettings = FROM_SETTINGS,
        timeout: float | FromSettings | None = FROM_SETTINGS,
        exceptions: ExceptionTypes | FromSettings = FROM_SETTINGS,
        callback: RetryCallback | FromSettings = FROM_SETTINGS,
    ) -> None:
        given = {
            "threshold": threshold,
            "delay": delay,
            "backoff": backoff,
            "timeout": timeout,
            "exceptions": exceptions,
            "callback": callback,
        }
        self._overrides = {key: value for key, value in given.items() if value is not FROM_SETTINGS}
        super().__init__(app)

    def init_app(self, app: Application) -> None:
        """Initialize an application: check its settings, register the failure policy.

        The effective settings (keyword arguments, else the application's
        settings, else the defaults) are checked and fixed here, so one
        instance can initialize several applications with different
        settings.

        :param app: the application to initialize.
        :raises TypeError: if the callback is not a coroutine function, or
            ``RETRY_EXCEPTIONS`` is not an exception class or a tuple of them.
        :raises ValueError: if the delay or backoff is negative or not a
            number, or the threshold or timeout is neither None nor a
            number >= 0.
        :raises RuntimeError: if Retry already initialized this application.
        """
        if any(isinstance(extension, Retry) for extension in app.extensions.values()):
            raise RuntimeError(
                f"Retry is already initialized on {app!r}: initialize it once per application"
            )
        policy = resolve(app.settings, self.DEFAULT_SETTINGS, self._overrides)
        super().init_app(app)
        app.failure_policy(policy.decide, order=self.ORDER)
