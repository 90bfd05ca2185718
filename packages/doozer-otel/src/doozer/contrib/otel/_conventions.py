"""Names from the OpenTelemetry messaging semantic conventions, and header access."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from opentelemetry.propagators.textmap import Getter, Setter

__all__ = [
    "CONSUMER_GROUP",
    "DESTINATION",
    "ERROR_TYPE",
    "MESSAGE_ID",
    "METRIC_ATTRIBUTES",
    "OPERATION_NAME",
    "OPERATION_TYPE",
    "SERVER_ADDRESS",
    "SERVER_PORT",
    "SYSTEM",
    "HeaderGetter",
    "HeaderSetter",
    "error_type",
    "span_name",
]

SYSTEM = "messaging.system"
OPERATION_NAME = "messaging.operation.name"
OPERATION_TYPE = "messaging.operation.type"
DESTINATION = "messaging.destination.name"
MESSAGE_ID = "messaging.message.id"
CONSUMER_GROUP = "messaging.consumer.group.name"
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"

#: The delivery attributes that metrics carry: the low-cardinality ones only
#: (never a message id or delivery tag, which would make a series per message).
METRIC_ATTRIBUTES = (SYSTEM, DESTINATION, CONSUMER_GROUP, SERVER_ADDRESS, SERVER_PORT)


def span_name(operation: str, destination: object) -> str:
    """``"{operation} {destination}"``, or the operation alone when the destination is unknown."""
    return f"{operation} {destination}" if destination else operation


def error_type(exception: BaseException) -> str:
    """The ``error.type`` of *exception*: its class's qualified name (``builtins`` left out)."""
    kind = type(exception)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


class HeaderGetter(Getter[Mapping[str, Any]]):
    """Reads W3C trace headers from a delivery's headers, whatever the broker made of them.

    Brokers hand header values back as ``str`` or ``bytes`` (AMQP field
    tables, Redis fields that are not UTF-8): both are read.
    """

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            return None
        if isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value).decode("latin-1")
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return list(carrier)


class HeaderSetter(Setter[MutableMapping[str, Any]]):
    """Writes W3C trace headers into the headers a message will be published with."""

    def set(self, carrier: MutableMapping[str, Any], key: str, value: str) -> None:
        carrier[key] = value
