"""The context of the message being processed, added to records only when they are written."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from doozer import current_message

try:  # tracing is optional: trace ids are logged when OpenTelemetry is there
    from opentelemetry import trace as _trace
except ImportError:  # pragma: no cover - depends on what is installed
    _trace = None  # type: ignore[assignment]

__all__ = ["add_message_context", "context_of"]


def add_message_context(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: adds :func:`context_of` the message being processed, if any.

    The message is :func:`doozer.current_message`, which the workers keep
    for applications that track it (``Logging(app)`` makes them). Keys the
    record sets itself win. Runs only for records that pass the level, so
    a message that logs nothing costs no context at all.
    """
    message = current_message()
    if message is not None:
        for key, value in context_of(message).items():
            event_dict.setdefault(key, value)
    return event_dict


def context_of(message: Any) -> dict[str, Any]:
    """What the records logged while *message* is processed carry.

    The trace ids are those of the span current when the record is written:
    the message's ``CONSUMER`` span, or a span the application opened inside it.
    """
    described: Mapping[str, Any] = getattr(message, "messaging_attributes", None) or {}
    context: dict[str, Any] = {}
    message_id = described.get("messaging.message.id")
    if message_id is not None:
        context["message_id"] = message_id
    destination = described.get("messaging.destination.name")
    if destination is not None:
        context["destination"] = destination
    attempt = getattr(message, "attempt", None)
    if isinstance(attempt, int):
        context["attempt"] = attempt
    if _trace is not None:
        span = _trace.get_current_span().get_span_context()
        if span.is_valid:
            context["trace_id"] = f"{span.trace_id:032x}"
            context["span_id"] = f"{span.span_id:016x}"
    return context
