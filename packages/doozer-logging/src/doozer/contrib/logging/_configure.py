"""Route structlog and the standard library's logging through one structlog pipeline."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.typing import Processor

from ._context import add_message_context

__all__ = ["FORMATS", "configure", "formatter", "restore"]

#: The values ``LOG_FORMAT`` accepts.
FORMATS = ("json", "console")

#: What every record goes through first, structlog's and the standard library's
#: alike: the message's context, the level, the logger's name, a UTC timestamp.
_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    add_message_context,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
]

#: Exceptions as data: type, value and frames; never the frames' local
#: variables, which may hold secrets.
_EXCEPTIONS_AS_DATA = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Our handler on the root logger (recognized, and replaced, when configuring again)."""


def formatter(log_format: str) -> structlog.stdlib.ProcessorFormatter:
    """The formatter that renders every record as *log_format* (``json`` or ``console``)."""
    rendering: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if log_format == "json":
        rendering += [_EXCEPTIONS_AS_DATA, structlog.processors.JSONRenderer()]
    else:
        rendering.append(structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder()],
        processors=rendering,
    )


def configure(log_format: str, level: int) -> None:
    """Make structlog and the root logger write *log_format* records from *level* up.

    JSON goes to stdout (one object per line, for log collectors), the
    console format to stderr. Handlers that ``logging.basicConfig`` (or an
    earlier call) put on the root logger are replaced, so no record is
    written twice; other handlers (files, test capture) are kept.
    """
    structlog.configure(
        processors=[
            # First: a record below the level costs one isEnabledFor() and
            # nothing else (structlog's stdlib logger runs the chain before
            # the standard library would drop it).
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _Handler) or type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    handler = _Handler(sys.stdout if log_format == "json" else sys.stderr)
    handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    root.setLevel(level)


def restore() -> None:
    """Remove our handler from the root logger and reset structlog (for tests)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _Handler):
            root.removeHandler(handler)
    structlog.reset_defaults()


def level_of(value: Any) -> int:
    """The logging level *value* names (``"INFO"``, ``"debug"``, 20).

    :raises ValueError: naming the setting and the levels it accepts.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        number = logging.getLevelName(value.strip().upper())
        if isinstance(number, int):
            return number
    raise ValueError(
        f"LOG_LEVEL {value!r} is not a logging level: use DEBUG, INFO, WARNING, ERROR or CRITICAL"
    )
