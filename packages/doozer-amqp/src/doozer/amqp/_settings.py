"""Reading and checking the ``AMQP_*`` settings of one application."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from doozer.config import mask_url, read_file, read_seconds, read_text, read_whole_number

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
    "AMQP_OUTBOUND_QUEUE": None,
    "AMQP_DEAD_LETTER_QUEUE": None,
    "AMQP_RECONNECT_DELAY": 0.5,
    "AMQP_RECONNECT_MAX_DELAY": 30,
    "AMQP_CONNECT_TIMEOUT": 30,
    "AMQP_HEARTBEAT": 15,
    "AMQP_PUBLISH_TIMEOUT": 30,
    "AMQP_ACK_BATCH_SIZE": 32,
    "AMQP_ACK_BATCH_INTERVAL": 0.05,
    "AMQP_TLS_VERIFY": True,
    "AMQP_TLS_CA_FILE": None,
    "AMQP_TLS_CERT_FILE": None,
    "AMQP_TLS_KEY_FILE": None,
}

#: What each setting means (reStructuredText), rendered by ``.. doozersettings::``.
DOCS: Mapping[str, str] = {
    "AMQP_URL": (
        "The broker, as ``amqp://user:password@host:port/vhost``, or ``amqps://...`` for TLS; "
        "aio-pika's query parameters are accepted. The default is RabbitMQ's guest account "
        "on localhost. The password never appears in an error, a log line or a ``repr()``."
    ),
    "AMQP_INBOUND_QUEUE": (
        "The queue the consumer reads; :meth:`~doozer.amqp.AMQP.consumer` needs it."
    ),
    "AMQP_INBOUND_QUEUE_ARGUMENTS": (
        "Extra arguments of the inbound queue's declaration, such as "
        '``{"x-queue-type": "quorum", "x-delivery-limit": 10}``.'
    ),
    "AMQP_INBOUND_EXCHANGE": "An exchange to declare and bind the inbound queue to.",
    "AMQP_INBOUND_ROUTING_KEYS": (
        "The keys binding the inbound queue to ``AMQP_INBOUND_EXCHANGE`` (one string or several)."
    ),
    "AMQP_EXCHANGE_TYPE": (
        "The type of the exchanges AMQP declares: ``direct``, ``fanout``, ``topic`` or ``headers``."
    ),
    "AMQP_PREFETCH_COUNT": (
        "How many unacknowledged messages the broker sends ahead to this process. ``None``: "
        "twice the number of workers of the run (:attr:`app.num_workers "
        "<doozer.Application.num_workers>`), or :data:`~doozer.amqp.FALLBACK_PREFETCH_COUNT` "
        "outside a run."
    ),
    "AMQP_OUTBOUND_EXCHANGE": (
        "Where producers and :meth:`~doozer.amqp.AMQP.publish_result` publish (declared when "
        'not empty). ``""`` is the default exchange, which routes to the queue named by the '
        "routing key."
    ),
    "AMQP_OUTBOUND_ROUTING_KEY": (
        "The producers' routing key when :meth:`~doozer.amqp.Producer.publish` is given none."
    ),
    "AMQP_OUTBOUND_QUEUE": (
        "A queue to declare (durable) for the results, bound to ``AMQP_OUTBOUND_EXCHANGE`` "
        "with ``AMQP_OUTBOUND_ROUTING_KEY``; on the default exchange it must be named like "
        "the routing key."
    ),
    "AMQP_DEAD_LETTER_QUEUE": (
        "Where failed messages go. ``None``: ``<inbound queue>.dead``. It must differ from "
        "the inbound queue."
    ),
    "AMQP_RECONNECT_DELAY": (
        "Seconds to wait before trying to connect again, doubled after each failed attempt."
    ),
    "AMQP_RECONNECT_MAX_DELAY": "The longest wait, in seconds, between two connection attempts.",
    "AMQP_CONNECT_TIMEOUT": (
        "Seconds during which the first connection is retried (so a service may start "
        "before its broker); ``0`` tries once."
    ),
    "AMQP_HEARTBEAT": (
        "The heartbeat interval asked of the broker, in seconds: a dead peer is noticed "
        "within about twice that. ``0`` turns heartbeats off; a ``heartbeat`` parameter in "
        "``AMQP_URL`` wins."
    ),
    "AMQP_PUBLISH_TIMEOUT": (
        "Seconds a publication (a result, a dead letter, a retry) may take, waiting for a "
        "connection and the broker's confirmation included; then :exc:`TimeoutError`."
    ),
    "AMQP_ACK_BATCH_SIZE": (
        "How many finished messages are acknowledged at once, in one frame; ``1`` "
        "acknowledges each message at once. At most half the prefetch count is used."
    ),
    "AMQP_ACK_BATCH_INTERVAL": (
        "The longest time, in seconds, a finished message waits for its acknowledgement."
    ),
    "AMQP_TLS_VERIFY": (
        "With ``amqps://``: whether the broker's certificate is verified (and its name "
        "checked). Turn it off only for tests."
    ),
    "AMQP_TLS_CA_FILE": (
        "With ``amqps://``: a PEM file of the CA certificates to trust, instead of the system's."
    ),
    "AMQP_TLS_CERT_FILE": (
        "With ``amqps://``: a client certificate (PEM), for brokers that authenticate "
        "clients by certificate; its key is ``AMQP_TLS_KEY_FILE``."
    ),
    "AMQP_TLS_KEY_FILE": "With ``amqps://``: the key of ``AMQP_TLS_CERT_FILE`` (PEM).",
}

EXCHANGE_TYPES = ("direct", "fanout", "topic", "headers")


@dataclass(frozen=True)
class Settings:
    """The checked ``AMQP_*`` settings (the URL is left out of the repr)."""

    url: str = field(repr=False)
    inbound_queue: str | None
    inbound_queue_arguments: Mapping[str, Any]
    inbound_exchange: str | None
    inbound_routing_keys: tuple[str, ...]
    exchange_type: str
    prefetch_count: int | None
    outbound_exchange: str
    outbound_routing_key: str | None
    outbound_queue: str | None
    dead_letter_queue: str
    reconnect_delay: float
    reconnect_max_delay: float
    connect_timeout: float
    heartbeat: int
    publish_timeout: float
    ack_batch_size: int
    ack_batch_interval: float
    tls_verify: bool
    tls_ca_file: str | None
    tls_cert_file: str | None
    tls_key_file: str | None

    @property
    def safe_url(self) -> str:
        """The URL with its password masked, fit for logs and errors."""
        return mask_url(self.url)


def check_url(url: object) -> str:
    """Return *url* if it is an ``amqp://`` or ``amqps://`` URL with a host and a valid port.

    :raises TypeError: if it is not a non-empty string.
    :raises ValueError: naming ``AMQP_URL``, never showing the password.
    """
    if not isinstance(url, str) or not url:
        raise TypeError(f"AMQP_URL must be a non-empty string, got {type(url).__name__}")
    shown = mask_url(url)
    parts = urlsplit(url)
    if parts.scheme not in ("amqp", "amqps"):
        raise ValueError(
            f"AMQP_URL must start with amqp:// or amqps://, got {shown!r} "
            "(for example amqp://user:password@host:5672/vhost)"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError(
            f"AMQP_URL has an invalid port in {shown!r}: use a number from 1 to 65535"
        ) from None
    if not parts.hostname:
        raise ValueError(f"AMQP_URL has no host in {shown!r} (amqp://user:password@host:5672/)")
    if port == 0:
        raise ValueError(f"AMQP_URL has an invalid port in {shown!r}: use a number from 1 to 65535")
    return url


def resolve(settings: Mapping[str, Any]) -> Settings:
    """Check the settings (defaults applied already) and return them typed.

    :raises TypeError: a setting has the wrong type.
    :raises ValueError: a setting has a wrong value.
    """

    url = check_url(settings["AMQP_URL"])
    inbound_queue = read_text(settings, "AMQP_INBOUND_QUEUE")
    dead = read_text(settings, "AMQP_DEAD_LETTER_QUEUE")
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

    prefetch = read_whole_number(settings, "AMQP_PREFETCH_COUNT", maximum=65535, optional=True)

    outbound_exchange = settings["AMQP_OUTBOUND_EXCHANGE"]
    if outbound_exchange is None:
        outbound_exchange = ""
    if not isinstance(outbound_exchange, str):
        raise TypeError(f"AMQP_OUTBOUND_EXCHANGE must be a string, got {outbound_exchange!r}")
    outbound_queue = read_text(settings, "AMQP_OUTBOUND_QUEUE")
    if outbound_queue is not None and outbound_exchange and routing_key is None:
        raise ValueError(
            "AMQP_OUTBOUND_QUEUE is bound to AMQP_OUTBOUND_EXCHANGE with "
            "AMQP_OUTBOUND_ROUTING_KEY: set AMQP_OUTBOUND_ROUTING_KEY too"
        )
    if outbound_queue is not None and not outbound_exchange and routing_key != outbound_queue:
        raise ValueError(
            "AMQP_OUTBOUND_QUEUE on the default exchange (AMQP_OUTBOUND_EXCHANGE='') only "
            "receives what is published with its name as routing key: set "
            f"AMQP_OUTBOUND_ROUTING_KEY to {outbound_queue!r}, or set AMQP_OUTBOUND_EXCHANGE"
        )

    delay = read_seconds(settings, "AMQP_RECONNECT_DELAY", minimum=0.01)
    max_delay = read_seconds(settings, "AMQP_RECONNECT_MAX_DELAY", minimum=delay)

    verify = settings["AMQP_TLS_VERIFY"]
    if not isinstance(verify, bool):
        raise TypeError(f"AMQP_TLS_VERIFY must be True or False, got {verify!r}")

    return Settings(
        url=url,
        inbound_queue=inbound_queue,
        inbound_queue_arguments=dict(arguments),
        inbound_exchange=read_text(settings, "AMQP_INBOUND_EXCHANGE"),
        inbound_routing_keys=tuple(keys),
        exchange_type=exchange_type,
        prefetch_count=prefetch,
        outbound_exchange=outbound_exchange,
        outbound_routing_key=routing_key,
        outbound_queue=outbound_queue,
        dead_letter_queue=dead,
        reconnect_delay=delay,
        reconnect_max_delay=max_delay,
        connect_timeout=read_seconds(settings, "AMQP_CONNECT_TIMEOUT", minimum=0),
        heartbeat=read_whole_number(settings, "AMQP_HEARTBEAT", minimum=0, maximum=65535),
        publish_timeout=read_seconds(settings, "AMQP_PUBLISH_TIMEOUT", minimum=0.001),
        ack_batch_size=read_whole_number(settings, "AMQP_ACK_BATCH_SIZE", minimum=1, maximum=65535),
        ack_batch_interval=read_seconds(settings, "AMQP_ACK_BATCH_INTERVAL", minimum=0),
        tls_verify=verify,
        tls_ca_file=read_file(settings, "AMQP_TLS_CA_FILE"),
        tls_cert_file=read_file(settings, "AMQP_TLS_CERT_FILE"),
        tls_key_file=read_file(settings, "AMQP_TLS_KEY_FILE"),
    )
