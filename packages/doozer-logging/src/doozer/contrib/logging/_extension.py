"""The :class:`Logging` extension: structured logs, with each message's context."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from doozer import Extension

from ._configure import FORMATS, configure, level_of

if TYPE_CHECKING:
    from doozer import Application

__all__ = ["STARTUP_ORDER", "Logging"]

#: Logging is configured again when the application starts, before anything
#: else (transports connect at -1000), from the settings of that moment.
STARTUP_ORDER = -2000


class Logging(Extension):
    """Structured logs for the application and for Doozer itself, on structlog.

    Initializing it configures structlog and the standard library's root
    logger (``LOG_FORMAT``, ``LOG_LEVEL``), and again at startup (so that a
    setting changed since, e.g. by ``doozer run --log-format``, applies).
    While a message is processed, its ``message_id``, ``destination``,
    ``attempt`` and, when :mod:`doozer.contrib.otel` traces it, ``trace_id``
    and ``span_id`` are added to every record written: the message is
    :func:`doozer.current_message` (which needs the application's
    :attr:`~doozer.Application.track_current_message`, turned on here), and
    its context is worked out only for records that pass the level.
    See :doc:`/logging-extension`.

    :param app: the application to initialize, if known yet.
    """

    #: ``LOG_FORMAT``: ``"json"`` (one object per line on stdout) or ``"console"``
    #: (stderr); ``LOG_LEVEL``: the lowest level written.
    DEFAULT_SETTINGS: ClassVar[Mapping[str, Any]] = {"LOG_FORMAT": "console", "LOG_LEVEL": "INFO"}
    ONE_PER_APP: ClassVar[bool] = True
    # What each setting means (reStructuredText), for ``.. doozersettings::``.
    SETTINGS_DOCS: ClassVar[Mapping[str, str]] = {
        "LOG_FORMAT": (
            '``"json"``: one JSON object per line on stdout; ``"console"``: aligned, readable '
            "lines on stderr. ``doozer run --log-format`` sets it."
        ),
        "LOG_LEVEL": (
            "The lowest level written (``DEBUG``, ``INFO``, ``WARNING``...); lower records "
            "are dropped before any processor runs."
        ),
    }

    def init_app(self, app: Application) -> None:
        """Configure logging from *app*'s settings, register its startup callback, and
        turn on *app*'s :attr:`~doozer.Application.track_current_message`.

        :raises ValueError: if ``LOG_FORMAT`` or ``LOG_LEVEL`` is invalid (one line).
        :raises RuntimeError: if this instance, or another Logging, already
            initialized an application.
        """
        super().init_app(app)
        app.track_current_message = True  # the message context of records comes from it
        app.startup(self._configure_at_startup, order=STARTUP_ORDER)

    def read_settings(self, app: Application) -> None:
        """Check ``LOG_FORMAT`` and ``LOG_LEVEL`` and configure logging with them."""
        self._apply(app)

    @staticmethod
    def _apply(app: Application) -> None:
        log_format = app.settings["LOG_FORMAT"]
        if log_format not in FORMATS:
            raise ValueError(
                f"LOG_FORMAT {log_format!r} is not a log format: use 'json' or 'console'"
            )
        configure(log_format, level_of(app.settings["LOG_LEVEL"]))

    async def _configure_at_startup(self, app: Application) -> None:
        self._apply(app)
