"""Structured logs for Doozer applications, on structlog.

``Logging(app)`` writes every record, the application's and Doozer's own,
as one JSON object per line (``LOG_FORMAT = "json"``) or for people
(``"console"``), and adds the context of the message being processed
(its id, destination, attempt, and trace ids when :mod:`doozer.contrib.otel`
traces it). Log with structlog (``structlog.get_logger()``) or with the
standard library's :mod:`logging`: both come out the same. See
:doc:`/logging-extension`.
"""

from __future__ import annotations

from ._configure import FORMATS
from ._context import add_message_context, context_of
from ._extension import STARTUP_ORDER, Logging

__all__ = [
    "FORMATS",
    "STARTUP_ORDER",
    "Logging",
    "add_message_context",
    "context_of",
]
