"""Reading and checking the ``AMQP_*`` settings of one application."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULTS: Mapping[str, Any] = {
    "AMQP_URL": "amqp://guest:guest@localhost:5672/",
    "AMQP_INBOUND_QUEUE": None,
    "AMQP_INBOUND_QUEUE_ARGUMENTS": {},
    "AMQP_INBOUND_EXCHANGE": None,
    "AMQP_INBOUND_ROUTING_KEYS": ("#",),
    "AMQP_EXCHANGE_TYPE": "topic",
    "AMQP_PREFETCH_COUNT": None,
    "AMQP_OUTBOUND_EXCHANGE": "",
    "AMQP_OUTBOUND_ROUTING_KEY": None,
    "AMQP_DEAD_LETTER_QUEUE": None,
    "AMQP_RECONNECT_DELAY": 0.5,
    "AMQP_RECONNECT_MAX_DELAY": 30,
}

EXCHANGE_TYPES = ("direct", "fanout", "topic", "headers")


@dataclass(frozen=True)
class Settings:
    """The checked ``AMQP_*`` settings."""

    url: str
    inbound_queue: str | None
    inbound_queue_arguments: Mapping[str, Any]
    inbound_exchange: str | None
    inbound_routing_keys: tuple[str, ...]
    exchange_type: str
    prefetch_count: int | None
    outbound_exchange: str
    outbound_routing_key: str | None
    dead_letter_queue: str
    reconnect_delay: float
    reconnect_max_delay: float


def resolve(settings: Mapping[str, Any]) -> Settings:
    """Check the settings (defaults applied already) and return them typed.

    :raises TypeError: a setting has the wrong type.
    :raises ValueError: a setting has a wrong value.
    """

    def text(name: str, optional: bool = False) -> Any:
        value = settings[name]
        if (value is None and optional) or (isinstance(value, str) and value):
            return value
        raise TypeError(
            f"{name} must be a non-empty string{' or None' if optional else ''}, got {value!r}"
        )

    def number(name: str, minimum: float) -> float:
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            raise ValueError(f"{name} must be a number >= {minimum}, got {value!r}")
        return float(value)

    inbound_queue = text("AMQP_INBOUND_QUEUE", optional=True)
    dead = text("AMQP_DEAD_LETTER_QUEUE", optional=True)
    if dead is None:
        dead = f"{inbound_queue}.dead" if inbound_queue else ""
    if dead and dead == inbound_queue:
        raise ValueError("AMQP_DEAD_LETTER_QUEUE must differ from AMQP_INBOUND_QUEUE")

    keys = settings["AMQP_INBOUND_ROUTING_KEYS"]
    if isinstance(keys, str):
        keys = (keys,)
    if not all(isinstance(key, str) for key in keys):
        raise TypeError(f"AMQP_INBOUND_ROUTING_KEYS must be strings, got {keys!r}")

    arguments = settings["AMQP_INBOUND_QUEUE_ARGUMENTS"]
    if not isinstance(arguments, Mapping):
        raise TypeError(f"AMQP_INBOUND_QUEUE_ARGUMENTS must be a mapping, got {arguments!r}")

    routing_key = settings["AMQP_OUTBOUND_ROUTING_KEY"]
    if routing_key is not None and not isinstance(routing_key, str):
        raise TypeError(f"AMQP_OUTBOUND_ROUTING_KEY must be a string or None, got {routing_key!r}")

    exchange_type = settings["AMQP_EXCHANGE_TYPE"]
    if exchange_type not in EXCHANGE_TYPES:
        raise ValueError(
            f"AMQP_EXCHANGE_TYPE must be one of {', '.join(EXCHANGE_TYPES)}, got {exchange_type!r}"
        )

    prefetch = settings["AMQP_PREFETCH_COUNT"]
    if prefetch is not None and (
        isinstance(prefetch, bool) or not isinstance(prefetch, int) or not 1 <= prefetch <= 65535
    ):
        raise ValueError(
            f"AMQP_PREFETCH_COUNT must be a whole number from 1 to 65535, or None, got {prefetch!r}"
        )

    outbound_exchange = settings["AMQP_OUTBOUND_EXCHANGE"]
    if outbound_exchange is None:
        outbound_exchange = ""
    if not isinstance(outbound_exchange, str):
        raise TypeError(f"AMQP_OUTBOUND_EXCHANGE must be a string, got {outbound_exchange!r}")

    delay = number("AMQP_RECONNECT_DELAY", 0.01)
    max_delay = number("AMQP_RECONNECT_MAX_DELAY", delay)

    return Settings(
        url=text("AMQP_URL"),
        inbound_queue=inbound_queue,
        inbound_queue_arguments=dict(arguments),
        inbound_exchange=text("AMQP_INBOUND_EXCHANGE", optional=True),
        inbound_routing_keys=tuple(keys),
        exchange_type=exchange_type,
        prefetch_count=prefetch,
        outbound_exchange=outbound_exchange,
        outbound_routing_key=routing_key,
        dead_letter_queue=dead,
        reconnect_delay=delay,
        reconnect_max_delay=max_delay,
    )
